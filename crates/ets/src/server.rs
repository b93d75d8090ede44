//! Starting and stopping the service: listeners, the API router and the metrics listener.
//! Lives outside `main` so tests can run the real server on port 0 with their own shutdown.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

use crate::config::{Config, ServerConfig};
use crate::service::Services;

/// A running server.
pub struct RunningServer {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
    /// Where Optuna's gRPC storage service listens (`optuna.grpc_port`), when it is on.
    pub optuna_addr: Option<SocketAddr>,
    pub services: Arc<Services>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting requests, lets in-flight ones finish, and waits.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.map_err(std::io::Error::other)?
    }

    /// Waits until the server stops (after [`RunningServer::shutdown_handle`] fires).
    pub async fn wait(self) -> std::io::Result<()> {
        self.task.await.map_err(std::io::Error::other)?
    }

    /// A handle that stops the server when sent `true`.
    pub fn shutdown_handle(&self) -> watch::Sender<bool> {
        self.shutdown.clone()
    }
}

/// Opens storage, binds both listeners and starts serving in the background. Refuses a
/// non-loopback address without authentication ([`crate::config::check_exposure`]).
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
    if let Some(warning) = crate::config::check_exposure(&config)? {
        tracing::warn!("{warning}");
    }
    if !crate::config::is_loopback_host(&config.host) && config.server.allowed_hosts.is_empty() {
        tracing::info!(
            "clients must name this server by IP address, localhost or the name in `host`; \
             add the other DNS names they use to server.allowed_hosts \
             (ETS_SERVER__ALLOWED_HOSTS)"
        );
    }
    let api_listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}:{}: {e}", config.host, config.port))?;
    let metrics_listener = TcpListener::bind((config.metrics_host.as_str(), config.metrics_port))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {}:{} for metrics: {e}",
                config.metrics_host,
                config.metrics_port
            )
        })?;
    let services = Services::open(config).await?;
    let optuna_listener = crate::optuna::bind(&services).await?;
    if let Some(jwt) = services.auth.jwt().cloned() {
        // Fetch the identity provider's keys now, so a misconfiguration shows in the log at
        // start rather than at the first request.
        tokio::spawn(async move {
            match jwt.refresh_keys().await {
                Ok(keys) => tracing::info!(keys, "JWT signing keys loaded"),
                Err(e) => tracing::warn!(error = %e, "JWT signing keys could not be loaded yet"),
            }
        });
    }
    let addr = api_listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;
    let optuna_addr = match &optuna_listener {
        Some(listener) => Some(crate::optuna::address(listener)?),
        None => None,
    };

    tracing::info!(artifacts = %services.artifacts.location(), "artifact storage");
    if let Err(e) = services.artifacts.check_writable().await {
        tracing::warn!(error = %e, "artifact storage is not usable yet; /health/ready reports it");
    }
    let (shutdown, stopped) = watch::channel(false);
    tokio::spawn(sweep_expired_uploads(services.clone(), stopped.clone()));
    services
        .live
        .start(
            services.store.clone(),
            &services.config.effective_database_url(),
        )
        .await;
    crate::alerts::AlertEngine::start(&services, stopped.clone());
    {
        // Event streams never end by themselves: end them so graceful shutdown can finish.
        let live = services.live.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let _ = stopped.wait_for(|s| *s).await;
            live.shutdown();
        });
    }
    let app = crate::api::router(services.clone());
    let metrics_app = metrics_router(services.clone());
    let metrics_stopped = stopped.clone();
    let optuna = optuna_listener
        .map(|listener| crate::optuna::serve(listener, services.clone(), stopped.clone()));
    let server_config = services.config.server.clone();
    let task = tokio::spawn(async move {
        let api = serve(api_listener, app, &server_config, stopped);
        let metrics = serve(
            metrics_listener,
            metrics_app,
            &server_config,
            metrics_stopped,
        );
        let optuna = async move {
            match optuna {
                Some(serving) => serving.await,
                None => Ok(()),
            }
        };
        let (api, metrics, optuna) = tokio::join!(api, metrics, optuna);
        api.and(metrics).and(optuna)
    });
    tracing::info!(%addr, %metrics_addr, ?optuna_addr, "ETS is listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        optuna_addr,
        services,
        shutdown,
        task,
    })
}

/// Serves HTTP/1.1 on `listener` until `stopped`, then lets open connections finish. Each
/// connection gets `server.header_read_timeout_seconds` to deliver a request's headers
/// (counted from when the server starts waiting for them, so an idle kept-alive connection
/// is closed too), and hyper's own error answers get JSON bodies ([`JsonParseErrors`]).
async fn serve(
    mut listener: TcpListener,
    app: Router,
    config: &ServerConfig,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(Duration::from_secs(config.header_read_timeout_seconds));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            // Accept errors (e.g. too many open files) are logged and retried by axum's
            // listener implementation.
            (stream, peer) = axum::serve::Listener::accept(&mut listener) => (stream, peer),
            _ = stopped.wait_for(|s| *s) => break,
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let io = hyper_util::rt::TokioIo::new(JsonParseErrors::new(stream));
        // Every request carries its client's address (audit trail, rate limits).
        let service = hyper_util::service::TowerToHyperService::new(app.clone().map_request(
            move |mut request: hyper::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The connection's bytes, with hyper's own answers to requests it cannot parse (malformed
/// request line or header such as a bad `Content-Length`: 400; URI too long: 414; headers
/// too large: 431) given the API's JSON error body instead of an empty one. Those answers are
/// the only error heads with `content-length: 0` (every error from the application carries a
/// JSON body), and hyper closes the connection after them. The shape (native or MLflow)
/// follows the path of the request being read, taken from the start of its request line.
struct JsonParseErrors<S> {
    inner: S,
    /// The first bytes of the latest request.
    request_start: Vec<u8>,
    /// Whether the next bytes read begin a new request (set once an answer is written).
    at_request_start: bool,
    /// A rewritten answer being written: its bytes, how many are written, and the length of
    /// hyper's buffer it replaces.
    rewritten: Option<(Vec<u8>, usize, usize)>,
}

impl<S> JsonParseErrors<S> {
    /// Enough of a request line to tell the API from its path.
    const REQUEST_START_BYTES: usize = 128;
    /// hyper's error answers are a status line and two or three short headers.
    const MAX_ERROR_HEAD_BYTES: usize = 512;

    fn new(inner: S) -> Self {
        JsonParseErrors {
            inner,
            request_start: Vec::new(),
            at_request_start: true,
            rewritten: None,
        }
    }

    /// The JSON answer replacing `head` when it is one of hyper's bodiless error answers.
    fn rewrite(&self, head: &[u8]) -> Option<Vec<u8>> {
        // Cheap tests first: this runs for every write of every response.
        if head.len() > Self::MAX_ERROR_HEAD_BYTES
            || !head.starts_with(b"HTTP/1.")
            || !head.ends_with(b"\r\n\r\n")
        {
            return None;
        }
        let text = std::str::from_utf8(head).ok()?;
        let status_text = text
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| text.strip_prefix("HTTP/1.0 "))?;
        let status = axum::http::StatusCode::from_bytes(status_text.get(..3)?.as_bytes()).ok()?;
        let head_only = text.find("\r\n\r\n")? + 4 == text.len();
        if !(status.is_client_error() && head_only && text.contains("\r\ncontent-length: 0\r\n")) {
            return None;
        }
        let path = std::str::from_utf8(&self.request_start)
            .unwrap_or_default()
            .split(' ')
            .nth(1)
            .unwrap_or("/");
        let message = match status {
            axum::http::StatusCode::URI_TOO_LONG => "the request URI is too long",
            axum::http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
                "the request headers are too large"
            }
            _ => {
                "malformed request: the request line or a header (such as Content-Length) \
                 is not valid HTTP/1.1"
            }
        };
        let body = crate::api::guard::error_body(path, status, message);
        let security: String = crate::api::security::STATIC_HEADERS
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let mut answer = format!(
            "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             {security}connection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or_default(),
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(&body);
        Some(answer)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for JsonParseErrors<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let read = &buf.filled()[before..];
        if this.at_request_start && !read.is_empty() {
            this.at_request_start = false;
            this.request_start.clear();
            this.request_start
                .extend_from_slice(&read[..read.len().min(Self::REQUEST_START_BYTES)]);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for JsonParseErrors<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.rewritten.is_none() {
            this.at_request_start = true;
            match this.rewrite(buf) {
                Some(answer) => this.rewritten = Some((answer, 0, buf.len())),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // hyper offers the same buffer again until it is taken, so the rewritten answer is
        // written in full before hyper's buffer counts as written.
        while let Some((answer, written, replaced)) = &mut this.rewritten {
            if *written == answer.len() {
                let replaced = *replaced;
                this.rewritten = None;
                return Poll::Ready(Ok(replaced));
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &answer[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// Removes abandoned resumable uploads every hour while the server runs (`ets gc` does the
/// rest of the housekeeping).
async fn sweep_expired_uploads(services: Arc<Services>, mut stopped: watch::Receiver<bool>) {
    let mut every_hour = tokio::time::interval(std::time::Duration::from_secs(3600));
    every_hour.tick().await;
    loop {
        tokio::select! {
            _ = every_hour.tick() => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
        let expiry_ms = services.config.artifacts.upload_expiry_hours as i64 * 3_600_000;
        let cutoff = ets_domain::Timestamp::now()
            .millis()
            .saturating_sub(expiry_ms);
        match services.remove_expired_uploads(cutoff).await {
            Ok(0) => {}
            Ok(removed) => tracing::info!(removed, "removed abandoned uploads"),
            Err(e) => tracing::warn!(error = %e, "could not sweep abandoned uploads"),
        }
    }
}

fn metrics_router(services: Arc<Services>) -> Router {
    let handle = crate::telemetry::prometheus();
    Router::new()
        .route(
            "/metrics",
            get(move || {
                let services = services.clone();
                async move {
                    let pool = services.store.pool_state();
                    let in_use = pool
                        .read_connections
                        .saturating_sub(pool.read_connections_idle);
                    metrics::gauge!("ets_db_read_connections", "state" => "idle")
                        .set(pool.read_connections_idle as f64);
                    metrics::gauge!("ets_db_read_connections", "state" => "in_use")
                        .set(in_use as f64);
                    metrics::gauge!("ets_db_write_queue_depth").set(pool.write_queue_depth as f64);
                    handle.render()
                }
            }),
        )
        .layer(axum::middleware::map_response(
            crate::api::security::static_headers,
        ))
}
