//! Starting and stopping the service: listeners, the API router and the metrics listener.
//! Lives outside `main` so tests can run the real server on port 0 with their own shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::Config;
use crate::service::Services;

/// A running server.
pub struct RunningServer {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where `/metrics` is served.
    pub metrics_addr: SocketAddr,
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

/// Opens storage, binds both listeners and starts serving in the background.
pub async fn start(config: Config) -> anyhow::Result<RunningServer> {
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
    let addr = api_listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;

    tracing::info!(artifacts = %services.artifacts.location(), "artifact storage");
    if let Err(e) = services.artifacts.check_writable().await {
        tracing::warn!(error = %e, "artifact storage is not usable yet; /health/ready reports it");
    }
    let (shutdown, mut stopped) = watch::channel(false);
    tokio::spawn(sweep_expired_uploads(services.clone(), stopped.clone()));
    services
        .live
        .start(
            services.store.clone(),
            &services.config.effective_database_url(),
        )
        .await;
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
    let mut metrics_stopped = stopped.clone();
    let task = tokio::spawn(async move {
        let api = axum::serve(api_listener, app).with_graceful_shutdown(async move {
            let _ = stopped.wait_for(|s| *s).await;
        });
        let metrics =
            axum::serve(metrics_listener, metrics_app).with_graceful_shutdown(async move {
                let _ = metrics_stopped.wait_for(|s| *s).await;
            });
        let (api, metrics) = tokio::join!(api, metrics);
        api.and(metrics)
    });
    tracing::info!(%addr, %metrics_addr, "ETS is listening");
    Ok(RunningServer {
        addr,
        metrics_addr,
        services,
        shutdown,
        task,
    })
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
    Router::new().route(
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
                metrics::gauge!("ets_db_read_connections", "state" => "in_use").set(in_use as f64);
                metrics::gauge!("ets_db_write_queue_depth").set(pool.write_queue_depth as f64);
                handle.render()
            }
        }),
    )
}
