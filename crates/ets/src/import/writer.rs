//! Writes into an ETS server through its MLflow-compatible REST API (so any ETS deployment
//! will do), with the HTTP client of `ets agent` (bearer API key).

use std::collections::HashMap;

use anyhow::Context;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::source::{ModelPoint, Point};
use crate::agent::client::{Client, error_message, refusal};

/// Tag naming the MLflow run an ETS run was imported from (the link that makes the import
/// idempotent: ETS chooses its own run ids).
pub const SOURCE_RUN_TAG: &str = "ets.import.source_run_id";
/// Tag naming the store it came from.
pub const SOURCE_TAG: &str = "ets.import.source";
/// Tag set once everything of the run (or logged model) is copied; one without it is
/// resumed.
pub const COMPLETE_TAG: &str = "ets.import.complete";
/// Tag naming the MLflow logged model an ETS logged model was imported from (ETS chooses its
/// own model ids).
pub const SOURCE_MODEL_TAG: &str = "ets.import.source_model_id";

/// MLflow's limits on one `log-batch` request (ETS enforces them).
const BATCH_METRICS: usize = 1000;
const BATCH_PARAMS: usize = 100;
const BATCH_TAGS: usize = 100;

const API: &str = "/api/2.0/mlflow";

/// A run already in ETS that was imported from the source.
#[derive(Debug, Clone)]
pub struct Imported {
    pub run_id: String,
    pub artifact_uri: String,
    pub complete: bool,
}

/// A logged model already in ETS that was imported from the source.
#[derive(Debug, Clone)]
pub struct ImportedModel {
    pub model_id: String,
    pub artifact_uri: String,
    /// Its status as ETS names it (`LOGGED_MODEL_PENDING`, …).
    pub status: String,
    pub complete: bool,
}

impl ImportedModel {
    fn from_json(model: &Value) -> Option<ImportedModel> {
        let info = &model["info"];
        let tags = info["tags"].as_array().cloned().unwrap_or_default();
        let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
        Some(ImportedModel {
            model_id: info["model_id"].as_str()?.to_owned(),
            artifact_uri: text(&info["artifact_uri"]),
            status: text(&info["status"]),
            complete: tags.iter().any(|t| t["key"] == COMPLETE_TAG),
        })
    }
}

fn tag_value(tags: &Value, key: &str) -> Option<String> {
    tags.as_array()?
        .iter()
        .find(|t| t["key"] == key)
        .and_then(|t| t["value"].as_str())
        .map(str::to_owned)
}

/// Metric points in `log-batch` bodies within MLflow's limit.
fn metric_batches<'a, T>(
    points: &'a [T],
    to_json: impl Fn(&T) -> Value + 'a,
) -> impl Iterator<Item = Vec<Value>> + 'a {
    points
        .chunks(BATCH_METRICS)
        .map(move |chunk| chunk.iter().map(&to_json).collect())
}

fn point_json(p: &Point) -> Value {
    json!({
        "key": p.key,
        "value": metric_json(p.value),
        "timestamp": p.timestamp,
        "step": p.step,
    })
}

pub struct Writer {
    client: Client,
}

fn query(pairs: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(pairs).unwrap_or_default()
}

/// A metric value as ETS's MLflow API takes it: a number, or `"NaN"`, `"Infinity"`,
/// `"-Infinity"`.
fn metric_json(value: f64) -> Value {
    if value.is_nan() {
        json!("NaN")
    } else if value == f64::INFINITY {
        json!("Infinity")
    } else if value == f64::NEG_INFINITY {
        json!("-Infinity")
    } else {
        json!(value)
    }
}

fn kv(pairs: &[(String, String)]) -> Vec<Value> {
    pairs
        .iter()
        .map(|(key, value)| json!({ "key": key, "value": value }))
        .collect()
}

impl Writer {
    pub fn new(client: Client) -> Writer {
        Writer { client }
    }

    async fn post(&self, path: &str, body: &Value, repeatable: bool) -> anyhow::Result<Value> {
        self.client
            .expect(
                Method::POST,
                &format!("{API}{path}"),
                Some(body),
                repeatable,
                StatusCode::OK,
            )
            .await
    }

    /// A `PATCH` of a logged model (repeatable: it sets what it names).
    async fn patch(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let path = format!("{API}{path}");
        self.client
            .expect(Method::PATCH, &path, Some(body), true, StatusCode::OK)
            .await
    }

    /// The ETS experiment of this name, created when missing (`true`), with these tags set.
    pub async fn experiment(
        &self,
        name: &str,
        tags: &[(String, String)],
    ) -> anyhow::Result<(String, bool)> {
        let path = format!(
            "{API}/experiments/get-by-name?{}",
            query(&[("experiment_name", name)])
        );
        let (status, reply) = self.client.call(Method::GET, &path, None, true).await?;
        let (id, created) = match status {
            StatusCode::OK => (reply["experiment"]["experiment_id"].clone(), false),
            StatusCode::NOT_FOUND => {
                let reply = self
                    .post("/experiments/create", &json!({ "name": name }), false)
                    .await?;
                (reply["experiment_id"].clone(), true)
            }
            _ => return Err(refusal(&Method::GET, &path, status, &reply)),
        };
        let id = id
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("experiment '{name}': no experiment_id in ETS's answer"))?;
        for (key, value) in tags {
            self.post(
                "/experiments/set-experiment-tag",
                &json!({ "experiment_id": id, "key": key, "value": value }),
                true,
            )
            .await?;
        }
        Ok((id, created))
    }

    /// The runs of the ETS experiment imported before, by their source run id (runs in the
    /// trash too: a run deleted in ETS after its import is not brought back).
    pub async fn imported_runs(
        &self,
        experiment_id: &str,
    ) -> anyhow::Result<HashMap<String, Imported>> {
        let body = json!({
            "experiment_ids": [experiment_id],
            "max_results": 1000,
            "run_view_type": "ALL",
            "filter": format!("tags.`{SOURCE_RUN_TAG}` != ''"),
        });
        let mut out = HashMap::new();
        for run in self.search("/runs/search", body, "runs").await? {
            let tags = &run["data"]["tags"];
            let Some(source) = tag_value(tags, SOURCE_RUN_TAG) else {
                continue;
            };
            let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
            out.insert(
                source,
                Imported {
                    run_id: text(&run["info"]["run_id"]),
                    artifact_uri: text(&run["info"]["artifact_uri"]),
                    complete: tag_value(tags, COMPLETE_TAG).is_some(),
                },
            );
        }
        Ok(out)
    }

    /// Every item of `field` of a paged search of ETS (`page_token` / `next_page_token`).
    async fn search(&self, path: &str, mut body: Value, field: &str) -> anyhow::Result<Vec<Value>> {
        let mut out = Vec::new();
        loop {
            let mut reply = self.post(path, &body, true).await?;
            if let Some(items) = reply.get_mut(field).and_then(Value::as_array_mut) {
                out.append(items);
            }
            match reply["next_page_token"].as_str().filter(|t| !t.is_empty()) {
                Some(next) => body["page_token"] = json!(next),
                None => return Ok(out),
            }
        }
    }

    /// A new run (not repeated: a lost answer must not leave two runs).
    pub async fn create_run(
        &self,
        experiment_id: &str,
        name: Option<&str>,
        start_time: Option<i64>,
        user_id: Option<&str>,
        link: &[(String, String)],
    ) -> anyhow::Result<Imported> {
        let mut body = json!({ "experiment_id": experiment_id, "tags": kv(link) });
        if let Some(name) = name {
            body["run_name"] = json!(name);
        }
        if let Some(start_time) = start_time {
            body["start_time"] = json!(start_time);
        }
        if let Some(user_id) = user_id {
            body["user_id"] = json!(user_id);
        }
        let reply = self.post("/runs/create", &body, false).await?;
        let info = &reply["run"]["info"];
        Ok(Imported {
            run_id: info["run_id"]
                .as_str()
                .context("runs/create: no run_id in ETS's answer")?
                .to_owned(),
            artifact_uri: info["artifact_uri"].as_str().unwrap_or_default().to_owned(),
            complete: false,
        })
    }

    /// Params, tags and metric points in `log-batch` requests within MLflow's limits
    /// (repeatable: a point ETS already has is skipped, params and tags are set again).
    /// Answers the number of requests.
    pub async fn log(
        &self,
        run_id: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
        points: &[Point],
    ) -> anyhow::Result<usize> {
        let mut requests = 0;
        for (pairs, limit, field) in [(params, BATCH_PARAMS, "params"), (tags, BATCH_TAGS, "tags")]
        {
            for chunk in pairs.chunks(limit) {
                self.post(
                    "/runs/log-batch",
                    &json!({ "run_id": run_id, field: kv(chunk) }),
                    true,
                )
                .await?;
                requests += 1;
            }
        }
        for metrics in metric_batches(points, point_json) {
            self.post(
                "/runs/log-batch",
                &json!({ "run_id": run_id, "metrics": metrics }),
                true,
            )
            .await?;
            requests += 1;
        }
        Ok(requests)
    }

    /// Uploads one artifact file below the run's artifact root (replaced whole if present).
    pub async fn upload(
        &self,
        artifact_uri: &str,
        path: &str,
        bytes: Vec<u8>,
    ) -> anyhow::Result<()> {
        let root = artifact_uri
            .strip_prefix("mlflow-artifacts:")
            .map(|r| r.trim_start_matches('/'))
            .with_context(|| format!("artifact root '{artifact_uri}' is not a proxy URI"))?;
        let mut url = reqwest::Url::parse("http://x/api/2.0/mlflow-artifacts/artifacts")?;
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| anyhow::anyhow!("artifact URL"))?;
            segments.extend(root.split('/').filter(|s| !s.is_empty()));
            segments.extend(path.split('/'));
        }
        let target = url.path().to_owned();
        let response = self
            .client
            .request(Method::PUT, &target)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(bytes)
            .send()
            .await
            .with_context(|| format!("PUT {target}"))?;
        let status = response.status();
        if !status.is_success() {
            let reply = response.json::<Value>().await.unwrap_or(Value::Null);
            anyhow::bail!("PUT {target}: {status}: {}", error_message(&reply));
        }
        Ok(())
    }

    /// The logged models of the ETS experiment imported before, by their source model id.
    pub async fn imported_models(
        &self,
        experiment_id: &str,
    ) -> anyhow::Result<HashMap<String, ImportedModel>> {
        let body = json!({ "experiment_ids": [experiment_id], "max_results": 1000 });
        let mut out = HashMap::new();
        for model in self.search("/logged-models/search", body, "models").await? {
            let source = tag_value(&model["info"]["tags"], SOURCE_MODEL_TAG);
            if let (Some(source), Some(imported)) = (source, ImportedModel::from_json(&model)) {
                out.insert(source, imported);
            }
        }
        Ok(out)
    }

    /// A new logged model (not repeated: a lost answer must not leave two models), tagged
    /// with `link`.
    pub async fn create_model(
        &self,
        experiment_id: &str,
        name: &str,
        model_type: Option<&str>,
        source_run_id: Option<&str>,
        link: &[(String, String)],
    ) -> anyhow::Result<ImportedModel> {
        let mut body = json!({ "experiment_id": experiment_id, "name": name, "tags": kv(link) });
        if let Some(model_type) = model_type {
            body["model_type"] = json!(model_type);
        }
        if let Some(run_id) = source_run_id {
            body["source_run_id"] = json!(run_id);
        }
        let reply = self.post("/logged-models", &body, false).await?;
        ImportedModel::from_json(&reply["model"])
            .context("logged-models: no model_id in ETS's answer")
    }

    /// The model's params and tags (repeatable: set again).
    pub async fn model_params_and_tags(
        &self,
        model_id: &str,
        params: &[(String, String)],
        tags: &[(String, String)],
    ) -> anyhow::Result<()> {
        for chunk in params.chunks(BATCH_PARAMS) {
            self.post(
                &format!("/logged-models/{model_id}/params"),
                &json!({ "params": kv(chunk) }),
                true,
            )
            .await?;
        }
        for chunk in tags.chunks(BATCH_TAGS) {
            self.patch(
                &format!("/logged-models/{model_id}/tags"),
                &json!({ "tags": kv(chunk) }),
            )
            .await?;
        }
        Ok(())
    }

    /// The model's metric values, logged by `run_id` (ETS's id of the run that logged them)
    /// with the model and dataset (repeatable: a value ETS already has is skipped).
    pub async fn model_metrics(
        &self,
        run_id: &str,
        model_id: &str,
        points: &[&ModelPoint],
    ) -> anyhow::Result<()> {
        let to_json = |m: &&ModelPoint| {
            let mut p = point_json(&m.point);
            p["model_id"] = json!(model_id);
            if let (Some(name), Some(digest)) = (&m.dataset_name, &m.dataset_digest) {
                p["dataset_name"] = json!(name);
                p["dataset_digest"] = json!(digest);
            }
            p
        };
        for metrics in metric_batches(points, to_json) {
            self.post(
                "/runs/log-batch",
                &json!({ "run_id": run_id, "metrics": metrics }),
                true,
            )
            .await?;
        }
        Ok(())
    }

    /// The run's link to a model it used (`log-inputs`) or produced at a step (`outputs`),
    /// by ETS model id (repeatable: a link ETS has is kept).
    pub async fn link_model(
        &self,
        run_id: &str,
        model_id: &str,
        output_step: Option<i64>,
    ) -> anyhow::Result<()> {
        let (path, model) = match output_step {
            None => ("/runs/log-inputs", json!({ "model_id": model_id })),
            Some(step) => (
                "/runs/outputs",
                json!({ "model_id": model_id, "step": step }),
            ),
        };
        self.post(path, &json!({ "run_id": run_id, "models": [model] }), true)
            .await?;
        Ok(())
    }

    /// The model's final status (`LOGGED_MODEL_READY` or `LOGGED_MODEL_UPLOAD_FAILED`; a
    /// pending model stays so) unless ETS has it already, then the tag that marks its import
    /// complete.
    pub async fn finish_model(&self, model: &ImportedModel, status: &str) -> anyhow::Result<()> {
        let path = format!("/logged-models/{}", model.model_id);
        if ["LOGGED_MODEL_READY", "LOGGED_MODEL_UPLOAD_FAILED"].contains(&status)
            && model.status != status
        {
            self.patch(&path, &json!({ "status": status })).await?;
        }
        let complete = json!({ "tags": [{ "key": COMPLETE_TAG, "value": "true" }] });
        self.patch(&format!("{path}/tags"), &complete).await?;
        Ok(())
    }

    /// The run's final status and end time, then the tag that marks its import complete.
    pub async fn finish(
        &self,
        run_id: &str,
        status: &str,
        end_time: Option<i64>,
    ) -> anyhow::Result<()> {
        if !status.is_empty() && status != "RUNNING" {
            let mut body = json!({ "run_id": run_id, "status": status });
            if let Some(end_time) = end_time {
                body["end_time"] = json!(end_time);
            }
            self.post("/runs/update", &body, true).await?;
        }
        self.post(
            "/runs/set-tag",
            &json!({ "run_id": run_id, "key": COMPLETE_TAG, "value": "true" }),
            true,
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_values_as_strings() {
        assert_eq!(metric_json(0.5), json!(0.5));
        assert_eq!(metric_json(f64::NAN), json!("NaN"));
        assert_eq!(metric_json(f64::NEG_INFINITY), json!("-Infinity"));
    }
}
