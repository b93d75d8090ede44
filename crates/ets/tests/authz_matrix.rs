//! The authorization matrix (issue 11): every operation of both APIs × every kind of caller →
//! the outcome its declared permission (`ets::auth::policy`) promises, on both databases.
//!
//! Operations come from `docs/openapi.json` (every path × method) and
//! `ets::auth::policy::mlflow_routes()` (MLflow tracking and artifact routes); each needs a
//! permission declaration and a request in `fixtures.rs`, or the test fails (deny by
//! default). Callers: nobody (no credentials), viewer, editor and admin of project A, editor
//! of project B only, and a global admin. Requests name A's objects; destructive ones get a
//! fresh target per call. Expected:
//!
//! - no credentials → 401 with `WWW-Authenticate`, except on public routes;
//! - no role on A → 404 (ids do not leak), and lists and searches show nothing of A;
//! - a lesser role than declared → 403; enough (or global admin) → success;
//! - no answer mentions an object of a project the caller has no role on, unless the
//!   request named it.

mod common;
#[path = "authz_matrix/fixtures.rs"]
mod fixtures;

use std::collections::BTreeSet;

use common::{TestApp, on_both_databases};
use ets::auth::{Permission, Role, policy};
use fixtures::{Call, Scope, World};
use reqwest::StatusCode;
use serde_json::Value;

on_both_databases!(every_operation_answers_every_caller_as_its_permission_declares);

/// One operation: a method and a path template as OpenAPI writes it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Operation {
    method: String,
    template: String,
}

/// Every documented native operation and every MLflow route, each with its declared permission.
fn operations() -> Vec<(Operation, Permission)> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let document: Value = serde_json::from_str(&text).expect("openapi.json is JSON");
    let mut operations = BTreeSet::new();
    for (template, item) in document["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                operations.insert(Operation {
                    method: method.to_uppercase(),
                    template: template.clone(),
                });
            }
        }
    }
    for (method, template, _) in policy::mlflow_routes() {
        operations.insert(Operation {
            method: method.to_owned(),
            template,
        });
    }
    let undeclared: Vec<String> = operations
        .iter()
        .filter(|op| policy::permission(&op.method, &op.template).is_none())
        .map(|op| format!("{} {}", op.method, op.template))
        .collect();
    assert!(
        undeclared.is_empty(),
        "operations without a permission declaration in ets::auth::policy (deny by default: \
         declare them): {undeclared:#?}"
    );
    operations
        .into_iter()
        .map(|op| {
            let permission = policy::permission(&op.method, &op.template).expect("declared");
            (op, permission)
        })
        .collect()
}

/// A caller of the matrix.
pub struct Who {
    pub name: &'static str,
    /// `None`: no credentials.
    pub key: Option<String>,
    pub global_admin: bool,
    pub on_a: Option<Role>,
    pub on_b: Option<Role>,
}

impl Who {
    fn role_on_a(&self) -> Option<Role> {
        if self.global_admin {
            Some(Role::Admin)
        } else {
            self.on_a
        }
    }

    fn sees_b(&self) -> bool {
        self.global_admin || self.on_b.is_some()
    }
}

/// What a caller must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// 2xx, or a status the fixture documents for its input.
    Success,
    /// 2xx showing what the caller may see, or 404 (a filter named something hidden).
    Listed,
    Refused(StatusCode),
}

fn expected(permission: Permission, scope: Scope, who: &Who) -> Expect {
    if permission == Permission::Public {
        return Expect::Success;
    }
    if who.key.is_none() {
        return Expect::Refused(StatusCode::UNAUTHORIZED);
    }
    match permission {
        Permission::Public | Permission::Authenticated => Expect::Success,
        Permission::GlobalAdmin if who.global_admin => Expect::Success,
        Permission::GlobalAdmin => Expect::Refused(StatusCode::FORBIDDEN),
        Permission::Project(_) if scope == Scope::List => Expect::Listed,
        Permission::Project(needs) => match who.role_on_a() {
            None => Expect::Refused(StatusCode::NOT_FOUND),
            Some(role) if role >= needs => Expect::Success,
            Some(_) => Expect::Refused(StatusCode::FORBIDDEN),
        },
    }
}

/// Checks the status of one answer; `Err` says what is wrong.
fn check_status(
    world: &World,
    who: &Who,
    call: &Call,
    expect: Expect,
    reply: &Reply,
) -> Result<(), String> {
    let status = reply.status;
    if let (Expect::Refused(StatusCode::NOT_FOUND), Some((want_status, want_body))) =
        (expect, call.hidden)
    {
        if status.as_u16() != want_status || reply.text != want_body {
            return Err(format!(
                "expected the answer to an unknown object, {want_status} {want_body}"
            ));
        }
        return Ok(());
    }
    match expect {
        Expect::Success => {
            if !status.is_success() && !call.also_ok.contains(&status.as_u16()) {
                return Err(format!("expected success, got {status}"));
            }
        }
        Expect::Listed => {
            let hidden = who.role_on_a().is_none();
            if !(status.is_success() || hidden && status == StatusCode::NOT_FOUND) {
                return Err(format!("expected a list, got {status}"));
            }
            if status.is_success() {
                let mut shown = Vec::new();
                if who.role_on_a().is_some() {
                    shown.push(world.a.id(call.marker));
                }
                if who.sees_b() {
                    shown.push(world.b.id(call.marker));
                }
                if let Some(missing) = shown.iter().find(|id| !reply.text.contains(id.as_str())) {
                    return Err(format!(
                        "the list lacks '{missing}', which this caller may see"
                    ));
                }
            }
        }
        Expect::Refused(want) => {
            if status != want {
                return Err(format!("expected {want}, got {status}"));
            }
            if want == StatusCode::UNAUTHORIZED && !reply.challenges {
                return Err("a 401 without WWW-Authenticate".into());
            }
        }
    }
    Ok(())
}

/// No answer names an object of a project the caller has no role on, unless it asked for it.
fn check_leaks(world: &World, who: &Who, call: &Call, reply: &Reply) -> Result<(), String> {
    let request = call.describe();
    let mut foreign = Vec::new();
    if who.role_on_a().is_none() {
        foreign.extend(world.a.secrets());
    }
    if !who.sees_b() {
        foreign.extend(world.b.secrets());
    }
    if let Some(leaked) = foreign
        .iter()
        .find(|s| reply.text.contains(s.as_str()) && !request.contains(s.as_str()))
    {
        return Err(format!(
            "the answer names '{leaked}' of a project this caller has no role on"
        ));
    }
    Ok(())
}

/// What the matrix looks at in an answer.
pub struct Reply {
    pub status: StatusCode,
    /// Whether it carries `WWW-Authenticate`.
    pub challenges: bool,
    pub etag: Option<String>,
    pub text: String,
}

async fn every_operation_answers_every_caller_as_its_permission_declares() {
    let operations = operations();
    let world = World::build(TestApp::start_with_auth(fixtures::configure).await).await;
    let mut missing = Vec::new();
    let mut failures = Vec::new();
    let mut calls = 0;
    for (op, permission) in &operations {
        for who in &world.callers {
            let Some(call) = world.call(who, &op.method, &op.template).await else {
                missing.push(format!("{} {}", op.method, op.template));
                break;
            };
            let expect = expected(*permission, call.scope, who);
            let reply = world.send(who, &call).await;
            calls += 1;
            let checked = check_status(&world, who, &call, expect, &reply)
                .and_then(|()| check_leaks(&world, who, &call, &reply));
            if let Err(problem) = checked {
                failures.push(format!(
                    "{} {} as {} ({permission:?}): {problem}\n    request: {}\n    answer: {}",
                    op.method,
                    op.template,
                    who.name,
                    call.describe(),
                    truncate(&reply.text),
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without a request in tests/authz_matrix/fixtures.rs (add one): {missing:#?}"
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls answered against the permission matrix:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "{} operations × {} callers: {calls} calls as declared",
        operations.len(),
        world.callers.len()
    );
}

fn truncate(text: &str) -> &str {
    match text.char_indices().nth(300) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The MLflow routes the router serves are exactly the declared ones: a new MLflow route
/// missing from `policy.rs` fails here (OpenAPI covers the native routes the same way).
#[test]
fn every_mlflow_route_of_the_router_is_declared() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/api/mlflow/mod.rs");
    let source = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (tracking, root) = source
        .split_once("pub fn routes()")
        .expect("api/mlflow/mod.rs has `pub fn routes()`");
    let tracking = tracking
        .split_once("fn tracking_routes()")
        .expect("api/mlflow/mod.rs has `fn tracking_routes()`")
        .1;
    let mut served = BTreeSet::new();
    for (section, prefixes) in [
        (tracking, &["/api/2.0/mlflow", "/ajax-api/2.0/mlflow"][..]),
        (root, &[""][..]),
    ] {
        for route in section.split(".route(").skip(1) {
            let template = route.split('"').nth(1).expect("a route's path literal");
            let template = template.replace("{*", "{");
            for method in ["get", "post", "put", "patch", "delete"] {
                let called = route.match_indices(&format!("{method}(")).any(|(at, _)| {
                    !route[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_')
                });
                if called {
                    for prefix in prefixes {
                        served.insert((method.to_uppercase(), format!("{prefix}{template}")));
                    }
                }
            }
        }
    }
    let declared: BTreeSet<(String, String)> = policy::mlflow_routes()
        .into_iter()
        .map(|(method, template, _)| (method.to_owned(), template))
        .collect();
    assert!(served.len() > 40, "parsed too few routes: {served:#?}");
    let undeclared: Vec<_> = served.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "MLflow routes without a permission in ets::auth::policy: {undeclared:#?}"
    );
    let unserved: Vec<_> = declared.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "declared MLflow routes the router does not serve: {unserved:#?}"
    );
}

/// The matrix takes each route's permission from its declaration, so it cannot see a write
/// declared as a read: here, every project route that is not a GET needs at least editor,
/// except the searches and comparisons that only read (POST for their bodies).
#[test]
fn no_write_is_declared_as_a_read() {
    const READS_BY_POST: [&str; 7] = [
        "/api/v1/experiments/compare",
        "/api/v1/experiments/{id}/compare-groups",
        "/api/v1/visualizations/preview",
        "/experiments/search",
        "/experiments/search-datasets",
        "/runs/search",
        "/logged-models/search",
    ];
    let misdeclared: Vec<String> = operations()
        .into_iter()
        .filter(|(op, permission)| {
            op.method != "GET"
                && *permission == Permission::Project(Role::Viewer)
                && !READS_BY_POST.iter().any(|read| op.template.ends_with(read))
        })
        .map(|(op, _)| format!("{} {}", op.method, op.template))
        .collect();
    assert!(
        misdeclared.is_empty(),
        "writes that a viewer may call: {misdeclared:#?}"
    );
}
