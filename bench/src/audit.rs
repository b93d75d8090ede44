//! Cost of the audit trail per write, in one process: the same store writes with and without
//! their audit record (the backend alone inside `audit::unaudited`, and the audited store),
//! interleaved one by one on one database so both see the same load and the same data size.
//! Reports the median time of each and the difference.
//!
//! ```text
//! cargo run --release -p ets-bench --bin ets-bench-audit -- --writes 2000
//! cargo run --release -p ets-bench --bin ets-bench-audit -- --pg-url postgres://postgres@127.0.0.1:5432/postgres
//! ```

mod pg;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use clap::Parser;
use ets::actor::Actor;
use ets::database_url::DatabaseUrl;
use ets::store::Store;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(about = "Measure what the audit record adds to a store write")]
struct Args {
    /// Writes of each kind, with and without the record each.
    #[arg(long, default_value_t = 1000)]
    writes: usize,
    /// Run on this PostgreSQL server (a fresh schema) instead of SQLite.
    #[arg(long)]
    pg_url: Option<String>,
}

/// A metric batch of `points` points over 10 keys, steps from `first_step`.
fn batch(points: usize, first_step: i64) -> Vec<ets_domain::model::SeriesPoints> {
    let keys = points.clamp(1, 10);
    (0..keys)
        .map(|k| ets_domain::model::SeriesPoints {
            key: format!("k{k}"),
            points: (0..points / keys)
                .map(|i| {
                    let step = first_step + i as i64;
                    ets_domain::model::MetricPoint::new(
                        step,
                        1_700_000_000_000 + step,
                        step as f64 * 0.5,
                    )
                })
                .collect(),
        })
        .collect()
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = Args::parse();
    ets::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let mut config = ets::config::Config::defaults(ets::config::Environment::Dev);
    config.data_dir = dir.path().to_owned();
    config.limits.max_runs_per_experiment = 1_000_000;
    if let Some(url) = &args.pg_url {
        let (_client, url) = pg::fresh_pg_schema(url, "ets_bench_audit").await?;
        config.database_url = Some(url.parse()?);
    }
    let database = config.effective_database_url();
    let services = ets::service::Services::open(config.clone()).await?;
    let audited = services.store.clone();
    let limits = ets::store::StoreLimits {
        max_concurrent_experiments: 50,
        max_runs_per_experiment: 1_000_000,
        max_metric_keys_per_run: 10_000,
    };
    let backend: Arc<dyn Store> = match &database {
        DatabaseUrl::Sqlite(path) => {
            Arc::new(ets::store::sqlite::SqliteStore::open(path, 2, limits).await?)
        }
        DatabaseUrl::Postgres(options) => {
            Arc::new(ets::store::postgres::PgStore::open(options, 4, limits, false).await?)
        }
    };
    let actor = Actor::Anonymous;
    let project = services
        .create_project(
            &actor,
            serde_json::from_value(json!({"name": "audit-cost"}))?,
        )
        .await?;
    let experiment = services
        .create_experiment(
            &actor,
            serde_json::from_value(json!({"project_id": project.id, "name": "e"}))?,
        )
        .await?;
    let run = services
        .create_run(
            &actor,
            serde_json::from_value(json!({"experiment_id": experiment.id}))?,
        )
        .await?;
    println!(
        "database: {database}; {} writes of each kind and variant, interleaved",
        args.writes
    );
    println!(
        "| write | without record (median) | with record (median) | difference |\n|---|---|---|---|"
    );
    let mut step = 0i64;
    for (name, points) in [
        ("log_batch, 1000 points", 1000usize),
        ("log_batch, 1 point", 1),
    ] {
        let (mut plain, mut recorded) = (Vec::new(), Vec::new());
        for i in 0..args.writes {
            // Alternate which goes first, so neither always follows the other.
            for audited_first in [i % 2 == 0, i % 2 != 0] {
                let points = batch(points, step);
                step += 1000;
                let started = Instant::now();
                let write = if audited_first {
                    ets::store::log_metrics(audited.as_ref(), &run.id, points).await
                } else {
                    ets::audit::unaudited(ets::store::log_metrics(
                        backend.as_ref(),
                        &run.id,
                        points,
                    ))
                    .await
                };
                write?;
                if audited_first {
                    &mut recorded
                } else {
                    &mut plain
                }
                .push(started.elapsed());
            }
        }
        let (plain, recorded) = (median(plain), median(recorded));
        println!(
            "| {name} | {:.1} µs | {:.1} µs | {:+.1} µs ({:+.1} %) |",
            plain.as_secs_f64() * 1e6,
            recorded.as_secs_f64() * 1e6,
            (recorded.as_secs_f64() - plain.as_secs_f64()) * 1e6,
            (recorded.as_secs_f64() / plain.as_secs_f64() - 1.0) * 100.0
        );
    }
    let report = audited.verify_audit().await?;
    if !report.ok {
        bail!("the trail does not verify: {report:?}");
    }
    Ok(())
}
