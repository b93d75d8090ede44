//! Searching one experiment of 100,000 runs (issue 18, goal 2), driven through the MLflow REST
//! API of a running ETS (`bench/search/runs_100k.sh` starts it on each backend):
//!
//! - fills the experiment: `runs/create` + `runs/log-batch` per run (metric `acc`, param `g` in
//!   {a, b, c, d}, two tags; one run in 100 has no `acc`, so the runs without the sort key are
//!   paged too), and reports the creation rate per band of 10,000 runs;
//! - a filtered, metric-ordered page of 100 (`metrics.acc > 0.5 and params.g = 'a'` by
//!   `metrics.acc DESC`): p50 and p90 of repeated requests;
//! - a full ordered scan (no filter, `metrics.acc DESC`) in pages of 1,000 following
//!   `next_page_token`, checked complete and in order: runs per second;
//! - the same filter through the native list (`GET /api/v1/runs?filter=…`, 100 per page).
//!
//! `cargo run --release -p ets-bench --bin ets-bench-search -- --base http://127.0.0.1:5000`

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(about = "Search one experiment of many runs through the MLflow REST API")]
struct Args {
    /// Base URL of the ETS server.
    #[arg(long)]
    base: String,
    /// Runs in the experiment.
    #[arg(long, default_value_t = 100_000)]
    runs: usize,
    /// Runs per band of the creation-rate report.
    #[arg(long, default_value_t = 10_000)]
    band: usize,
    /// Concurrent clients creating runs.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Requests timed for the filtered page (after 3 warm-ups).
    #[arg(long, default_value_t = 30)]
    repeats: usize,
    /// Full ordered scans timed (the median is reported).
    #[arg(long, default_value_t = 3)]
    scans: usize,
    /// Label of this server in the report (e.g. `sqlite, before`).
    #[arg(long, default_value = "ets")]
    label: String,
    /// Measure this experiment, filled by an earlier run of the bench with the same `--runs`
    /// (e.g. by the build before a change, on the same database), instead of filling a new one.
    #[arg(long)]
    experiment: Option<String>,
}

const MLFLOW: &str = "/api/2.0/mlflow";
const FILTER: &str = "metrics.acc > 0.5 and params.g = 'a'";
const ORDER: &str = "metrics.acc DESC";
const GROUPS: [&str; 4] = ["a", "b", "c", "d"];

/// The `acc` of run `i` (None: the run has no `acc`), spread over [0, 1) without a pattern in
/// creation order, with ties (3 decimals) so the tie-breakers are exercised.
fn acc_of(i: usize) -> Option<f64> {
    if i % 100 == 37 {
        return None;
    }
    let mixed = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40;
    Some((mixed % 1000) as f64 / 1000.0)
}

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "POST {path}: {status} {text}");
        if text.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("POST {path}: not JSON"))
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let text = response.text().await?;
        ensure!(status.is_success(), "GET {path}: {status} {text}");
        serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON"))
    }

    async fn create_run(&self, experiment: &str, i: usize) -> Result<()> {
        let run = self
            .post(
                &format!("{MLFLOW}/runs/create"),
                &json!({
                    "experiment_id": experiment,
                    "run_name": format!("run-{i:06}"),
                    "start_time": 1_700_000_000_000i64 + i as i64,
                    "tags": [{ "key": "team", "value": if i.is_multiple_of(2) { "x" } else { "y" } }],
                }),
            )
            .await?;
        let run_id = run["run"]["info"]["run_id"]
            .as_str()
            .context("runs/create: no run_id")?;
        let metrics: Vec<Value> = acc_of(i)
            .map(|acc| json!({ "key": "acc", "value": acc, "timestamp": 1_700_000_000_000i64, "step": 0 }))
            .into_iter()
            .chain([json!({ "key": "loss", "value": 1.0 / (1.0 + i as f64), "timestamp": 1_700_000_000_000i64, "step": 0 })])
            .collect();
        self.post(
            &format!("{MLFLOW}/runs/log-batch"),
            &json!({
                "run_id": run_id,
                "metrics": metrics,
                "params": [
                    { "key": "g", "value": GROUPS[i % GROUPS.len()] },
                    { "key": "lr", "value": format!("{}", 0.001 * (1 + i % 10) as f64) },
                ],
                "tags": [{ "key": "stage", "value": "bench" }],
            }),
        )
        .await?;
        Ok(())
    }

    async fn search(&self, body: &Value) -> Result<Value> {
        self.post(&format!("{MLFLOW}/runs/search"), body).await
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize].as_secs_f64() * 1000.0
}

/// Creates the runs with `clients` concurrent clients; returns the seconds each band took.
async fn fill(client: &Arc<Client>, experiment: &str, args: &Args) -> Result<Vec<f64>> {
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (client, next, done) = (client.clone(), next.clone(), done.clone());
        let (experiment, runs) = (experiment.to_owned(), args.runs);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= runs {
                    return Ok::<_, anyhow::Error>(());
                }
                client.create_run(&experiment, i).await?;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    // Band boundaries, sampled every 2 ms (a band takes seconds).
    let mut bands = Vec::new();
    let mut band_start = Duration::ZERO;
    let watcher = async {
        while bands.len() < args.runs / args.band {
            if done.load(Ordering::Relaxed) >= (bands.len() + 1) * args.band {
                let now = started.elapsed();
                bands.push((now - band_start).as_secs_f64());
                band_start = now;
            } else {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let workers = async {
        for task in tasks {
            task.await??;
        }
        Ok::<_, anyhow::Error>(())
    };
    let (_, created) = tokio::join!(watcher, workers);
    created?;
    Ok(bands)
}

/// Every run through pages of 1,000 in `metrics.acc DESC` order: (seconds, pages), after
/// checking that each run came once and the order holds (missing `acc` last).
async fn full_scan(client: &Client, experiment: &str, runs: usize) -> Result<(f64, usize)> {
    let started = Instant::now();
    let mut token: Option<String> = None;
    let mut seen = HashSet::with_capacity(runs);
    let mut previous: Option<Option<f64>> = None;
    let mut pages = 0;
    loop {
        let mut body = json!({
            "experiment_ids": [experiment], "max_results": 1000, "order_by": [ORDER],
        });
        if let Some(token) = &token {
            body["page_token"] = json!(token);
        }
        let page = client.search(&body).await?;
        pages += 1;
        for run in page["runs"].as_array().into_iter().flatten() {
            let id = run["info"]["run_id"].as_str().context("run_id")?;
            ensure!(seen.insert(id.to_owned()), "run {id} came twice");
            let acc = run["data"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|m| m["key"] == "acc")
                .and_then(|m| m["value"].as_f64());
            if let Some(previous) = previous {
                let in_order = match (previous, acc) {
                    (Some(p), Some(a)) => p >= a,
                    (Some(_), None) | (None, None) => true,
                    (None, Some(_)) => false,
                };
                ensure!(
                    in_order,
                    "out of order at page {pages}: {previous:?} then {acc:?}"
                );
            }
            previous = Some(acc);
        }
        token = page["next_page_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        seen.len() == runs,
        "the scan saw {} of {runs} runs",
        seen.len()
    );
    Ok((seconds, pages))
}

/// p50 and p90 in ms of `repeats` calls of `call` (after 3 warm-ups), and the result of the
/// last one.
async fn timed<F, Fut>(repeats: usize, mut call: F) -> Result<(f64, f64, Value)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Value>>,
{
    for _ in 0..3 {
        call().await?;
    }
    let mut times = Vec::with_capacity(repeats);
    let mut last = Value::Null;
    for _ in 0..repeats {
        let started = Instant::now();
        last = call().await?;
        times.push(started.elapsed());
    }
    times.sort();
    Ok((percentile(&times, 0.5), percentile(&times, 0.9), last))
}

/// Fills the experiment and prints the creation rates.
async fn report_fill(client: &Arc<Client>, experiment: &str, args: &Args) -> Result<()> {
    let started = Instant::now();
    let bands = fill(client, experiment, args).await?;
    let fill_seconds = started.elapsed().as_secs_f64();
    println!(
        "[{}] created {} runs (create + log-batch each, {} clients) in {fill_seconds:.1} s: {:.0} runs/s",
        args.label,
        args.runs,
        args.clients,
        args.runs as f64 / fill_seconds
    );
    let rates: Vec<String> = bands
        .iter()
        .map(|s| format!("{:.0}", args.band as f64 / s))
        .collect();
    println!(
        "[{}] runs/s per band of {}: {}",
        args.label,
        args.band,
        rates.join(" ")
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    ets::install_crypto_provider();
    let client = Arc::new(Client {
        base: args.base.trim_end_matches('/').to_owned(),
        http: reqwest::Client::new(),
    });
    let experiment = match &args.experiment {
        Some(experiment) => experiment.clone(),
        None => {
            let experiment = client
                .post(
                    &format!("{MLFLOW}/experiments/create"),
                    &json!({ "name": format!("search-{}", std::process::id()) }),
                )
                .await?["experiment_id"]
                .as_str()
                .context("experiment_id")?
                .to_owned();
            report_fill(&client, &experiment, &args).await?;
            experiment
        }
    };
    println!("[{}] experiment {experiment}", args.label);

    let expected = (0..args.runs)
        .filter(|i| i.is_multiple_of(GROUPS.len()) && acc_of(*i).is_some_and(|a| a > 0.5))
        .count();
    let filtered = json!({
        "experiment_ids": [experiment], "filter": FILTER, "order_by": [ORDER], "max_results": 100,
    });
    let (p50, p90, page) = timed(args.repeats, || client.search(&filtered)).await?;
    let got = page["runs"].as_array().map_or(0, Vec::len);
    ensure!(
        got == expected.min(100),
        "filtered page: {got} runs, expected {}",
        expected.min(100)
    );
    println!(
        "[{}] filtered page of 100 (`{FILTER}` by `{ORDER}`): p50 {p50:.1} ms, p90 {p90:.1} ms",
        args.label
    );

    let mut scans = Vec::new();
    let mut pages = 0;
    for _ in 0..args.scans {
        let (seconds, n) = full_scan(&client, &experiment, args.runs).await?;
        scans.push(seconds);
        pages = n;
    }
    scans.sort_by(f64::total_cmp);
    let median = scans[scans.len() / 2];
    println!(
        "[{}] full scan by `{ORDER}`, {pages} pages of 1,000: median {median:.2} s = {:.0} runs/s (scans: {})",
        args.label,
        args.runs as f64 / median,
        scans
            .iter()
            .map(|s| format!("{s:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );

    let native = format!(
        "/api/v1/runs?experiment_id={experiment}&page_size=100&filter={}",
        FILTER.replace(' ', "%20").replace('\'', "%27")
    );
    let (n50, n90, page) = timed(args.repeats, || client.get(&native)).await?;
    let got = page["items"].as_array().map_or(0, Vec::len);
    ensure!(
        got == expected.min(100),
        "native page: {got} runs, expected {}",
        expected.min(100)
    );
    println!(
        "[{}] native list, same filter, page of 100 (newest first): p50 {n50:.1} ms, p90 {n90:.1} ms",
        args.label
    );
    Ok(())
}
