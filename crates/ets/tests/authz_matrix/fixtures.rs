//! The matrix's world (callers, projects A and B with their objects) and the request each
//! operation sends. Requests name A's objects; a destructive operation gets a fresh target,
//! made by the global admin, for every call.

use std::sync::atomic::{AtomicU64, Ordering};

use ets::auth::Role;
use ets::config::Config;
use reqwest::Method;
use serde_json::{Value, json};

use crate::common::TestApp;
use crate::{Reply, Who};

/// A text field of a fixture's JSON answer, which must be there.
trait TextAt {
    fn text_at(&self, pointer: &str) -> String;
}

impl TextAt for Value {
    fn text_at(&self, pointer: &str) -> String {
        self.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no {pointer} in {self}"))
            .to_owned()
    }
}

/// The login fixture's password (a Public route: every caller logs in as `viewer-a`).
const VIEWER_PASSWORD: &str = "viewer-a password 1";

/// Room for the fresh experiments and runs the destructive operations use.
pub fn configure(config: &mut Config) {
    config.limits.max_concurrent_experiments = 100_000;
    config.limits.max_runs_per_experiment = 100_000;
}

/// Whose objects a call touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Project A's (or no project's, for routes that declare no project role).
    A,
    /// A list or search: shows each caller what it may see.
    List,
}

/// What a list shows: the id a visible project's fixture must appear with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    Project,
    Experiment,
    Run,
    Model,
    Chart,
    Dashboard,
    AlertRule,
    Alert,
}

pub enum Body {
    None,
    Json(Value),
    Bytes(Vec<u8>),
}

/// One request of the matrix.
pub struct Call {
    pub method: Method,
    /// Path and query.
    pub path: String,
    pub body: Body,
    pub scope: Scope,
    pub marker: Marker,
    /// Statuses besides 2xx that mean success for this input.
    pub also_ok: Vec<u16>,
    /// The exact answer (status, body) to a caller without a role on A, where the route
    /// answers a hidden object as it answers an unknown one without a 404 (MLflow's ways).
    pub hidden: Option<(u16, &'static str)>,
}

impl Call {
    fn new(method: &str, path: impl Into<String>) -> Call {
        Call {
            method: method.parse().expect("an HTTP method"),
            path: path.into(),
            body: Body::None,
            scope: Scope::A,
            marker: Marker::Project,
            also_ok: Vec::new(),
            hidden: None,
        }
    }

    fn json(mut self, body: Value) -> Call {
        self.body = Body::Json(body);
        self
    }

    fn bytes(mut self, body: &[u8]) -> Call {
        self.body = Body::Bytes(body.to_vec());
        self
    }

    fn list(mut self, marker: Marker) -> Call {
        self.scope = Scope::List;
        self.marker = marker;
        self
    }

    /// The request as text (what the caller itself named).
    pub fn describe(&self) -> String {
        let body = match &self.body {
            Body::None => String::new(),
            Body::Json(value) => value.to_string(),
            Body::Bytes(bytes) => format!("<{} bytes>", bytes.len()),
        };
        format!("{} {} {body}", self.method, self.path)
    }
}

/// A project and one of each of its objects.
pub struct Project {
    pub id: String,
    pub name: String,
    pub experiment: String,
    pub experiment_name: String,
    pub run: String,
    pub model: String,
    pub chart: String,
    pub dashboard: String,
    pub alert_rule: String,
    /// A firing alert of `alert_rule` on `run`.
    pub alert: String,
    /// A study of `experiment` (random sampler, one float parameter).
    pub study: String,
}

impl Project {
    pub fn id(&self, marker: Marker) -> String {
        match marker {
            Marker::Project => &self.id,
            Marker::Experiment => &self.experiment,
            Marker::Run => &self.run,
            Marker::Model => &self.model,
            Marker::Chart => &self.chart,
            Marker::Dashboard => &self.dashboard,
            Marker::AlertRule => &self.alert_rule,
            Marker::Alert => &self.alert,
        }
        .clone()
    }

    /// What a caller without a role on the project must never learn from an answer.
    pub fn secrets(&self) -> Vec<String> {
        [
            &self.id,
            &self.name,
            &self.experiment,
            &self.experiment_name,
            &self.run,
            &self.model,
            &self.chart,
            &self.dashboard,
        ]
        .into_iter()
        .cloned()
        .collect()
    }

    /// `<experiment>/<run>/artifacts` of MLflow's artifact proxy.
    fn proxy_root(&self) -> String {
        format!("{}/{}/artifacts", self.experiment, self.run)
    }
}

pub struct World {
    pub app: TestApp,
    pub callers: Vec<Who>,
    pub a: Project,
    pub b: Project,
    root: String,
    admin_a: String,
    /// An open resumable upload in A's run (native), and one of MLflow's multipart uploads.
    upload: String,
    mpu: String,
    counter: AtomicU64,
}

/// The API prefixes the MLflow routes are mounted under.
const MLFLOW_PREFIXES: [&str; 4] = [
    "/api/2.0/mlflow-artifacts",
    "/ajax-api/2.0/mlflow-artifacts",
    "/api/2.0/mlflow",
    "/ajax-api/2.0/mlflow",
];

/// (prefix, route below it); native routes have no prefix.
fn split_prefix(template: &str) -> (&str, &str) {
    MLFLOW_PREFIXES
        .iter()
        .find_map(|prefix| {
            let rest = template.strip_prefix(prefix)?;
            (rest.is_empty() || rest.starts_with('/')).then_some((*prefix, rest))
        })
        .unwrap_or(("", template))
}

impl World {
    pub async fn build(app: TestApp) -> World {
        let root = app.add_user("root", true, None).await;
        let admin_a = app.add_user("admin-a", false, None).await;
        let editor_a = app.add_user("editor-a", false, None).await;
        let viewer_a = app.add_user("viewer-a", false, Some(VIEWER_PASSWORD)).await;
        let editor_b = app.add_user("editor-b", false, None).await;
        app.add_service_account("bystander").await;
        let who = |name, key, global_admin, on_a, on_b| Who {
            name,
            key,
            global_admin,
            on_a,
            on_b,
        };
        let callers = vec![
            who("nobody", None, false, None, None),
            who("viewer-a", Some(viewer_a), false, Some(Role::Viewer), None),
            who("editor-a", Some(editor_a), false, Some(Role::Editor), None),
            who(
                "admin-a",
                Some(admin_a.clone()),
                false,
                Some(Role::Admin),
                None,
            ),
            who("editor-b", Some(editor_b), false, None, Some(Role::Editor)),
            who("root", Some(root.clone()), true, None, None),
        ];
        let mut world = World {
            app,
            callers,
            a: placeholder(),
            b: placeholder(),
            root,
            admin_a,
            upload: String::new(),
            mpu: String::new(),
            counter: AtomicU64::new(0),
        };
        // A is made by its admin (the creator becomes admin), B by the global admin.
        let a = world.a_like_project("project-alpha").await;
        world.a = world.populate(a, "project-alpha").await;
        let b = world
            .ok_json(
                &world.root,
                Call::new("POST", "/api/v1/projects").json(json!({ "name": "project-beta" })),
            )
            .await
            .text_at("/id");
        world.app.grant(&b, "editor-b", Role::Editor).await;
        world.b = world.populate(b, "project-beta").await;
        world.upload = world.fresh_upload().await;
        world.mpu = world.fresh_mpu().await.0;
        world
    }

    fn next(&self) -> u64 {
        self.counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Sends `call` as `who`.
    pub async fn send(&self, who: &Who, call: &Call) -> Reply {
        self.send_with(who.key.as_deref(), call).await
    }

    async fn send_with(&self, key: Option<&str>, call: &Call) -> Reply {
        let mut request = self
            .app
            .client
            .request(call.method.clone(), self.app.url(&call.path));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        request = match &call.body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Bytes(bytes) => request
                .header("content-type", "application/octet-stream")
                .body(bytes.clone()),
        };
        let response = request.send().await.expect("request sent");
        let status = response.status();
        let headers = response.headers().clone();
        let streaming = headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        // An event stream never ends: its status and headers are the answer.
        let text = if streaming {
            String::new()
        } else {
            response.text().await.expect("body read")
        };
        Reply {
            status,
            challenges: headers.contains_key("www-authenticate"),
            etag: headers
                .get("etag")
                .and_then(|v| v.to_str().ok())
                .map(|v| v.trim_matches('"').to_owned()),
            text,
        }
    }

    /// Sends `call` with `key`, which must succeed; its JSON answer.
    async fn ok_json(&self, key: &str, call: Call) -> Value {
        let reply = self.send_with(Some(key), &call).await;
        assert!(
            reply.status.is_success(),
            "fixture {}: {} {}",
            call.describe(),
            reply.status,
            reply.text
        );
        serde_json::from_str(&reply.text).unwrap_or(Value::Null)
    }

    /// As the global admin.
    async fn root(&self, call: Call) -> Value {
        self.ok_json(&self.root, call).await
    }

    /// A project made by `admin-a`, where `viewer-a` and `editor-a` have their roles.
    async fn a_like_project(&self, name: &str) -> String {
        let id = self
            .ok_json(
                &self.admin_a,
                Call::new("POST", "/api/v1/projects").json(json!({ "name": name })),
            )
            .await
            .text_at("/id");
        self.app.grant(&id, "viewer-a", Role::Viewer).await;
        self.app.grant(&id, "editor-a", Role::Editor).await;
        id
    }

    /// An experiment, a run with a metric, a param and an artifact, and a logged model.
    async fn populate(&self, id: String, name: &str) -> Project {
        let experiment_name = format!("{name}-experiment");
        let experiment = self
            .root(
                Call::new("POST", "/api/v1/experiments")
                    .json(json!({ "project_id": id, "name": experiment_name })),
            )
            .await
            .text_at("/id");
        let run = self.fresh_run_in(&experiment).await;
        self.root(
            Call::new("POST", format!("/api/v1/runs/{run}/metrics"))
                .json(json!({ "metrics": [{ "key": "loss", "value": 0.5, "step": 1 }] })),
        )
        .await;
        self.root(
            Call::new("POST", "/api/2.0/mlflow/runs/log-parameter")
                .json(json!({ "run_id": run, "key": "lr", "value": "0.1" })),
        )
        .await;
        self.upload_artifact(&run, "a.txt").await;
        let model = self.model_in(&experiment).await;
        let chart = self.chart_in(&experiment).await;
        let dashboard = self
            .root(
                Call::new("POST", "/api/v1/visualizations/dashboards")
                    .json(json!({ "name": format!("{name}-dashboard"), "charts": [chart] })),
            )
            .await
            .text_at("/id");
        let alert_rule = self.rule_in(&experiment, 0.1).await;
        let alert = self.alert_of(&alert_rule, &run).await;
        let study = self.study_in(&experiment, name).await;
        Project {
            id,
            name: name.to_owned(),
            experiment,
            experiment_name,
            run,
            model,
            chart,
            dashboard,
            alert_rule,
            alert,
            study,
        }
    }

    /// A study of the experiment.
    async fn study_in(&self, experiment: &str, name: &str) -> String {
        self.root(
            Call::new("POST", format!("/api/v1/experiments/{experiment}/studies")).json(json!({
                "name": format!("{name}-study"), "sampler": "random", "seed": 1,
                "search_space": { "x": { "type": "float", "low": 0.0, "high": 1.0 } }
            })),
        )
        .await
        .text_at("/id")
    }

    /// A new running trial of the study.
    async fn fresh_trial(&self, study: &str) -> String {
        self.root(Call::new("POST", format!("/api/v1/studies/{study}/trials")))
            .await
            .text_at("/trial_id")
    }

    /// A rule on the experiment's `loss` above `threshold` (the fixtures' runs log 0.5).
    async fn rule_in(&self, experiment: &str, threshold: f64) -> String {
        self.root(Call::new("POST", "/api/v1/alerts/rules").json(json!({
            "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": threshold
        })))
        .await
        .text_at("/id")
    }

    /// The alert `rule` fires on `run` once the run logs again (evaluated after commit).
    async fn alert_of(&self, rule: &str, run: &str) -> String {
        self.root(
            Call::new("POST", format!("/api/v1/runs/{run}/metrics"))
                .json(json!({ "metrics": [{ "key": "loss", "value": 0.5, "step": 2 }] })),
        )
        .await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let alerts = self
                .root(Call::new("GET", format!("/api/v1/alerts?rule_id={rule}")))
                .await;
            if let Some(id) = alerts.pointer("/items/0/id").and_then(Value::as_str) {
                return id.to_owned();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "rule {rule} fired no alert on run {run}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    async fn chart_in(&self, experiment: &str) -> String {
        self.root(
            Call::new("POST", "/api/v1/visualizations/charts").json(json!({
                "name": "loss", "type": "line", "experiment_id": experiment, "metrics": ["loss"]
            })),
        )
        .await
        .text_at("/id")
    }

    async fn fresh_run_in(&self, experiment: &str) -> String {
        self.root(Call::new("POST", "/api/v1/runs").json(json!({ "experiment_id": experiment })))
            .await
            .text_at("/id")
    }

    async fn model_in(&self, experiment: &str) -> String {
        self.root(
            Call::new("POST", "/api/2.0/mlflow/logged-models")
                .json(json!({ "experiment_id": experiment, "name": "model" })),
        )
        .await
        .text_at("/model/info/model_id")
    }

    async fn upload_artifact(&self, run: &str, path: &str) {
        self.root(
            Call::new("POST", format!("/api/v1/runs/{run}/artifacts?path={path}"))
                .bytes(b"artifact bytes"),
        )
        .await;
    }

    // ---- fresh targets in A, one per call

    async fn fresh_experiment(&self) -> String {
        let n = self.next();
        self.root(
            Call::new("POST", "/api/v1/experiments")
                .json(json!({ "project_id": self.a.id, "name": format!("fresh-{n}") })),
        )
        .await
        .text_at("/id")
    }

    /// An experiment in A with two runs of each of two optimizers (a group comparison's least).
    async fn fresh_grouped_experiment(&self) -> String {
        let id = self.fresh_experiment().await;
        for optimizer in ["adam", "adam", "sgd", "sgd"] {
            self.root(Call::new("POST", "/api/v1/runs").json(json!({
                "experiment_id": id,
                "params": { "optimizer": optimizer },
            })))
            .await;
        }
        id
    }

    async fn fresh_trashed_experiment(&self) -> String {
        let id = self.fresh_experiment().await;
        self.root(Call::new("DELETE", format!("/api/v1/experiments/{id}")))
            .await;
        id
    }

    async fn fresh_run(&self) -> String {
        self.fresh_run_in(&self.a.experiment).await
    }

    async fn fresh_trashed_run(&self) -> String {
        let id = self.fresh_run().await;
        self.root(Call::new("DELETE", format!("/api/v1/runs/{id}")))
            .await;
        id
    }

    async fn fresh_artifact(&self) -> String {
        let path = format!("fresh/{}.txt", self.next());
        self.upload_artifact(&self.a.run, &path).await;
        path
    }

    async fn fresh_model(&self) -> String {
        self.model_in(&self.a.experiment).await
    }

    async fn fresh_upload(&self) -> String {
        let path = format!("resumable/{}.bin", self.next());
        self.root(
            Call::new("POST", format!("/api/v1/runs/{}/uploads", self.a.run))
                .json(json!({ "path": path })),
        )
        .await
        .text_at("/upload_id")
    }

    /// A resumable upload whose one part is in.
    async fn fresh_upload_with_part(&self) -> String {
        let upload = self.fresh_upload().await;
        self.root(
            Call::new(
                "PUT",
                format!("/api/v1/runs/{}/uploads/{upload}/parts/1", self.a.run),
            )
            .bytes(b"part"),
        )
        .await;
        upload
    }

    /// An MLflow multipart upload into A's run: (upload id, the file's local path).
    async fn fresh_mpu(&self) -> (String, String) {
        let local = format!("/local/mpu-{}.bin", self.next());
        let upload = self
            .root(
                Call::new(
                    "POST",
                    format!(
                        "/api/2.0/mlflow-artifacts/mpu/create/{}",
                        self.a.proxy_root()
                    ),
                )
                .json(json!({ "path": local, "num_parts": 1 })),
            )
            .await
            .text_at("/upload_id");
        (upload, local)
    }

    /// A project like A (same roles), for deleting and restoring projects.
    async fn fresh_project(&self) -> String {
        self.a_like_project(&format!("fresh-project-{}", self.next()))
            .await
    }

    /// A member of A who may be removed.
    async fn fresh_member(&self) -> String {
        let name = format!("member-{}", self.next());
        self.app.add_service_account(&name).await;
        self.app.grant(&self.a.id, &name, Role::Viewer).await;
        name
    }

    /// The id of a new key of `user`.
    async fn fresh_key(&self, user: &str) -> String {
        self.app
            .server
            .services
            .create_api_key(
                &ets::actor::Actor::System,
                ets::service::identity::NewApiKey {
                    user: Some(user.to_owned()),
                    ..Default::default()
                },
            )
            .await
            .expect("a key")
            .info
            .id
    }

    /// A tag set on an object by the global admin, for deleting it.
    async fn fresh_tag(&self, call: impl FnOnce(&str) -> Call) -> String {
        let key = format!("tag-{}", self.next());
        self.root(call(&key)).await;
        key
    }

    // ---- the table

    /// The request `who` sends for the operation `method template`; `None`: no fixture.
    pub async fn call(&self, who: &Who, method: &str, template: &str) -> Option<Call> {
        let (prefix, route) = split_prefix(template);
        if prefix.contains("mlflow-artifacts") {
            return self.artifact_proxy_call(method, prefix, route).await;
        }
        if !prefix.is_empty() {
            return self.mlflow_call(method, prefix, route).await;
        }
        self.native_call(who, method, route).await
    }

    async fn native_call(&self, who: &Who, method: &str, route: &str) -> Option<Call> {
        let n = self.next();
        let a = &self.a;
        let (project, experiment, run) = (&a.id, &a.experiment, &a.run);
        let call = |path: String| Call::new(method, path);
        Some(match (method, route) {
            ("GET", "/health" | "/health/live" | "/health/ready" | "/info") => {
                call(route.to_owned())
            }
            ("POST", "/api/v1/auth/login") => call(route.to_owned())
                .json(json!({ "username": "viewer-a", "password": VIEWER_PASSWORD })),
            ("POST", "/api/v1/auth/logout") => call(route.to_owned()),
            // MLflow's download route (outside its API prefixes).
            ("GET", "/get-artifact") => call(format!("/get-artifact?run_id={run}&path=a.txt")),
            ("GET", "/version") => call(route.to_owned()),
            (
                "GET",
                "/api/v1/auth/whoami"
                | "/api/v1/auth/keys"
                | "/api/v1/auth/users"
                | "/api/v1/audit"
                | "/api/v1/audit/verify"
                | "/api/v1/projects/templates"
                | "/api/v1/experiments/templates",
            ) => call(route.to_owned()),
            ("POST", "/api/v1/auth/keys") => {
                call(route.to_owned()).json(json!({ "name": format!("key-{n}") }))
            }
            ("DELETE", "/api/v1/auth/keys/{id}") => {
                let owner = if who.key.is_some() { who.name } else { "root" };
                call(format!("/api/v1/auth/keys/{}", self.fresh_key(owner).await))
            }
            ("POST", "/api/v1/auth/users") => call(route.to_owned())
                .json(json!({ "name": format!("account-{n}"), "kind": "service_account" })),
            ("GET", "/api/v1/auth/users/{name}") => call("/api/v1/auth/users/viewer-a".into()),
            ("PATCH", "/api/v1/auth/users/{name}") => {
                call("/api/v1/auth/users/bystander".into()).json(json!({ "disabled": false }))
            }
            // Projects.
            ("GET", "/api/v1/projects") => {
                call("/api/v1/projects?page_size=1000".into()).list(Marker::Project)
            }
            ("POST", "/api/v1/projects") => {
                call(route.to_owned()).json(json!({ "name": format!("created-{n}") }))
            }
            ("POST", "/api/v1/projects/from-template/{name}") => {
                call("/api/v1/projects/from-template/baseline".into())
                    .json(json!({ "name": format!("templated-{n}") }))
            }
            ("GET", "/api/v1/projects/{id}") => call(format!("/api/v1/projects/{project}")),
            ("PUT", "/api/v1/projects/{id}") => call(format!("/api/v1/projects/{project}"))
                .json(json!({ "description": format!("description {n}") })),
            ("DELETE", "/api/v1/projects/{id}") => {
                call(format!("/api/v1/projects/{}", self.fresh_project().await))
            }
            ("POST", "/api/v1/projects/{id}/restore") => {
                let id = self.fresh_project().await;
                self.root(Call::new("DELETE", format!("/api/v1/projects/{id}")))
                    .await;
                call(format!("/api/v1/projects/{id}/restore"))
            }
            ("GET", "/api/v1/projects/{id}/stats") => {
                call(format!("/api/v1/projects/{project}/stats"))
            }
            ("GET", "/api/v1/projects/{id}/members") => {
                call(format!("/api/v1/projects/{project}/members"))
            }
            ("PUT", "/api/v1/projects/{id}/members/{user}") => {
                call(format!("/api/v1/projects/{project}/members/bystander"))
                    .json(json!({ "role": "viewer" }))
            }
            ("DELETE", "/api/v1/projects/{id}/members/{user}") => call(format!(
                "/api/v1/projects/{project}/members/{}",
                self.fresh_member().await
            )),
            // Alerts.
            ("POST", "/api/v1/alerts/rules") => call(route.to_owned()).json(json!({
                "experiment_id": experiment, "metric": "loss", "condition": ">", "threshold": 100
            })),
            ("GET", "/api/v1/alerts/rules") => call(route.to_owned()).list(Marker::AlertRule),
            ("GET", "/api/v1/alerts/rules/{id}") => {
                call(format!("/api/v1/alerts/rules/{}", a.alert_rule))
            }
            ("PATCH", "/api/v1/alerts/rules/{id}") => {
                call(format!("/api/v1/alerts/rules/{}", a.alert_rule))
                    .json(json!({ "name": format!("rule-{n}") }))
            }
            ("DELETE", "/api/v1/alerts/rules/{id}") => call(format!(
                "/api/v1/alerts/rules/{}",
                self.rule_in(experiment, 100.0).await
            )),
            // Studies.
            ("POST", "/api/v1/experiments/{id}/studies") => {
                call(format!("/api/v1/experiments/{experiment}/studies")).json(json!({
                    "name": format!("study-{n}"), "sampler": "random",
                    "search_space": { "x": { "type": "float", "low": 0.0, "high": 1.0 } }
                }))
            }
            ("GET", "/api/v1/experiments/{id}/studies") => {
                call(format!("/api/v1/experiments/{experiment}/studies"))
            }
            ("GET", "/api/v1/studies/{id}") => call(format!("/api/v1/studies/{}", a.study)),
            ("GET", "/api/v1/studies/{id}/importance") => {
                call(format!("/api/v1/studies/{}/importance", a.study))
            }
            ("POST", "/api/v1/studies/{id}/charts") => {
                call(format!("/api/v1/studies/{}/charts", a.study))
                    .json(json!({ "template": "optimization_history" }))
            }
            ("GET", "/api/v1/studies/chart-templates") => call(route.to_owned()),
            ("POST" | "GET", "/api/v1/studies/{id}/trials") => {
                call(format!("/api/v1/studies/{}/trials", a.study))
            }
            ("POST", "/api/v1/trials/{id}/report") => call(format!(
                "/api/v1/trials/{}/report",
                self.fresh_trial(&a.study).await
            ))
            .json(json!({ "step": 1, "value": 0.5 })),
            ("POST", "/api/v1/trials/{id}/complete") => call(format!(
                "/api/v1/trials/{}/complete",
                self.fresh_trial(&a.study).await
            ))
            .json(json!({ "value": 0.5 })),
            ("GET", "/api/v1/alerts") => {
                call(format!("{route}?page_size=1000")).list(Marker::Alert)
            }
            ("GET", "/api/v1/alerts/{id}") => call(format!("/api/v1/alerts/{}", a.alert)),
            ("POST", "/api/v1/alerts/{id}/acknowledge") => {
                call(format!("/api/v1/alerts/{}/acknowledge", a.alert))
            }
            ("GET", "/api/v1/alerts/{id}/deliveries") => {
                call(format!("/api/v1/alerts/{}/deliveries", a.alert))
            }
            // Visualizations.
            ("GET", "/api/v1/visualizations/charts") => {
                call(format!("{route}?page_size=1000")).list(Marker::Chart)
            }
            ("POST", "/api/v1/visualizations/charts") => call(route.to_owned()).json(json!({
                "name": format!("chart-{n}"), "type": "line", "experiment_id": experiment,
                "metrics": ["loss"]
            })),
            ("POST", "/api/v1/visualizations/preview") => call(format!("{route}?format=json"))
                .json(json!({
                    "name": format!("preview-{n}"), "type": "line", "experiment_id": experiment,
                    "metrics": ["loss"]
                })),
            ("GET", "/api/v1/visualizations/charts/{id}") => call(format!(
                "/api/v1/visualizations/charts/{}?format=json",
                a.chart
            )),
            ("PATCH", "/api/v1/visualizations/charts/{id}") => {
                call(format!("/api/v1/visualizations/charts/{}", a.chart))
                    .json(json!({ "description": format!("description {n}") }))
            }
            ("DELETE", "/api/v1/visualizations/charts/{id}") => call(format!(
                "/api/v1/visualizations/charts/{}",
                self.chart_in(experiment).await
            )),
            ("GET", "/api/v1/visualizations/templates") => call(route.to_owned()),
            ("POST", "/api/v1/visualizations/charts/from-template/{name}") => {
                call("/api/v1/visualizations/charts/from-template/training_progress".into())
                    .json(json!({ "experiment_id": experiment }))
            }
            ("GET", "/api/v1/visualizations/dashboards") => {
                call(format!("{route}?page_size=1000")).list(Marker::Dashboard)
            }
            ("POST", "/api/v1/visualizations/dashboards") => call(route.to_owned())
                .json(json!({ "name": format!("dashboard-{n}"), "charts": [a.chart] })),
            ("GET", "/api/v1/visualizations/dashboards/{id}") => {
                call(format!("/api/v1/visualizations/dashboards/{}", a.dashboard))
            }
            ("PATCH", "/api/v1/visualizations/dashboards/{id}") => {
                call(format!("/api/v1/visualizations/dashboards/{}", a.dashboard))
                    .json(json!({ "description": format!("description {n}") }))
            }
            ("DELETE", "/api/v1/visualizations/dashboards/{id}") => {
                let id = self
                    .root(
                        Call::new("POST", "/api/v1/visualizations/dashboards")
                            .json(json!({ "name": format!("doomed-{n}"), "charts": [a.chart] })),
                    )
                    .await
                    .text_at("/id");
                call(format!("/api/v1/visualizations/dashboards/{id}"))
            }
            ("GET", "/api/v1/visualizations/export/experiment/{id}") => call(format!(
                "/api/v1/visualizations/export/experiment/{experiment}?format=json"
            )),
            ("GET", "/api/v1/visualizations/healthcare/crisis-detection-dashboard") => {
                call(format!("{route}?project_id={project}"))
            }
            // Experiments.
            ("GET", "/api/v1/experiments") => {
                call("/api/v1/experiments?page_size=1000".into()).list(Marker::Experiment)
            }
            ("POST", "/api/v1/experiments") => call(route.to_owned())
                .json(json!({ "project_id": project, "name": format!("created-{n}") })),
            ("POST", "/api/v1/experiments/compare") => {
                let other = self.fresh_experiment().await;
                call(route.to_owned()).json(json!({ "experiment_ids": [experiment, other] }))
            }
            ("POST", "/api/v1/experiments/{id}/compare-groups") => call(format!(
                "/api/v1/experiments/{}/compare-groups",
                self.fresh_grouped_experiment().await
            ))
            .json(json!({ "group_by": "params.optimizer" })),
            ("GET", "/api/v1/experiments/{id}") => {
                call(format!("/api/v1/experiments/{experiment}"))
            }
            ("PUT", "/api/v1/experiments/{id}") => {
                call(format!("/api/v1/experiments/{experiment}"))
                    .json(json!({ "description": format!("description {n}") }))
            }
            ("DELETE", "/api/v1/experiments/{id}") => call(format!(
                "/api/v1/experiments/{}",
                self.fresh_experiment().await
            )),
            ("GET", "/api/v1/experiments/{id}/metrics") => {
                call(format!("/api/v1/experiments/{experiment}/metrics"))
            }
            ("POST", "/api/v1/experiments/{id}/restore") => call(format!(
                "/api/v1/experiments/{}/restore",
                self.fresh_trashed_experiment().await
            )),
            ("POST", "/api/v1/experiments/{id}/start") => call(format!(
                "/api/v1/experiments/{}/start",
                self.fresh_experiment().await
            )),
            ("POST", "/api/v1/experiments/{id}/stop") => {
                let id = self.fresh_experiment().await;
                self.root(Call::new("POST", format!("/api/v1/experiments/{id}/start")))
                    .await;
                call(format!("/api/v1/experiments/{id}/stop")).json(json!({}))
            }
            ("GET", "/api/v1/experiments/{id}/stream") => {
                call(format!("/api/v1/experiments/{experiment}/stream"))
            }
            // Runs.
            ("GET", "/api/v1/runs") => call("/api/v1/runs?page_size=1000".into()).list(Marker::Run),
            ("POST", "/api/v1/runs") => {
                call(route.to_owned()).json(json!({ "experiment_id": experiment }))
            }
            ("GET", "/api/v1/runs/{id}") => call(format!("/api/v1/runs/{run}")),
            ("PUT", "/api/v1/runs/{id}") => call(format!("/api/v1/runs/{run}"))
                .json(json!({ "description": format!("description {n}") })),
            ("DELETE", "/api/v1/runs/{id}") => {
                call(format!("/api/v1/runs/{}", self.fresh_run().await))
            }
            ("POST", "/api/v1/runs/{id}/finish") => {
                call(format!("/api/v1/runs/{}/finish", self.fresh_run().await)).json(json!({}))
            }
            ("POST", "/api/v1/runs/{id}/restore") => call(format!(
                "/api/v1/runs/{}/restore",
                self.fresh_trashed_run().await
            )),
            ("POST", "/api/v1/runs/{id}/start") => {
                let id = self
                    .root(
                        Call::new("POST", "/api/v1/runs")
                            .json(json!({ "experiment_id": experiment, "status": "scheduled" })),
                    )
                    .await
                    .text_at("/id");
                call(format!("/api/v1/runs/{id}/start"))
            }
            ("GET", "/api/v1/runs/{id}/stream") => call(format!("/api/v1/runs/{run}/stream")),
            ("POST", "/api/v1/runs/{id}/logs") => call(format!("/api/v1/runs/{run}/logs")).json(
                json!({ "lines": [{ "stream": "stdout", "timestamp": 1000 + n, "line": format!("line {n}") }] }),
            ),
            ("GET", "/api/v1/runs/{id}/logs") => call(format!("/api/v1/runs/{run}/logs")),
            ("GET", "/api/v1/runs/{id}/logs/stream") => {
                call(format!("/api/v1/runs/{run}/logs/stream"))
            }
            ("GET", "/api/v1/experiments/{id}/logs") => {
                call(format!("/api/v1/experiments/{experiment}/logs"))
            }
            ("GET", "/api/v1/runs/{id}/metrics") => call(format!("/api/v1/runs/{run}/metrics")),
            ("POST", "/api/v1/runs/{id}/evaluations") => {
                call(format!("/api/v1/runs/{run}/evaluations"))
                    .json(json!({ "name": "crisis_detection", "tp": 90 + n, "fn": 1 }))
            }
            ("GET", "/api/v1/runs/{id}/safety") => call(format!("/api/v1/runs/{run}/safety")),
            ("GET", "/api/v1/experiments/{id}/safety") => {
                call(format!("/api/v1/experiments/{experiment}/safety"))
            }
            // The signer re-enters their own API key (callers without one send a wrong one).
            ("POST", "/api/v1/runs/{id}/signatures") => {
                call(format!("/api/v1/runs/{run}/signatures")).json(json!({
                    "meaning": "reviewed",
                    "password": who.key.clone().unwrap_or_else(|| "no key".into()),
                }))
            }
            ("GET", "/api/v1/runs/{id}/signatures") => {
                call(format!("/api/v1/runs/{run}/signatures"))
            }
            ("POST", "/api/v1/runs/{id}/metrics") => call(format!("/api/v1/runs/{run}/metrics"))
                .json(json!({ "metrics": [{ "key": "logged", "value": 1.0, "step": n }] })),
            ("GET", "/api/v1/runs/{id}/metrics/{name}") => {
                call(format!("/api/v1/runs/{run}/metrics/loss"))
            }
            ("POST", "/api/v1/runs/{id}/bulk-metrics") => {
                call(format!("/api/v1/runs/{run}/bulk-metrics")).json(json!({ "series": [
                    { "key": "bulk", "steps": [n], "values": [1.0], "timestamp": 1000 }
                ] }))
            }
            // Artifacts and resumable uploads.
            ("GET", "/api/v1/runs/{id}/artifacts") => call(format!("/api/v1/runs/{run}/artifacts")),
            ("POST", "/api/v1/runs/{id}/artifacts") => call(format!(
                "/api/v1/runs/{run}/artifacts?path=uploaded/{n}.txt"
            ))
            .bytes(b"uploaded"),
            ("GET", "/api/v1/runs/{id}/artifacts/{path}") => {
                call(format!("/api/v1/runs/{run}/artifacts/a.txt"))
            }
            ("DELETE", "/api/v1/runs/{id}/artifacts/{path}") => call(format!(
                "/api/v1/runs/{run}/artifacts/{}",
                self.fresh_artifact().await
            )),
            ("POST", "/api/v1/runs/{id}/uploads") => call(format!("/api/v1/runs/{run}/uploads"))
                .json(json!({ "path": format!("started/{n}.bin") })),
            ("GET", "/api/v1/runs/{id}/uploads/{upload_id}") => {
                call(format!("/api/v1/runs/{run}/uploads/{}", self.upload))
            }
            ("DELETE", "/api/v1/runs/{id}/uploads/{upload_id}") => call(format!(
                "/api/v1/runs/{run}/uploads/{}",
                self.fresh_upload().await
            )),
            ("POST", "/api/v1/runs/{id}/uploads/{upload_id}/complete") => call(format!(
                "/api/v1/runs/{run}/uploads/{}/complete",
                self.fresh_upload_with_part().await
            ))
            .json(json!({})),
            ("PUT", "/api/v1/runs/{id}/uploads/{upload_id}/parts/{part_number}") => call(format!(
                "/api/v1/runs/{run}/uploads/{}/parts/1",
                self.upload
            ))
            .bytes(b"part"),
            _ => return None,
        })
    }

    async fn mlflow_call(&self, method: &str, prefix: &str, route: &str) -> Option<Call> {
        let n = self.next();
        let a = &self.a;
        let (experiment, run, model) = (&a.experiment, &a.run, &a.model);
        let call = |path: &str| Call::new(method, format!("{prefix}{path}"));
        Some(match (method, route) {
            ("POST", "/experiments/create") => call(route).json(json!({
                "name": format!("mlflow-{n}"),
                "tags": [{ "key": "ets.project", "value": a.name }],
            })),
            ("GET", "/experiments/get") => {
                call(&format!("{route}?experiment_id={experiment}"))
            }
            ("GET", "/experiments/get-by-name") => {
                call(&format!("{route}?experiment_name={}", a.experiment_name))
            }
            ("GET", "/experiments/search") => {
                call(&format!("{route}?max_results=1000")).list(Marker::Experiment)
            }
            // MLflow leaves out experiments it cannot find, so a hidden one too.
            ("POST", "/experiments/search-datasets") => {
                let mut call = call(route).json(json!({ "experiment_ids": [experiment] }));
                call.hidden = Some((200, r#"{"dataset_summaries":[]}"#));
                call
            }
            ("POST", "/experiments/search") => call(route)
                .json(json!({ "max_results": 1000 }))
                .list(Marker::Experiment),
            ("POST", "/experiments/update") => call(route).json(json!({
                "experiment_id": self.fresh_experiment().await,
                "new_name": format!("renamed-{n}"),
            })),
            ("POST", "/experiments/delete") => {
                call(route).json(json!({ "experiment_id": self.fresh_experiment().await }))
            }
            ("POST", "/experiments/restore") => call(route)
                .json(json!({ "experiment_id": self.fresh_trashed_experiment().await })),
            ("POST", "/experiments/set-experiment-tag") => call(route).json(
                json!({ "experiment_id": experiment, "key": format!("tag-{n}"), "value": "v" }),
            ),
            ("POST", "/experiments/delete-experiment-tag") => {
                let key = self
                    .fresh_tag(|key| {
                        Call::new("POST", "/api/2.0/mlflow/experiments/set-experiment-tag").json(
                            json!({ "experiment_id": experiment, "key": key, "value": "v" }),
                        )
                    })
                    .await;
                call(route).json(json!({ "experiment_id": experiment, "key": key }))
            }
            ("POST", "/runs/create") => call(route).json(json!({ "experiment_id": experiment })),
            ("GET", "/runs/get") => call(&format!("{route}?run_id={run}")),
            ("POST", "/runs/update") => call(route)
                .json(json!({ "run_id": self.fresh_run().await, "status": "FINISHED" })),
            ("POST", "/runs/delete") => call(route).json(json!({ "run_id": self.fresh_run().await })),
            ("POST", "/runs/restore") => {
                call(route).json(json!({ "run_id": self.fresh_trashed_run().await }))
            }
            ("POST", "/runs/search") => call(route)
                .json(json!({ "experiment_ids": [experiment, self.b.experiment], "max_results": 1000 }))
                .list(Marker::Run),
            ("POST", "/runs/log-metric") => call(route).json(
                json!({ "run_id": run, "key": "mlflow", "value": 1.0, "timestamp": 1000, "step": n }),
            ),
            ("POST", "/runs/log-parameter") => call(route)
                .json(json!({ "run_id": run, "key": format!("param-{n}"), "value": "v" })),
            ("POST", "/runs/log-batch") => call(route).json(json!({
                "run_id": run,
                "metrics": [{ "key": "batch", "value": 1.0, "timestamp": 1000, "step": n }],
            })),
            ("POST", "/runs/log-inputs") => call(route).json(json!({
                "run_id": run,
                "datasets": [{ "dataset": {
                    "name": "data", "digest": "abc", "source_type": "local", "source": "file:///data"
                } }],
            })),
            ("POST", "/runs/outputs") => call(route)
                .json(json!({ "run_id": run, "models": [{ "model_id": model, "step": 0 }] })),
            ("POST", "/runs/set-tag") => call(route)
                .json(json!({ "run_id": run, "key": format!("tag-{n}"), "value": "v" })),
            ("POST", "/runs/delete-tag") => {
                let key = self
                    .fresh_tag(|key| {
                        Call::new("POST", "/api/2.0/mlflow/runs/set-tag")
                            .json(json!({ "run_id": run, "key": key, "value": "v" }))
                    })
                    .await;
                call(route).json(json!({ "run_id": run, "key": key }))
            }
            // MLflow answers an unknown run's history with an empty one, so a hidden run too.
            ("GET", "/metrics/get-history") => {
                let mut call = call(&format!("{route}?run_id={run}&metric_key=loss"));
                call.hidden = Some((200, r#"{"metrics":[]}"#));
                call
            }
            ("GET", "/metrics/get-history-bulk") => {
                let mut call = call(&format!("{route}?run_id={run}&metric_key=loss"));
                call.hidden = Some((200, r#"{"metrics":[]}"#));
                call
            }
            ("GET", "/metrics/get-history-bulk-interval") => {
                call(&format!("{route}?run_ids={run}&metric_key=loss"))
            }
            ("GET", "/artifacts/list") => call(&format!("{route}?run_id={run}")),
            ("POST", "/upload-artifact") => {
                call(&format!("{route}?run_uuid={run}&path=ui/upload-{n}.txt")).bytes(b"from the UI")
            }
            ("POST", "/logged-models") => {
                call(route).json(json!({ "experiment_id": experiment, "name": format!("model-{n}") }))
            }
            ("POST", "/logged-models/search") => call(route)
                .json(json!({ "experiment_ids": [experiment, self.b.experiment], "max_results": 1000 }))
                .list(Marker::Model),
            ("GET", "/logged-models/{model_id}") => call(&format!("/logged-models/{model}")),
            ("PATCH", "/logged-models/{model_id}") => {
                call(&format!("/logged-models/{}", self.fresh_model().await))
                    .json(json!({ "status": "LOGGED_MODEL_READY" }))
            }
            ("DELETE", "/logged-models/{model_id}") => {
                call(&format!("/logged-models/{}", self.fresh_model().await))
            }
            ("PATCH", "/logged-models/{model_id}/tags") => {
                call(&format!("/logged-models/{model}/tags"))
                    .json(json!({ "tags": [{ "key": format!("tag-{n}"), "value": "v" }] }))
            }
            ("DELETE", "/logged-models/{model_id}/tags/{key}") => {
                let key = self
                    .fresh_tag(|key| {
                        Call::new("PATCH", format!("/api/2.0/mlflow/logged-models/{model}/tags"))
                            .json(json!({ "tags": [{ "key": key, "value": "v" }] }))
                    })
                    .await;
                call(&format!("/logged-models/{model}/tags/{key}"))
            }
            ("POST", "/logged-models/{model_id}/params") => {
                call(&format!("/logged-models/{model}/params"))
                    .json(json!({ "params": [{ "key": format!("param-{n}"), "value": "v" }] }))
            }
            _ => return None,
        })
    }

    async fn artifact_proxy_call(&self, method: &str, prefix: &str, route: &str) -> Option<Call> {
        let n = self.next();
        let root = self.a.proxy_root();
        let call = |path: String| Call::new(method, format!("{prefix}{path}"));
        Some(match (method, route) {
            ("GET", "/artifacts") => call(format!("/artifacts?path={root}")),
            ("GET", "/artifacts/{path}") => call(format!("/artifacts/{root}/a.txt")),
            ("PUT", "/artifacts/{path}") => {
                call(format!("/artifacts/{root}/proxied/{n}.txt")).bytes(b"proxied")
            }
            ("DELETE", "/artifacts/{path}") => {
                call(format!("/artifacts/{root}/{}", self.fresh_artifact().await))
            }
            ("POST", "/mpu/create/{path}") => call(format!("/mpu/create/{root}"))
                .json(json!({ "path": format!("/local/created-{n}.bin"), "num_parts": 1 })),
            ("POST", "/mpu/complete/{path}") => {
                let (upload, local) = self.fresh_mpu().await;
                let etag = self
                    .send_with(
                        Some(&self.root),
                        &Call::new("PUT", format!("{prefix}/mpu/parts/{upload}/1")).bytes(b"part"),
                    )
                    .await
                    .etag
                    .expect("a part's ETag");
                call(format!("/mpu/complete/{root}")).json(json!({
                    "path": local, "upload_id": upload, "parts": [{ "part_number": 1, "etag": etag }],
                }))
            }
            ("POST", "/mpu/abort/{path}") => call(format!("/mpu/abort/{root}"))
                .json(json!({ "upload_id": self.fresh_mpu().await.0 })),
            ("PUT", "/mpu/parts/{upload_id}/{part_number}") => {
                call(format!("/mpu/parts/{}/1", self.mpu)).bytes(b"part")
            }
            _ => return None,
        })
    }
}

fn placeholder() -> Project {
    Project {
        id: String::new(),
        name: String::new(),
        experiment: String::new(),
        experiment_name: String::new(),
        run: String::new(),
        model: String::new(),
        chart: String::new(),
        dashboard: String::new(),
        alert_rule: String::new(),
        alert: String::new(),
        study: String::new(),
    }
}
