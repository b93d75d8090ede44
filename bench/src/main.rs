//! ETS ingest benchmark: metric points through the native HTTP API, next to the raw storage
//! reference (the plainest fast insert loop of the same backend: prepared inserts on SQLite,
//! binary COPY on PostgreSQL).
//!
//! `cargo run --release -p ets-bench -- --points 200000`
//! `cargo run --release -p ets-bench -- --pg-url postgres://postgres@127.0.0.1:5432/postgres`

mod pg;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Measure ETS metric ingest against the raw SQLite insert rate")]
struct Args {
    /// Metric points each client sends in the batch workload.
    #[arg(long, default_value_t = 200_000)]
    points: usize,
    /// Points per request in the batch workload.
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Distinct metric keys per run.
    #[arg(long, default_value_t = 10)]
    keys: usize,
    /// Concurrent clients to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,8")]
    clients: Vec<usize>,
    /// Single-point calls per client in the single-point workload (0 skips it).
    #[arg(long, default_value_t = 2000)]
    single_calls: usize,
    /// Points each client sends through the columnar bulk endpoint (0 skips it).
    #[arg(long, default_value_t = 1_000_000)]
    bulk_points: usize,
    /// Points per bulk request.
    #[arg(long, default_value_t = 50_000)]
    bulk_batch: usize,
    /// Concurrent clients of the bulk workload, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    bulk_clients: Vec<usize>,
    /// Run ETS on this PostgreSQL server (a fresh schema) instead of SQLite, e.g.
    /// `postgres://postgres@127.0.0.1:5432/postgres`.
    #[arg(long)]
    pg_url: Option<String>,
}

/// A running ETS on a temporary data directory.
struct Target {
    base: String,
    http: reqwest::Client,
    _server: ets::server::RunningServer,
    _dir: tempfile::TempDir,
}

impl Target {
    async fn start(database_url: Option<String>) -> Result<Target> {
        ets::install_crypto_provider();
        let dir = tempfile::tempdir()?;
        let mut config = ets::config::Config::defaults(ets::config::Environment::Dev);
        config.port = 0;
        config.metrics_port = 0;
        config.data_dir = dir.path().to_owned();
        config.database_url = database_url.map(|url| url.parse()).transpose()?;
        let server = ets::server::start(config).await?;
        Ok(Target {
            base: format!("http://{}", server.addr),
            http: reqwest::Client::new(),
            _server: server,
            _dir: dir,
        })
    }

    async fn post(&self, path: &str, body: String) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        let status = response.status();
        let value: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(status.is_success(), "{path}: {status} {value}");
        Ok(value)
    }

    async fn new_run(&self, name: &str) -> Result<String> {
        let project = self
            .post("/api/v1/projects", json!({ "name": name }).to_string())
            .await?;
        let experiment = self
            .post(
                "/api/v1/experiments",
                json!({ "project_id": project["id"], "name": "bench" }).to_string(),
            )
            .await?;
        let run = self
            .post(
                "/api/v1/runs",
                json!({ "experiment_id": experiment["id"] }).to_string(),
            )
            .await?;
        Ok(run["id"].as_str().context("run id")?.to_owned())
    }
}

/// Request bodies of `points` points, `batch` per request, `keys` keys stepping together.
fn batch_bodies(points: usize, batch: usize, keys: usize) -> Vec<String> {
    let mut bodies = Vec::with_capacity(points.div_ceil(batch));
    let mut items = Vec::with_capacity(batch);
    for i in 0..points {
        let (step, key) = (i / keys, i % keys);
        items.push(json!({ "key": format!("metric_{key}"), "value": (i as f64).sin(), "step": step, "timestamp": 1_700_000_000_000i64 + step as i64 }));
        if items.len() == batch || i + 1 == points {
            bodies.push(json!({ "metrics": items }).to_string());
            items.clear();
        }
    }
    bodies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Columnar bulk bodies: `points` points of `keys` keys, `batch` points per request.
fn bulk_bodies(points: usize, batch: usize, keys: usize) -> Vec<String> {
    let steps_per_request = (batch / keys).max(1);
    let total_steps = points.div_ceil(keys);
    (0..total_steps)
        .step_by(steps_per_request)
        .map(|first| {
            let steps: Vec<usize> = (first..(first + steps_per_request).min(total_steps)).collect();
            let series: Vec<Value> = (0..keys)
                .map(|key| {
                    let values: Vec<f64> = steps.iter().map(|s| ((s * keys + key) as f64).sin()).collect();
                    let timestamps: Vec<i64> = steps.iter().map(|s| 1_700_000_000_000i64 + *s as i64).collect();
                    json!({ "key": format!("metric_{key}"), "steps": steps, "values": values, "timestamps": timestamps })
                })
                .collect();
            json!({ "series": series }).to_string()
        })
        .collect()
}

/// Sends every body of one client in order; returns each request's latency.
async fn send_all(target: &Target, path: String, bodies: Vec<String>) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(bodies.len());
    for body in bodies {
        let started = Instant::now();
        target.post(&path, body).await?;
        latencies.push(started.elapsed());
    }
    Ok(latencies)
}

/// Creates one run per client, sends each client's bodies to `endpoint` (of its run)
/// concurrently, and returns the wall time and every client's request latencies.
async fn drive_clients(
    target: &std::sync::Arc<Target>,
    label: &str,
    endpoint: &str,
    bodies: Vec<Vec<String>>,
) -> Result<(Duration, Vec<Vec<Duration>>)> {
    let mut runs = Vec::new();
    for c in 0..bodies.len() {
        runs.push(
            target
                .new_run(&format!("{label}-{}-{c}", bodies.len()))
                .await?,
        );
    }
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (run, bodies) in runs.into_iter().zip(bodies) {
        let target = target.clone();
        let path = format!("/api/v1/runs/{run}/{endpoint}");
        tasks.push(tokio::spawn(async move {
            send_all(&target, path, bodies).await
        }));
    }
    let mut per_client = Vec::new();
    for task in tasks {
        per_client.push(task.await??);
    }
    Ok((started.elapsed(), per_client))
}

/// Mean latency in ms of the first and of the last tenth of a client's requests: whether
/// ingest holds as the database grows.
fn first_and_last_tenth(latencies: &[Duration]) -> (f64, f64) {
    let tenth = (latencies.len() / 10).max(1);
    let mean = |d: &[Duration]| d.iter().sum::<Duration>().as_secs_f64() * 1000.0 / d.len() as f64;
    (
        mean(&latencies[..tenth]),
        mean(&latencies[latencies.len() - tenth..]),
    )
}

async fn batch_workload(
    target: &std::sync::Arc<Target>,
    args: &Args,
    clients: usize,
) -> Result<()> {
    let bodies = (0..clients)
        .map(|_| batch_bodies(args.points, args.batch, args.keys))
        .collect();
    let (elapsed, per_client) = drive_clients(target, "batch", "metrics", bodies).await?;
    let total = args.points * clients;
    let (first, last) = first_and_last_tenth(&per_client[0]);
    println!(
        "| batch ingest ({} pts/request), {clients} client(s) | {:>12.0} points/s | {total} points in {:.2} s; batch latency first 10% {first:.2} ms, last 10% {last:.2} ms |",
        args.batch,
        total as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64(),
    );
    Ok(())
}

async fn bulk_workload(
    target: &std::sync::Arc<Target>,
    args: &Args,
    clients: usize,
    raw: f64,
) -> Result<()> {
    let bodies = (0..clients)
        .map(|_| bulk_bodies(args.bulk_points, args.bulk_batch, args.keys))
        .collect();
    let (elapsed, per_client) = drive_clients(target, "bulk", "bulk-metrics", bodies).await?;
    let total = args.bulk_points * clients;
    let rate = total as f64 / elapsed.as_secs_f64();
    let (first, last) = first_and_last_tenth(&per_client[0]);
    println!(
        "| bulk ingest, columnar ({} pts/request), {clients} client(s) | {rate:>12.0} points/s | {total} points in {:.2} s = {:.0} % of the raw reference; request latency first 10% {first:.1} ms, last 10% {last:.1} ms |",
        args.bulk_batch,
        elapsed.as_secs_f64(),
        100.0 * rate / raw,
    );
    Ok(())
}

async fn single_workload(
    target: &std::sync::Arc<Target>,
    args: &Args,
    clients: usize,
) -> Result<()> {
    let one_client = || -> Vec<String> {
        (0..args.single_calls)
            .map(|i| {
                json!({ "key": "loss", "value": 1.0 / (1.0 + i as f64), "step": i }).to_string()
            })
            .collect()
    };
    let bodies = (0..clients).map(|_| one_client()).collect();
    let (elapsed, per_client) = drive_clients(target, "single", "metrics", bodies).await?;
    let mut latencies: Vec<Duration> = per_client.into_iter().flatten().collect();
    latencies.sort();
    println!(
        "| single-point log, {clients} client(s) | {:>12.0} calls/s | p50 {:.2} ms, p99 {:.2} ms |",
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.5).as_secs_f64() * 1000.0,
        percentile(&latencies, 0.99).as_secs_f64() * 1000.0,
    );
    Ok(())
}

/// The practical limit of SQLite on this machine: the same points inserted by the plainest
/// fast loop — one prepared statement, one row per point into a table with no index, 1000 rows
/// per transaction, same pragmas as ETS.
fn raw_reference(points: usize, keys: usize) -> Result<f64> {
    let dir = tempfile::tempdir()?;
    let conn = rusqlite::Connection::open(dir.path().join("raw.db"))?;
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         CREATE TABLE metric_points (series_id INTEGER NOT NULL, step INTEGER NOT NULL, timestamp INTEGER NOT NULL,
           value REAL);",
    )?;
    let started = Instant::now();
    let mut i = 0;
    while i < points {
        let tx = conn.unchecked_transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO metric_points VALUES (?1, ?2, ?3, ?4)")?;
            for j in i..(i + 1000).min(points) {
                let (step, key) = (j / keys, j % keys);
                insert.execute(rusqlite::params![
                    key as i64,
                    step as i64,
                    1_700_000_000_000i64 + step as i64,
                    (j as f64).sin()
                ])?;
            }
        }
        tx.commit()?;
        i += 1000;
    }
    Ok(points as f64 / started.elapsed().as_secs_f64())
}

/// The practical limit of PostgreSQL here: the same points, a row per point, loaded with binary
/// COPY into a table with no index, 1000 rows per transaction.
async fn raw_pg_reference(url: &str, points: usize, keys: usize) -> Result<f64> {
    use futures_util::pin_mut;
    use tokio_postgres::binary_copy::BinaryCopyInWriter;
    use tokio_postgres::types::Type;
    let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    client
        .batch_execute(
            "CREATE TABLE raw_points (series_id BIGINT NOT NULL, step BIGINT NOT NULL, \
             timestamp BIGINT NOT NULL, value DOUBLE PRECISION)",
        )
        .await?;
    let started = Instant::now();
    let mut i = 0;
    while i < points {
        let tx = client.transaction().await?;
        let sink = tx.copy_in("COPY raw_points FROM STDIN BINARY").await?;
        let writer =
            BinaryCopyInWriter::new(sink, &[Type::INT8, Type::INT8, Type::INT8, Type::FLOAT8]);
        pin_mut!(writer);
        for j in i..(i + 1000).min(points) {
            let (step, key) = ((j / keys) as i64, (j % keys) as i64);
            let value = (j as f64).sin();
            let timestamp = 1_700_000_000_000i64 + step;
            writer
                .as_mut()
                .write(&[&key, &step, &timestamp, &value])
                .await?;
        }
        writer.finish().await?;
        tx.commit().await?;
        i += 1000;
    }
    let rate = points as f64 / started.elapsed().as_secs_f64();
    client.batch_execute("DROP TABLE raw_points").await?;
    Ok(rate)
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let reference_points = args.points.max(args.bulk_points);
    let (raw, database_url) = match &args.pg_url {
        None => (raw_reference(reference_points, args.keys)?, None),
        Some(url) => {
            let (admin, url) = pg::fresh_pg_schema(url, "ets_bench").await?;
            let settings = admin
                .query_one("SELECT version(), current_setting('fsync'), current_setting('synchronous_commit')", &[])
                .await?;
            eprintln!(
                "PostgreSQL: {}; fsync={}, synchronous_commit={}",
                settings.get::<_, String>(0),
                settings.get::<_, String>(1),
                settings.get::<_, String>(2)
            );
            (
                raw_pg_reference(&url, reference_points, args.keys).await?,
                Some(url),
            )
        }
    };
    let target = std::sync::Arc::new(Target::start(database_url).await?);
    println!("| workload | rate | detail |\n|---|---|---|");
    if args.pg_url.is_some() {
        println!(
            "| raw PostgreSQL reference (binary COPY, a row per point, 1000/tx) | {raw:>12.0} points/s | {reference_points} points, no index |"
        );
    } else {
        println!(
            "| raw SQLite reference (prepared insert loop, a row per point, 1000/tx) | {raw:>12.0} points/s | {reference_points} points, no index, same pragmas |"
        );
    }
    for &clients in &args.clients {
        batch_workload(&target, &args, clients).await?;
    }
    if args.bulk_points > 0 {
        for &clients in &args.bulk_clients {
            bulk_workload(&target, &args, clients, raw).await?;
        }
    }
    if args.single_calls > 0 {
        for &clients in &args.clients {
            single_workload(&target, &args, clients).await?;
        }
    }
    Ok(())
}
