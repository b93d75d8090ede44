//! Authentication end to end (issue 11): the command line's users and keys against a running
//! server, what needs credentials and what stays open, each kind of credential on both APIs,
//! revocation, expiry and disabled users, secrets never shown or logged, project admins, rate
//! limits, and browser sessions with their CSRF token. Every test runs on both databases.

mod common;

use common::process::{Http, Served, TestDb, ets};
use common::{Reply, TestApp, on_both_databases};
use ets::actor::Actor;
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    api_routes_need_credentials_and_health_and_info_stay_open,
    keys_and_passwords_work_as_bearer_and_basic_on_both_apis,
    mlflow_multipart_parts_carry_the_callers_credentials,
    proxy_files_outside_runs_follow_their_experiment_or_the_default_project,
    revoked_expired_and_disabled_credentials_stop_working_at_once,
    key_listings_never_show_a_secret,
    project_creators_are_admins_and_the_last_admin_stays,
    failed_logins_from_one_address_are_limited,
    each_principal_is_rate_limited,
    browser_sessions_change_state_only_with_their_csrf_token,
    session_cookies_are_secure_behind_https,
    users_keys_and_members_refuse_bad_input,
);

/// The real binary: `ets users create`, `ets keys create`, logs and `ets config`.
mod binary {
    use super::*;

    common::process::on_both_databases_sync!(
        cli_creates_users_and_keys_while_a_server_runs,
        secrets_never_appear_in_logs_info_or_config,
    );
}

const ALICE_PASSWORD: &str = "alice's long password";
/// A sibling service's URL with a password in it (servers of the binary tests get it).
const REGISTRY_URL: &str = "http://svc:registry-secret-81@127.0.0.1:1";

/// `GET path` with a Bearer key.
async fn get_as(app: &TestApp, key: &str, path: &str) -> Reply {
    app.send(app.client.get(app.url(path)).bearer_auth(key))
        .await
}

/// `POST path` with a Bearer key.
async fn post_as(app: &TestApp, key: &str, path: &str, body: Value) -> Reply {
    app.send(app.client.post(app.url(path)).bearer_auth(key).json(&body))
        .await
}

/// `GET path` with Basic credentials.
async fn get_basic(app: &TestApp, user: &str, secret: &str, path: &str) -> Reply {
    app.send(app.client.get(app.url(path)).basic_auth(user, Some(secret)))
        .await
}

fn header<'a>(reply: &'a Reply, name: &str) -> &'a str {
    reply
        .headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// Shaped like an API key, but no key's.
const WRONG_KEY: &str = "ets_0123456789abcdef_notthesecretnotthesecretnotthesecretnotthe";

/// An MLflow error answer with this `error_code`.
fn assert_mlflow_error(reply: &Reply, code: &str) {
    assert_eq!(reply.body["error_code"], code, "{}", reply.body);
}

/// The secret part of an API key `ets_<id>_<secret>` (the id is public).
fn key_secret(key: &str) -> &str {
    key.splitn(3, '_').nth(2).expect("an API key")
}

/// A 401 that says how to authenticate.
fn assert_challenged(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{what}: {}",
        reply.body
    );
    let challenge = header(reply, "www-authenticate");
    assert!(
        challenge.contains("Bearer") && challenge.contains("Basic"),
        "{what}: WWW-Authenticate {challenge:?}"
    );
}

/// A 429 that says when to come back.
fn assert_rate_limited(reply: &Reply, what: &str) {
    assert_eq!(
        reply.status,
        StatusCode::TOO_MANY_REQUESTS,
        "{what}: {}",
        reply.body
    );
    let retry: u64 = header(reply, "retry-after")
        .parse()
        .unwrap_or_else(|_| panic!("{what}: Retry-After {:?}", header(reply, "retry-after")));
    assert!(retry >= 1, "{what}: Retry-After {retry}");
}

/// The value of a Prometheus counter with these labels (0 when absent).
async fn counter(app: &TestApp, series: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------- what needs credentials

async fn api_routes_need_credentials_and_health_and_info_stay_open() {
    let registry_password = "registry-pw-4711";
    let app = TestApp::start_with_auth(|config| {
        config.services.model_registry_url = Some(ets::database_url::SecretUrl::new(format!(
            "http://svc:{registry_password}@registry.internal:5000"
        )));
    })
    .await;
    let key = app.add_user("alice", true, Some(ALICE_PASSWORD)).await;
    let project = post_as(
        &app,
        &key,
        "/api/v1/projects",
        json!({ "name": "secret-project" }),
    )
    .await
    .id();

    for path in [
        "/api/v1/projects".to_owned(),
        format!("/api/v1/projects/{project}"),
        "/api/v1/auth/whoami".to_owned(),
        "/api/v1/auth/keys".to_owned(),
        "/api/2.0/mlflow/experiments/search".to_owned(),
        "/ajax-api/2.0/mlflow/experiments/search".to_owned(),
        "/api/2.0/mlflow-artifacts/artifacts".to_owned(),
        "/get-artifact".to_owned(),
    ] {
        assert_challenged(&app.get(&path).await, &path);
    }
    let create = app.post("/api/v1/projects", json!({ "name": "x" })).await;
    assert_challenged(&create, "POST /api/v1/projects");
    let mlflow = app
        .post(
            "/api/2.0/mlflow/runs/search",
            json!({ "experiment_ids": ["0"] }),
        )
        .await;
    assert_challenged(&mlflow, "MLflow runs/search");
    assert_mlflow_error(&mlflow, "UNAUTHENTICATED");
    // Wrong credentials, of every shape, are refused the same way.
    for (scheme, value) in [
        ("Bearer", WRONG_KEY.to_owned()),
        ("Bearer", "not-a-key".to_owned()),
        ("Basic", "YWxpY2U6d3Jvbmc=".to_owned()),
        ("Digest", "x".to_owned()),
    ] {
        let reply = app
            .send(
                app.client
                    .get(app.url("/api/v1/projects"))
                    .header("authorization", format!("{scheme} {value}")),
            )
            .await;
        assert_challenged(&reply, scheme);
    }

    // Open: health and service discovery, naming nothing of the data or its secrets.
    for path in ["/health", "/health/live", "/health/ready", "/info"] {
        let reply = app.get(path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        let text = reply.body.to_string();
        for secret in [
            registry_password,
            ALICE_PASSWORD,
            key.as_str(),
            project.as_str(),
            "secret-project",
            "alice",
        ] {
            assert!(!text.contains(secret), "{path} shows '{secret}': {text}");
        }
    }
}

// ---------------------------------------------------------------- credentials

async fn keys_and_passwords_work_as_bearer_and_basic_on_both_apis() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let key = app.add_user("alice", false, Some(ALICE_PASSWORD)).await;
    app.add_user("bob", false, Some("bob's long password"))
        .await;

    let native = "/api/v1/auth/whoami";
    let mlflow = "/api/2.0/mlflow/experiments/search?max_results=10";
    for path in [native, mlflow] {
        let bearer = get_as(&app, &key, path).await;
        assert_eq!(
            bearer.status,
            StatusCode::OK,
            "Bearer key on {path}: {}",
            bearer.body
        );
        let basic_key = get_basic(&app, "alice", &key, path).await;
        assert_eq!(
            basic_key.status,
            StatusCode::OK,
            "Basic user:key on {path}: {}",
            basic_key.body
        );
        let basic_password = get_basic(&app, "alice", ALICE_PASSWORD, path).await;
        assert_eq!(
            basic_password.status,
            StatusCode::OK,
            "Basic user:password on {path}: {}",
            basic_password.body
        );
        // A key is its owner's only; a password its user's only.
        assert_challenged(
            &get_basic(&app, "bob", &key, path).await,
            "bob with alice's key",
        );
        assert_challenged(
            &get_basic(&app, "bob", ALICE_PASSWORD, path).await,
            "bob with alice's password",
        );
        assert_challenged(
            &get_as(&app, ALICE_PASSWORD, path).await,
            "a password as Bearer",
        );
    }
    let whoami = get_basic(&app, "alice", ALICE_PASSWORD, native).await;
    assert_eq!(whoami.body["user"], "alice", "{}", whoami.body);
    assert_eq!(whoami.body["global_admin"], false);
    assert_eq!(whoami.body["auth_enabled"], true);

    // A key's last use is recorded (to the minute).
    let keys = get_as(&app, &key, "/api/v1/auth/keys").await;
    assert!(
        keys.body["items"][0]["last_used_at"].is_i64(),
        "{}",
        keys.body
    );
}

/// The artifact proxy's files outside runs: inside an experiment's folder they need a role
/// on its project; elsewhere (the shared area) a role on the `default` project.
async fn proxy_files_outside_runs_follow_their_experiment_or_the_default_project() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let root = app.add_user("root", true, None).await;
    let alice = app.add_user("alice", false, None).await;
    let bob = app.add_user("bob", false, None).await;
    let project = post_as(&app, &alice, "/api/v1/projects", json!({ "name": "p" }))
        .await
        .id();
    let experiment = post_as(
        &app,
        &alice,
        "/api/v1/experiments",
        json!({ "project_id": project, "name": "e" }),
    )
    .await
    .id();
    let url = |path: &str| app.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}"));
    let put =
        |key: &str, path: &str| app.send(app.client.put(url(path)).bearer_auth(key).body("bytes"));
    let get = |key: &str, path: &str| app.send(app.client.get(url(path)).bearer_auth(key));

    // The experiment's folder: its project's roles.
    let in_experiment = format!("{experiment}/notes/a.txt");
    assert_eq!(put(&alice, &in_experiment).await.status, StatusCode::OK);
    assert_eq!(get(&alice, &in_experiment).await.status, StatusCode::OK);
    assert_eq!(
        put(&bob, &in_experiment).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&bob, &in_experiment).await.status,
        StatusCode::NOT_FOUND
    );

    // The shared area: the default project's roles, refused with a reason.
    let shared = "shared/b.txt";
    let refused = put(&alice, shared).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("default"),
        "{}",
        refused.body
    );
    assert_eq!(put(&root, shared).await.status, StatusCode::OK);
    let default_members = "/api/v1/projects/00000000000000000000000000000000/members/bob";
    let granted = app
        .send(
            app.client
                .put(app.url(default_members))
                .bearer_auth(&root)
                .json(&json!({ "role": "viewer" })),
        )
        .await;
    assert!(granted.status.is_success(), "{}", granted.body);
    assert_eq!(get(&bob, shared).await.status, StatusCode::OK);
    assert_eq!(put(&bob, shared).await.status, StatusCode::FORBIDDEN);
}

/// MLflow's client sends multipart parts with only the headers `mpu/create` names: with
/// authentication on, those are the caller's own credentials.
async fn mlflow_multipart_parts_carry_the_callers_credentials() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let key = app.add_user("alice", false, None).await;
    let project = post_as(&app, &key, "/api/v1/projects", json!({ "name": "p" }))
        .await
        .id();
    let experiment = post_as(
        &app,
        &key,
        "/api/v1/experiments",
        json!({ "project_id": project, "name": "e" }),
    )
    .await
    .id();
    let run = post_as(
        &app,
        &key,
        "/api/v1/runs",
        json!({ "experiment_id": experiment }),
    )
    .await
    .id();
    let root = format!("{experiment}/{run}/artifacts");
    let created = post_as(
        &app,
        &key,
        &format!("/api/2.0/mlflow-artifacts/mpu/create/{root}"),
        json!({ "path": "/local/weights.bin", "num_parts": 1 }),
    )
    .await;
    assert_eq!(created.status, StatusCode::OK, "{}", created.body);
    let credential = &created.body["credentials"][0];
    let headers = credential["headers"].as_object().expect("headers");
    assert_eq!(headers.len(), 1, "{}", created.body);
    assert_eq!(headers["Authorization"], format!("Bearer {key}"));
    let mut part = app
        .client
        .put(credential["url"].as_str().unwrap())
        .body(b"weights".to_vec());
    for (name, value) in headers {
        part = part.header(name, value.as_str().unwrap());
    }
    let part = app.send(part).await;
    assert_eq!(part.status, StatusCode::OK, "{}", part.body);
    let etag = header(&part, "etag").trim_matches('"').to_owned();
    let completed = post_as(
        &app,
        &key,
        &format!("/api/2.0/mlflow-artifacts/mpu/complete/{root}"),
        json!({
            "path": "/local/weights.bin",
            "upload_id": created.body["upload_id"],
            "parts": [{ "part_number": 1, "etag": etag }],
        }),
    )
    .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
}

async fn revoked_expired_and_disabled_credentials_stop_working_at_once() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let root = app.add_user("root", true, None).await;
    let key = app.add_user("alice", false, Some(ALICE_PASSWORD)).await;
    let path = "/api/v1/auth/whoami";

    // Revoked: the next request on this instance is refused (the credential cache forgets it).
    let spare = post_as(&app, &key, "/api/v1/auth/keys", json!({ "name": "spare" })).await;
    assert_eq!(spare.status, StatusCode::CREATED, "{}", spare.body);
    let (spare_id, spare_key) = (spare.id(), spare.body["key"].as_str().unwrap().to_owned());
    assert_eq!(get_as(&app, &spare_key, path).await.status, StatusCode::OK);
    let revoked = app
        .send(
            app.client
                .delete(app.url(&format!("/api/v1/auth/keys/{spare_id}")))
                .bearer_auth(&key),
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_i64(), "{}", revoked.body);
    assert_challenged(&get_as(&app, &spare_key, path).await, "a revoked key");
    assert_challenged(
        &get_basic(&app, "alice", &spare_key, path).await,
        "a revoked key in Basic",
    );
    assert_eq!(
        get_as(&app, &key, path).await.status,
        StatusCode::OK,
        "other keys still work"
    );

    // Expired: a key whose expiry has passed (stored directly: the API's shortest is a day).
    let services = &app.server.services;
    let alice = services.get_user(&Actor::System, "alice").await.unwrap();
    let generated = ets::auth::secrets::generate_api_key();
    let now = ets_domain::Timestamp::now().millis();
    services
        .store
        .create_api_key(ets::store::identity::ApiKeyRecord {
            id: generated.id,
            user_id: alice.id,
            name: "expired".into(),
            secret_hash: generated.secret_hash,
            created_at: now - 10_000,
            expires_at: Some(now - 1_000),
            last_used_at: None,
            revoked_at: None,
        })
        .await
        .unwrap();
    assert_challenged(&get_as(&app, &generated.text, path).await, "an expired key");
    let expiring = post_as(
        &app,
        &key,
        "/api/v1/auth/keys",
        json!({ "expires_in_days": 1 }),
    )
    .await;
    let expires_at = expiring.body["expires_at"].as_i64().expect("expires_at");
    assert!(expires_at > now, "{}", expiring.body);

    // Disabled: every credential of the user stops, at once on this instance.
    assert_eq!(
        get_basic(&app, "alice", ALICE_PASSWORD, path).await.status,
        StatusCode::OK
    );
    let disabled = app
        .send(
            app.client
                .patch(app.url("/api/v1/auth/users/alice"))
                .bearer_auth(&root)
                .json(&json!({ "disabled": true })),
        )
        .await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    assert_challenged(&get_as(&app, &key, path).await, "a disabled user's key");
    assert_challenged(
        &get_basic(&app, "alice", ALICE_PASSWORD, path).await,
        "a disabled user's password",
    );
    let login = app
        .post(
            "/api/v1/auth/login",
            json!({ "username": "alice", "password": ALICE_PASSWORD }),
        )
        .await;
    assert_challenged(&login, "a disabled user's login");
}

async fn key_listings_never_show_a_secret() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let root = app.add_user("root", true, None).await;
    let key = app.add_user("alice", false, None).await;
    let created = post_as(&app, &key, "/api/v1/auth/keys", json!({ "name": "ci" })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let second = created.body["key"].as_str().unwrap().to_owned();
    assert!(second.starts_with("ets_"), "{}", created.body);

    let own = get_as(&app, &key, "/api/v1/auth/keys").await;
    let by_admin = get_as(&app, &root, "/api/v1/auth/keys?user=alice").await;
    for listing in [&own, &by_admin] {
        assert_eq!(listing.status, StatusCode::OK, "{}", listing.body);
        assert_eq!(
            listing.body["items"].as_array().unwrap().len(),
            2,
            "{}",
            listing.body
        );
        let text = listing.body.to_string();
        for secret in [&key, &second] {
            assert!(
                !text.contains(key_secret(secret)),
                "a key's secret is listed: {text}"
            );
        }
        assert!(!text.contains("secret_hash"), "{text}");
    }
    // Another user's keys are the global admins' business only.
    let bob = app.add_user("bob", false, None).await;
    let refused = get_as(&app, &bob, "/api/v1/auth/keys?user=alice").await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
}

// ---------------------------------------------------------------- roles

async fn project_creators_are_admins_and_the_last_admin_stays() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let alice = app.add_user("alice", false, None).await;
    app.add_user("bob", false, None).await;
    let project = post_as(&app, &alice, "/api/v1/projects", json!({ "name": "mine" }))
        .await
        .id();
    let members = get_as(&app, &alice, &format!("/api/v1/projects/{project}/members")).await;
    assert_eq!(members.status, StatusCode::OK, "{}", members.body);
    let items = members.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", members.body);
    assert_eq!(items[0]["user"], "alice");
    assert_eq!(items[0]["role"], "admin");

    let member = |user: &str| format!("/api/v1/projects/{project}/members/{user}");
    let put = |user: &str, role: &str| {
        app.send(
            app.client
                .put(app.url(&member(user)))
                .bearer_auth(&alice)
                .json(&json!({ "role": role })),
        )
    };
    let delete = |user: &str| {
        app.send(
            app.client
                .delete(app.url(&member(user)))
                .bearer_auth(&alice),
        )
    };

    // The last admin can be neither removed nor demoted.
    let removed = delete("alice").await;
    assert_eq!(removed.status, StatusCode::CONFLICT, "{}", removed.body);
    assert!(
        removed.error_message().contains("last admin"),
        "{}",
        removed.body
    );
    let demoted = put("alice", "editor").await;
    assert_eq!(demoted.status, StatusCode::CONFLICT, "{}", demoted.body);
    // With a second admin, the first may go.
    assert_eq!(put("bob", "admin").await.status, StatusCode::OK);
    assert_eq!(delete("alice").await.status, StatusCode::NO_CONTENT);
    let gone = get_as(&app, &alice, &format!("/api/v1/projects/{project}")).await;
    assert_eq!(
        gone.status,
        StatusCode::NOT_FOUND,
        "no role left: {}",
        gone.body
    );
}

// ---------------------------------------------------------------- rate limits

async fn failed_logins_from_one_address_are_limited() {
    let app = TestApp::start_with_auth(|config| {
        config.auth.rate_limit.failed_logins_per_minute = 3;
    })
    .await;
    let key = app.add_user("alice", false, Some(ALICE_PASSWORD)).await;
    let path = "/api/v1/auth/whoami";
    for attempt in 1..=3 {
        let reply = get_basic(
            &app,
            "alice",
            &format!("guess {attempt} of the password"),
            path,
        )
        .await;
        assert_challenged(&reply, &format!("failed attempt {attempt}"));
    }
    let limited = get_basic(&app, "alice", "one guess too many", path).await;
    assert_rate_limited(&limited, "the 4th failed login within a minute");
    let login = app
        .post(
            "/api/v1/auth/login",
            json!({ "username": "alice", "password": "wrong again" }),
        )
        .await;
    assert_rate_limited(&login, "the login form from the same address");
    let mlflow = app
        .send(
            app.client
                .get(app.url("/api/2.0/mlflow/experiments/search"))
                .bearer_auth(WRONG_KEY),
        )
        .await;
    assert_rate_limited(&mlflow, "MLflow route");
    assert_mlflow_error(&mlflow, "REQUEST_LIMIT_EXCEEDED");
    // Valid credentials are not failed logins.
    assert_eq!(get_as(&app, &key, path).await.status, StatusCode::OK);
    assert!(counter(&app, r#"ets_rate_limited_total{kind="failed_login"}"#).await >= 3.0);
    // The audit trail holds the three failures before the limit (never the guessed secrets),
    // and none of the refusals after it.
    let admin = app.add_user("auditor", true, None).await;
    let trail = get_as(
        &app,
        &admin,
        "/api/v1/audit?action=login.failed&page_size=100",
    )
    .await;
    assert_eq!(trail.status, StatusCode::OK, "{}", trail.body);
    let records = trail.body["items"].as_array().expect("audit records");
    assert_eq!(records.len(), 3, "{}", trail.body);
    assert!(
        records.iter().all(|r| r["entity_id"] == "alice"),
        "{}",
        trail.body
    );
    assert!(!trail.body.to_string().contains("guess"), "{}", trail.body);
}

async fn each_principal_is_rate_limited() {
    let app = TestApp::start_with_auth(|config| {
        config.auth.rate_limit.requests_per_second = 1;
        config.auth.rate_limit.burst = 2;
    })
    .await;
    let alice = app.add_user("alice", false, None).await;
    let bob = app.add_user("bob", false, None).await;
    // Two at once is the burst; well within the second that refills one, a third is refused.
    let mut limited = None;
    for _ in 0..20 {
        let reply = get_as(&app, &alice, "/api/v1/auth/whoami").await;
        if reply.status != StatusCode::OK {
            limited = Some(reply);
            break;
        }
    }
    let limited = limited.expect("alice is limited to 1 request per second with a burst of 2");
    assert_rate_limited(&limited, "alice over her rate");
    let mlflow = get_as(&app, &alice, "/api/2.0/mlflow/experiments/search").await;
    assert_rate_limited(&mlflow, "alice over her rate, on MLflow's API");
    // Bob has a bucket of his own.
    assert_eq!(
        get_as(&app, &bob, "/api/v1/auth/whoami").await.status,
        StatusCode::OK
    );
    assert!(counter(&app, r#"ets_rate_limited_total{kind="principal"}"#).await >= 1.0);
}

// ---------------------------------------------------------------- browser sessions

/// Each refusal names the field to fix; nothing is created by a refused request.
async fn users_keys_and_members_refuse_bad_input() {
    let app = TestApp::start_with_auth(|_| {}).await;
    let root = app.add_user("root", true, None).await;
    let invalid = |reply: &Reply, field: &str, what: &str| {
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{what}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["details"]["field"], field,
            "{what}: {}",
            reply.body
        );
    };
    let users = "/api/v1/auth/users";
    for (name, what) in [
        ("bad name", "a space"),
        ("-dash", "a leading symbol"),
        ("", "empty"),
    ] {
        let reply = post_as(&app, &root, users, json!({ "name": name })).await;
        invalid(&reply, "name", what);
    }
    let short = post_as(
        &app,
        &root,
        users,
        json!({ "name": "ann", "password": "short" }),
    )
    .await;
    invalid(&short, "password", "a password under 12 characters");
    let service = post_as(
        &app,
        &root,
        users,
        json!({ "name": "robot", "kind": "service_account", "password": "a long enough password" }),
    )
    .await;
    invalid(&service, "password", "a service account with a password");
    let listed = get_as(&app, &root, users).await;
    let names: Vec<&str> = listed.body["items"]
        .as_array()
        .expect("users")
        .iter()
        .filter_map(|u| u["name"].as_str())
        .collect();
    assert_eq!(names, ["root"], "refused requests created nobody");

    let created = post_as(&app, &root, users, json!({ "name": "bea" })).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let again = post_as(&app, &root, users, json!({ "name": "bea" })).await;
    assert_eq!(
        again.status,
        StatusCode::CONFLICT,
        "a taken name: {}",
        again.body
    );

    let keys = "/api/v1/auth/keys";
    let zero = post_as(&app, &root, keys, json!({ "expires_in_days": 0 })).await;
    invalid(&zero, "expires_in_days", "a key that expires at once");
    let own = app
        .send(
            app.client
                .patch(app.url("/api/v1/auth/users/root"))
                .bearer_auth(&root)
                .json(&json!({ "disabled": true })),
        )
        .await;
    assert_eq!(
        own.status,
        StatusCode::CONFLICT,
        "disabling yourself: {}",
        own.body
    );

    let project = post_as(&app, &root, "/api/v1/projects", json!({ "name": "p" })).await;
    let role = app
        .send(
            app.client
                .put(app.url(&format!("/api/v1/projects/{}/members/bea", project.id())))
                .bearer_auth(&root)
                .json(&json!({ "role": "owner" })),
        )
        .await;
    assert_eq!(
        role.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown role: {}",
        role.body
    );
    let nobody = app
        .send(
            app.client
                .put(app.url(&format!("/api/v1/projects/{}/members/nobody", project.id())))
                .bearer_auth(&root)
                .json(&json!({ "role": "viewer" })),
        )
        .await;
    assert_eq!(
        nobody.status,
        StatusCode::NOT_FOUND,
        "an unknown user: {}",
        nobody.body
    );
}

/// Behind HTTPS (`server.hsts`), the session cookie is `Secure`.
async fn session_cookies_are_secure_behind_https() {
    let app = TestApp::start_with_auth(|config| config.server.hsts = true).await;
    app.add_user("alice", false, Some(ALICE_PASSWORD)).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            json!({ "username": "alice", "password": ALICE_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let set_cookie = header(&login, "set-cookie");
    assert!(
        set_cookie.split(';').map(str::trim).any(|a| a == "Secure"),
        "{set_cookie}"
    );
}

async fn browser_sessions_change_state_only_with_their_csrf_token() {
    let app = TestApp::start_with_auth(|_| {}).await;
    app.add_user("alice", false, Some(ALICE_PASSWORD)).await;
    let login = app
        .post(
            "/api/v1/auth/login",
            json!({ "username": "alice", "password": ALICE_PASSWORD }),
        )
        .await;
    assert_eq!(login.status, StatusCode::OK, "{}", login.body);
    let set_cookie = header(&login, "set-cookie").to_owned();
    let attributes: Vec<&str> = set_cookie.split(';').map(str::trim).collect();
    assert!(attributes[0].starts_with("ets_session="), "{set_cookie}");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(
            attributes.contains(&attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert!(
        !attributes.contains(&"Secure"),
        "plain HTTP without server.hsts: {set_cookie}"
    );
    let cookie = attributes[0].to_owned();
    let csrf = login.body["csrf_token"]
        .as_str()
        .expect("csrf_token")
        .to_owned();
    assert_eq!(login.body["user"]["name"], "alice");
    assert!(
        !login
            .body
            .to_string()
            .contains(cookie.trim_start_matches("ets_session="))
    );

    let with_cookie = |request: reqwest::RequestBuilder| request.header("cookie", &cookie);
    let whoami = app
        .send(with_cookie(app.client.get(app.url("/api/v1/auth/whoami"))))
        .await;
    assert_eq!(
        whoami.status,
        StatusCode::OK,
        "reads need no token: {}",
        whoami.body
    );
    assert_eq!(whoami.body["user"], "alice");

    let create = |token: Option<&str>, name: &str| {
        let mut request = with_cookie(app.client.post(app.url("/api/v1/projects")))
            .json(&json!({ "name": name }));
        if let Some(token) = token {
            request = request.header("x-csrf-token", token);
        }
        app.send(request)
    };
    let forged = create(None, "forged").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert!(
        forged.error_message().contains("x-csrf-token"),
        "{}",
        forged.body
    );
    let wrong = create(Some("not-the-token"), "forged").await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{}", wrong.body);
    let mlflow = app
        .send(
            with_cookie(
                app.client
                    .post(app.url("/api/2.0/mlflow/experiments/create")),
            )
            .json(&json!({ "name": "forged" })),
        )
        .await;
    assert_eq!(mlflow.status, StatusCode::FORBIDDEN, "{}", mlflow.body);
    let made = create(Some(&csrf), "made-in-the-browser").await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    assert_eq!(made.body["owner"], "alice");

    // Logging out ends the session (a state change too: it needs the token).
    let logout = app
        .send(
            with_cookie(app.client.post(app.url("/api/v1/auth/logout")))
                .header("x-csrf-token", &csrf),
        )
        .await;
    assert_eq!(logout.status, StatusCode::NO_CONTENT);
    let cleared = header(&logout, "set-cookie");
    assert!(
        cleared.starts_with("ets_session=;") && cleared.contains("Max-Age=0"),
        "{cleared}"
    );
    let after = app
        .send(with_cookie(app.client.get(app.url("/api/v1/auth/whoami"))))
        .await;
    assert_challenged(&after, "the session after logout");
}

// ---------------------------------------------------------------- the command line

/// The key `ets users create` / `ets keys create` printed: alone on the last line.
fn printed_key(output: &std::process::Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let last = stdout.lines().last().expect("output").to_owned();
    assert!(
        last.starts_with("ets_") && !last.contains(' '),
        "the last line is the key alone: {stdout}"
    );
    last
}

/// `ets` with the database of `db` given as the command line's own options.
fn ets_on(db: &TestDb, dir: &std::path::Path) -> std::process::Command {
    let mut command = ets();
    command.arg("--data-dir").arg(dir);
    if let Some(url) = db.url() {
        command.args(["--database-url", url]);
    }
    command
}

fn serve_with_auth(db: &TestDb, dir: &std::path::Path, level: &str) -> Served {
    let mut command = ets_on(db, dir);
    command
        .args(["serve", "--port", "0", "--metrics-port", "0"])
        .env("ETS_AUTH__ENABLED", "true")
        .env("ETS_SERVICES__MODEL_REGISTRY_URL", REGISTRY_URL)
        .env("ETS_LOG__LEVEL", level);
    Served::spawn(command).0
}

fn run_with_stdin(mut command: std::process::Command, stdin: &str) -> std::process::Output {
    use std::io::Write;
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("ets runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn cli_creates_users_and_keys_while_a_server_runs(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_auth(db, dir.path(), "info");
    let http = Http::new();
    let whoami = |key: &str| {
        http.call(
            http.inner
                .get(format!("{}/api/v1/auth/whoami", server.base))
                .bearer_auth(key),
        )
    };
    assert_eq!(whoami(WRONG_KEY).0, 401);

    let created = ets_on(db, dir.path())
        .args(["users", "create", "admin", "--admin"])
        .output()
        .unwrap();
    let admin_key = printed_key(&created);
    let stdout = String::from_utf8_lossy(&created.stdout);
    assert!(stdout.contains("password (shown once): "), "{stdout}");
    let (status, body) = whoami(&admin_key);
    assert_eq!(
        status, 200,
        "the running server accepts the new key: {body}"
    );
    assert_eq!(body["user"], "admin");
    assert_eq!(body["global_admin"], true);

    let second = printed_key(
        &ets_on(db, dir.path())
            .args([
                "keys",
                "create",
                "--user",
                "admin",
                "--name",
                "ci",
                "--expires",
                "30d",
            ])
            .output()
            .unwrap(),
    );
    assert_ne!(second, admin_key);
    assert_eq!(whoami(&second).0, 200);

    // A user whose password comes from standard input; not an admin.
    let mut command = ets_on(db, dir.path());
    command.args(["users", "create", "bob", "--password-stdin"]);
    let bob_key = printed_key(&run_with_stdin(command, "bob's long password\n"));
    let (status, body) = http.call(
        http.inner
            .get(format!("{}/api/v1/auth/whoami", server.base))
            .basic_auth("bob", Some("bob's long password")),
    );
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["global_admin"], false);
    let users = http.call(
        http.inner
            .get(format!("{}/api/v1/auth/users", server.base))
            .bearer_auth(&bob_key),
    );
    assert_eq!(users.0, 403, "{}", users.1);

    // Mistakes are named.
    let unknown = ets_on(db, dir.path())
        .args(["keys", "create", "--user", "nobody"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("nobody"));
    let duplicate = ets_on(db, dir.path())
        .args(["users", "create", "bob"])
        .output()
        .unwrap();
    assert!(!duplicate.status.success());
}

/// A whole sequence with known secrets: none of them reaches the log (at debug level),
/// `/info` or `ets config`.
fn secrets_never_appear_in_logs_info_or_config(db: &TestDb) {
    let dir = tempfile::tempdir().unwrap();
    let server = serve_with_auth(db, dir.path(), "debug");
    let http = Http::new();
    let url = |path: &str| format!("{}{path}", server.base);
    let password = "carol's password 1234";
    let wrong_password = "carol's wrong password 99";
    let mut command = ets_on(db, dir.path());
    command.args(["users", "create", "carol", "--admin", "--password-stdin"]);
    let key = printed_key(&run_with_stdin(command, &format!("{password}\n")));
    let mut secrets = vec![
        password.to_owned(),
        wrong_password.to_owned(),
        key.clone(),
        "registry-secret-81".to_owned(),
    ];

    let (status, created) = http.call(
        http.inner
            .post(url("/api/v1/auth/keys"))
            .basic_auth("carol", Some(password))
            .json(&json!({ "name": "second" })),
    );
    assert_eq!(status, 201, "{created}");
    let second = created["key"].as_str().unwrap().to_owned();
    secrets.push(second.clone());
    let (status, user) = http.call(
        http.inner
            .post(url("/api/v1/auth/users"))
            .bearer_auth(&second)
            .json(&json!({ "name": "dave" })),
    );
    assert_eq!(status, 201, "{user}");
    secrets.push(user["generated_password"].as_str().unwrap().to_owned());
    let (status, _) = http.call(
        http.inner
            .get(url("/api/2.0/mlflow/experiments/search"))
            .basic_auth("carol", Some(&key)),
    );
    assert_eq!(status, 200);
    let (status, _) = http.call(
        http.inner
            .get(url("/api/v1/projects"))
            .basic_auth("carol", Some(wrong_password)),
    );
    assert_eq!(status, 401);
    let (status, _) = http.call(
        http.inner
            .get(url("/api/v1/projects"))
            .bearer_auth(format!("{key}x")),
    );
    assert_eq!(status, 401);
    let response = http
        .runtime
        .block_on(
            http.inner
                .post(url("/api/v1/auth/login"))
                .json(&json!({ "username": "carol", "password": password }))
                .send(),
        )
        .unwrap();
    let cookie = response.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .to_owned();
    let session: Value = http.runtime.block_on(response.json()).unwrap();
    let token = cookie
        .split(';')
        .next()
        .unwrap()
        .trim_start_matches("ets_session=");
    let csrf = session["csrf_token"].as_str().unwrap().to_owned();
    secrets.push(token.to_owned());
    secrets.push(csrf.clone());
    let (status, _) = http.call(
        http.inner
            .post(url("/api/v1/projects"))
            .header("cookie", format!("ets_session={token}"))
            .header("x-csrf-token", &csrf)
            .json(&json!({ "name": "from-the-browser" })),
    );
    assert_eq!(status, 201);
    let (status, info) = http.get(&url("/info"));
    assert_eq!(status, 200);
    let (_, health) = http.get(&url("/health"));
    assert!(health["dependencies"][0]["url"].is_string(), "{health}");
    let info = format!("{info}{health}");

    let log = server.stop_and_read_log();
    assert!(log.contains("request"), "the log has the requests: {log}");
    assert!(
        log.contains("carol"),
        "request logs carry the principal: {log}"
    );
    let config = ets_on(db, dir.path())
        .env("ETS_AUTH__ENABLED", "true")
        .env("ETS_SERVICES__MODEL_REGISTRY_URL", REGISTRY_URL)
        .arg("config")
        .output()
        .unwrap();
    assert!(config.status.success());
    let config = String::from_utf8_lossy(&config.stdout);
    for secret in &secrets {
        // Keys are checked by their secret part (their id is public).
        let secret = if secret.starts_with("ets_") {
            key_secret(secret)
        } else {
            secret
        };
        assert!(!log.contains(secret), "the log shows a secret: {log}");
        assert!(
            !info.to_string().contains(secret),
            "/info shows a secret: {info}"
        );
        assert!(
            !config.contains(secret),
            "`ets config` shows a secret: {config}"
        );
    }
}
