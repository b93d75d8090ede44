//! Issue 11's browser-facing hardening, end to end: JSON routes refuse bodies not sent as JSON
//! (cross-site "simple" requests), unknown `Host` names are refused (DNS rebinding),
//! cross-origin writes are refused, artifacts are never served as pages, every response
//! carries the security headers, CORS never allows credentials with `*`, and the server does
//! not start anonymously beyond loopback.

mod common;

use common::{Reply, TestApp};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::json;

common::on_both_databases!(
    json_routes_refuse_bodies_not_sent_as_json,
    mlflow_routes_validate_the_content_type_as_mlflow_does,
    cross_origin_writes_are_refused_uploads_included,
    artifacts_are_downloaded_never_rendered,
);

const MLFLOW: &str = "/api/2.0/mlflow";

fn assert_native_error(reply: &Reply, status: StatusCode, code: &str) {
    assert_eq!(reply.status, status, "{}", reply.body);
    assert_eq!(reply.error_code(), code, "{}", reply.body);
}

/// POST `body` with `content_type` (none when `None`).
async fn post_typed(app: &TestApp, path: &str, body: &str, content_type: Option<&str>) -> Reply {
    let mut request = app.client.post(app.url(path)).body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    app.send(request).await
}

async fn project_names(app: &TestApp) -> Vec<String> {
    let reply = app.get("/api/v1/projects?limit=1000").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .collect()
}

/// An MLflow experiment named `name` and a run in it: (experiment, run).
async fn mlflow_run(app: &TestApp, name: &str) -> (String, String) {
    let created = app
        .post(
            &format!("{MLFLOW}/experiments/create"),
            json!({ "name": name }),
        )
        .await;
    let experiment = created.body["experiment_id"].as_str().unwrap().to_owned();
    let created = app
        .post(
            &format!("{MLFLOW}/runs/create"),
            json!({ "experiment_id": experiment }),
        )
        .await;
    let run = created.body["run"]["info"]["run_id"].as_str().unwrap();
    (experiment, run.to_owned())
}

// ---------------------------------------------------------------- cross-site requests

/// A page of another site can send `text/plain`, a form's types or nothing without a CORS
/// preflight, but not JSON: no native JSON route acts on such a body (415).
async fn json_routes_refuse_bodies_not_sent_as_json() {
    let app = TestApp::start().await;
    let before = project_names(&app).await;
    let body = r#"{"name": "csrf"}"#;
    for content_type in [
        Some("text/plain"),
        Some("text/plain; charset=utf-8"),
        Some("application/x-www-form-urlencoded"),
        Some("multipart/form-data; boundary=x"),
        Some("text/json"),
        None,
    ] {
        let reply = post_typed(&app, "/api/v1/projects", body, content_type).await;
        assert_native_error(
            &reply,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        );
        assert!(
            reply.error_message().contains("application/json"),
            "{content_type:?}: {}",
            reply.body
        );
    }
    assert_eq!(project_names(&app).await, before, "nothing was created");

    // JSON with parameters and +json types are JSON.
    for (name, content_type) in [
        ("charset", "application/json; charset=utf-8"),
        ("suffix", "application/vnd.ets+json"),
    ] {
        let reply = post_typed(
            &app,
            "/api/v1/projects",
            &json!({ "name": name }).to_string(),
            Some(content_type),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }

    // A bodyless call may come without a type (`curl -X POST`), but an empty body typed as a
    // form's (an empty cross-site form) is refused like any other.
    let (_, _, run) = app.create_hierarchy().await;
    let finish = format!("/api/v1/runs/{run}/finish");
    let reply = post_typed(&app, &finish, "", Some("text/plain")).await;
    assert_native_error(
        &reply,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
    );
    assert_eq!(
        app.get(&format!("/api/v1/runs/{run}")).await.body["status"],
        "running"
    );
    let reply = app.send(app.client.post(app.url(&finish))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["status"], "finished");

    // GETs carry no body and need no type.
    assert_eq!(app.get("/api/v1/projects").await.status, StatusCode::OK);
}

/// The issue's attack: `runs/delete` sent as `text/plain` from any origin deleted the run.
/// ETS answers as MLflow's `_validate_content_type` does (400 `INVALID_PARAMETER_VALUE`).
async fn mlflow_routes_validate_the_content_type_as_mlflow_does() {
    let app = TestApp::start().await;
    let (_, run) = mlflow_run(&app, "csrf-target").await;
    let delete = json!({ "run_id": run }).to_string();
    for (content_type, message) in [
        (
            Some("text/plain"),
            "Bad Request. Content-Type must be one of ['application/json'].",
        ),
        (
            Some("application/x-www-form-urlencoded"),
            "Bad Request. Content-Type must be one of ['application/json'].",
        ),
        (None, "Bad Request. Content-Type header is missing."),
    ] {
        for prefix in [MLFLOW, "/ajax-api/2.0/mlflow"] {
            let reply = post_typed(
                &app,
                &format!("{prefix}/runs/delete"),
                &delete,
                content_type,
            )
            .await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
            assert_eq!(reply.body["error_code"], "INVALID_PARAMETER_VALUE");
            assert_eq!(reply.body["message"], message);
        }
    }
    let get = app.get(&format!("{MLFLOW}/runs/get?run_id={run}")).await;
    assert_eq!(
        get.body["run"]["info"]["lifecycle_stage"], "active",
        "the run survived: {}",
        get.body
    );
    let reply = post_typed(
        &app,
        &format!("{MLFLOW}/runs/delete"),
        &delete,
        Some("application/json; charset=utf-8"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let get = app.get(&format!("{MLFLOW}/runs/get?run_id={run}")).await;
    assert_eq!(get.body["run"]["info"]["lifecycle_stage"], "deleted");
}

/// A state change a browser sends from another origin is refused (403) unless the origin is
/// allowed, including the uploads that a cross-site form can send (multipart, raw body);
/// reads pass (CORS keeps their answers from the page), and so do same-origin writes and
/// programs (no `Origin`).
async fn cross_origin_writes_are_refused_uploads_included() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let evil = "https://evil.example";
    let upload = app.url(&format!("/api/v1/runs/{run}/artifacts"));
    let form = || {
        reqwest::multipart::Form::new().part(
            "file",
            reqwest::multipart::Part::bytes(b"<script>alert(1)</script>".to_vec())
                .file_name("planted.html"),
        )
    };
    let attempts = [
        app.client
            .post(&upload)
            .header("origin", evil)
            .multipart(form()),
        app.client
            .post(format!("{upload}?path=planted.txt"))
            .header("origin", evil)
            .header("content-type", "text/plain")
            .body("x"),
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/finish")))
            .header("origin", evil),
        app.client
            .post(app.url("/api/v1/projects"))
            .header("origin", "null")
            .json(&json!({ "name": "from-a-sandbox" })),
        // No Origin, but the browser says the request is cross-site.
        app.client
            .post(format!("{upload}?path=planted.bin"))
            .header("sec-fetch-site", "cross-site")
            .body("x"),
    ];
    for attempt in attempts {
        let reply = app.send(attempt).await;
        assert_native_error(&reply, StatusCode::FORBIDDEN, "cross_origin_refused");
        assert!(
            reply.error_message().contains("cors.allowed_origins"),
            "{}",
            reply.body
        );
    }
    let reply = app
        .send(
            app.client
                .post(app.url(&format!("{MLFLOW}/runs/delete")))
                .header("origin", evil)
                .json(&json!({ "run_id": run })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
    assert_eq!(reply.body["error_code"], "PERMISSION_DENIED");

    let listed = app.get(&format!("/api/v1/runs/{run}/artifacts")).await;
    assert_eq!(listed.body["items"], json!([]), "nothing was stored");
    assert_eq!(
        app.get(&format!("/api/v1/runs/{run}")).await.body["status"],
        "running"
    );

    // Reads pass; same-origin and allowed-origin writes pass.
    let read = app
        .send(
            app.client
                .get(app.url("/api/v1/projects"))
                .header("origin", evil),
        )
        .await;
    assert_eq!(read.status, StatusCode::OK);
    let own_origin = app.base.clone();
    let reply = app
        .send(
            app.client
                .post(format!("{upload}?path=ok.txt"))
                .header("origin", &own_origin)
                .header("sec-fetch-site", "same-origin")
                .body("ok"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    let allowed = TestApp::start_with(|c| {
        c.cors.allowed_origins = vec!["https://ml.example.org".into()];
    })
    .await;
    let reply = allowed
        .send(
            allowed
                .client
                .post(allowed.url("/api/v1/projects"))
                .header("origin", "https://ml.example.org")
                .json(&json!({ "name": "from-the-ui" })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://ml.example.org"
    );
}

// ---------------------------------------------------------------- artifacts

/// Active content uploaded through either API comes back with `nosniff`, a sandboxing CSP and
/// as an attachment from every download route; a PNG may still be shown inline.
async fn artifacts_are_downloaded_never_rendered() {
    let app = TestApp::start().await;
    let (experiment, run) = mlflow_run(&app, "xss").await;
    let proxy = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts");
    let html = b"<html><script>fetch('/api/v1/projects')</script></html>".to_vec();
    let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>".to_vec();
    let uploads = [
        // (path, content type, through the native API?)
        ("native/x.html", "text/html", true),
        ("native/x.svg", "image/svg+xml", true),
        ("mlflow/x.html", "text/html", false),
        ("mlflow/x.svg", "image/svg+xml", false),
    ];
    for (path, content_type, native) in uploads {
        let content = if path.ends_with("html") { &html } else { &svg };
        let request = if native {
            app.client
                .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path={path}")))
        } else {
            app.client.put(app.url(&format!("{proxy}/{path}")))
        };
        let reply = app
            .send(
                request
                    .header("content-type", content_type)
                    .body(content.clone()),
            )
            .await;
        assert!(reply.status.is_success(), "{path}: {}", reply.body);
    }
    // A multipart upload names its own type too.
    let form = reqwest::multipart::Form::new()
        .text("path", "form/x.html")
        .part(
            "file",
            reqwest::multipart::Part::bytes(html.clone())
                .file_name("x.html")
                .mime_str("text/html")
                .unwrap(),
        );
    let reply = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/runs/{run}/artifacts")))
                .multipart(form),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    for (path, _, _) in uploads.iter().chain([&("form/x.html", "text/html", true)]) {
        let file_name = path.rsplit('/').next().unwrap();
        for route in [
            format!("/api/v1/runs/{run}/artifacts/{path}"),
            format!("{proxy}/{path}"),
            format!("/get-artifact?run_id={run}&path={path}"),
        ] {
            let response = app.client.get(app.url(&route)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{route}");
            let headers = response.headers();
            assert_download_protected(headers, &route);
            let disposition = headers["content-disposition"].to_str().unwrap();
            assert!(
                disposition.starts_with("attachment;") && disposition.contains(file_name),
                "{route}: {disposition}"
            );
        }
    }

    // A PNG is no page: shown inline by the native routes, still without sniffing.
    let png = vec![0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    let reply = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path=plot.png")))
                .header("content-type", "image/png")
                .body(png),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    for route in [
        format!("/api/v1/runs/{run}/artifacts/plot.png"),
        format!("{proxy}/plot.png"),
    ] {
        let response = app.client.get(app.url(&route)).send().await.unwrap();
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_download_protected(response.headers(), &route);
        assert!(
            !response.headers().contains_key("content-disposition"),
            "{route}"
        );
    }
}

fn assert_download_protected(headers: &HeaderMap, route: &str) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{route}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("sandbox") && csp.contains("default-src 'none'"),
        "{route}: {csp}"
    );
}

// ---------------------------------------------------------------- hosts

/// DNS rebinding: a request naming a foreign host is refused (403 naming the setting) on both
/// APIs; IP addresses, `localhost` and configured names are served; probes are exempt.
#[tokio::test]
async fn unknown_host_names_are_refused() {
    let app = TestApp::start().await;
    let port = app.server.addr.port();
    let with_host = |path: &str, host: &str| {
        app.client
            .get(app.url(path))
            .header("host", host.to_owned())
    };
    for host in [
        "evil.example",
        &format!("evil.example:{port}"),
        "127.0.0.1.nip.io",
    ] {
        let reply = app.send(with_host("/api/v1/projects", host)).await;
        assert_native_error(&reply, StatusCode::FORBIDDEN, "host_not_allowed");
        assert!(
            reply.error_message().contains("server.allowed_hosts"),
            "{}",
            reply.body
        );
        let reply = app
            .send(with_host(&format!("{MLFLOW}/experiments/search"), host))
            .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        assert_eq!(reply.body["error_code"], "PERMISSION_DENIED");
        assert!(
            reply.body["message"]
                .as_str()
                .unwrap()
                .contains("server.allowed_hosts")
        );
        let probe = app.send(with_host("/health/live", host)).await;
        assert_eq!(probe.status, StatusCode::OK, "probes are exempt");
    }
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "localhost".to_owned(),
        format!("[::1]:{port}"),
        "192.168.1.20".to_owned(),
    ] {
        let reply = app.send(with_host("/api/v1/projects", &host)).await;
        assert_eq!(reply.status, StatusCode::OK, "{host}: {}", reply.body);
    }

    let named = TestApp::start_with(|c| {
        c.server.allowed_hosts = vec!["ets.example.org".into(), "*.ml.example.org".into()];
    })
    .await;
    for (host, status) in [
        ("ets.example.org", StatusCode::OK),
        ("ETS.example.org:8443", StatusCode::OK),
        ("a.ml.example.org", StatusCode::OK),
        ("evil.example", StatusCode::FORBIDDEN),
    ] {
        let reply = named
            .send(
                named
                    .client
                    .get(named.url("/api/v1/projects"))
                    .header("host", host),
            )
            .await;
        assert_eq!(reply.status, status, "{host}");
    }
    let any = TestApp::start_with(|c| c.server.allowed_hosts = vec!["*".into()]).await;
    let reply = any
        .send(
            any.client
                .get(any.url("/api/v1/projects"))
                .header("host", "evil.example"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "`*` accepts any name");
}

// ---------------------------------------------------------------- headers

fn assert_security_headers(headers: &HeaderMap, what: &str) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{what}");
    assert_eq!(headers["referrer-policy"], "no-referrer", "{what}");
    assert_eq!(headers["x-frame-options"], "DENY", "{what}");
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'"), "{what}: {csp}");
}

/// Every answer (success, error, refusal, docs) carries the security headers; HTML gets a
/// CSP that lets the Swagger UI load its own scripts and styles and nothing else; HSTS only
/// when configured.
#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let app = TestApp::start().await;
    for (path, status) in [
        ("/health", StatusCode::OK),
        ("/api/v1/projects", StatusCode::OK),
        ("/openapi.json", StatusCode::OK),
        ("/api/v1/nope", StatusCode::NOT_FOUND),
        ("/api/v1/runs/0123", StatusCode::NOT_FOUND),
        ("/api/2.0/mlflow/runs/get?run_id=x", StatusCode::NOT_FOUND),
    ] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), status, "{path}");
        assert_security_headers(response.headers(), path);
        assert_eq!(
            response.headers()["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'",
            "{path}"
        );
        assert!(
            !response.headers().contains_key("strict-transport-security"),
            "{path}"
        );
    }
    let metrics = app
        .client
        .get(format!("{}/metrics", app.metrics_base))
        .send()
        .await
        .unwrap();
    assert_security_headers(metrics.headers(), "/metrics");
    let refused = app
        .client
        .post(app.url("/api/v1/projects"))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_security_headers(refused.headers(), "a refusal");

    // The Swagger UI: its page, scripts and styles come from /docs/ itself, no inline script
    // or style, so `script-src 'self'; style-src 'self'` is all it needs.
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert_security_headers(page.headers(), "/docs/");
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    for directive in [
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    let html = page.text().await.unwrap();
    let mut assets = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        for piece in html.split(attribute).skip(1) {
            assets.push(
                piece
                    .split('"')
                    .next()
                    .unwrap()
                    .trim_start_matches("./")
                    .to_owned(),
            );
        }
    }
    assert!(assets.iter().any(|a| a.ends_with(".js")), "{html}");
    for asset in &assets {
        assert!(!asset.contains("//"), "loaded from elsewhere: {asset}");
        let response = app
            .client
            .get(app.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
    }
    let scripts = html.matches("<script").count();
    let external = html.matches("<script src=").count();
    assert_eq!(scripts, external, "no inline script: {html}");
    assert!(
        !html.contains("<style") && !html.contains(" style="),
        "{html}"
    );

    let hsts = TestApp::start_with(|c| c.server.hsts = true).await;
    let response = hsts.client.get(hsts.url("/health")).send().await.unwrap();
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
}

// ---------------------------------------------------------------- CORS

/// A preflight with `*` allows any origin but never credentials; listed origins may get
/// credentials (when configured), others get no CORS answer at all.
#[tokio::test]
async fn cors_never_allows_credentials_with_any_origin() {
    let preflight = |app: &TestApp, origin: &str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/v1/projects"))
            .header("origin", origin.to_owned())
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, authorization",
            )
            .send()
    };
    let any = TestApp::start_with(|c| c.cors.allowed_origins = vec!["*".into()]).await;
    let response = preflight(&any, "https://anywhere.example").await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-credentials")
    );
    assert_security_headers(response.headers(), "a preflight");

    let listed = TestApp::start_with(|c| {
        c.cors.allowed_origins = vec!["https://ml.example.org".into()];
        c.cors.allow_credentials = true;
    })
    .await;
    let response = preflight(&listed, "https://ml.example.org").await.unwrap();
    let headers = response.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://ml.example.org"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let allowed_headers = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization"),
        "{allowed_headers}"
    );
    let response = preflight(&listed, "https://evil.example").await.unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin"),
        "a foreign origin gets no CORS answer"
    );

    // Credentials by default: off.
    let plain = TestApp::start_with(|c| {
        c.cors.allowed_origins = vec!["https://ml.example.org".into()];
    })
    .await;
    let response = preflight(&plain, "https://ml.example.org").await.unwrap();
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-credentials")
    );
}

// ---------------------------------------------------------------- start-up

/// Servers started in-process go through the same check as the binary: anonymous serving
/// beyond loopback needs consent.
#[tokio::test]
async fn anonymous_serving_beyond_loopback_needs_consent_in_process() {
    ets::install_crypto_provider();
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.host = "0.0.0.0".into();
    let refusal = ets::server::start(config.clone())
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        refusal.contains("auth.enabled") && refusal.contains("--allow-anonymous"),
        "{refusal}"
    );
    assert!(
        !dir.path().join("ets.db").exists(),
        "refused before anything was opened"
    );
    config.auth.allow_anonymous = true;
    let server = ets::server::start(config).await.expect("consent given");
    assert!(server.addr.ip().is_unspecified());
    server.stop().await.unwrap();
}
