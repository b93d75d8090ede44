//! The HTTP edges: bodies must be one JSON object, every error carries the API's JSON error
//! body (also those raised by the router, axum and hyper), and slow or oversized requests are
//! answered or closed instead of holding a connection open. Real TCP sockets against a server
//! on port 0, with 1 s timeouts.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{Reply, TestApp, raw_http};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

common::on_both_databases!(
    bodies_must_be_exactly_one_json_object,
    an_empty_range_answer_carries_the_error_body,
    a_slow_but_steady_upload_is_not_cut,
);

/// A server whose header and body read timeouts are 1 s.
async fn start_impatient() -> TestApp {
    TestApp::start_with(|config| {
        config.server.header_read_timeout_seconds = 1;
        config.server.body_read_timeout_seconds = 1;
    })
    .await
}

/// The body of a raw reply (after the blank line), as JSON.
fn raw_json(text: &str) -> Value {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not a JSON body ({e}): {text:?}"))
}

async fn bodies_must_be_exactly_one_json_object() {
    let app = TestApp::start().await;
    // (path, body, what the message says); nothing is created by any of them.
    let refused = [
        ("/api/v1/projects", r#"["junk"]"#, "one JSON object"),
        (
            "/api/v1/projects",
            r#"{"name":"junk"}}}]]"#,
            "not valid JSON",
        ),
        (
            "/api/2.0/mlflow/experiments/create",
            r#"{"name":"junk"}}}}]]]"#,
            "not valid JSON",
        ),
        ("/api/2.0/mlflow/runs/create", "[]", "one JSON object"),
    ];
    for (path, body, says) in refused {
        let reply = app.post_raw(path, body, "application/json").await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{path} {body}: {}",
            reply.body
        );
        let (code, message) = if path.contains("mlflow") {
            (&reply.body["error_code"], &reply.body["message"])
        } else {
            (
                &reply.body["error"]["code"],
                &reply.body["error"]["message"],
            )
        };
        let expected = if path.contains("mlflow") {
            "INVALID_PARAMETER_VALUE"
        } else {
            "bad_request"
        };
        assert_eq!(code, expected, "{path} {body}");
        assert!(
            message.as_str().unwrap_or_default().contains(says),
            "{path} {body}: {message}"
        );
    }
    let projects = app.get("/api/v1/projects").await;
    assert!(
        !projects.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["name"] == "junk"),
        "nothing was created: {}",
        projects.body
    );
    let lookup = app
        .get("/api/2.0/mlflow/experiments/get-by-name?experiment_name=junk")
        .await;
    assert_eq!(lookup.status, StatusCode::NOT_FOUND, "{}", lookup.body);
    // Whitespace around the object is fine.
    let reply = app
        .post_raw(
            "/api/2.0/mlflow/experiments/create",
            " \n{\"name\":\"spaced\"}\n ",
            "application/json",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn an_empty_range_answer_carries_the_error_body() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let reply = app
        .post_raw(
            &format!("/api/v1/runs/{run}/artifacts?path=r.bin"),
            vec![7u8; 100],
            "application/octet-stream",
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let got = app
        .send(
            app.client
                .get(app.url(&format!("/api/v1/runs/{run}/artifacts/r.bin")))
                .header("range", "bytes=500-"),
        )
        .await;
    assert_eq!(got.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(got.headers["content-range"], "bytes */100", "headers kept");
    assert_eq!(got.headers["content-type"], "application/json");
    assert_eq!(got.error_code(), "range_not_satisfiable", "{}", got.body);
}

async fn a_slow_but_steady_upload_is_not_cut() {
    let app = start_impatient().await;
    let (_, _, run) = app.create_hierarchy().await;
    // 12 chunks 300 ms apart: 3.6 s in all, well past the 1 s timeout between reads.
    let chunks = futures_util::stream::unfold(0u32, |i| async move {
        if i == 12 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(vec![b'a'; 10]), i + 1))
    });
    let reply = app
        .send(
            app.client
                .post(app.url(&format!("/api/v1/runs/{run}/artifacts?path=slow.txt")))
                .header("content-length", "120")
                .body(reqwest::Body::wrap_stream(chunks)),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    assert_eq!(reply.body["size"], 120, "{}", reply.body);
}

#[tokio::test]
async fn router_and_extractor_errors_carry_the_error_body() {
    let app = TestApp::start().await;
    // (method, path, status, code); a status or code of 0 / "" is not checked. MLflow paths
    // answer `{"error_code", "message"}`, the others `{"error": {"code", "message"}}`.
    let cases = [
        ("GET", "/api/v1/no-such-thing", 404, "not_found"),
        ("DELETE", "/api/v1/runs", 405, "method_not_allowed"),
        ("GET", "/api/v1/runs/%c0%af", 0, ""),
        ("GET", "/api/v1/runs/x/artifacts/%c0%af", 0, ""),
        ("GET", "/api/v1/runs?page_size=many", 400, "bad_request"),
        (
            "GET",
            "/api/2.0/mlflow/no-such-thing",
            404,
            "ENDPOINT_NOT_FOUND",
        ),
        (
            "GET",
            "/ajax-api/2.0/mlflow/runs/create",
            405,
            "BAD_REQUEST",
        ),
        ("GET", "/api/2.0/mlflow-artifacts/artifacts/%c0%af", 0, ""),
        ("GET", "/api/2.0/mlflow/runs/get?run_id=%c0%af", 0, ""),
    ];
    for (method, path, status, code) in cases {
        let reply = app
            .send(app.client.request(method.parse().unwrap(), app.url(path)))
            .await;
        check_error(&reply, method, path, status);
        let error = if path.contains("mlflow") {
            (&reply.body["error_code"], &reply.body["message"])
        } else {
            (
                &reply.body["error"]["code"],
                &reply.body["error"]["message"],
            )
        };
        assert!(
            error.0.is_string() && error.1.is_string(),
            "{method} {path}: {}",
            reply.body
        );
        if !code.is_empty() {
            assert_eq!(error.0, code, "{method} {path}: {}", reply.body);
        }
    }
}

/// A client error (of `status` unless 0) with a JSON body.
fn check_error(reply: &Reply, method: &str, path: &str, status: u16) {
    assert!(
        reply.status.is_client_error(),
        "{method} {path}: {} {}",
        reply.status,
        reply.body
    );
    if status != 0 {
        assert_eq!(
            reply.status.as_u16(),
            status,
            "{method} {path}: {}",
            reply.body
        );
    }
    assert_eq!(
        reply.headers["content-type"], "application/json",
        "{method} {path}: {}",
        reply.body
    );
}

#[tokio::test]
async fn errors_raised_while_parsing_the_request_carry_the_error_body() {
    let app = TestApp::start().await;
    let addr = app.server.addr;
    // URI too long: hyper's own 414, in the shape of the API the path names.
    let long = "a".repeat(70_000);
    let reply = raw_http(
        addr,
        format!("GET /api/v1/runs/{long} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 414, "{}", reply.text);
    assert_eq!(raw_json(&reply.text)["error"]["code"], "uri_too_long");
    let reply = raw_http(
        addr,
        format!("GET /api/2.0/mlflow/runs/get?run_id={long} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(reply.status, 414, "{}", reply.text);
    assert_eq!(raw_json(&reply.text)["error_code"], "BAD_REQUEST");
    // A Content-Length that is not a number.
    let reply = raw_http(
        addr,
        b"POST /api/v1/projects HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: ten\r\n\r\n",
    )
    .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(
        reply.text.contains("content-type: application/json"),
        "{}",
        reply.text
    );
    assert_eq!(raw_json(&reply.text)["error"]["code"], "bad_request");
}

#[tokio::test]
async fn an_oversized_json_body_is_refused_before_it_is_sent() {
    let app = TestApp::start().await;
    for (path, shape) in [
        ("/api/v1/projects", "native"),
        ("/api/2.0/mlflow/runs/log-batch", "mlflow"),
        ("/api/v1/runs/r/uploads", "native"),
    ] {
        // 33 MB announced, nothing sent: the answer comes at once and the server closes.
        let request = format!(
            "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n",
            33 << 20
        );
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            raw_http(app.server.addr, request.as_bytes()),
        )
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer without the body"));
        assert_eq!(reply.status, 413, "{path}: {}", reply.text);
        let body = raw_json(&reply.text);
        match shape {
            "native" => assert_eq!(body["error"]["code"], "payload_too_large", "{path}"),
            _ => assert_eq!(body["error_code"], "INVALID_PARAMETER_VALUE", "{path}"),
        }
        assert!(
            reply.text.contains("max_request_body_bytes"),
            "{path}: {}",
            reply.text
        );
    }
}

/// Reads until the server closes the connection (or answers and closes); panics if it is
/// still open after `within`. Returns what was read.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> String {
    let mut read = Vec::new();
    let result = tokio::time::timeout(within, stream.read_to_end(&mut read)).await;
    assert!(
        result.is_ok(),
        "the connection is still open after {within:?}; read so far: {:?}",
        String::from_utf8_lossy(&read)
    );
    String::from_utf8_lossy(&read).into_owned()
}

async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

#[tokio::test]
async fn idle_connections_and_trickled_headers_are_closed() {
    let app = start_impatient().await;
    // A connection that never sends anything.
    let mut idle = connect(app.server.addr).await;
    closed_within(&mut idle, Duration::from_secs(8)).await;

    // Headers trickled one line every 500 ms, for longer than the test waits.
    let mut trickle = connect(app.server.addr).await;
    let (mut reader, mut writer) = trickle.split();
    let write = async {
        let _ = writer.write_all(b"GET /health HTTP/1.1\r\n").await;
        for i in 0..40 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if writer
                .write_all(format!("x-slow-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    let read = async {
        let mut read = Vec::new();
        tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut read)).await
    };
    let (_, read) = tokio::join!(write, read);
    assert!(
        read.is_ok(),
        "trickled headers kept the connection open for 8 s"
    );

    // A kept-alive connection that goes idle after one request.
    let mut kept = connect(app.server.addr).await;
    kept.write_all(b"GET /health/live HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
        .await
        .unwrap();
    let text = closed_within(&mut kept, Duration::from_secs(8)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
}

#[tokio::test]
async fn a_body_that_stops_arriving_is_answered_408_and_closed() {
    let app = start_impatient().await;
    for (path, shape) in [
        ("/api/v1/projects", "native"),
        ("/api/2.0/mlflow/experiments/create", "mlflow"),
    ] {
        let mut stream = connect(app.server.addr).await;
        stream
            .write_all(
                format!(
                    "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
                     content-length: 100000\r\n\r\n{{"
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let (mut reader, mut writer) = stream.split();
        // One byte every 2 s.
        let write = async {
            for _ in 0..10 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if writer.write_all(b" ").await.is_err() {
                    return;
                }
            }
        };
        let read = async {
            let mut read = Vec::new();
            let done =
                tokio::time::timeout(Duration::from_secs(8), reader.read_to_end(&mut read)).await;
            (done, String::from_utf8_lossy(&read).into_owned())
        };
        let (_, (done, text)) = tokio::join!(write, read);
        assert!(
            done.is_ok(),
            "{path}: a trickled body kept the connection open"
        );
        assert!(text.starts_with("HTTP/1.1 408"), "{path}: {text}");
        let body = raw_json(&text);
        match shape {
            "native" => assert_eq!(body["error"]["code"], "request_timeout", "{path}"),
            _ => assert_eq!(body["error_code"], "BAD_REQUEST", "{path}"),
        }
    }
}
