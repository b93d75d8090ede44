//! Sends a spooled run to the server, in order: the run (found by its client id tag, else
//! created), then each record, then the final status. A record leaves the spool only once the
//! server has answered it; a retry never doubles anything (log batches carry a `batch_id`,
//! metric points identical to stored ones are skipped by the server, the run is looked up by
//! its client id before it is created).

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::spool::{CLIENT_ID_TAG, Created, RecordKind, RunDir, RunSpec};
use crate::agent::client::{Client, error_message, refusal};

const MLFLOW: &str = "/api/2.0/mlflow";
/// The experiment tag naming its project in ETS's MLflow API (`experiments/create`).
const PROJECT_TAG: &str = "ets.project";

/// Why an upload stopped before the end.
#[derive(Debug)]
pub enum Stopped {
    /// The server cannot be reached, or answered 5xx/408/429: try again later.
    Unreachable(String),
    /// The server refuses the run itself (authentication, permissions, a bad name…): retrying
    /// will not help until something changes; the spool is kept.
    Refused(anyhow::Error),
}

impl std::fmt::Display for Stopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stopped::Unreachable(why) => write!(f, "the server cannot be reached ({why})"),
            Stopped::Refused(e) => write!(f, "{e:#}"),
        }
    }
}

/// What an upload pass did.
#[derive(Debug, Default, Clone)]
pub struct Sent {
    pub run_id: String,
    pub records: u64,
    pub rejected: u64,
    /// The run was finished on the server and its folder removed.
    pub done: bool,
}

/// A 5xx (but 501), 408 or 429 answer: worth trying again later.
fn transient(status: StatusCode) -> bool {
    (status.is_server_error() && status != StatusCode::NOT_IMPLEMENTED)
        || status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
}

/// One attempt of a call; transport failures and transient answers are `Unreachable`.
async fn send(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, Value), Stopped> {
    match client.call(method, path, body, false).await {
        Ok((status, _)) if transient(status) => Err(Stopped::Unreachable(format!("{status}"))),
        Ok(answer) => Ok(answer),
        Err(e) => Err(Stopped::Unreachable(
            e.root_cause().to_string().chars().take(200).collect(),
        )),
    }
}

/// `send`, and `Refused` unless the status is `expected`.
async fn expect(
    client: &Client,
    method: Method,
    path: &str,
    body: Option<&Value>,
    expected: StatusCode,
) -> Result<Value, Stopped> {
    let (status, reply) = send(client, method.clone(), path, body).await?;
    if status == expected {
        Ok(reply)
    } else {
        Err(Stopped::Refused(refusal(&method, path, status, &reply)))
    }
}

/// The experiment named `name`, created when missing (in `project`, else ETS's `default`).
async fn experiment(client: &Client, name: &str, project: Option<&str>) -> Result<String, Stopped> {
    let path = format!(
        "{MLFLOW}/experiments/get-by-name?{}",
        serde_urlencoded::to_string([("experiment_name", name)]).unwrap_or_default()
    );
    for _ in 0..2 {
        let (status, reply) = send(client, Method::GET, &path, None).await?;
        match status {
            StatusCode::OK => {
                return reply["experiment"]["experiment_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Stopped::Refused(anyhow::anyhow!("GET {path}: no experiment_id"))
                    });
            }
            StatusCode::NOT_FOUND => {}
            _ => {
                return Err(Stopped::Refused(refusal(
                    &Method::GET,
                    &path,
                    status,
                    &reply,
                )));
            }
        }
        let mut body = json!({ "name": name });
        if let Some(project) = project {
            body["tags"] = json!([{ "key": PROJECT_TAG, "value": project }]);
        }
        let create = format!("{MLFLOW}/experiments/create");
        let (status, reply) = send(client, Method::POST, &create, Some(&body)).await?;
        match status {
            StatusCode::OK => {
                return reply["experiment_id"]
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| {
                        Stopped::Refused(anyhow::anyhow!("{create}: no experiment_id"))
                    });
            }
            // Created meanwhile by someone else: read it again.
            StatusCode::CONFLICT | StatusCode::BAD_REQUEST
                if reply.to_string().contains("RESOURCE_ALREADY_EXISTS") => {}
            _ => {
                return Err(Stopped::Refused(refusal(
                    &Method::POST,
                    &create,
                    status,
                    &reply,
                )));
            }
        }
    }
    Err(Stopped::Refused(anyhow::anyhow!(
        "experiment '{name}' can be neither found nor created"
    )))
}

/// The run of `spec` on the server: the one carrying its client id tag, else a new one.
async fn ensure_run(client: &Client, run: &RunDir, spec: &RunSpec) -> Result<String, Stopped> {
    if let Ok(Some(created)) = run.created()
        && created.server == client.base()
    {
        return Ok(created.run_id);
    }
    let experiment_id = experiment(client, &spec.experiment, spec.project.as_deref()).await?;
    let list = format!(
        "/api/v1/runs?{}",
        serde_urlencoded::to_string([
            ("experiment_id", experiment_id.as_str()),
            ("tag", &format!("{CLIENT_ID_TAG}:{}", spec.client_id)),
            ("lifecycle", "all"),
            ("page_size", "1"),
        ])
        .unwrap_or_default()
    );
    let found = expect(client, Method::GET, &list, None, StatusCode::OK).await?;
    let run_id = match found["items"][0]["id"].as_str() {
        Some(id) => id.to_owned(),
        None => {
            let mut tags = spec.tags.clone();
            tags.insert(CLIENT_ID_TAG.to_owned(), spec.client_id.clone());
            let mut body = json!({
                "experiment_id": experiment_id,
                "params": spec.params,
                "tags": tags,
                "started_at": spec.started_at,
            });
            if let Some(name) = &spec.name {
                body["name"] = json!(name);
            }
            let created = expect(
                client,
                Method::POST,
                "/api/v1/runs",
                Some(&body),
                StatusCode::CREATED,
            )
            .await?;
            created["id"]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| Stopped::Refused(anyhow::anyhow!("POST /api/v1/runs: no id")))?
        }
    };
    let created = Created {
        server: client.base().to_owned(),
        run_id: run_id.clone(),
    };
    run.set_created(&created)
        .map_err(|e| Stopped::Refused(anyhow::Error::new(e).context("spool")))?;
    Ok(run_id)
}

/// Creates the run if needed and answers its id (the first thing `ets run` does).
pub async fn create(client: &Client, run: &RunDir) -> Result<String, Stopped> {
    let spec = run
        .spec()
        .map_err(|e| Stopped::Refused(anyhow::Error::new(e).context("spool")))?;
    ensure_run(client, run, &spec).await
}

/// Sends whatever `run` holds. With `finish`, also the final status when it is there (and then
/// removes the folder).
pub async fn upload(client: &Client, run: &RunDir, finish: bool) -> Result<Sent, Stopped> {
    let spool_error = |e: std::io::Error| Stopped::Refused(anyhow::Error::new(e).context("spool"));
    let spec = run.spec().map_err(spool_error)?;
    let run_id = ensure_run(client, run, &spec).await?;
    let mut sent = Sent {
        run_id: run_id.clone(),
        ..Sent::default()
    };
    for record in run.records().map_err(spool_error)? {
        let body = RunDir::read(&record).map_err(spool_error)?;
        let (path, expected) = match record.kind {
            RecordKind::Logs => (format!("/api/v1/runs/{run_id}/logs"), StatusCode::CREATED),
            RecordKind::Metrics => (
                format!("/api/v1/runs/{run_id}/metrics"),
                StatusCode::CREATED,
            ),
        };
        let (status, reply) = send(client, Method::POST, &path, Some(&body)).await?;
        // 200 answers a log batch sent before (`"duplicate": true`).
        if status == expected || status == StatusCode::OK {
            RunDir::acknowledged(&record).map_err(spool_error)?;
            sent.records += 1;
        } else if matches!(
            status,
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND
        ) {
            return Err(Stopped::Refused(refusal(
                &Method::POST,
                &path,
                status,
                &reply,
            )));
        } else {
            eprintln!(
                "ets run: POST {path}: {status}: {}; the record is kept in {}",
                error_message(&reply),
                run.dir.join("rejected").display()
            );
            run.reject(&record).map_err(spool_error)?;
            sent.rejected += 1;
        }
    }
    if finish && let Some(ended) = run.final_record().map_err(spool_error)? {
        let tags = json!({ "run_id": run_id, "tags": [
            { "key": "ets.run.exit_code", "value": ended.exit_code.to_string() }] });
        expect(
            client,
            Method::POST,
            &format!("{MLFLOW}/runs/log-batch"),
            Some(&tags),
            StatusCode::OK,
        )
        .await?;
        let update = json!({
            "run_id": run_id,
            "status": ended.status.to_ascii_uppercase(),
            "end_time": ended.end_time,
        });
        expect(
            client,
            Method::POST,
            &format!("{MLFLOW}/runs/update"),
            Some(&update),
            StatusCode::OK,
        )
        .await?;
        sent.done = run.remove_if_done().map_err(spool_error)?;
        if !sent.done {
            // Rejected records stay for inspection; the final status is on the server.
            let _ = std::fs::rename(
                run.dir.join("final.json"),
                run.dir.join("rejected").join("final.json"),
            );
        }
    }
    Ok(sent)
}

/// The client of `ets run` and `ets sync`.
pub fn client(server: &str, api_key: Option<String>) -> anyhow::Result<Client> {
    Ok(Client::new(server, api_key)
        .context("--server")?
        .named("ets run"))
}
