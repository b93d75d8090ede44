//! ETS domain: plain types, lifecycle rules, validation, statistics and downsampling.
//!
//! Nothing here does I/O or knows about HTTP or SQL, so every rule is unit-tested in isolation
//! and shared by both API surfaces (native and MLflow) through the service layer.

pub mod comparison;
pub mod downsample;
pub mod filter;
pub mod ids;
pub mod model;
pub mod stats;
pub mod status;
pub mod templates;
pub mod time;
pub mod validate;
pub mod value;

pub use ids::{new_id, run_name};
pub use time::Timestamp;
pub use validate::ValidationError;
