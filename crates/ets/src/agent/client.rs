//! The study API as `ets agent` uses it: read a study, ask for a trial, report, complete, and
//! read a run's latest metric values. Bearer API key; errors name the call and carry the
//! server's message.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow, bail};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

/// Attempts of a call that is safe to repeat (reads, and completing a trial) when the
/// server cannot be reached or answers 502/503/504.
const ATTEMPTS: u32 = 4;

/// A study as the agent needs it.
#[derive(Debug, Clone, Deserialize)]
pub struct Study {
    pub id: String,
    pub name: String,
    pub directions: Vec<String>,
    pub search_space: Value,
    #[serde(default)]
    pub counts: BTreeMap<String, usize>,
    pub best_value: Option<f64>,
    pub best_params: Option<BTreeMap<String, Value>>,
}

/// A trial to run: its run and the parameters to try.
#[derive(Debug, Clone, Deserialize)]
pub struct Trial {
    pub trial_id: String,
    pub run_id: String,
    pub number: i64,
    pub params: BTreeMap<String, Value>,
}

/// The answer to an ask.
#[derive(Debug)]
pub enum Ask {
    Trial(Trial),
    /// Nothing left to suggest (409, e.g. every point of a grid handed out): the reason.
    Exhausted(String),
}

/// How a trial ended, as told to the server.
#[derive(Debug, Clone, PartialEq)]
pub enum Completion {
    Complete(Vec<f64>),
    Pruned,
    Failed,
}

/// The answer to a tell.
#[derive(Debug)]
pub enum Told {
    Now,
    /// The trial was told before (by its command, or by an earlier attempt of this tell
    /// whose answer was lost): the server's message.
    Already(String),
}

pub struct Client {
    http: reqwest::Client,
    base: String,
    api_key: Option<String>,
    /// The command named in retry messages.
    who: &'static str,
}

impl Client {
    /// A client of the server at `base` (`http://host:port`, maybe with a path prefix).
    pub fn new(base: &str, api_key: Option<String>) -> anyhow::Result<Client> {
        let base = base.trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            bail!("server URL '{base}' must start with http:// or https://");
        }
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .context("HTTP client")?;
        Ok(Client {
            http,
            base,
            api_key: api_key.filter(|k| !k.is_empty()),
            who: "ets agent",
        })
    }

    /// The same client, naming `who` (e.g. `ets import`) in its retry messages.
    pub fn named(self, who: &'static str) -> Client {
        Client { who, ..self }
    }

    /// The server's base URL, which is also its MLflow tracking URI.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub(crate) fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.api_key {
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    /// Sends a request (`body` as JSON when given) once, or up to [`ATTEMPTS`] times when
    /// `repeatable`; answers the status and the JSON body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeatable: bool,
    ) -> anyhow::Result<(StatusCode, Value)> {
        let mut attempt = 1;
        loop {
            let mut request = self.request(method.clone(), path);
            if let Some(body) = body {
                request = request.json(body);
            }
            let retry = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let transient = matches!(
                        status,
                        StatusCode::BAD_GATEWAY
                            | StatusCode::SERVICE_UNAVAILABLE
                            | StatusCode::GATEWAY_TIMEOUT
                    );
                    if !(transient && repeatable && attempt < ATTEMPTS) {
                        let body = response.json::<Value>().await.unwrap_or(Value::Null);
                        return Ok((status, body));
                    }
                    format!("{status}")
                }
                Err(e)
                    if repeatable && attempt < ATTEMPTS && (e.is_connect() || e.is_timeout()) =>
                {
                    e.to_string()
                }
                Err(e) => {
                    return Err(anyhow!(e).context(format!(
                        "{method} {}{path}: the server cannot be reached",
                        self.base
                    )));
                }
            };
            let pause = Duration::from_millis(500 << attempt);
            eprintln!(
                "{}: {method} {path}: {retry}; trying again in {:.0} s",
                self.who,
                pause.as_secs_f64()
            );
            tokio::time::sleep(pause).await;
            attempt += 1;
        }
    }

    /// `call`, and an error naming the call unless the status is `expected`.
    pub(crate) async fn expect(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        repeatable: bool,
        expected: StatusCode,
    ) -> anyhow::Result<Value> {
        let (status, reply) = self.call(method.clone(), path, body, repeatable).await?;
        if status == expected {
            Ok(reply)
        } else {
            Err(refusal(&method, path, status, &reply))
        }
    }

    /// The study (`repeatable`: tried again while the server cannot be reached).
    pub async fn study(&self, id: &str, repeatable: bool) -> anyhow::Result<Study> {
        let path = format!("/api/v1/studies/{id}");
        let reply = self
            .expect(Method::GET, &path, None, repeatable, StatusCode::OK)
            .await?;
        serde_json::from_value(reply).with_context(|| format!("GET {path}: unexpected answer"))
    }

    /// Asks for a trial (not repeated: a lost answer would leave a trial running).
    pub async fn ask(&self, study_id: &str) -> anyhow::Result<Ask> {
        let path = format!("/api/v1/studies/{study_id}/trials");
        let (status, reply) = self
            .call(Method::POST, &path, Some(&json!({})), false)
            .await?;
        match status {
            StatusCode::CREATED => Ok(Ask::Trial(
                serde_json::from_value(reply)
                    .with_context(|| format!("POST {path}: unexpected answer"))?,
            )),
            StatusCode::CONFLICT => Ok(Ask::Exhausted(error_message(&reply))),
            _ => Err(refusal(&Method::POST, &path, status, &reply)),
        }
    }

    /// Reports an intermediate value; answers whether the pruner stops the trial.
    pub async fn report(&self, trial_id: &str, step: i64, value: f64) -> anyhow::Result<bool> {
        let path = format!("/api/v1/trials/{trial_id}/report");
        let body = json!({ "step": step, "value": value });
        let reply = self
            .expect(Method::POST, &path, Some(&body), false, StatusCode::OK)
            .await?;
        Ok(reply["prune"].as_bool().unwrap_or(false))
    }

    /// Tells the trial's outcome; repeated when the server cannot be reached.
    pub async fn complete(&self, trial_id: &str, completion: &Completion) -> anyhow::Result<Told> {
        let path = format!("/api/v1/trials/{trial_id}/complete");
        let body = match completion {
            Completion::Complete(values) => json!({ "values": values }),
            Completion::Pruned => json!({ "state": "pruned" }),
            Completion::Failed => json!({ "state": "failed" }),
        };
        let (status, reply) = self.call(Method::POST, &path, Some(&body), true).await?;
        match status {
            StatusCode::OK => Ok(Told::Now),
            StatusCode::CONFLICT => Ok(Told::Already(error_message(&reply))),
            _ => Err(refusal(&Method::POST, &path, status, &reply)),
        }
    }

    /// The latest value of each of the run's metrics `keys` (MLflow's "latest": the greatest
    /// step), `None` for a metric the run does not have.
    pub async fn latest_metrics(
        &self,
        run_id: &str,
        keys: &[String],
    ) -> anyhow::Result<Vec<Option<f64>>> {
        let path = format!("/api/v1/runs/{run_id}/metrics");
        let reply = self
            .expect(Method::GET, &path, None, true, StatusCode::OK)
            .await?;
        let items = reply["items"].as_array().cloned().unwrap_or_default();
        Ok(keys
            .iter()
            .map(|key| {
                items
                    .iter()
                    .find(|item| item["key"] == key.as_str())
                    .and_then(|item| metric_value(&item["last_value"]))
            })
            .collect())
    }
}

/// A metric value as the API writes it: a number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
pub(crate) fn metric_value(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

pub(crate) fn error_message(reply: &Value) -> String {
    reply["error"]["message"]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| reply.to_string())
}

/// An error naming the call, the status and the server's message, with a hint for the
/// statuses a user can fix.
pub(crate) fn refusal(
    method: &Method,
    path: &str,
    status: StatusCode,
    reply: &Value,
) -> anyhow::Error {
    let hint = match status {
        StatusCode::UNAUTHORIZED => {
            " (authentication is on: set ETS_API_KEY to an API key, see `ets keys create`)"
        }
        StatusCode::FORBIDDEN => " (the API key's user needs the editor role on the project)",
        StatusCode::NOT_FOUND => " (or the API key's user has no role on its project)",
        _ => "",
    };
    anyhow!("{method} {path}: {status}: {}{hint}", error_message(reply))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_values_as_the_api_writes_them() {
        assert_eq!(metric_value(&json!(0.5)), Some(0.5));
        assert!(metric_value(&json!("NaN")).unwrap().is_nan());
        assert_eq!(metric_value(&json!("-Infinity")), Some(f64::NEG_INFINITY));
        assert_eq!(metric_value(&json!(null)), None);
    }

    #[test]
    fn server_urls_need_a_scheme() {
        assert!(Client::new("127.0.0.1:8003", None).is_err());
        let client = Client::new("http://127.0.0.1:8003/", Some(String::new())).unwrap();
        assert_eq!(client.base(), "http://127.0.0.1:8003");
        assert!(client.api_key.is_none());
    }
}
