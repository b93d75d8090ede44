//! Ctrl-C (SIGINT) and SIGTERM sent to the agent: passed on to the running trial's command,
//! which fails the trial and ends the agent with 128 + the signal's number.

use tokio::sync::mpsc;

/// A request to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Interrupt,
    Terminate,
}

impl Stop {
    /// The shell's convention: 128 + the signal's number.
    pub fn exit_code(self) -> u8 {
        match self {
            Stop::Interrupt => 130,
            Stop::Terminate => 143,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Stop::Interrupt => "SIGINT",
            Stop::Terminate => "SIGTERM",
        }
    }
}

/// The stop requests received, in order.
pub struct Signals {
    rx: mpsc::UnboundedReceiver<Stop>,
    first: Option<Stop>,
}

impl Signals {
    /// Starts listening (in place of the default action, which would end the agent at once
    /// and leave the trial running on the server).
    pub fn listen() -> std::io::Result<Signals> {
        let (tx, rx) = mpsc::unbounded_channel();
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            for (kind, stop) in [
                (SignalKind::interrupt(), Stop::Interrupt),
                (SignalKind::terminate(), Stop::Terminate),
            ] {
                let mut stream = signal(kind)?;
                let tx = tx.clone();
                tokio::spawn(async move {
                    while stream.recv().await.is_some() {
                        if tx.send(stop).is_err() {
                            break;
                        }
                    }
                });
            }
        }
        #[cfg(not(unix))]
        tokio::spawn(async move {
            while tokio::signal::ctrl_c().await.is_ok() {
                if tx.send(Stop::Interrupt).is_err() {
                    break;
                }
            }
        });
        Ok(Signals { rx, first: None })
    }

    /// The first stop request received so far, if any.
    pub fn received(&mut self) -> Option<Stop> {
        while let Ok(stop) = self.rx.try_recv() {
            self.first.get_or_insert(stop);
        }
        self.first
    }

    /// Waits for the next stop request.
    pub async fn next(&mut self) -> Stop {
        match self.rx.recv().await {
            Some(stop) => {
                self.first.get_or_insert(stop);
                stop
            }
            None => std::future::pending().await,
        }
    }
}
