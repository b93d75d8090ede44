//! Optuna's gRPC storage service (`optuna.storages.GrpcStorageProxy`, Optuna >= 4.2),
//! served by ETS (`ets serve --optuna-grpc-port`). Optuna scripts run unchanged against it;
//! their studies are ETS studies of the `optuna.project` project, each in the experiment of
//! its name, and their trials are runs. The wire contract is `proto/optuna_storage.proto`;
//! the rules are `service::study_storage`'s; this module only translates.

mod convert;
mod service;

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

pub use service::OptunaStorage;

use crate::service::Services;

#[allow(clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("optuna");
}

/// Binds Optuna's storage service where the configuration says (when it is on).
pub async fn bind(services: &Services) -> anyhow::Result<Option<TcpListener>> {
    let Some((host, port)) = services.config.optuna_grpc_address() else {
        return Ok(None);
    };
    let listener = TcpListener::bind((host.as_str(), port))
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot listen on {host}:{port} for Optuna's gRPC storage: {e}")
        })?;
    Ok(Some(listener))
}

/// Serves Optuna's storage service on `listener` until `stopped`.
pub async fn serve(
    listener: TcpListener,
    services: Arc<Services>,
    mut stopped: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let storage = OptunaStorage::new(services).map_err(std::io::Error::other)?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    tonic::transport::Server::builder()
        .add_service(proto::storage_service_server::StorageServiceServer::new(
            storage,
        ))
        .serve_with_incoming_shutdown(incoming, async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
        .map_err(std::io::Error::other)
}

/// The address a bound listener serves on.
pub fn address(listener: &TcpListener) -> std::io::Result<SocketAddr> {
    listener.local_addr()
}
