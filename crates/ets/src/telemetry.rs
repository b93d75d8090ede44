//! Logs (`tracing`) and Prometheus metrics.
//!
//! Conventions: a readable message plus structured fields with units in their names
//! (`duration_ms`); metrics are named `ets_<thing>_<unit>` and served on their own listener.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global log subscriber. `RUST_LOG` overrides the configured level.
pub fn init_logging(config: &LogConfig) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(configured_filter(&config.level)));
    // Colours only for a person at a terminal, never into files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    let _ = match config.format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
}

/// The configured level, with `tokio_postgres` kept at `info` unless named: at `debug` it
/// logs every statement's parameters, which include CSRF tokens and user data.
fn configured_filter(level: &str) -> String {
    if level.contains("tokio_postgres") {
        level.to_owned()
    } else {
        format!("{level},tokio_postgres=info")
    }
}

/// Latency buckets in seconds: sub-millisecond ingest up to slow exports.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// The process-wide Prometheus recorder (installed on first use; tests start many servers in
/// one process and share it).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), LATENCY_BUCKETS)
            .expect("buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!(
                "a metrics recorder was already installed; Prometheus output may be empty"
            );
        }
        describe();
        handle
    })
}

fn describe() {
    metrics::describe_counter!(
        "ets_http_requests_total",
        "HTTP requests by method, route template and status"
    );
    metrics::describe_histogram!(
        "ets_http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by route"
    );
    metrics::describe_counter!(
        "ets_metric_points_ingested_total",
        "Metric points stored (duplicates excluded)"
    );
    metrics::describe_counter!(
        "ets_metric_series_cache_stale_total",
        "PostgreSQL: metric appends planned on this instance's cached series that found another \
         instance had written them, and were written again the ordinary way"
    );
    metrics::describe_gauge!(
        "ets_db_read_connections",
        "Database read connections by state (idle, in_use)"
    );
    metrics::describe_gauge!(
        "ets_db_write_queue_depth",
        "Write jobs waiting for the database writer"
    );
}
