//! ETS, the Experiment Tracking Service.
//!
//! Layers, top to bottom: [`api`] (HTTP adapters) → [`service`] (one function per use case)
//! → [`store`] (metadata and metrics) and [`blob`] (artifact bytes). Pure rules live in the
//! `ets-domain` crate.

pub mod actor;
pub mod api;
pub mod blob;
pub mod config;
pub mod error;
pub mod server;
pub mod service;
pub mod store;
pub mod telemetry;
