//! The web UI in a real headless Chromium: `tests/ui/journey.mjs` walks a user through every
//! page of a running server (data made through the API; filter, sort, open, compare, download,
//! a live run gaining points), with axe-core on every page and no request leaving the origin.
//! Tools: `tests/ui/setup.sh` (run by the test command; in CI they must be there).
//! `UPDATE_README_IMAGES=1` copies the screenshots it takes into `docs/images/`.

mod common;

use std::path::Path;

use common::TestApp;

/// The screenshots the README shows.
const README_SCREENSHOTS: [&str; 3] = ["ui-runs.png", "ui-run.png", "ui-compare.png"];

fn tools_dir() -> Option<std::path::PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/ui");
    let chromium =
        std::env::var_os("CHROMIUM").is_some() || Path::new("/usr/bin/chromium").exists();
    let ready = chromium
        && dir.join("node_modules/playwright-core").exists()
        && dir.join("node_modules/axe-core").exists();
    if ready {
        return Some(dir);
    }
    assert!(
        !common::in_ci(),
        "CI: the web UI checks must be installed (tests/ui/setup.sh)"
    );
    eprintln!("skipping the web UI journeys: run tests/ui/setup.sh");
    None
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_works_in_chromium_and_passes_axe() {
    let Some(dir) = tools_dir() else { return };
    let app = TestApp::start().await;
    let out = tempfile::tempdir().expect("temp dir");
    let output = tokio::process::Command::new("node")
        .arg("journey.mjs")
        .arg(app.url(""))
        .arg(out.path())
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    println!("{stdout}");
    assert!(
        output.status.success(),
        "the UI journeys failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for name in README_SCREENSHOTS {
        let shot = out.path().join(name);
        let bytes = std::fs::read(&shot).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            bytes.len() > 10_000,
            "{name} looks empty ({} bytes)",
            bytes.len()
        );
        if std::env::var_os("UPDATE_README_IMAGES").is_some() {
            let target = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs/images")
                .join(name);
            std::fs::copy(&shot, &target).expect("copy the screenshot");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_authentication_the_ui_asks_for_a_login_and_shows_only_what_the_user_may_see() {
    let Some(dir) = tools_dir() else { return };
    let app = TestApp::start_with_auth(|_| {}).await;
    let root = app.add_user("root", true, None).await;
    app.add_user("alice", false, Some("alice's long password"))
        .await;
    let mut projects = Vec::new();
    for name in ["alice-can-see", "alice-cannot-see"] {
        let created = app
            .send(
                app.client
                    .post(app.url("/api/v1/projects"))
                    .bearer_auth(&root)
                    .json(&serde_json::json!({ "name": name })),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        projects.push(created.id());
    }
    let member = app
        .send(
            app.client
                .put(app.url(&format!("/api/v1/projects/{}/members/alice", projects[0])))
                .bearer_auth(&root)
                .json(&serde_json::json!({ "role": "viewer" })),
        )
        .await;
    assert!(member.status.is_success(), "{}", member.body);
    let output = tokio::process::Command::new("node")
        .args([
            "login.mjs",
            &app.url(""),
            "alice",
            "alice's long password",
            "alice-can-see",
            "alice-cannot-see",
        ])
        .current_dir(&dir)
        .output()
        .await
        .expect("node runs");
    assert!(
        output.status.success(),
        "the login journey failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_a_strict_csp_and_revalidated() {
    let app = TestApp::start().await;
    let page = app.client.get(app.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");
    let csp = headers["content-security-policy"].to_str().expect("ascii");
    assert!(
        csp.contains("script-src 'self'") && csp.contains("connect-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    let html = page.text().await.expect("body");
    assert!(html.contains("/ui/app.js"), "{html}");

    let script = app
        .client
        .get(app.url("/ui/app.js"))
        .send()
        .await
        .expect("GET app.js");
    assert_eq!(script.status(), 200);
    assert_eq!(
        script.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    let etag = script.headers()["etag"].clone();
    let again = app
        .client
        .get(app.url("/ui/app.js"))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("GET app.js again");
    assert_eq!(again.status(), 304, "an unchanged file is not sent again");

    let compressed = app
        .client
        .get(app.url("/ui/vendor/uPlot.iife.min.js"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("GET uPlot");
    assert_eq!(compressed.headers()["content-encoding"], "gzip");

    let missing = app
        .client
        .get(app.url("/ui/nope.js"))
        .send()
        .await
        .expect("GET a missing file");
    assert_eq!(missing.status(), 404);
    let escape = app
        .client
        .get(app.url("/ui/..%2f..%2fCargo.toml"))
        .send()
        .await
        .expect("GET outside the UI");
    assert_eq!(
        escape.status(),
        404,
        "nothing outside the UI folder is served"
    );
}
