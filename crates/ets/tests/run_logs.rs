//! Run logs (issue 17): appending stdout/stderr lines, reading and searching them, following a
//! run's log live, and their removal with the run — on SQLite and PostgreSQL.

mod common;

use std::time::Duration;

use common::process::{Http, Served};
use common::sse::{self, Sse};
use common::{Database, TestApp, on_both_databases};
use reqwest::StatusCode;
use serde_json::{Value, json};

on_both_databases!(
    appended_lines_read_back_in_order_with_their_timestamps,
    filters_select_by_text_regex_stream_and_time,
    pages_follow_line_order_and_tokens_are_checked,
    a_search_of_a_long_log_answers_in_bounded_steps,
    a_retried_batch_is_stored_once,
    limits_and_invalid_lines_are_refused_naming_the_setting,
    lifecycle_unknown_and_trashed_runs,
    experiment_search_covers_its_runs,
    following_a_log_receives_lines_appended_after_connecting,
    logs_go_with_their_run,
);

const T0: i64 = 1_700_000_000_000;

fn line(stream: &str, timestamp: i64, text: &str) -> Value {
    json!({ "stream": stream, "timestamp": timestamp, "line": text })
}

async fn append(app: &TestApp, run: &str, body: Value) -> common::Reply {
    app.post(&format!("/api/v1/runs/{run}/logs"), body).await
}

async fn append_ok(app: &TestApp, run: &str, lines: Vec<Value>) -> Value {
    let reply = append(app, run, json!({ "lines": lines })).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// Every item of a run's log read with `query`, following the page tokens.
async fn read_all(app: &TestApp, path: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..1000 {
        let mut url = format!("{path}?{query}");
        if let Some(token) = &token {
            url.push_str(&format!("&page_token={token}"));
        }
        let reply = app.get(&url).await;
        assert_eq!(reply.status, StatusCode::OK, "{url}: {}", reply.body);
        items.extend(reply.body["items"].as_array().unwrap().iter().cloned());
        match reply.body["next_page_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("paging did not end");
}

fn texts(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["line"].as_str().unwrap()).collect()
}

async fn appended_lines_read_back_in_order_with_their_timestamps() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let first = append_ok(
        &app,
        &run,
        vec![
            line("stdout", T0 + 5, "epoch 1 loss=0.9"),
            line("stderr", T0 + 1, "warning: slow \u{1b}[33mdisk\u{1b}[0m"),
            line("stdout", T0 + 5, ""),
        ],
    )
    .await;
    assert_eq!(first["run_id"], run.as_str());
    assert_eq!(first["first_line"], 0);
    assert_eq!(first["written"], 3);
    assert_eq!(first["duplicate"], false);
    let second = append_ok(&app, &run, vec![line("stdout", T0 + 9, "épоch 2 ✓")]).await;
    assert_eq!(second["first_line"], 3);

    let reply = app.get(&format!("/api/v1/runs/{run}/logs")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.body,
        json!({
            "items": [
                { "line_number": 0, "stream": "stdout", "timestamp": T0 + 5, "line": "epoch 1 loss=0.9" },
                { "line_number": 1, "stream": "stderr", "timestamp": T0 + 1, "line": "warning: slow \u{1b}[33mdisk\u{1b}[0m" },
                { "line_number": 2, "stream": "stdout", "timestamp": T0 + 5, "line": "" },
                { "line_number": 3, "stream": "stdout", "timestamp": T0 + 9, "line": "épоch 2 ✓" },
            ],
            "next_page_token": null,
        })
    );
}

async fn filters_select_by_text_regex_stream_and_time() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    append_ok(
        &app,
        &run,
        vec![
            line("stdout", T0, "step 1 loss=0.50"),
            line("stderr", T0 + 10, "WARNING: lr too high"),
            line("stdout", T0 + 20, "step 2 loss=0.25"),
            line("stderr", T0 + 30, "Traceback (most recent call last):"),
        ],
    )
    .await;
    append_ok(
        &app,
        &run,
        vec![line("stdout", T0 + 40, "step 3 Loss=0.10")],
    )
    .await;
    let path = format!("/api/v1/runs/{run}/logs");

    // Text: a case-sensitive substring.
    let items = read_all(&app, &path, "q=loss").await;
    assert_eq!(texts(&items), ["step 1 loss=0.50", "step 2 loss=0.25"]);
    assert_eq!(items[1]["line_number"], 2);
    // Characters that would be special in a pattern or a query string are plain text.
    let items = read_all(&app, &path, "q=%28most%20recent").await;
    assert_eq!(texts(&items), ["Traceback (most recent call last):"]);
    // Regex, with its own flags.
    let items = read_all(&app, &path, "regex=true&q=%28%3Fi%29loss%3D0%5C.%5B12%5D").await;
    assert_eq!(texts(&items), ["step 2 loss=0.25", "step 3 Loss=0.10"]);
    let reply = app.get(&format!("{path}?regex=true&q=%28unclosed")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    assert!(
        reply.error_message().contains("regular expression"),
        "{}",
        reply.body
    );
    // Stream.
    let items = read_all(&app, &path, "stream=stderr").await;
    assert_eq!(
        texts(&items),
        ["WARNING: lr too high", "Traceback (most recent call last):"]
    );
    assert!(items.iter().all(|i| i["stream"] == "stderr"));
    let reply = app.get(&format!("{path}?stream=stdin")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // Time window: since <= timestamp < until, also across chunks.
    let items = read_all(&app, &path, &format!("since={}&until={}", T0 + 10, T0 + 40)).await;
    assert_eq!(
        texts(&items),
        [
            "WARNING: lr too high",
            "step 2 loss=0.25",
            "Traceback (most recent call last):"
        ]
    );
    let items = read_all(&app, &path, &format!("since={}", T0 + 35)).await;
    assert_eq!(texts(&items), ["step 3 Loss=0.10"]);
    let reply = app
        .get(&format!("{path}?since={}&until={}", T0 + 5, T0 + 5))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    // Filters combine.
    let items = read_all(
        &app,
        &path,
        &format!("stream=stdout&q=step&since={}", T0 + 1),
    )
    .await;
    assert_eq!(texts(&items), ["step 2 loss=0.25", "step 3 Loss=0.10"]);
}

async fn pages_follow_line_order_and_tokens_are_checked() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let other = app.create_run(&experiment).await;
    for batch in 0..4 {
        let lines = (0..5)
            .map(|i| {
                line(
                    "stdout",
                    T0 + batch * 5 + i,
                    &format!("line {}", batch * 5 + i),
                )
            })
            .collect();
        append_ok(&app, &run, lines).await;
    }
    append_ok(&app, &other, vec![line("stdout", T0, "other")]).await;
    let path = format!("/api/v1/runs/{run}/logs");

    // Pages of 3 across chunk boundaries, in line order, nothing lost or repeated.
    let first = app.get(&format!("{path}?limit=3")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"].as_array().unwrap().len(), 3);
    let items = read_all(&app, &path, "limit=3").await;
    let numbers: Vec<i64> = items
        .iter()
        .map(|i| i["line_number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, (0..20).collect::<Vec<_>>());
    assert_eq!(texts(&items)[19], "line 19");
    // Filtered paging.
    let items = read_all(&app, &path, "limit=2&q=1").await;
    assert_eq!(
        texts(&items),
        [
            "line 1", "line 10", "line 11", "line 12", "line 13", "line 14", "line 15", "line 16",
            "line 17", "line 18", "line 19"
        ]
    );

    // A token is for its log only, and must be one.
    let token = first.body["next_page_token"].as_str().unwrap().to_owned();
    let reply = app
        .get(&format!("/api/v1/runs/{other}/logs?page_token={token}"))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let reply = app.get(&format!("{path}?page_token=garbage")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    for limit in ["0", "1001"] {
        let reply = app.get(&format!("{path}?limit={limit}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
        assert!(reply.error_message().contains("limits.max_page_size"));
    }
}

/// A read examines at most 200,000 lines: a rare match far into a long log comes back after a
/// page without it, with a token to go on.
async fn a_search_of_a_long_log_answers_in_bounded_steps() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    for batch in 0..21 {
        let lines: Vec<Value> = (0..10_000)
            .map(|i| line("stdout", T0 + batch * 10_000 + i, "step"))
            .collect();
        append_ok(&app, &run, lines).await;
    }
    append_ok(&app, &run, vec![line("stderr", T0, "needle")]).await;
    let path = format!("/api/v1/runs/{run}/logs");
    let first = app.get(&format!("{path}?q=needle")).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["items"], json!([]), "the budget is spent first");
    let token = first.body["next_page_token"]
        .as_str()
        .expect("a token to go on")
        .to_owned();
    let second = app
        .get(&format!("{path}?q=needle&page_token={token}"))
        .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.body);
    assert_eq!(texts(second.body["items"].as_array().unwrap()), ["needle"]);
    assert_eq!(second.body["items"][0]["line_number"], 210_000);
    assert_eq!(second.body["next_page_token"], Value::Null);
    // The stream filter skips the stdout chunks without decoding them: one step.
    let items = app.get(&format!("{path}?q=needle&stream=stderr")).await;
    assert_eq!(texts(items.body["items"].as_array().unwrap()), ["needle"]);
    assert_eq!(items.body["next_page_token"], Value::Null);
}

async fn a_retried_batch_is_stored_once() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    let lines = vec![
        line("stdout", T0, "epoch 1"),
        line("stdout", T0, "epoch 1"),
        line("stderr", T0 + 1, "warn"),
    ];
    let body = json!({ "lines": lines, "batch_id": "spool-0001" });
    let first = append(&app, &run, body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(
        first.body["written"], 3,
        "identical lines in a batch are kept"
    );
    // The client retries (it did not see the answer): nothing is stored twice.
    let retry = append(&app, &run, body.clone()).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert_eq!(
        retry.body,
        json!({ "run_id": run, "first_line": 0, "written": 0, "duplicate": true })
    );
    let items = read_all(&app, &format!("/api/v1/runs/{run}/logs"), "").await;
    assert_eq!(texts(&items), ["epoch 1", "epoch 1", "warn"]);
    // Each append is in the audit trail with the digest of its lines and its key.
    let reply = app
        .get(&format!(
            "/api/v1/audit?action=run.log_lines&entity_id={run}"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let records = reply.body["items"].as_array().unwrap();
    assert_eq!(records.len(), 2, "the append and its retry: {}", reply.body);
    assert_eq!(records[0]["details"]["lines"], 3);
    assert_eq!(records[0]["details"]["batch_id"], "spool-0001");
    assert_eq!(records[0]["digest"], records[1]["digest"], "the same lines");

    // The same lines under another key (or none) are another batch: stored again.
    let other = append(
        &app,
        &run,
        json!({ "lines": lines, "batch_id": "spool-0002" }),
    )
    .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.body);
    assert_eq!(other.body["first_line"], 3);
    let unkeyed = append(&app, &run, json!({ "lines": lines })).await;
    assert_eq!(unkeyed.status, StatusCode::CREATED, "{}", unkeyed.body);
    let items = read_all(&app, &format!("/api/v1/runs/{run}/logs"), "").await;
    assert_eq!(items.len(), 9);

    // A used key with lines that differ in anything (here one timestamp) is refused, not
    // dropped: only a truly identical batch is a retry.
    let mut changed = lines.clone();
    changed[2]["timestamp"] = json!(T0 + 2);
    let reply = append(
        &app,
        &run,
        json!({ "lines": changed, "batch_id": "spool-0001" }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(
        reply.error_message().contains("spool-0001"),
        "{}",
        reply.body
    );
    // The key belongs to its run: another run takes it.
    let (_, _, run2) = app.create_hierarchy().await;
    let reply = append(&app, &run2, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let items = read_all(&app, &format!("/api/v1/runs/{run}/logs"), "").await;
    assert_eq!(items.len(), 9, "nothing changed");

    // Concurrent retries of one batch still store it once.
    let concurrent = json!({ "lines": [line("stdout", T0, "once")], "batch_id": "race" });
    let replies =
        futures_util::future::join_all((0..8).map(|_| append(&app, &run, concurrent.clone())))
            .await;
    let created = replies
        .iter()
        .filter(|r| r.status == StatusCode::CREATED)
        .count();
    assert_eq!(created, 1, "one of the concurrent retries stores the batch");
    assert!(replies.iter().all(|r| r.status.is_success()));
    let items = read_all(&app, &format!("/api/v1/runs/{run}/logs"), "q=once").await;
    assert_eq!(items.len(), 1);
}

async fn limits_and_invalid_lines_are_refused_naming_the_setting() {
    let app = TestApp::start_with(|c| {
        c.limits.max_log_lines_per_request = 3;
        c.limits.max_log_line_bytes = 10;
    })
    .await;
    let (_, _, run) = app.create_hierarchy().await;
    let four = (0..4)
        .map(|i| line("stdout", T0, &format!("{i}")))
        .collect::<Vec<_>>();
    let reply = append(&app, &run, json!({ "lines": four })).await;
    reply.assert_limit_exceeded("limits.max_log_lines_per_request", 3);
    // 10 bytes pass, 11 (here: 9 characters, two of them two bytes long) do not.
    let reply = append(
        &app,
        &run,
        json!({ "lines": [line("stdout", T0, "0123456789")] }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let reply = append(
        &app,
        &run,
        json!({ "lines": [line("stdout", T0, "ok"), line("stderr", T0, "ééabcdefg")] }),
    )
    .await;
    reply.assert_limit_exceeded("limits.max_log_line_bytes", 10);
    assert!(reply.error_message().contains("lines[1]"), "{}", reply.body);

    // Malformed lines name the field.
    let reply = append(&app, &run, json!({ "lines": [line("stdin", T0, "x")] })).await;
    reply.assert_invalid_field("lines[0].stream");
    let reply = append(
        &app,
        &run,
        json!({ "lines": [{ "stream": "stdout", "line": "no time" }] }),
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        reply.body
    );
    for timestamp in [json!(-1), json!(i64::MAX)] {
        let reply = append(
            &app,
            &run,
            json!({ "lines": [line("stdout", T0, "ok"), { "stream": "stdout", "timestamp": timestamp, "line": "x" }] }),
        )
        .await;
        reply.assert_invalid_field("lines[1].timestamp");
    }
    let reply = append(&app, &run, json!({ "lines": [] })).await;
    reply.assert_invalid_field("lines");
    let reply = append(
        &app,
        &run,
        json!({ "lines": [line("stdout", T0, "x")], "batch_id": "" }),
    )
    .await;
    reply.assert_invalid_field("batch_id");
    // Nothing of the refused requests was stored.
    let items = read_all(&app, &format!("/api/v1/runs/{run}/logs"), "").await;
    assert_eq!(texts(&items), ["0123456789"]);
}

async fn lifecycle_unknown_and_trashed_runs() {
    let app = TestApp::start().await;
    let (_, experiment, run) = app.create_hierarchy().await;
    let unknown = ets_domain::new_id();
    let reply = append(
        &app,
        &unknown,
        json!({ "lines": [line("stdout", T0, "x")] }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(reply.error_code(), "not_found");
    for path in [
        format!("/api/v1/runs/{unknown}/logs"),
        format!("/api/v1/runs/{unknown}/logs/stream"),
        format!("/api/v1/experiments/{unknown}/logs"),
    ] {
        let reply = app.get(&path).await;
        assert_eq!(
            reply.status,
            StatusCode::NOT_FOUND,
            "{path}: {}",
            reply.body
        );
    }

    // A finished run still takes lines (late output, an uploaded spool), as it takes metrics.
    append_ok(&app, &run, vec![line("stdout", T0, "before")]).await;
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/finish"),
            json!({ "status": "failed" }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    append_ok(&app, &run, vec![line("stderr", T0 + 1, "after the end")]).await;

    // In the trash: refused as metrics are, still readable; restored: writable again.
    app.delete_ok(&format!("/api/v1/runs/{run}")).await;
    let reply = append(&app, &run, json!({ "lines": [line("stdout", T0, "x")] })).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    assert!(reply.error_message().contains("trash") || reply.error_message().contains("deleted"));
    let metrics = app
        .post(
            &format!("/api/v1/runs/{run}/metrics"),
            json!({ "key": "m", "value": 1.0 }),
        )
        .await;
    assert_eq!(metrics.status, reply.status, "the same rule as metrics");
    let items = read_all(&app, &format!("/api/v1/runs/{run}/logs"), "").await;
    assert_eq!(texts(&items), ["before", "after the end"]);
    // The experiment's search leaves trashed runs out, like its lists.
    let items = read_all(&app, &format!("/api/v1/experiments/{experiment}/logs"), "").await;
    assert!(items.is_empty(), "{items:?}");
    let reply = app
        .post(&format!("/api/v1/runs/{run}/restore"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    append_ok(&app, &run, vec![line("stdout", T0 + 2, "restored")]).await;
    let items = read_all(&app, &format!("/api/v1/experiments/{experiment}/logs"), "").await;
    assert_eq!(texts(&items), ["before", "after the end", "restored"]);
}

async fn experiment_search_covers_its_runs() {
    let app = TestApp::start().await;
    let (project, experiment, run_a) = app.create_hierarchy().await;
    let run_b = app.create_run(&experiment).await;
    let elsewhere = app.create_experiment(&project, "elsewhere").await;
    let run_c = app.create_run(&elsewhere).await;
    append_ok(
        &app,
        &run_a,
        vec![
            line("stdout", T0, "a: CUDA out of memory"),
            line("stdout", T0 + 1, "a: fine"),
        ],
    )
    .await;
    append_ok(
        &app,
        &run_b,
        vec![
            line("stderr", T0 + 2, "b: RuntimeError: CUDA out of memory"),
            line("stdout", T0 + 3, "b: fine"),
        ],
    )
    .await;
    append_ok(
        &app,
        &run_c,
        vec![line("stdout", T0, "c: CUDA out of memory")],
    )
    .await;

    let path = format!("/api/v1/experiments/{experiment}/logs");
    let items = read_all(&app, &path, "q=out%20of%20memory").await;
    // Runs in creation order (their ids are time-ordered), then lines.
    assert_eq!(
        items,
        vec![
            json!({ "run_id": run_a, "line_number": 0, "stream": "stdout", "timestamp": T0,
                    "line": "a: CUDA out of memory" }),
            json!({ "run_id": run_b, "line_number": 0, "stream": "stderr", "timestamp": T0 + 2,
                    "line": "b: RuntimeError: CUDA out of memory" }),
        ]
    );
    // Paged one line at a time across runs.
    let items = read_all(&app, &path, "limit=1").await;
    assert_eq!(
        texts(&items),
        [
            "a: CUDA out of memory",
            "a: fine",
            "b: RuntimeError: CUDA out of memory",
            "b: fine"
        ]
    );
    let items = read_all(&app, &path, "regex=true&q=%5Eb%3A&stream=stdout").await;
    assert_eq!(texts(&items), ["b: fine"]);
    assert_eq!(items[0]["run_id"], run_b.as_str());
}

/// Opens a log stream of the app (it must answer 200).
async fn open_stream(app: &TestApp, url: &str, last_event_id: Option<&str>) -> Sse {
    sse::open(&app.url(url), last_event_id)
        .await
        .unwrap_or_else(|(status, body)| panic!("{url}: {status} {body}"))
}

/// Lines events until `count` lines have arrived; returns them and the last event id.
async fn collect_lines(events: &mut Sse, count: usize) -> (Vec<Value>, Option<String>) {
    let mut lines = Vec::new();
    let mut last_id = None;
    while lines.len() < count {
        let (id, event, data) = events.next_event().await;
        assert_eq!(event, "lines", "{data}");
        assert_eq!(data["type"], "lines");
        assert!(id.is_some(), "lines events carry an id");
        assert_eq!(data["next_line"].to_string(), id.clone().unwrap());
        lines.extend(data["items"].as_array().unwrap().iter().cloned());
        last_id = id;
    }
    assert_eq!(lines.len(), count, "{lines:?}");
    (lines, last_id)
}

async fn following_a_log_receives_lines_appended_after_connecting() {
    let app = TestApp::start().await;
    let (_, _, run) = app.create_hierarchy().await;
    append_ok(&app, &run, vec![line("stdout", T0, "already there")]).await;
    let path = format!("/api/v1/runs/{run}/logs/stream");

    let mut events = open_stream(&app, &path, None).await;
    let (ready_id, event, ready) = events.next_event().await;
    assert_eq!(event, "ready");
    assert_eq!(ready["run"]["id"], run.as_str());
    assert_eq!(
        ready["next_line"], 1,
        "by default the stream starts at the end"
    );
    assert_eq!(
        ready_id.as_deref(),
        Some("1"),
        "the position is the id from the start"
    );
    let mut only_errors = open_stream(&app, &format!("{path}?stream=stderr&q=boom"), None).await;
    assert_eq!(only_errors.next_event().await.1, "ready");

    append_ok(
        &app,
        &run,
        vec![
            line("stdout", T0 + 1, "live 1"),
            line("stderr", T0 + 2, "boom 2"),
        ],
    )
    .await;
    append_ok(&app, &run, vec![line("stdout", T0 + 3, "live 3")]).await;
    let (lines, last_id) = collect_lines(&mut events, 3).await;
    assert_eq!(
        lines,
        vec![
            json!({ "line_number": 1, "stream": "stdout", "timestamp": T0 + 1, "line": "live 1" }),
            json!({ "line_number": 2, "stream": "stderr", "timestamp": T0 + 2, "line": "boom 2" }),
            json!({ "line_number": 3, "stream": "stdout", "timestamp": T0 + 3, "line": "live 3" }),
        ]
    );
    assert_eq!(last_id.as_deref(), Some("4"));
    let (filtered, _) = collect_lines(&mut only_errors, 1).await;
    assert_eq!(texts(&filtered), ["boom 2"]);

    // The run's end is announced on the stream.
    let reply = app
        .post(&format!("/api/v1/runs/{run}/finish"), json!({}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let (_, event, data) = events.next_event().await;
    assert_eq!(event, "run_status", "{data}");
    assert_eq!(data["status"], "finished");

    // From the start: the whole log first, then what follows.
    let mut from_start = open_stream(&app, &format!("{path}?from_line=0"), None).await;
    assert_eq!(from_start.next_event().await.1, "ready");
    let (lines, _) = collect_lines(&mut from_start, 4).await;
    assert_eq!(
        texts(&lines),
        ["already there", "live 1", "boom 2", "live 3"]
    );

    // A client that lost the stream before any line came resumes at the position `ready` gave.
    let mut early = open_stream(&app, &path, ready_id.as_deref()).await;
    let (id, event, _) = early.next_event().await;
    assert_eq!((id.as_deref(), event.as_str()), (Some("1"), "ready"));
    let (lines, _) = collect_lines(&mut early, 3).await;
    assert_eq!(texts(&lines), ["live 1", "boom 2", "live 3"]);

    // A reconnect with Last-Event-ID resumes after the last line it received.
    drop(events);
    append_ok(&app, &run, vec![line("stdout", T0 + 4, "while away")]).await;
    let mut resumed = open_stream(&app, &path, last_id.as_deref()).await;
    assert_eq!(resumed.next_event().await.1, "ready");
    let (lines, _) = collect_lines(&mut resumed, 1).await;
    assert_eq!(texts(&lines), ["while away"]);
    let reply = app
        .send(
            app.client
                .get(app.url(&path))
                .header("last-event-id", "01a21e2d9a3f761181cc396b01f13565"),
        )
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
}

/// Chunks stored for `run`, read from the database itself.
async fn stored_chunks(app: &TestApp, run: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM run_log_chunks WHERE run_id = '{run}'");
    match app.database {
        Database::Sqlite => {
            let conn = rusqlite::Connection::open(app.data_dir.join("ets.db")).expect("open");
            conn.query_row(&sql, [], |r| r.get(0)).expect("count")
        }
        Database::Postgres => {
            let url = app.database_url.as_deref().expect("a PostgreSQL URL");
            let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .expect("connect");
            tokio::spawn(connection);
            client.query_one(&sql, &[]).await.expect("count").get(0)
        }
    }
}

async fn logs_go_with_their_run() {
    let app = TestApp::start_with(|c| c.artifacts.deleted_run_retention_days = 0).await;
    let (project, experiment, run) = app.create_hierarchy().await;
    let kept = app.create_run(&experiment).await;
    let lines = || vec![line("stdout", T0, "x"), line("stderr", T0, "y")];
    for target in [&run, &kept] {
        append_ok(&app, target, lines()).await;
        append_ok(&app, target, lines()).await;
    }
    assert_eq!(stored_chunks(&app, &run).await, 2);

    // Deleted for good: its log is gone, the other run's stays.
    app.delete_ok(&format!("/api/v1/runs/{run}?permanent=true"))
        .await;
    let reply = app.get(&format!("/api/v1/runs/{run}/logs")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    assert_eq!(stored_chunks(&app, &run).await, 0);
    assert_eq!(stored_chunks(&app, &kept).await, 2);

    // With its experiment, deleted for good.
    let other_experiment = app.create_experiment(&project, "second").await;
    let in_other = app.create_run(&other_experiment).await;
    append_ok(&app, &in_other, lines()).await;
    app.delete_ok(&format!(
        "/api/v1/experiments/{other_experiment}?permanent=true"
    ))
    .await;
    assert_eq!(stored_chunks(&app, &in_other).await, 0);

    // Trashed, then collected by gc.
    app.delete_ok(&format!("/api/v1/runs/{kept}")).await;
    assert_eq!(stored_chunks(&app, &kept).await, 2, "the trash keeps logs");
    tokio::time::sleep(Duration::from_millis(5)).await;
    let report = app
        .server
        .services
        .collect_garbage(&ets::actor::Actor::System)
        .await
        .expect("gc runs");
    assert_eq!(report.runs_purged, 1, "{report:?}");
    assert_eq!(stored_chunks(&app, &kept).await, 0);

    // With its project (cascade, for good).
    let (project, _, last) = app.create_hierarchy().await;
    append_ok(&app, &last, lines()).await;
    app.delete_ok(&format!(
        "/api/v1/projects/{project}?cascade=true&permanent=true"
    ))
    .await;
    assert_eq!(stored_chunks(&app, &last).await, 0);
}

/// A blocking client, dropped where blocking is allowed (its runtime cannot be dropped on an
/// async worker).
struct OffRuntime(Option<Http>);

impl Drop for OffRuntime {
    fn drop(&mut self) {
        let client = self.0.take();
        tokio::task::block_in_place(move || drop(client));
    }
}

/// Two `ets serve` processes on one PostgreSQL schema: a client following a run's log on B
/// gets the lines appended through A, promptly, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_across_instances_through_postgres() {
    if common::pg_test_url().is_none() {
        return;
    }
    ets::install_crypto_provider();
    let schema = common::create_pg_schema().await;
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    let database = ["--database-url", schema.url.as_str()];
    let (a, b) = tokio::task::block_in_place(|| {
        let start = |dir: &tempfile::TempDir| Served::start_with(dir.path(), &database).0;
        (start(&dirs[0]), start(&dirs[1]))
    });
    // Blocking calls (the suite's process client), off the stream's runtime threads.
    let http = OffRuntime(Some(Http::new()));
    let post = |url: String, body: Value| {
        let client = http.0.as_ref().expect("the client");
        let (status, reply) = tokio::task::block_in_place(|| client.post(&url, body));
        assert!((200..300).contains(&status), "{url}: {status} {reply}");
        reply
    };
    let project = post(
        format!("{}/api/v1/projects", a.base),
        json!({ "name": "logs" }),
    );
    let experiment = post(
        format!("{}/api/v1/experiments", a.base),
        json!({ "project_id": project["id"], "name": "x" }),
    );
    let run = post(
        format!("{}/api/v1/runs", a.base),
        json!({ "experiment_id": experiment["id"] }),
    );
    let run = run["id"].as_str().unwrap().to_owned();
    let url = format!("{}/api/v1/runs/{run}/logs/stream", b.base);
    let mut on_b = sse::open(&url, None).await.expect("the stream opens");
    assert_eq!(on_b.next_event().await.1, "ready");
    for batch in 0..3_i64 {
        let appended = std::time::Instant::now();
        let lines: Vec<Value> = (0..2)
            .map(|i| {
                line(
                    "stdout",
                    T0 + batch * 2 + i,
                    &format!("line {}", batch * 2 + i),
                )
            })
            .collect();
        post(
            format!("{}/api/v1/runs/{run}/logs", a.base),
            json!({ "lines": lines, "batch_id": format!("b{batch}") }),
        );
        let (items, id) = collect_lines(&mut on_b, 2).await;
        let expected = [
            format!("line {}", batch * 2),
            format!("line {}", batch * 2 + 1),
        ];
        assert_eq!(texts(&items), expected);
        assert_eq!(id, Some(((batch + 1) * 2).to_string()));
        assert!(
            appended.elapsed() < Duration::from_secs(2),
            "B saw A's lines within two seconds ({:?})",
            appended.elapsed()
        );
    }
    common::drop_pg_schema(&schema.name).await;
}
