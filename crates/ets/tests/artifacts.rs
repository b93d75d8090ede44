//! Artifacts end to end, every test against both storage backends: the local folder, and a
//! real S3-compatible server (`moto_server`, started on loopback by `scripts/test`, found
//! through `S3_TEST_ENDPOINT`). Uploads (raw, multipart form, resumable in parts, MLflow's
//! proxy), downloads (ranges, ETags), listings, deletion, hostile paths, size limits,
//! checksums, clients that go away, soft and permanent run deletion, and `ets gc`.

mod common;

use std::time::Duration;

use common::{Backend, RawReply, Reply, TestApp, raw_http};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use reqwest::multipart::{Form, Part};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

// ---------------------------------------------------------------- helpers

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Deterministic bytes that differ between seeds.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed) ^ ((i >> 8) as u8))
        .collect()
}

/// A raw response, for downloads and multipart uploads.
struct Raw {
    status: StatusCode,
    headers: HeaderMap,
    bytes: Vec<u8>,
}

impl Raw {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

async fn send_raw(request: reqwest::RequestBuilder) -> Raw {
    let response = request.send().await.expect("request sent");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body read").to_vec();
    Raw {
        status,
        headers,
        bytes,
    }
}

async fn start(backend: Backend) -> Option<TestApp> {
    TestApp::start_on(backend, |_| {}).await
}

async fn upload_raw(app: &TestApp, run: &str, path: &str, content: &[u8]) -> Reply {
    app.post_raw(
        &format!("/api/v1/runs/{run}/artifacts?path={path}"),
        content.to_vec(),
        "text/plain",
    )
    .await
}

async fn upload_with_headers(
    app: &TestApp,
    run: &str,
    path: &str,
    content: &[u8],
    headers: &[(&str, String)],
) -> Raw {
    let mut request = app
        .client
        .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path={path}")))
        .body(content.to_vec());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    send_raw(request).await
}

async fn upload_multipart(app: &TestApp, run: &str, query: &str, form: Form) -> Raw {
    send_raw(
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/artifacts{query}")))
            .multipart(form),
    )
    .await
}

async fn download(app: &TestApp, run: &str, path: &str) -> Raw {
    download_with(app, run, path, &[]).await
}

async fn download_with(app: &TestApp, run: &str, path: &str, headers: &[(&str, &str)]) -> Raw {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v1/runs/{run}/artifacts/{path}")));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send_raw(request).await
}

async fn artifact_paths(app: &TestApp, run: &str, query: &str) -> Vec<String> {
    let reply = app
        .get(&format!("/api/v1/runs/{run}/artifacts{query}"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["path"].as_str().expect("path").to_owned())
        .collect()
}

/// The stored objects of a run's artifacts.
async fn run_objects(app: &TestApp, run: &str) -> Vec<String> {
    let prefix = format!("runs/{run}/");
    app.stored_keys()
        .await
        .into_iter()
        .filter(|k| k.starts_with(&prefix) || k.contains(&format!(" {prefix}")))
        .collect()
}

/// Storage holds exactly one object per listed artifact of `run`, and nothing unfinished.
async fn assert_stored_matches_listing(app: &TestApp, run: &str) {
    let listed = artifact_paths(app, run, "").await;
    let objects = run_objects(app, run).await;
    assert!(
        !objects
            .iter()
            .any(|k| k.starts_with("(unfinished)") || k.contains('#')),
        "unfinished writes remain: {objects:?}"
    );
    assert_eq!(
        objects.len(),
        listed.len(),
        "objects {objects:?} for artifacts {listed:?}"
    );
}

/// Waits (up to 10 s) until `check` holds: background cleanups run after the response.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut last = String::new();
    for _ in 0..100 {
        match check().await {
            Ok(()) => return,
            Err(e) => last = e,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: {last}");
}

/// Nothing but housekeeping files in storage: no object of any run, no upload, no part.
async fn assert_storage_empty(app: &TestApp) {
    eventually("storage is empty", || async {
        let keys = app.stored_keys().await;
        if keys.is_empty() {
            Ok(())
        } else {
            Err(format!("stored: {keys:?}"))
        }
    })
    .await;
}

fn assert_bad_path(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{what}: {body}");
    assert_eq!(body["error"]["code"], "invalid_path", "{what}: {body}");
    assert_eq!(body["error"]["details"]["field"], "path", "{what}: {body}");
}

/// Runs each scenario on both databases and both artifact backends (the local folder and
/// S3): `<database>::<backend>::<name>`, e.g. `postgres::s3::resumable_upload_in_parts`; and
/// each local-only test on both databases (`<database>::<name>`).
macro_rules! on_both_backends {
    ([$($name:ident),* $(,)?], local_only: [$($local:ident),* $(,)?] $(,)?) => {
        on_both_backends!(@database sqlite, Sqlite, [$($name),*], [$($local),*]);
        on_both_backends!(@database postgres, Postgres, [$($name),*], [$($local),*]);
    };
    (@database $module:ident, $database:ident, [$($name:ident),*], [$($local:ident),*]) => {
        mod $module {
            use crate::common::{Database, on_database};
            mod local {
                use crate::common::{Backend, Database, on_database};
                $(
                    #[tokio::test]
                    async fn $name() {
                        on_database(Database::$database, super::super::$name(Backend::Local))
                            .await;
                    }
                )*
            }
            mod s3 {
                use crate::common::{Backend, Database, on_database};
                $(
                    #[tokio::test]
                    async fn $name() {
                        on_database(Database::$database, super::super::$name(Backend::S3)).await;
                    }
                )*
            }
            $(
                #[tokio::test]
                async fn $local() {
                    on_database(Database::$database, super::$local()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    [
        raw_upload_then_download_returns_the_exact_bytes,
        sha256_of_a_known_string_and_an_empty_file,
        multipart_upload_uses_the_path_field_or_the_file_name,
        list_artifacts_with_and_without_prefix,
        hostile_paths_are_400_and_store_nothing,
        artifact_over_the_size_limit_is_413_and_keeps_nothing,
        oversized_upload_is_refused_without_reading_the_rest,
        uploading_to_an_unknown_run_is_404,
        uploading_to_the_same_path_replaces_the_content_and_its_object,
        concurrent_uploads_of_one_path_leave_matching_bytes_and_record,
        checksums_are_verified_and_a_mismatch_keeps_nothing,
        range_and_conditional_downloads,
        content_types_are_recorded,
        delete_an_artifact_or_a_folder,
        client_that_disconnects_mid_upload_leaves_nothing,
        large_upload_streams_through_in_parts,
        resumable_upload_in_parts,
        resumable_upload_refusals,
        mlflow_proxy_uploads_downloads_and_multipart,
        mlflow_proxy_stores_files_outside_runs,
        soft_deleted_run_keeps_artifacts_and_permanent_delete_removes_them,
        gc_removes_old_trash_expired_uploads_and_orphans,
        readiness_checks_the_artifact_store,
    ],
    local_only: [local_store_does_not_follow_symbolic_links],
);

// ---------------------------------------------------------------- uploads and downloads

async fn raw_upload_then_download_returns_the_exact_bytes(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    let content = b"hello artifact\n";
    let reply = upload_raw(&app, &run, "dir/a.txt", content).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let sha = sha256_hex(content);
    assert_eq!(reply.body["path"], "dir/a.txt");
    assert_eq!(reply.body["size"], content.len());
    assert_eq!(reply.body["sha256"], sha.as_str());
    assert_eq!(reply.body["content_type"], "text/plain");
    assert!(reply.body["created_at"].is_string());

    let got = download(&app, &run, "dir/a.txt").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.bytes, content);
    assert_eq!(got.header("etag"), format!("\"{sha}\""));
    assert_eq!(got.header("content-type"), "text/plain");
    assert_eq!(got.header("content-length"), content.len().to_string());
    assert_eq!(got.header("accept-ranges"), "bytes");
    assert!(got.header("last-modified").ends_with("GMT"));

    // The bytes are one object under the run's prefix.
    let objects = run_objects(&app, &run).await;
    assert_eq!(objects.len(), 1, "{objects:?}");
    if backend == Backend::Local {
        let file = app.server.services.config.artifacts_dir().join(&objects[0]);
        assert_eq!(std::fs::read(file).unwrap(), content);
    }
    assert_eq!(app.stored_keys().await, objects, "nothing else is stored");

    let missing = download(&app, &run, "dir/b.txt").await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.json()["error"]["code"], "not_found");
}

async fn sha256_of_a_known_string_and_an_empty_file(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    let reply = upload_raw(&app, &run, "abc.txt", b"abc").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(
        reply.body["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(reply.body["size"], 3);

    let reply = upload_raw(&app, &run, "empty.txt", b"").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["size"], 0);
    assert_eq!(
        reply.body["sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let got = download(&app, &run, "empty.txt").await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.bytes.is_empty());
    assert_eq!(got.header("content-length"), "0");
    assert_stored_matches_listing(&app, &run).await;
}

async fn multipart_upload_uses_the_path_field_or_the_file_name(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    let content = vec![0_u8, 1, 2, 3, 254, 255];
    let file = || {
        Part::bytes(content.clone())
            .file_name("weights.bin")
            .mime_str("application/x-weights")
            .unwrap()
    };

    // An explicit path.
    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new()
            .text("path", "models/best.bin")
            .part("file", file()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let body = reply.json();
    assert_eq!(body["path"], "models/best.bin");
    assert_eq!(body["size"], content.len());
    assert_eq!(body["sha256"], sha256_hex(&content).as_str());
    assert_eq!(body["content_type"], "application/x-weights");

    // A folder path: the file keeps its own name (the path field may follow the file).
    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new()
            .part("file", file())
            .text("path", "ckpt/epoch-1/"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    assert_eq!(reply.json()["path"], "ckpt/epoch-1/weights.bin");

    // No path at all: the file name.
    let reply = upload_multipart(&app, &run, "", Form::new().part("file", file())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    assert_eq!(reply.json()["path"], "weights.bin");

    // The path may also come from the query string.
    let reply = upload_multipart(&app, &run, "?path=q/", Form::new().part("file", file())).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    assert_eq!(reply.json()["path"], "q/weights.bin");

    for path in [
        "models/best.bin",
        "ckpt/epoch-1/weights.bin",
        "weights.bin",
        "q/weights.bin",
    ] {
        let got = download(&app, &run, path).await;
        assert_eq!(got.status, StatusCode::OK, "{path}");
        assert_eq!(got.bytes, content, "{path}");
        assert_eq!(got.header("content-type"), "application/x-weights");
    }

    // A form without a file field is refused.
    let reply = upload_multipart(&app, &run, "", Form::new().text("path", "x.bin")).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reply.json()
    );
    assert_eq!(reply.json()["error"]["details"]["field"], "file");
    // So is an unknown field, and the file before it is not kept.
    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new().part("file", file()).text("extra", "x"),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reply.json()
    );
    assert_eq!(reply.json()["error"]["details"]["field"], "extra");
    // Two files in one form are refused, and neither is kept.
    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new()
            .part("file", Part::bytes(b"one".to_vec()).file_name("one.txt"))
            .part("file", Part::bytes(b"two".to_vec()).file_name("two.txt")),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{:?}",
        reply.json()
    );
    assert_eq!(reply.json()["error"]["details"]["field"], "file");

    assert_eq!(artifact_paths(&app, &run, "").await.len(), 4);
    assert_stored_matches_listing(&app, &run).await;
}

async fn list_artifacts_with_and_without_prefix(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    for path in ["dir/sub/c.txt", "a.txt", "dirx/d.txt", "dir/b.txt"] {
        let reply = upload_raw(&app, &run, path, path.as_bytes()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    assert_eq!(
        artifact_paths(&app, &run, "").await,
        vec!["a.txt", "dir/b.txt", "dir/sub/c.txt", "dirx/d.txt"]
    );
    assert_eq!(
        artifact_paths(&app, &run, "?prefix=dir/").await,
        vec!["dir/b.txt", "dir/sub/c.txt"]
    );
    assert_eq!(
        artifact_paths(&app, &run, "?prefix=dir").await,
        vec!["dir/b.txt", "dir/sub/c.txt", "dirx/d.txt"]
    );
    assert!(artifact_paths(&app, &run, "?prefix=zzz").await.is_empty());

    let reply = app.get(&format!("/api/v1/runs/{run}/artifacts")).await;
    let first = &reply.body["items"][0];
    assert_eq!(first["size"], 5);
    assert_eq!(first["sha256"], sha256_hex(b"a.txt").as_str());
    assert_eq!(first["content_type"], "text/plain");
    assert_stored_matches_listing(&app, &run).await;
}

/// A request sent byte for byte, with `Connection: close`.
async fn raw_request(app: &TestApp, method: &str, target: &str, body: &[u8]) -> (u16, Value) {
    let mut request = format!(
        "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    let RawReply { status, text } = raw_http(app.server.addr, &request).await;
    let json = text
        .split_once("\r\n\r\n")
        .and_then(|(_, body)| serde_json::from_str(body).ok())
        .unwrap_or(Value::Null);
    (status, json)
}

async fn hostile_paths_are_400_and_store_nothing(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let upload = format!("/api/v1/runs/{run}/artifacts?path=");
    // Query-string paths, as sent on the wire (percent-encoded once).
    for path in [
        "../x",
        "..%2Fx",
        "%2e%2e%2Fx",
        "/abs",
        "%2Fetc%2Fpasswd",
        "a//b",
        "a/../../x",
        "./a",
        "dir/",
        "a%5Cb",
        "..%5C..%5Cwindows",
        "a%00b",
        "%00",
        // encoded twice: '%252e%252e%252f' arrives as '%2e%2e%2f'
        "%252e%252e%252fetc",
        "x%252F..%252F..%252Fy",
        "a%25005b",
    ] {
        let (status, body) = raw_request(&app, "POST", &format!("{upload}{path}"), b"evil").await;
        assert_bad_path(
            StatusCode::from_u16(status).unwrap(),
            &body,
            &format!("upload ?path={path}"),
        );
    }
    // Multipart path fields and file names.
    for path in ["../x", "/abs", "a//b", "a\\b", "..%2Fx"] {
        let reply = upload_multipart(
            &app,
            &run,
            "",
            Form::new()
                .text("path", path)
                .part("file", Part::bytes(b"evil".to_vec()).file_name("f.txt")),
        )
        .await;
        assert_bad_path(reply.status, &reply.json(), &format!("form path {path}"));
    }
    for (path, file_name) in [
        (None, "../evil.txt"),
        (Some("dir/"), "../../evil.txt"),
        (None, "..\\evil.txt"),
        (Some("dir/"), "%2e%2e%2fevil.txt"),
    ] {
        let mut form = Form::new().part("file", Part::bytes(b"evil".to_vec()).file_name(file_name));
        if let Some(path) = path {
            form = form.text("path", path);
        }
        let reply = upload_multipart(&app, &run, "", form).await;
        assert_bad_path(
            reply.status,
            &reply.json(),
            &format!("form {path:?} + file name {file_name}"),
        );
    }
    // Download and delete paths in the URL, unnormalised.
    let base = format!("/api/v1/runs/{run}/artifacts/");
    for path in [
        "../../../etc/passwd",
        "..%2F..%2F..%2Fetc%2Fpasswd",
        "%2e%2e/%2e%2e/etc/passwd",
        "a//b",
        "./a",
        "a%5Cb",
        "a%00b",
        "%252e%252e%252fx",
        "a/%2E/b",
    ] {
        for method in ["GET", "DELETE"] {
            let (status, body) = raw_request(&app, method, &format!("{base}{path}"), b"").await;
            assert_bad_path(
                StatusCode::from_u16(status).unwrap(),
                &body,
                &format!("{method} {path}"),
            );
        }
    }
    // Resumable uploads check the path when they start.
    for path in ["../x", "a/./b", "x\\y", "%2e%2e/x", "a\u{0}b"] {
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/uploads"),
                json!({ "path": path }),
            )
            .await;
        assert_bad_path(reply.status, &reply.body, &format!("upload start {path:?}"));
    }
    // The MLflow proxy too.
    let proxy = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/");
    for path in ["../../x", "..%2Fx", "a%5Cb", "%252e%252e%252fx", "a//b"] {
        for method in ["PUT", "GET", "DELETE"] {
            let (status, body) =
                raw_request(&app, method, &format!("{proxy}{path}"), b"evil").await;
            assert_eq!(status, 400, "MLflow {method} {path}: {body}");
            assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE", "{body}");
        }
    }

    assert!(artifact_paths(&app, &run, "").await.is_empty());
    assert_storage_empty(&app).await;
    assert!(!app.data_dir.join("x").exists());
    assert!(!app.data_dir.join("evil.txt").exists());
    assert!(!app.data_dir.join("artifacts").join("x").exists());
}

async fn artifact_over_the_size_limit_is_413_and_keeps_nothing(backend: Backend) {
    let Some(app) = TestApp::start_on(backend, |c| c.limits.max_artifact_bytes = 1024).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    let reply = upload_raw(&app, &run, "big.bin", &[7_u8; 2000]).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    assert_eq!(reply.error_code(), "payload_too_large");
    assert!(
        reply.error_message().contains("max_artifact_bytes")
            && reply.error_message().contains("1024"),
        "{}",
        reply.body
    );

    // Without a Content-Length (chunked), the stream is cut at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..4).map(|_| Ok(vec![7_u8; 500])).collect();
    let reply = send_raw(
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path=chunked.bin")))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        reply.json()
    );

    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new().part("file", Part::bytes(vec![7_u8; 2000]).file_name("big.bin")),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        reply.json()
    );

    assert!(artifact_paths(&app, &run, "").await.is_empty());
    assert_storage_empty(&app).await;

    // Exactly the limit is fine.
    let reply = upload_raw(&app, &run, "ok.bin", &[7_u8; 1024]).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["size"], 1024);
    assert_stored_matches_listing(&app, &run).await;
}

/// Sends `head` and then `chunks` (stopping when the server closes), reading the response
/// while sending (a server that closes with unread input resets the connection, so a client
/// that only reads afterwards may miss the answer). Returns the response and the body bytes
/// sent.
async fn send_while_reading(
    addr: std::net::SocketAddr,
    head: String,
    chunks: impl Iterator<Item = Vec<u8>>,
) -> (String, usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let reading = tokio::spawn(async move {
        let mut response = Vec::new();
        let mut buffer = [0_u8; 4096];
        while let Ok(n) = reader.read(&mut buffer).await {
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&response).into_owned()
    });
    writer.write_all(head.as_bytes()).await.unwrap();
    let mut sent = 0;
    for chunk in chunks {
        if reading.is_finished() || writer.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let response = tokio::time::timeout(Duration::from_secs(10), reading)
        .await
        .expect("the server answers and closes the connection")
        .unwrap();
    (response, sent)
}

async fn oversized_upload_is_refused_without_reading_the_rest(backend: Backend) {
    let Some(app) = TestApp::start_on(backend, |c| c.limits.max_artifact_bytes = 1 << 20).await
    else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let targets = [
        format!("POST /api/v1/runs/{run}/artifacts?path=huge.bin"),
        format!("PUT /api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/huge.bin"),
    ];
    for target in &targets {
        // 10 GiB announced and a few bytes sent: the answer comes at once, and the server
        // closes the connection instead of waiting for (or draining) the rest.
        let started = std::time::Instant::now();
        let (text, _) = send_while_reading(
            app.server.addr,
            format!(
                "{target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10737418240\r\n\r\nsome bytes"
            ),
            std::iter::empty(),
        )
        .await;
        assert!(text.starts_with("HTTP/1.1 413"), "{target}: {text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        assert!(text.contains("max_artifact_bytes"), "{text}");
        assert!(started.elapsed() < Duration::from_secs(5));

        // Chunked, no length announced: refused once past the limit, while the client is
        // still sending; the server stops reading and closes.
        let chunk = vec![b'x'; 64 << 10];
        let frames = (0..200).map(|_| {
            let mut frame = format!("{:x}\r\n", chunk.len()).into_bytes();
            frame.extend_from_slice(&chunk);
            frame.extend_from_slice(b"\r\n");
            frame
        });
        let (text, sent) = send_while_reading(
            app.server.addr,
            format!("{target} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            frames,
        )
        .await;
        assert!(
            text.starts_with("HTTP/1.1 413"),
            "{target} (chunked, {sent} bytes sent): {text}"
        );
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
        // The client could not push 12.5 MiB: the server stopped reading after about 1 MiB.
        assert!(sent < 200 * (64 << 10), "all {sent} bytes were accepted");
    }
    assert!(artifact_paths(&app, &run, "").await.is_empty());
    assert_storage_empty(&app).await;
}

async fn uploading_to_an_unknown_run_is_404(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let reply = upload_raw(&app, "no-such-run", "a.txt", b"data").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_found");
    let reply = upload_multipart(
        &app,
        "no-such-run",
        "",
        Form::new().part("file", Part::bytes(b"data".to_vec()).file_name("a.txt")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{:?}", reply.json());
    let reply = app.get("/api/v1/runs/no-such-run/artifacts").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .post(
            "/api/v1/runs/no-such-run/uploads",
            json!({ "path": "a.bin" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_storage_empty(&app).await;
}

async fn uploading_to_the_same_path_replaces_the_content_and_its_object(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    let reply = upload_raw(&app, &run, "model/w.txt", b"version one").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let first = run_objects(&app, &run).await;
    let reply = upload_raw(&app, &run, "model/w.txt", b"v2").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["size"], 2);
    assert_eq!(reply.body["sha256"], sha256_hex(b"v2").as_str());

    let got = download(&app, &run, "model/w.txt").await;
    assert_eq!(got.bytes, b"v2");
    assert_eq!(got.header("etag"), format!("\"{}\"", sha256_hex(b"v2")));
    let reply = app.get(&format!("/api/v1/runs/{run}/artifacts")).await;
    let items = reply.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["size"], 2);
    assert_eq!(items[0]["sha256"], sha256_hex(b"v2").as_str());
    // The first upload's object is gone; one object remains.
    let now = run_objects(&app, &run).await;
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, first);
}

async fn concurrent_uploads_of_one_path_leave_matching_bytes_and_record(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    for round in 0..5_u8 {
        let uploads = (0..6_u8).map(|i| {
            let body = content(40_000 + usize::from(i) * 1000, round * 10 + i);
            let app = &app;
            let run = &run;
            async move { upload_raw(app, run, "same/path.bin", &body).await }
        });
        for reply in futures_util::future::join_all(uploads).await {
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        }
        let listed = app.get(&format!("/api/v1/runs/{run}/artifacts")).await;
        let item = &listed.body["items"][0];
        let got = download(&app, &run, "same/path.bin").await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(
            item["sha256"],
            sha256_hex(&got.bytes).as_str(),
            "round {round}"
        );
        assert_eq!(item["size"], got.bytes.len(), "round {round}");
        assert_eq!(
            got.header("etag"),
            format!("\"{}\"", sha256_hex(&got.bytes))
        );
        eventually("replaced objects are removed", || async {
            let objects = run_objects(&app, &run).await;
            if objects.len() == 1 {
                Ok(())
            } else {
                Err(format!("{objects:?}"))
            }
        })
        .await;
    }
}

async fn checksums_are_verified_and_a_mismatch_keeps_nothing(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let body = content(100_000, 3);
    let sha = sha256_hex(&body);
    let digest = Sha256::digest(&body);
    let wrong = sha256_hex(b"something else");

    let reply = upload_with_headers(
        &app,
        &run,
        "digest.bin",
        &body,
        &[("content-digest", format!("sha-256=:{}:", b64(&digest)))],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    assert_eq!(reply.json()["sha256"], sha.as_str());
    let reply = upload_with_headers(
        &app,
        &run,
        "hex.bin",
        &body,
        &[("x-checksum-sha256", sha.to_uppercase())],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new()
            .part("file", Part::bytes(body.clone()).file_name("form.bin"))
            .text("sha256", sha.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    let before = artifact_paths(&app, &run, "").await;
    assert_eq!(before, vec!["digest.bin", "form.bin", "hex.bin"]);

    // Mismatches: 400, nothing kept (not even a replaced artifact changes).
    for headers in [
        vec![("x-checksum-sha256", wrong.clone())],
        vec![(
            "content-digest",
            format!("sha-256=:{}:", b64(&Sha256::digest(b"x"))),
        )],
    ] {
        for path in ["bad.bin", "hex.bin"] {
            let reply = upload_with_headers(&app, &run, path, &body[1..], &headers).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());
            assert_eq!(reply.json()["error"]["code"], "checksum_mismatch");
            assert_eq!(
                reply.json()["error"]["details"]["actual_sha256"],
                sha256_hex(&body[1..]).as_str()
            );
        }
    }
    let reply = upload_multipart(
        &app,
        &run,
        "",
        Form::new()
            .text("sha256", wrong.clone())
            .part("file", Part::bytes(body.clone()).file_name("bad-form.bin")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());
    assert_eq!(reply.json()["error"]["code"], "checksum_mismatch");
    // Malformed checksums are refused before anything is stored.
    let reply = upload_with_headers(
        &app,
        &run,
        "bad.bin",
        &body,
        &[("content-digest", "sha-256=abc".into())],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());
    // The MLflow proxy checks them too.
    let reply = send_raw(
        app.client
            .put(app.url(&format!(
                "/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/mlflow-bad.bin"
            )))
            .header("x-checksum-sha256", wrong.clone())
            .body(body.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());

    assert_eq!(artifact_paths(&app, &run, "").await, before);
    assert_eq!(download(&app, &run, "hex.bin").await.bytes, body);
    eventually("refused uploads leave no object", || async {
        let objects = run_objects(&app, &run).await;
        if objects.len() == 3 {
            Ok(())
        } else {
            Err(format!("{objects:?}"))
        }
    })
    .await;
}

async fn range_and_conditional_downloads(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let body = content(10_000, 9);
    let reply = upload_raw(&app, &run, "r.bin", &body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let etag = format!("\"{}\"", sha256_hex(&body));

    for (range, start, end) in [
        ("bytes=0-99", 0, 100),
        ("bytes=9990-", 9990, 10_000),
        ("bytes=-10", 9990, 10_000),
        ("bytes=5000-5000", 5000, 5001),
        ("bytes=9000-20000", 9000, 10_000),
    ] {
        let got = download_with(&app, &run, "r.bin", &[("range", range)]).await;
        assert_eq!(got.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(got.bytes, &body[start..end], "{range}");
        assert_eq!(got.header("content-length"), (end - start).to_string());
        assert_eq!(
            got.header("content-range"),
            format!("bytes {start}-{}/10000", end - 1)
        );
        assert_eq!(got.header("etag"), etag);
    }
    // Past the end: 416 naming the size.
    let got = download_with(&app, &run, "r.bin", &[("range", "bytes=10000-")]).await;
    assert_eq!(got.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(got.header("content-range"), "bytes */10000");
    // Several ranges, or a range for another version (If-Range): the whole file.
    for headers in [
        vec![("range", "bytes=0-1,5-6")],
        vec![("range", "bytes=0-1"), ("if-range", "\"not-this-one\"")],
    ] {
        let got = download_with(&app, &run, "r.bin", &headers).await;
        assert_eq!(got.status, StatusCode::OK, "{headers:?}");
        assert_eq!(got.bytes, body);
    }
    let got = download_with(
        &app,
        &run,
        "r.bin",
        &[("range", "bytes=0-1"), ("if-range", etag.as_str())],
    )
    .await;
    assert_eq!(got.status, StatusCode::PARTIAL_CONTENT);
    // The client's copy is current: 304 without a body.
    let got = download_with(&app, &run, "r.bin", &[("if-none-match", etag.as_str())]).await;
    assert_eq!(got.status, StatusCode::NOT_MODIFIED);
    assert!(got.bytes.is_empty());
    assert_eq!(got.header("etag"), etag);
    let got = download_with(&app, &run, "r.bin", &[("if-none-match", "\"old\"")]).await;
    assert_eq!(got.status, StatusCode::OK);
    // The MLflow proxy serves ranges the same way.
    let got = send_raw(
        app.client
            .get(app.url(&format!(
                "/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/r.bin"
            )))
            .header("range", "bytes=100-199"),
    )
    .await;
    assert_eq!(got.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(got.bytes, &body[100..200]);
}

async fn content_types_are_recorded(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    for (path, sent, expected) in [
        ("cfg.json", None, "application/json"),
        (
            "plot.png",
            Some("application/x-www-form-urlencoded"),
            "image/png",
        ),
        ("weights.pt", None, "application/octet-stream"),
        ("table.bin", Some("text/csv"), "text/csv"),
        ("table.csv", Some("application/octet-stream"), "text/csv"),
        (
            "blob.nosuchext",
            Some("application/octet-stream"),
            "application/octet-stream",
        ),
        ("notes.txt", None, "text/plain"),
    ] {
        let mut request = app
            .client
            .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path={path}")))
            .body(b"x".to_vec());
        if let Some(sent) = sent {
            request = request.header("content-type", sent);
        }
        let reply = send_raw(request).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
        assert_eq!(reply.json()["content_type"], expected, "{path}");
        assert_eq!(
            download(&app, &run, path).await.header("content-type"),
            expected
        );
    }
}

async fn delete_an_artifact_or_a_folder(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    for path in ["a.txt", "dir/b.txt", "dir/sub/c.txt", "dirx/d.txt", "e.txt"] {
        let reply = upload_raw(&app, &run, path, path.as_bytes()).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let reply = app
        .delete(&format!("/api/v1/runs/{run}/artifacts/a.txt"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // A folder: everything below it, not its namesake siblings.
    let reply = app
        .delete(&format!("/api/v1/runs/{run}/artifacts/dir"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(
        artifact_paths(&app, &run, "").await,
        vec!["dirx/d.txt", "e.txt"]
    );
    let reply = app
        .delete(&format!("/api/v1/runs/{run}/artifacts/dir"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(
        download(&app, &run, "a.txt").await.status,
        StatusCode::NOT_FOUND
    );
    // Through the MLflow proxy.
    let reply = app
        .client
        .delete(app.url(&format!(
            "/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/e.txt"
        )))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    assert_eq!(artifact_paths(&app, &run, "").await, vec!["dirx/d.txt"]);
    eventually("deleted artifacts' objects are removed", || async {
        let objects = run_objects(&app, &run).await;
        if objects.len() == 1 {
            Ok(())
        } else {
            Err(format!("{objects:?}"))
        }
    })
    .await;
}

async fn client_that_disconnects_mid_upload_leaves_nothing(backend: Backend) {
    use tokio::io::AsyncWriteExt;
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let targets = [
        (
            format!("POST /api/v1/runs/{run}/artifacts?path=cut.bin"),
            "application/octet-stream".to_owned(),
        ),
        (
            format!("PUT /api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts/cut.bin"),
            "application/octet-stream".to_owned(),
        ),
        (
            format!("POST /api/v1/runs/{run}/artifacts"),
            "multipart/form-data; boundary=XyZ".to_owned(),
        ),
    ];
    for (target, content_type) in &targets {
        // 40 MiB announced, 20 MiB sent (several parts already written), then the client
        // goes away.
        let mut stream = tokio::net::TcpStream::connect(app.server.addr)
            .await
            .unwrap();
        let mut head = format!(
            "{target} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
            40 << 20
        );
        if content_type.starts_with("multipart") {
            head.push_str(
                "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"cut.bin\"\r\n\r\n",
            );
        }
        stream.write_all(head.as_bytes()).await.unwrap();
        let chunk = content(1 << 20, 1);
        for _ in 0..20 {
            stream.write_all(&chunk).await.unwrap();
        }
        stream.flush().await.unwrap();
        tokio::time::sleep(Duration::from_millis(300)).await;
        drop(stream);
    }
    // A resumable upload whose client never completes it is not listed either.
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({ "path": "never.bin" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let upload_id = reply.body["upload_id"].as_str().unwrap().to_owned();
    let reply = send_raw(
        app.client
            .put(app.url(&format!("/api/v1/runs/{run}/uploads/{upload_id}/parts/1")))
            .body(content(1000, 2)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());

    assert!(artifact_paths(&app, &run, "").await.is_empty());
    eventually("aborted uploads leave nothing in storage", || async {
        let keys: Vec<String> = app
            .stored_keys()
            .await
            .into_iter()
            .filter(|k| !k.starts_with(&format!("uploads/{upload_id}/")))
            .collect();
        if keys.is_empty() {
            Ok(())
        } else {
            Err(format!("stored: {keys:?}"))
        }
    })
    .await;
    // The server is fine afterwards.
    let reply = upload_raw(&app, &run, "after.txt", b"ok").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
}

async fn large_upload_streams_through_in_parts(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    // Several parts of the streamed writer, sent as a stream of uneven chunks.
    let body = content(21 << 20, 5);
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(777_777).map(|c| Ok(c.to_vec())).collect();
    let reply = send_raw(
        app.client
            .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path=big/model.bin")))
            .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
                chunks,
            ))),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{:?}", reply.json());
    assert_eq!(reply.json()["size"], body.len());
    assert_eq!(reply.json()["sha256"], sha256_hex(&body).as_str());
    let got = download(&app, &run, "big/model.bin").await;
    assert_eq!(got.bytes.len(), body.len());
    assert!(got.bytes == body, "downloaded bytes differ");
    let got = download_with(
        &app,
        &run,
        "big/model.bin",
        &[("range", "bytes=9000000-17000000")],
    )
    .await;
    assert!(
        got.bytes == body[9_000_000..17_000_001],
        "ranged bytes differ"
    );
    assert_stored_matches_listing(&app, &run).await;
}

// ---------------------------------------------------------------- resumable uploads

async fn put_part(app: &TestApp, run: &str, upload: &str, n: u32, body: &[u8]) -> Raw {
    send_raw(
        app.client
            .put(app.url(&format!("/api/v1/runs/{run}/uploads/{upload}/parts/{n}")))
            .body(body.to_vec()),
    )
    .await
}

async fn resumable_upload_in_parts(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, _, run) = app.create_hierarchy().await;
    let whole = content(2_500_000, 7);
    let pieces: Vec<&[u8]> = whole.chunks(1_000_000).collect();
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({ "path": "ckpt/model.safetensors", "size": whole.len(), "sha256": sha256_hex(&whole) }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let upload = reply.body["upload_id"].as_str().unwrap().to_owned();
    assert_eq!(reply.body["path"], "ckpt/model.safetensors");
    assert_eq!(reply.body["parts"], json!([]));
    assert!(reply.body["expires_at"].is_string());

    // Out of order, and part 2 first sent wrong then again (an interrupted client resuming).
    let reply = put_part(&app, &run, &upload, 3, pieces[2]).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    assert_eq!(reply.json()["size"], pieces[2].len());
    assert_eq!(reply.json()["sha256"], sha256_hex(pieces[2]).as_str());
    assert_eq!(
        reply.header("etag"),
        format!("\"{}\"", reply.json()["etag"].as_str().unwrap())
    );
    let stale = put_part(&app, &run, &upload, 2, b"garbage").await.json()["etag"].clone();
    let reply = put_part(&app, &run, &upload, 1, pieces[0]).await;
    assert_eq!(reply.status, StatusCode::OK);

    // What the server has, to resume from.
    let status = app
        .get(&format!("/api/v1/runs/{run}/uploads/{upload}"))
        .await;
    assert_eq!(status.status, StatusCode::OK, "{}", status.body);
    let numbers: Vec<u64> = status.body["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["part_number"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 3]);
    assert_eq!(
        status.body["received_bytes"],
        pieces[0].len() + 7 + pieces[2].len()
    );

    // Completing now fails: the size is wrong (part 2 is garbage); the parts stay.
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let reply = put_part(&app, &run, &upload, 2, pieces[1]).await;
    assert_eq!(reply.status, StatusCode::OK);
    let fresh = reply.json()["etag"].clone();
    // Naming the stale upload of part 2 is refused.
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({ "parts": [{ "part_number": 2, "etag": stale }] }),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(artifact_paths(&app, &run, "").await.is_empty());

    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["path"], "ckpt/model.safetensors");
    assert_eq!(reply.body["size"], whole.len());
    assert_eq!(reply.body["sha256"], sha256_hex(&whole).as_str());
    assert_ne!(fresh, Value::Null);
    let got = download(&app, &run, "ckpt/model.safetensors").await;
    assert!(got.bytes == whole, "joined bytes differ");

    // The upload is gone: its parts, its record.
    let reply = app
        .get(&format!("/api/v1/runs/{run}/uploads/{upload}"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    eventually("the parts of a completed upload are removed", || async {
        let keys = app.stored_keys().await;
        if keys.iter().all(|k| k.starts_with(&format!("runs/{run}/"))) && keys.len() == 1 {
            Ok(())
        } else {
            Err(format!("{keys:?}"))
        }
    })
    .await;

    // Listing the parts explicitly works too, with a checksum given on completion.
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({ "path": "two.bin" }),
        )
        .await;
    let upload = reply.body["upload_id"].as_str().unwrap().to_owned();
    let e1 = put_part(&app, &run, &upload, 1, b"hello ").await.json()["etag"].clone();
    let e2 = put_part(&app, &run, &upload, 2, b"world").await.json()["etag"].clone();
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({ "parts": [{ "part_number": 2, "etag": e2 }, { "part_number": 1, "etag": e1 }],
                    "sha256": sha256_hex(b"hello world") }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(download(&app, &run, "two.bin").await.bytes, b"hello world");
    assert_eq!(reply.body["content_type"], "application/octet-stream");
}

async fn resumable_upload_refusals(backend: Backend) {
    let Some(app) = TestApp::start_on(backend, |c| c.limits.max_artifact_bytes = 1000).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let other = app.create_run(&experiment).await;
    let start = |path: &str, extra: Value| {
        let mut body = json!({ "path": path });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let app = &app;
        let run = run.clone();
        async move { app.post(&format!("/api/v1/runs/{run}/uploads"), body).await }
    };
    // Declared too large: 413 at the start.
    let reply = start("big.bin", json!({ "size": 1001 })).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        reply.body
    );
    let reply = start("x.bin", json!({ "sha256": "abc" })).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    let reply = start("x.bin", json!({ "nonsense": 1 })).await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );

    let reply = start("x.bin", json!({ "sha256": sha256_hex(b"expected") })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let upload = reply.body["upload_id"].as_str().unwrap().to_owned();
    // Part numbers run 1..=10000.
    for n in [0, 10_001] {
        let reply = put_part(&app, &run, &upload, n, b"x").await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{n}: {:?}",
            reply.json()
        );
    }
    // Another run's upload does not exist here; neither does an unknown id.
    for (r, u) in [
        (&other, upload.as_str()),
        (&run, "0123456789abcdef0123456789abcdef"),
        (&run, ".."),
    ] {
        let reply = put_part(&app, r, u, 1, b"x").await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{r} {u}: {:?}",
            reply.json()
        );
    }
    // The parts together may not pass the limit.
    assert_eq!(
        put_part(&app, &run, &upload, 1, &[1; 600]).await.status,
        StatusCode::OK
    );
    let reply = put_part(&app, &run, &upload, 2, &[2; 600]).await;
    assert_eq!(
        reply.status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{:?}",
        reply.json()
    );
    // A part checksum is verified.
    let reply = send_raw(
        app.client
            .put(app.url(&format!("/api/v1/runs/{run}/uploads/{upload}/parts/2")))
            .header("x-checksum-sha256", sha256_hex(b"other"))
            .body(vec![2; 100]),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{:?}", reply.json());
    assert_eq!(reply.json()["error"]["code"], "checksum_mismatch");
    // A gap in the part numbers.
    assert_eq!(
        put_part(&app, &run, &upload, 3, &[3; 100]).await.status,
        StatusCode::OK
    );
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    assert!(
        reply.error_message().contains("part 2 is missing"),
        "{}",
        reply.body
    );
    // The whole file's checksum does not match: 400, nothing listed, the parts kept.
    assert_eq!(
        put_part(&app, &run, &upload, 2, &[2; 100]).await.status,
        StatusCode::OK
    );
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_code(), "checksum_mismatch");
    assert!(artifact_paths(&app, &run, "").await.is_empty());
    let status = app
        .get(&format!("/api/v1/runs/{run}/uploads/{upload}"))
        .await;
    assert_eq!(status.body["parts"].as_array().unwrap().len(), 3);
    // Aborted: gone, and everything it stored with it.
    let reply = app
        .delete(&format!("/api/v1/runs/{other}/uploads/{upload}"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .delete(&format!("/api/v1/runs/{run}/uploads/{upload}"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let reply = app
        .delete(&format!("/api/v1/runs/{run}/uploads/{upload}"))
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads/{upload}/complete"),
            json!({}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_storage_empty(&app).await;
}

// ---------------------------------------------------------------- MLflow's artifact proxy

async fn mlflow_proxy_uploads_downloads_and_multipart(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let proxy = format!("/api/2.0/mlflow-artifacts/artifacts/{experiment}/{run}/artifacts");
    let body = content(300_000, 4);
    let reply = send_raw(
        app.client
            .put(app.url(&format!("{proxy}/models/m.bin")))
            .body(body.clone()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    let got = send_raw(app.client.get(app.url(&format!("{proxy}/models/m.bin")))).await;
    assert!(got.bytes == body);
    assert_eq!(got.header("etag"), format!("\"{}\"", sha256_hex(&body)));
    // The same artifact on the native API.
    assert_eq!(artifact_paths(&app, &run, "").await, vec!["models/m.bin"]);

    // MLflow's multipart protocol: create, PUT parts to the returned URLs, complete.
    let whole = content(2_200_000, 6);
    let reply = app
        .post(
            &format!("/api/2.0/mlflow-artifacts/mpu/create/{experiment}/{run}/artifacts/big"),
            json!({ "path": "/tmp/local/weights.bin", "num_parts": 3 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let upload_id = reply.body["upload_id"].as_str().unwrap().to_owned();
    let credentials = reply.body["credentials"].as_array().unwrap().clone();
    assert_eq!(credentials.len(), 3);
    let mut parts = Vec::new();
    for (credential, piece) in credentials.iter().zip(whole.chunks(1_000_000)) {
        let url = credential["url"].as_str().unwrap();
        assert!(url.starts_with(&app.base), "{url}");
        let reply = send_raw(app.client.put(url).body(piece.to_vec())).await;
        assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
        parts.push(
            json!({ "part_number": credential["part_number"], "etag": reply.header("etag") }),
        );
    }
    // Nothing listed before completion.
    assert_eq!(artifact_paths(&app, &run, "").await, vec!["models/m.bin"]);
    // Completing for another file name is refused.
    let reply = app
        .post(
            &format!("/api/2.0/mlflow-artifacts/mpu/complete/{experiment}/{run}/artifacts/big"),
            json!({ "path": "other.bin", "upload_id": upload_id, "parts": parts }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = app
        .post(
            &format!("/api/2.0/mlflow-artifacts/mpu/complete/{experiment}/{run}/artifacts/big"),
            json!({ "path": "/tmp/local/weights.bin", "upload_id": upload_id, "parts": parts }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let got = download(&app, &run, "big/weights.bin").await;
    assert!(got.bytes == whole, "joined bytes differ");

    // Abort: the parts go.
    let reply = app
        .post(
            &format!("/api/2.0/mlflow-artifacts/mpu/create/{experiment}/{run}/artifacts"),
            json!({ "path": "abandoned.bin", "num_parts": 1 }),
        )
        .await;
    let upload_id = reply.body["upload_id"].as_str().unwrap().to_owned();
    let url = reply.body["credentials"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        send_raw(app.client.put(&url).body(vec![1; 10]))
            .await
            .status,
        StatusCode::OK
    );
    let reply = app
        .post(
            &format!("/api/2.0/mlflow-artifacts/mpu/abort/{experiment}/{run}/artifacts"),
            json!({ "path": "abandoned.bin", "upload_id": upload_id }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        artifact_paths(&app, &run, "").await,
        vec!["big/weights.bin", "models/m.bin"]
    );
    eventually("only the two artifacts are stored", || async {
        let keys = app.stored_keys().await;
        if keys.len() == 2 {
            Ok(())
        } else {
            Err(format!("{keys:?}"))
        }
    })
    .await;
}

fn proxy(app: &TestApp, path: &str) -> String {
    app.url(&format!("/api/2.0/mlflow-artifacts/artifacts/{path}"))
}

async fn proxy_list(app: &TestApp, path: &str) -> Value {
    let url = app.url(&format!("/api/2.0/mlflow-artifacts/artifacts?path={path}"));
    let reply = send_raw(app.client.get(url)).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json()["files"].clone()
}

/// MLflow's proxy is a general file store: paths outside every run are files of their own,
/// replaced, listed, downloaded and deleted like artifacts, and removed with their experiment.
async fn mlflow_proxy_stores_files_outside_runs(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let shared = format!("shared-{}", ets_domain::new_id());
    for (path, body) in [
        (format!("{shared}/a.txt"), b"first".to_vec()),
        (format!("{shared}/deep/b.bin"), content(300_000, 9)),
        (
            format!("{experiment}/notes/c.txt"),
            b"in the experiment".to_vec(),
        ),
        // Replacing a file swaps its object.
        (format!("{shared}/a.txt"), b"second".to_vec()),
    ] {
        let reply = send_raw(app.client.put(proxy(&app, &path)).body(body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.json());
    }
    let got = send_raw(app.client.get(proxy(&app, &format!("{shared}/a.txt")))).await;
    assert_eq!(got.bytes, b"second");
    assert_eq!(got.header("etag"), format!("\"{}\"", sha256_hex(b"second")));
    let got = send_raw(app.client.get(proxy(&app, &format!("{shared}/deep/b.bin")))).await;
    assert!(got.bytes == content(300_000, 9));

    assert_eq!(
        proxy_list(&app, &shared).await,
        json!([
            { "path": "a.txt", "is_dir": false, "file_size": 6 },
            { "path": "deep", "is_dir": true },
        ])
    );
    // Files are not the run's artifacts, and the run's artifacts are not files.
    assert!(artifact_paths(&app, &run, "").await.is_empty());
    let objects = app.stored_keys().await;
    assert_eq!(objects.len(), 3, "one object per file: {objects:?}");
    assert!(
        objects.iter().all(|k| k.starts_with("files/")),
        "{objects:?}"
    );

    // Paths cannot leave the root.
    for bad in [format!("{shared}/../../x"), "..".to_owned()] {
        let reply = send_raw(app.client.put(proxy(&app, &bad)).body("x")).await;
        assert!(
            reply.status == StatusCode::BAD_REQUEST || reply.status == StatusCode::NOT_FOUND,
            "{bad}: {}",
            reply.status
        );
    }

    // Multipart uploads go to run artifacts only, and say so.
    let reply = app
        .post(
            &format!("/api/2.0/mlflow-artifacts/mpu/create/{shared}/big"),
            json!({ "path": "/local/weights.bin", "num_parts": 2 }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("outside every run")),
        "{}",
        reply.body
    );

    // A folder is deleted with everything below it.
    let reply = send_raw(app.client.delete(proxy(&app, &shared))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.json());
    let gone = send_raw(app.client.get(proxy(&app, &format!("{shared}/deep/b.bin")))).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    let again = send_raw(app.client.delete(proxy(&app, &shared))).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    eventually("only the experiment's file is stored", || async {
        let keys = app.stored_keys().await;
        if keys.len() == 1 {
            Ok(())
        } else {
            Err(format!("{keys:?}"))
        }
    })
    .await;

    // The experiment's files go with it, bytes and all.
    let reply = app
        .delete(&format!("/api/v1/experiments/{experiment}?permanent=true"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    let gone = send_raw(
        app.client
            .get(proxy(&app, &format!("{experiment}/notes/c.txt"))),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
    assert_storage_empty(&app).await;
}

// ---------------------------------------------------------------- run deletion and gc

async fn soft_deleted_run_keeps_artifacts_and_permanent_delete_removes_them(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let (_, experiment, run) = app.create_hierarchy().await;
    let other = app.create_run(&experiment).await;
    for r in [&run, &other] {
        let reply = upload_raw(&app, r, "dir/a.txt", b"content").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let reply = app.delete(&format!("/api/v1/runs/{run}")).await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    // In the trash: readable, nothing new.
    assert_eq!(download(&app, &run, "dir/a.txt").await.bytes, b"content");
    assert_eq!(artifact_paths(&app, &run, "").await, vec!["dir/a.txt"]);
    let reply = upload_raw(&app, &run, "b.txt", b"late").await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let reply = app
        .delete(&format!("/api/v1/runs/{run}/artifacts/dir/a.txt"))
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/uploads"),
            json!({ "path": "c.bin" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert_eq!(run_objects(&app, &run).await.len(), 1);
    // Restored: writable again.
    let reply = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let reply = upload_raw(&app, &run, "b.txt", b"back").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);

    // For good: the run and every object of it go at once.
    let reply = app
        .delete(&format!("/api/v1/runs/{run}?permanent=true"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert!(run_objects(&app, &run).await.is_empty());
    let reply = app.get(&format!("/api/v1/runs/{run}/artifacts")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(
        download(&app, &run, "dir/a.txt").await.status,
        StatusCode::NOT_FOUND
    );
    // The other run's artifacts are untouched.
    assert_eq!(download(&app, &other, "dir/a.txt").await.bytes, b"content");
    assert_stored_matches_listing(&app, &other).await;
}

async fn gc_removes_old_trash_expired_uploads_and_orphans(backend: Backend) {
    let Some(app) = TestApp::start_on(backend, |c| {
        c.artifacts.deleted_run_retention_days = 0;
        c.artifacts.upload_expiry_hours = 0;
    })
    .await
    else {
        return;
    };
    let services = &app.server.services;
    let (_, experiment, trashed) = app.create_hierarchy().await;
    let active = app.create_run(&experiment).await;
    for r in [&trashed, &active] {
        let reply = upload_raw(&app, r, "a.txt", b"kept?").await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    assert_eq!(
        app.delete(&format!("/api/v1/runs/{trashed}")).await.status,
        StatusCode::NO_CONTENT
    );
    let reply = app
        .post(
            &format!("/api/v1/runs/{active}/uploads"),
            json!({ "path": "left.bin" }),
        )
        .await;
    let upload = reply.body["upload_id"].as_str().unwrap().to_owned();
    assert_eq!(
        put_part(&app, &active, &upload, 1, b"part").await.status,
        StatusCode::OK
    );
    // An object no artifact refers to (as a crash between writing and recording leaves).
    let orphan = format!("runs/{active}/{}", ets_domain::new_id());
    services
        .artifacts
        .put_bytes(&orphan, bytes::Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    // The same for the proxy's files outside runs, beside one that is recorded.
    let orphan_file = format!("files/{}", ets_domain::new_id());
    services
        .artifacts
        .put_bytes(&orphan_file, bytes::Bytes::from_static(b"orphan"))
        .await
        .unwrap();
    let kept = send_raw(
        app.client
            .put(app.url("/api/2.0/mlflow-artifacts/artifacts/shared/kept.txt"))
            .body("kept"),
    )
    .await;
    assert_eq!(kept.status, StatusCode::OK);
    // S3 times are in whole seconds: let everything become older than "now".
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let report = services
        .collect_garbage(&ets::actor::Actor::System)
        .await
        .expect("gc runs");
    assert_eq!(report.runs_purged, 1, "{report:?}");
    assert_eq!(report.uploads_removed, 1, "{report:?}");
    assert_eq!(report.orphan_objects_removed, 2, "{report:?}");

    assert_eq!(
        app.get(&format!("/api/v1/runs/{trashed}")).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(run_objects(&app, &trashed).await.is_empty());
    assert_eq!(download(&app, &active, "a.txt").await.bytes, b"kept?");
    assert_eq!(
        app.get(&format!("/api/v1/runs/{active}/uploads/{upload}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_stored_matches_listing(&app, &active).await;
    let keys = app.stored_keys().await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    let kept = send_raw(
        app.client
            .get(app.url("/api/2.0/mlflow-artifacts/artifacts/shared/kept.txt")),
    )
    .await;
    assert_eq!(kept.bytes, b"kept");

    // Nothing left to do the second time.
    let report = services
        .collect_garbage(&ets::actor::Actor::System)
        .await
        .unwrap();
    assert_eq!(report, Default::default());
}

async fn readiness_checks_the_artifact_store(backend: Backend) {
    let Some(app) = start(backend).await else {
        return;
    };
    let reply = app.get("/health/ready").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["storage"]["status"], "up");
    let info = app.get("/info").await;
    let expected = match backend {
        Backend::Local => "local",
        Backend::S3 => "s3",
    };
    assert_eq!(info.body["artifact_backend"], expected);
    if backend == Backend::S3 {
        // The same store with a bucket that does not exist: not ready, saying why.
        let Some(broken) = TestApp::start_on(Backend::S3, |c| {
            c.artifacts.s3_bucket = Some(format!("missing-{}", ets_domain::new_id()));
        })
        .await
        else {
            return;
        };
        let reply = broken.get("/health/ready").await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            reply.body
        );
        assert_eq!(reply.body["storage"]["status"], "down");
        assert!(
            reply.body["storage"]["error"]
                .as_str()
                .unwrap()
                .contains("not writable"),
            "{}",
            reply.body
        );
        assert!(!reply.body.to_string().contains("testing-secret"));
    }
}

// ---------------------------------------------------------------- local folder only

/// A symbolic link planted in the artifact folder is never followed: not to read another
/// file, not to write outside, not to delete outside.
async fn local_store_does_not_follow_symbolic_links() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    std::fs::write(&secret, "top secret").unwrap();
    let root = app.server.services.config.artifacts_dir();

    // An artifact's file replaced by a link to a file outside.
    let reply = upload_raw(&app, &run, "a.txt", b"mine").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let object = root.join(&run_objects(&app, &run).await[0]);
    std::fs::remove_file(&object).unwrap();
    std::os::unix::fs::symlink(&secret, &object).unwrap();
    let got = download(&app, &run, "a.txt").await;
    assert_eq!(
        got.status,
        StatusCode::BAD_REQUEST,
        "{:?}",
        String::from_utf8_lossy(&got.bytes)
    );
    assert!(!String::from_utf8_lossy(&got.bytes).contains("top secret"));

    // A run's folder replaced by a link to a folder outside: no writes there, and deleting
    // the run for good leaves that folder alone.
    let victim = app.create_run(&experiment).await;
    std::fs::create_dir_all(root.join("runs")).unwrap();
    std::os::unix::fs::symlink(outside.path(), root.join("runs").join(&victim)).unwrap();
    let reply = upload_raw(&app, &victim, "x.txt", b"escape").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert_eq!(reply.error_code(), "invalid_path");
    let reply = app
        .delete(&format!("/api/v1/runs/{victim}?permanent=true"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT, "{}", reply.body);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
    assert_eq!(common::files_under(outside.path()), vec!["secret.txt"]);

    // gc does not delete through links either.
    std::os::unix::fs::symlink(outside.path(), root.join("runs").join(ets_domain::new_id()))
        .unwrap();
    app.server
        .services
        .collect_garbage(&ets::actor::Actor::System)
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "top secret");
    let _ = experiment;
}

/// Artifacts written before objects had keys of their own (`<run>/<path>` in the folder)
/// still download, and go with their run. SQLite only: the only database of that version.
#[tokio::test]
async fn local_artifacts_of_the_earlier_layout_stay_readable() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let root = app.server.services.config.artifacts_dir();
    let reply = upload_raw(&app, &run, "dir/old file.txt", b"placeholder").await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    // Rewrite the record and the file as the earlier version stored them.
    let db = rusqlite::Connection::open(app.data_dir.join("ets.db")).unwrap();
    db.execute(
        "UPDATE artifacts SET object_key = NULL, sha256 = ?1, size = 10",
        [sha256_hex(b"legacy!!!!")],
    )
    .unwrap();
    std::fs::create_dir_all(root.join(&run).join("dir")).unwrap();
    std::fs::write(root.join(&run).join("dir/old file.txt"), b"legacy!!!!").unwrap();
    let got = download(&app, &run, "dir/old%20file.txt").await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.bytes, b"legacy!!!!");
    let reply = app
        .delete(&format!("/api/v1/runs/{run}?permanent=true"))
        .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(!root.join(&run).exists());
}
