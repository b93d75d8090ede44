//! ETS, the Experiment Tracking Service.
//!
//! Layers, top to bottom: [`api`] (HTTP adapters) → [`service`] (one function per use case)
//! → [`store`] (metadata and metrics) and [`artifacts`] (artifact bytes). Pure rules live in the
//! `ets-domain` crate.

pub mod actor;
pub mod agent;
pub mod alerts;
pub mod api;
pub mod archive;
pub mod artifacts;
pub mod audit;
pub mod auth;
pub mod config;
pub mod database_url;
pub mod error;
pub mod import;
pub mod live;
pub mod optuna;
pub mod private_files;
pub mod run;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
pub mod ui;

/// Installs `ring` as the process's TLS crypto provider (idempotent). reqwest is built
/// without a default provider to keep aws-lc out of the build, so this must run before any
/// HTTP client is created.
pub fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
