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
use tonic::transport::server::TcpIncoming;

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
    tonic::transport::Server::builder()
        .add_service(proto::storage_service_server::StorageServiceServer::new(
            storage,
        ))
        .serve_with_incoming_shutdown(incoming(listener), async move {
            let _ = stopped.wait_for(|s| *s).await;
        })
        .await
        .map_err(std::io::Error::other)
}

/// The connections `listener` accepts, with Nagle's algorithm off as on the HTTP API: with
/// it on, each small response waits for the client's delayed ACK (~40 ms on Linux), and an
/// Optuna trial makes several calls.
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// The address a bound listener serves on.
pub fn address(listener: &TcpListener) -> std::io::Result<SocketAddr> {
    listener.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn accepted_connections_send_without_delay() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut accepted = incoming(listener);
        let _client = tokio::net::TcpStream::connect(address).await.unwrap();
        let server_side = accepted.next().await.unwrap().unwrap();
        assert!(server_side.nodelay().unwrap(), "TCP_NODELAY must be on");
    }
}
