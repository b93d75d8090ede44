//! Cost of alert evaluation on ingest (issue 14, goal: ≤ 5 %): MLflow `log-batch` throughput of
//! concurrent clients against one server, in alternating rounds without alert rules and with
//! ten rules on the experiment (metric thresholds on the latest value and on 100-step windowed
//! means, a safety verdict, run failure, run staleness) that are judged after every batch's
//! commit but never fire.
//!
//! cargo run --release -p ets-bench --bin ets-bench-alerts -- --rounds 6
//! cargo run --release -p ets-bench --bin ets-bench-alerts -- --pg-url postgres://postgres@127.0.0.1:5432/postgres

mod pg;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Measure what alert evaluation adds to log-batch ingest")]
struct Args {
    /// Rounds of each mode (without rules, with rules), alternating.
    #[arg(long, default_value_t = 6)]
    rounds: usize,
    /// Concurrent clients, each logging to its own run.
    #[arg(long, default_value_t = 8)]
    clients: usize,
    /// Batches each client sends per round.
    #[arg(long, default_value_t = 40)]
    batches: usize,
    /// Points per batch (over 10 keys).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// Run on this PostgreSQL server (a fresh schema) instead of SQLite.
    #[arg(long)]
    pg_url: Option<String>,
    /// Only the five rules on latest values (no windowed reads, no safety verdicts).
    #[arg(long)]
    latest_only: bool,
}

struct Server {
    base: String,
    http: reqwest::Client,
    _server: ets::server::RunningServer,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "POST {path}: {status} {text}");
        Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn delete(&self, path: &str) -> Result<()> {
        let response = self
            .http
            .delete(format!("{}{path}", self.base))
            .send()
            .await?;
        ensure!(
            response.status().is_success(),
            "DELETE {path}: {}",
            response.status()
        );
        Ok(())
    }
}

async fn start(pg_url: Option<&str>) -> Result<Server> {
    ets::install_crypto_provider();
    let dir = tempfile::tempdir()?;
    let mut config = ets::config::Config::defaults(ets::config::Environment::Dev);
    config.port = 0;
    config.metrics_port = 0;
    config.data_dir = dir.path().to_owned();
    if let Some(url) = pg_url {
        let (_client, url) = pg::fresh_pg_schema(url, "ets_bench_alerts").await?;
        config.database_url = Some(url.parse()?);
    }
    let server = ets::server::start(config).await?;
    Ok(Server {
        base: format!("http://{}", server.addr),
        http: reqwest::Client::new(),
        _server: server,
        _dir: dir,
    })
}

/// One MLflow log-batch body: `points` points over 10 keys from `first_step`.
fn log_batch(run: &str, points: usize, first_step: i64) -> String {
    let metrics: Vec<Value> = (0..points)
        .map(|i| {
            let step = first_step + (i / 10) as i64;
            json!({ "key": format!("k{}", i % 10), "value": 0.5 + (step % 7) as f64 * 0.01,
                    "timestamp": 1_700_000_000_000i64 + step, "step": step })
        })
        .collect();
    json!({ "run_id": run, "metrics": metrics }).to_string()
}

/// Sends every client's batches at once; the points per second of the round.
async fn round(server: &Server, runs: &[String], args: &Args, first_step: i64) -> Result<f64> {
    let bodies: Vec<Vec<String>> = runs
        .iter()
        .map(|run| {
            (0..args.batches)
                .map(|b| log_batch(run, args.batch, first_step + (b * args.batch / 10) as i64))
                .collect()
        })
        .collect();
    let started = Instant::now();
    let sends = bodies.into_iter().map(|bodies| {
        let http = server.http.clone();
        let url = format!("{}/api/2.0/mlflow/runs/log-batch", server.base);
        async move {
            for body in bodies {
                let response = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await?;
                ensure!(
                    response.status().is_success(),
                    "log-batch: {}",
                    response.status()
                );
            }
            Ok::<(), anyhow::Error>(())
        }
    });
    for result in futures_util::future::join_all(sends).await {
        result?;
    }
    let points = (runs.len() * args.batches * args.batch) as f64;
    Ok(points / started.elapsed().as_secs_f64())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let server = start(args.pg_url.as_deref()).await?;
    let project = server
        .post("/api/v1/projects", json!({ "name": "alerts-bench" }))
        .await?;
    let experiment = server
        .post(
            "/api/v1/experiments",
            json!({ "project_id": project["id"], "name": "ingest" }),
        )
        .await?["id"]
        .as_str()
        .context("experiment id")?
        .to_owned();
    let mut runs = Vec::new();
    for _ in 0..args.clients {
        let run = server
            .post("/api/v1/runs", json!({ "experiment_id": experiment }))
            .await?;
        runs.push(run["id"].as_str().context("run id")?.to_owned());
    }
    // Rules that are judged on every batch but never fire (values stay in 0.5–0.56).
    let mut rules: Vec<Value> = (0..5)
        .map(|k| json!({ "metric": format!("k{k}"), "condition": ">", "threshold": 10.0 }))
        .collect();
    rules.extend((5..7).map(|k| {
        json!({ "metric": format!("k{k}"), "aggregation": "mean", "window_steps": 100,
                "condition": "<", "threshold": 0.0 })
    }));
    rules.push(json!({ "kind": "safety_fail" }));
    rules.push(json!({ "kind": "run_failed" }));
    rules.push(json!({ "kind": "run_stale", "stale_minutes": 60 }));
    if args.latest_only {
        rules.truncate(5);
    }

    let database = if args.pg_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    println!(
        "{database}: {} clients × {} log-batch calls of {} points per round, {} rounds per mode, alternating",
        args.clients, args.batches, args.batch, args.rounds
    );
    let (mut without, mut with) = (Vec::new(), Vec::new());
    let mut step = 0i64;
    let advance = (args.batches * args.batch / 10) as i64;
    // A warm-up round first (connections, caches, file growth).
    round(&server, &runs, &args, step).await?;
    step += advance;
    for i in 0..args.rounds {
        for rules_on in [i % 2 == 0, i % 2 != 0] {
            let mut ids = Vec::new();
            if rules_on {
                for rule in &rules {
                    let mut body = rule.clone();
                    body["experiment_id"] = json!(experiment);
                    let created = server.post("/api/v1/alerts/rules", body).await?;
                    ids.push(created["id"].as_str().context("rule id")?.to_owned());
                }
            }
            let rate = round(&server, &runs, &args, step).await?;
            step += advance;
            for id in ids {
                server.delete(&format!("/api/v1/alerts/rules/{id}")).await?;
            }
            // Let the evaluator finish the round's runs before the next round starts.
            tokio::time::sleep(Duration::from_millis(200)).await;
            if rules_on {
                with.push(rate);
            } else {
                without.push(rate);
            }
        }
    }
    let alerts = server
        .http
        .get(format!("{}/api/v1/alerts", server.base))
        .send()
        .await?
        .json::<Value>()
        .await?;
    ensure!(
        alerts["items"].as_array().is_some_and(Vec::is_empty),
        "a rule fired: {alerts}"
    );
    let (a, b) = (median(without), median(with));
    println!(
        "| mode | log-batch points/s (median of {} rounds) |\n|---|---|",
        args.rounds
    );
    println!("| no alert rules | {a:.0} |");
    println!("| {} alert rules on the experiment | {b:.0} |", rules.len());
    println!("overhead: {:.1} %", (a / b - 1.0) * 100.0);
    Ok(())
}
