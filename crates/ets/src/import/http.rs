//! An MLflow tracking server, through its REST API: `experiments/search` and `runs/search`
//! (paged), `metrics/get-history` (paged), `artifacts/list` and `/get-artifact`; MLflow 3's
//! `logged-models/search` (paged), `logged-models/{id}/artifacts/directories` and
//! `/ajax-api/2.0/mlflow/logged-models/{id}/artifacts/files`.
//! Credentials are MLflow's own variables: `MLFLOW_TRACKING_TOKEN` (bearer), or
//! `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD` (basic).

use std::time::Duration;

use anyhow::{Context, bail};
use async_trait::async_trait;
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use super::source::{Experiment, LoggedModel, ModelLinks, ModelPoint, Owner, Point, Run, Source};
use crate::agent::client::metric_value;

/// Points asked for per `metrics/get-history` page.
const HISTORY_PAGE: usize = 25_000;

pub struct HttpSource {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    basic: Option<(String, String)>,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl HttpSource {
    pub fn open(uri: &str) -> anyhow::Result<HttpSource> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .build()
            .context("HTTP client")?;
        let basic = env("MLFLOW_TRACKING_USERNAME")
            .map(|user| (user, env("MLFLOW_TRACKING_PASSWORD").unwrap_or_default()));
        Ok(HttpSource {
            http,
            base: uri.trim_end_matches('/').to_owned(),
            token: env("MLFLOW_TRACKING_TOKEN"),
            basic,
        })
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match (&self.token, &self.basic) {
            (Some(token), _) => request.bearer_auth(token),
            (None, Some((user, password))) => request.basic_auth(user, Some(password)),
            (None, None) => request,
        }
    }

    async fn send(&self, request: RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| {
            format!("{what}: the MLflow server {} cannot be reached", self.base)
        })?;
        let status = response.status();
        let text = response.text().await.context(what.to_owned())?;
        if !status.is_success() {
            bail!(
                "{what}: {status}: {}",
                text.chars().take(500).collect::<String>()
            );
        }
        parse_json(&text).with_context(|| format!("{what}: unexpected answer"))
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> anyhow::Result<Value> {
        let what = format!("GET {}{path}", self.base);
        let url = format!("{path}?{}", serde_urlencoded::to_string(query)?);
        self.send(self.request(Method::GET, &url), &what).await
    }

    /// The bytes the server answers `GET path?query` with.
    async fn download(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
        let what = format!("GET {}{path} ({})", self.base, query[query.len() - 1].1);
        let query = serde_urlencoded::to_string(query)?;
        let response = self
            .request(Method::GET, &format!("{path}?{query}"))
            .send()
            .await
            .with_context(|| what.clone())?;
        let status = response.status();
        if !status.is_success() {
            bail!("{what}: {status}");
        }
        Ok(response
            .bytes()
            .await
            .with_context(|| what.clone())?
            .to_vec())
    }

    /// The files of an artifact listing call (`path`, with `fixed` and `param` naming the
    /// folder to list; `FileInfo`s with paths from the root), walked down, sorted.
    async fn walk(
        &self,
        path: &str,
        param: &str,
        fixed: &[(&str, String)],
    ) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        let mut folders = vec![String::new()];
        while let Some(folder) = folders.pop() {
            let mut query = fixed.to_vec();
            if !folder.is_empty() {
                query.push((param, folder.clone()));
            }
            let reply = self.get(path, &query).await?;
            for file in reply["files"].as_array().into_iter().flatten() {
                let Some(path) = text(&file["path"]) else {
                    continue;
                };
                if file["is_dir"].as_bool().unwrap_or(false) {
                    folders.push(path);
                } else {
                    out.push(path);
                }
            }
        }
        out.sort();
        Ok(out)
    }

    /// Every item of `field` of a paged search (`page_token` / `next_page_token`).
    async fn search(&self, path: &str, mut body: Value, field: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let mut reply = self.post(path, &body).await?;
            if let Some(items) = reply.get_mut(field).and_then(Value::as_array_mut) {
                out.append(items);
            }
            match next_token(&reply) {
                Some(next) => body["page_token"] = json!(next),
                None => return Ok(out),
            }
        }
    }

    async fn post(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let what = format!("POST {}{path}", self.base);
        self.send(self.request(Method::POST, path).json(body), &what)
            .await
    }
}

/// JSON from MLflow, which may write non-finite numbers bare (`NaN`, `Infinity`).
fn parse_json(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str(text).or_else(|e| {
        if !(text.contains("NaN") || text.contains("Infinity")) {
            return Err(e);
        }
        let quoted = text
            .replace(": NaN", ": \"NaN\"")
            .replace(":NaN", ":\"NaN\"")
            .replace(": -Infinity", ": \"-Infinity\"")
            .replace(":-Infinity", ":\"-Infinity\"")
            .replace(": Infinity", ": \"Infinity\"")
            .replace(":Infinity", ":\"Infinity\"");
        serde_json::from_str(&quoted)
    })
}

/// A number MLflow may send as a JSON number or a string (int64 fields, non-finite floats).
fn number(value: &Value) -> Option<f64> {
    metric_value(value).or_else(|| value.as_str()?.parse().ok())
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn pairs(list: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|kv| {
            Some((
                kv["key"].as_str()?.to_owned(),
                kv["value"].as_str().unwrap_or_default().to_owned(),
            ))
        })
        .collect();
    out.sort();
    out
}

fn next_token(reply: &Value) -> Option<String> {
    text(&reply["next_page_token"])
}

#[async_trait]
impl Source for HttpSource {
    fn uri(&self) -> String {
        self.base.clone()
    }

    async fn experiments(&mut self) -> anyhow::Result<Vec<Experiment>> {
        let body = json!({ "max_results": 1000, "view_type": "ACTIVE_ONLY" });
        let found = self
            .search("/api/2.0/mlflow/experiments/search", body, "experiments")
            .await?;
        let mut out = Vec::new();
        for e in &found {
            let (Some(id), Some(name)) = (text(&e["experiment_id"]), text(&e["name"])) else {
                continue;
            };
            out.push(Experiment {
                id,
                name,
                tags: pairs(&e["tags"]),
            });
        }
        out.sort_by_key(|e| (e.id.parse::<u64>().unwrap_or(u64::MAX), e.id.clone()));
        Ok(out)
    }

    async fn runs(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        let body = json!({
            "experiment_ids": [experiment.id],
            "max_results": 1000,
            "run_view_type": "ACTIVE_ONLY",
        });
        let found = self
            .search("/api/2.0/mlflow/runs/search", body, "runs")
            .await?;
        let mut out = Vec::new();
        for run in &found {
            let info = &run["info"];
            let Some(id) = text(&info["run_id"]).or_else(|| text(&info["run_uuid"])) else {
                continue;
            };
            out.push(Run {
                id,
                experiment_id: experiment.id.clone(),
                name: text(&info["run_name"]),
                status: text(&info["status"]).unwrap_or_default(),
                start_time: integer(&info["start_time"]),
                end_time: integer(&info["end_time"]),
                user_id: text(&info["user_id"]),
                params: pairs(&run["data"]["params"]),
                tags: pairs(&run["data"]["tags"]),
                artifact_uri: text(&info["artifact_uri"]),
                ..Default::default()
            });
        }
        out.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
        Ok(out)
    }

    async fn metrics(&mut self, run: &Run) -> anyhow::Result<Vec<Point>> {
        // The keys: the run's latest metrics.
        let reply = self
            .get("/api/2.0/mlflow/runs/get", &[("run_id", run.id.clone())])
            .await?;
        let mut keys: Vec<String> = reply["run"]["data"]["metrics"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| text(&m["key"]))
            .collect();
        keys.sort();
        keys.dedup();
        let mut points = Vec::new();
        for key in keys {
            let mut token: Option<String> = None;
            loop {
                let mut query = vec![
                    ("run_id", run.id.clone()),
                    ("metric_key", key.clone()),
                    ("max_results", HISTORY_PAGE.to_string()),
                ];
                if let Some(token) = &token {
                    query.push(("page_token", token.clone()));
                }
                let reply = self
                    .get("/api/2.0/mlflow/metrics/get-history", &query)
                    .await?;
                for m in reply["metrics"].as_array().into_iter().flatten() {
                    points.push(Point {
                        key: key.clone(),
                        value: number(&m["value"]).unwrap_or(f64::NAN),
                        timestamp: integer(&m["timestamp"]).unwrap_or(0),
                        step: integer(&m["step"]).unwrap_or(0),
                    });
                }
                match next_token(&reply) {
                    Some(next) => token = Some(next),
                    None => break,
                }
            }
        }
        Ok(points)
    }

    async fn artifacts(&mut self, of: Owner<'_>) -> anyhow::Result<Vec<String>> {
        match of {
            Owner::Run(run) => {
                let query = [("run_id", run.id.clone())];
                self.walk("/api/2.0/mlflow/artifacts/list", "path", &query)
                    .await
            }
            Owner::Model(model) => {
                let path = format!(
                    "/api/2.0/mlflow/logged-models/{}/artifacts/directories",
                    model.id
                );
                self.walk(&path, "artifact_directory_path", &[]).await
            }
        }
    }

    async fn artifact(&mut self, of: Owner<'_>, path: &str) -> anyhow::Result<Vec<u8>> {
        match of {
            Owner::Run(run) => {
                self.download("/get-artifact", &[("run_uuid", &run.id), ("path", path)])
                    .await
            }
            Owner::Model(model) => {
                let files = format!(
                    "/ajax-api/2.0/mlflow/logged-models/{}/artifacts/files",
                    model.id
                );
                self.download(&files, &[("artifact_file_path", path)]).await
            }
        }
    }

    /// `runs/search` leaves a run's model inputs out (MLflow 3.17): `runs/get` has them.
    async fn model_links(&mut self, run: &Run) -> anyhow::Result<ModelLinks> {
        let reply = self
            .get("/api/2.0/mlflow/runs/get", &[("run_id", run.id.clone())])
            .await?;
        let run = &reply["run"];
        let inputs = run["inputs"]["model_inputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| text(&m["model_id"]))
            .collect();
        let outputs = run["outputs"]["model_outputs"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| Some((text(&m["model_id"])?, integer(&m["step"]).unwrap_or(0))))
            .collect();
        Ok((inputs, outputs))
    }

    async fn models(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<LoggedModel>> {
        let body = json!({ "experiment_ids": [experiment.id], "max_results": 100 });
        let found = self
            .search("/api/2.0/mlflow/logged-models/search", body, "models")
            .await?;
        let mut out = Vec::new();
        for model in &found {
            let info = &model["info"];
            let Some(id) = text(&info["model_id"]) else {
                continue;
            };
            let metrics = model["data"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| {
                    Some(ModelPoint {
                        run_id: text(&m["run_id"])?,
                        point: Point {
                            key: text(&m["key"])?,
                            value: number(&m["value"]).unwrap_or(f64::NAN),
                            timestamp: integer(&m["timestamp"]).unwrap_or(0),
                            step: integer(&m["step"]).unwrap_or(0),
                        },
                        dataset_name: text(&m["dataset_name"]),
                        dataset_digest: text(&m["dataset_digest"]),
                    })
                })
                .collect();
            out.push(LoggedModel {
                id,
                experiment_id: experiment.id.clone(),
                name: text(&info["name"]).unwrap_or_default(),
                model_type: text(&info["model_type"]),
                source_run_id: text(&info["source_run_id"]),
                status: text(&info["status"]).unwrap_or_default(),
                params: pairs(&model["data"]["params"]),
                tags: pairs(&info["tags"]),
                metrics,
                artifact_uri: text(&info["artifact_uri"]),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_from_mlflow() {
        let v = parse_json(r#"{"metrics": [{"value": NaN}, {"value": -Infinity}]}"#).unwrap();
        assert!(number(&v["metrics"][0]["value"]).unwrap().is_nan());
        assert_eq!(number(&v["metrics"][1]["value"]), Some(f64::NEG_INFINITY));
        assert_eq!(integer(&json!("1700000000000")), Some(1_700_000_000_000));
        assert!(parse_json("{nope").is_err());
    }
}
