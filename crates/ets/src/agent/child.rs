//! A command as a child process (a trial's for `ets agent`, the wrapped one for `ets run`): in
//! its own process group (so the caller signals the command and whatever it started, and the
//! terminal's Ctrl-C reaches it only through the caller), standard input closed, its output
//! passed through to the caller's as it comes while each line is handed to the caller (the
//! agent picks its directives out of them, `ets run` logs them).

use std::io::{self, Read, Write};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::protocol::{Directive, LineSplitter, parse_line};
use super::signals::Signals;

/// A signal for the child's process group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Interrupt,
    Terminate,
    Kill,
}

/// What the command prints for the agent: a directive, or one it could not read (why, and
/// the line).
pub type Said = Result<Directive, (String, String)>;

/// The stream a line of the command's output came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name the run logs API uses.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

pub struct Child {
    process: tokio::process::Child,
    pid: Option<u32>,
    readers: Vec<oneshot::Receiver<()>>,
}

impl Child {
    /// Starts `argv` with `env` set and the variables `unset` removed; also answers the
    /// directives of its output, in the order they are read.
    pub fn spawn(
        argv: &[String],
        env: &[(String, String)],
        unset: &[String],
    ) -> io::Result<(Child, mpsc::UnboundedReceiver<Said>)> {
        let (tx, said) = mpsc::unbounded_channel();
        let child = Child::spawn_with_lines(argv, env, unset, move |_, line: String| {
            if let Some(directive) = parse_line(&line) {
                let _ = tx.send(directive.map_err(|why| (why, line.trim().to_owned())));
            }
        })?;
        Ok((child, said))
    }

    /// Starts `argv` with `env` set and the variables `unset` removed; `on_line` gets every
    /// line of its output (cut at `\n` or `\r`) with its stream, as it is read.
    pub fn spawn_with_lines(
        argv: &[String],
        env: &[(String, String)],
        unset: &[String],
        on_line: impl FnMut(Stream, String) + Clone + Send + 'static,
    ) -> io::Result<Child> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no command"))?;
        let mut command = tokio::process::Command::new(program);
        command
            .args(args)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        for key in unset {
            command.env_remove(key);
        }
        #[cfg(unix)]
        command.process_group(0);
        let mut process = command.spawn()?;
        let pid = process.id();
        let mut readers = Vec::new();
        if let Some(stdout) = process.stdout.take() {
            readers.push(read_on_a_thread(
                stdout.into_blocking()?,
                Stream::Stdout,
                on_line.clone(),
            )?);
        }
        if let Some(stderr) = process.stderr.take() {
            readers.push(read_on_a_thread(
                stderr.into_blocking()?,
                Stream::Stderr,
                on_line,
            )?);
        }
        Ok(Child {
            process,
            pid,
            readers,
        })
    }

    /// The command's process id (also its process group's).
    pub fn id(&self) -> Option<u32> {
        self.pid
    }

    /// Waits for the command to exit (cancel safe).
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.process.wait().await
    }

    /// Sends `signal` to the command's process group.
    pub fn signal(&mut self, signal: Signal) {
        #[cfg(unix)]
        if let Some(group) = self.group() {
            use rustix::process::{Signal as Sig, kill_process_group};
            let sig = match signal {
                Signal::Interrupt => Sig::INT,
                Signal::Terminate => Sig::TERM,
                Signal::Kill => Sig::KILL,
            };
            // ESRCH: the whole group has exited already.
            let _ = kill_process_group(group, sig);
            return;
        }
        let _ = signal;
        let _ = self.process.start_kill();
    }

    #[cfg(unix)]
    fn group(&self) -> Option<rustix::process::Pid> {
        self.pid
            .and_then(|pid| i32::try_from(pid).ok())
            .and_then(rustix::process::Pid::from_raw)
    }

    /// Whether a process of the command's group is still running.
    fn group_alive(&self) -> bool {
        #[cfg(unix)]
        if let Some(group) = self.group() {
            return rustix::process::test_kill_process_group(group).is_ok();
        }
        false
    }

    /// Stops the command: sends `first`, gives the command and the processes it started
    /// `grace` to exit, then kills what is left (at once on a further Ctrl-C or SIGTERM).
    pub async fn stop(
        &mut self,
        first: Signal,
        grace: Duration,
        signals: &mut Signals,
    ) -> io::Result<ExitStatus> {
        self.signal(first);
        let deadline = Instant::now() + grace;
        let mut killed = false;
        let status = loop {
            tokio::select! {
                status = self.process.wait() => break status?,
                _ = tokio::time::sleep_until(deadline), if !killed => {
                    eprintln!("ets: the command did not exit within {grace:?}: killing it");
                    self.signal(Signal::Kill);
                    killed = true;
                }
                _ = signals.next(), if !killed => {
                    self.signal(Signal::Kill);
                    killed = true;
                }
            }
        };
        // The command has exited; the processes it started get the rest of the grace period.
        while self.group_alive() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if self.group_alive() {
            self.signal(Signal::Kill);
        }
        Ok(status)
    }

    /// Waits up to `within` for the rest of the command's output (a process it started in the
    /// background may hold the pipes open), then stops waiting (a reader left behind still
    /// passes output through, but its lines go nowhere).
    pub async fn finish_output(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        for reader in &mut self.readers {
            let _ = tokio::time::timeout_at(deadline, &mut *reader).await;
        }
    }
}

/// One of the command's pipes, for blocking reads.
trait IntoBlocking {
    fn into_blocking(self) -> io::Result<std::fs::File>;
}

macro_rules! into_blocking {
    ($pipe:ty) => {
        impl IntoBlocking for $pipe {
            #[cfg(unix)]
            fn into_blocking(self) -> io::Result<std::fs::File> {
                self.into_owned_fd().map(std::fs::File::from)
            }
            #[cfg(windows)]
            fn into_blocking(self) -> io::Result<std::fs::File> {
                self.into_owned_handle().map(std::fs::File::from)
            }
        }
    };
}
into_blocking!(tokio::process::ChildStdout);
into_blocking!(tokio::process::ChildStderr);

/// Reads `from` on a thread of its own (blocking reads and writes: a line costs two system
/// calls and no hand-over between threads); the receiver answers when it is done.
fn read_on_a_thread(
    from: std::fs::File,
    stream: Stream,
    on_line: impl FnMut(Stream, String) + Send + 'static,
) -> io::Result<oneshot::Receiver<()>> {
    let (done, finished) = oneshot::channel();
    std::thread::Builder::new()
        .name(format!("ets-{}", stream.name()))
        .spawn(move || {
            pass_through(from, stream, on_line);
            let _ = done.send(());
        })?;
    Ok(finished)
}

/// When output comes faster than one chunk per this long, the reader waits this long before
/// reading again, so the lines in between come in one read: a command printing 1,000 lines a
/// second wakes the reader a few hundred times a second instead of a thousand (a wake-up, not
/// the copying, is most of what passing a line through costs). Output is delayed by at most
/// this much; slower output is read as it comes.
const COALESCE: Duration = Duration::from_millis(10);

/// Copies `from` to this process's stream of the same name as it comes, and hands each of its
/// lines to `on_line`.
fn pass_through(mut from: std::fs::File, stream: Stream, mut on_line: impl FnMut(Stream, String)) {
    let mut buffer = vec![0u8; 65536];
    let mut splitter = LineSplitter::default();
    let mut last_read: Option<std::time::Instant> = None;
    let mut dense = false;
    loop {
        if dense {
            std::thread::sleep(COALESCE);
        }
        let started = std::time::Instant::now();
        let read = match from.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => read,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let now = std::time::Instant::now();
        // Dense output starts with two reads closer than COALESCE, and lasts while the read
        // after each wait finds lines already there (it did not block).
        dense = if dense {
            now.duration_since(started) < Duration::from_millis(1)
        } else {
            last_read.is_some_and(|then| now.duration_since(then) < COALESCE)
        };
        last_read = Some(now);
        // The caller's own output may be closed: keep reading so the command never blocks.
        let _ = match stream {
            Stream::Stdout => write_now(&mut io::stdout().lock(), &buffer[..read]),
            Stream::Stderr => write_now(&mut io::stderr().lock(), &buffer[..read]),
        };
        for line in splitter.push(&buffer[..read]) {
            on_line(stream, line);
        }
    }
    if let Some(line) = splitter.finish() {
        on_line(stream, line);
    }
}

fn write_now(to: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    to.write_all(bytes)?;
    to.flush()
}
