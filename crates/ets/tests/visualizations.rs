//! `/api/v1/visualizations`: every chart type in every format on both databases, checked by
//! the field's own tools where they exist (plotly.py's validator, headless Chromium with the
//! network off, poppler's pdftoppm/pdftotext: `tests/visualizations/`, installed by the test
//! command); M4 reduction through the API; dashboards, templates, snapshots, exports, the
//! healthcare dashboard and bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};

common::on_both_databases!(
    every_chart_type_renders_in_every_format,
    line_charts_are_reduced_to_their_pixel_columns_and_keep_every_spike,
    dashboards_list_their_charts_and_lose_deleted_ones,
    templates_make_charts_from_an_experiment,
    a_snapshot_keeps_its_data_and_a_live_chart_follows_the_runs,
    experiment_exports_carry_the_disclaimer_on_every_pdf_page,
    the_crisis_detection_dashboard_marks_runs_that_breach_a_threshold,
    bad_chart_input_is_a_4xx_that_says_what_to_fix,
    a_preview_draws_a_definition_without_saving_it,
);

/// An experiment with three runs: params `lr` (number) and `opt` (text), a `loss` curve with
/// a spike, `acc`, a confusion matrix artifact on one run and metric-convention counts on
/// another. Returns (project, experiment, run ids).
async fn world(app: &TestApp, healthcare: bool) -> (String, String, Vec<String>) {
    let project = app.create_project("charts").await;
    let mut experiment = json!({ "project_id": project, "name": "sweep" });
    if healthcare {
        experiment["healthcare"] = json!({});
    }
    let experiment = app.post("/api/v1/experiments", experiment).await.id();
    let mut runs = Vec::new();
    for (i, (lr, opt)) in [(0.1, "adam"), (0.01, "sgd"), (0.001, "adam")]
        .iter()
        .enumerate()
    {
        let run = app
            .post(
                "/api/v1/runs",
                json!({ "experiment_id": experiment, "name": format!("run-{i}"),
                        "params": { "lr": lr, "opt": opt } }),
            )
            .await
            .id();
        let steps: Vec<i64> = (0..500).collect();
        let loss: Vec<f64> = steps
            .iter()
            .map(|&s| {
                if s == 250 {
                    9.0
                } else {
                    1.0 / (1.0 + s as f64 * lr)
                }
            })
            .collect();
        let acc: Vec<f64> = steps
            .iter()
            .map(|&s| 0.5 + s as f64 / 1000.0 - i as f64 * 0.01)
            .collect();
        let reply = app
            .post(
                &format!("/api/v1/runs/{run}/bulk-metrics"),
                json!({ "series": [
                    { "key": "loss", "steps": steps, "values": loss, "timestamp": 1_700_000_000_000i64 },
                    { "key": "acc", "steps": steps, "values": acc, "timestamp": 1_700_000_000_000i64 },
                    { "key": "crisis_detection_rate", "steps": [0, 1], "values": [0.97, 0.995 - i as f64 * 0.01], "timestamp": 1_700_000_000_000i64 },
                    { "key": "false_negative_rate", "steps": [0, 1], "values": [0.02, 0.005], "timestamp": 1_700_000_000_000i64 },
                    { "key": "response_quality", "steps": [0, 1], "values": [0.7, 0.9], "timestamp": 1_700_000_000_000i64 },
                ] }),
            )
            .await;
        assert!(reply.status.is_success(), "{}", reply.body);
        runs.push(run);
    }
    let matrix = json!({ "labels": ["no crisis", "crisis"], "matrix": [[50, 2], [3, 45]] });
    let reply = app
        .post_raw(
            &format!(
                "/api/v1/runs/{}/artifacts?path=confusion_matrix.json",
                runs[0]
            ),
            matrix.to_string(),
            "application/octet-stream",
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    (project, experiment, runs)
}

async fn create_chart(app: &TestApp, body: Value) -> String {
    let reply = app
        .post("/api/v1/visualizations/charts", body.clone())
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{body}: {}", reply.body);
    reply.id()
}

/// GETs `path`; its status, content type and bytes.
async fn fetch(app: &TestApp, path: &str) -> (StatusCode, String, Vec<u8>) {
    let response = app
        .client
        .get(app.url(path))
        .send()
        .await
        .expect("request sent");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (
        status,
        content_type,
        response.bytes().await.expect("body").to_vec(),
    )
}

/// The external checks of `tests/visualizations/` (set up by `tests/visualizations/setup.sh`).
struct Tools {
    dir: PathBuf,
}

impl Tools {
    /// The tools, or `None` outside CI when they are not installed (in CI they must be).
    fn find() -> Option<Tools> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/visualizations");
        let ready = dir.join(".venv/bin/python").exists()
            && dir.join("node_modules/playwright-core").exists()
            && which("pdftoppm")
            && which("chromium");
        if ready {
            return Some(Tools { dir });
        }
        assert!(
            !common::in_ci(),
            "CI: the visualization tools must be installed (tests/visualizations/setup.sh)"
        );
        eprintln!("skipping external chart checks: run tests/visualizations/setup.sh");
        None
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = Command::new(program)
            .args(args)
            .current_dir(&self.dir)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            output.status.success(),
            "{program} {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn validate_plotly(&self, files: &[PathBuf]) {
        let python = self.dir.join(".venv/bin/python");
        let mut args = vec!["validate_plotly.py".to_owned()];
        args.extend(files.iter().map(|f| f.display().to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.run(python.to_str().expect("utf-8 path"), &args);
    }

    fn render_html(&self, html: &Path, png: &Path) {
        self.run(
            "node",
            &[
                "render_html.mjs",
                html.to_str().expect("utf-8 path"),
                png.to_str().expect("utf-8 path"),
            ],
        );
    }

    /// Opens a page the test server serves (async: the server answers while Chromium waits);
    /// `extra` are further arguments of `render_html.mjs` (e.g. `--y-includes`).
    async fn render_url(&self, url: &str, png: &Path, extra: &[&str]) {
        let output = tokio::process::Command::new("node")
            .args(["render_html.mjs", url, png.to_str().expect("utf-8 path")])
            .args(extra)
            .current_dir(&self.dir)
            .output()
            .await
            .expect("node runs");
        assert!(
            output.status.success(),
            "render_html.mjs {url} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn check_pdf(&self, pdf: &Path, extra: &[&str]) {
        let mut args = vec!["check_pdf.sh", pdf.to_str().expect("utf-8 path")];
        args.extend_from_slice(extra);
        self.run("bash", &args);
    }
}

fn which(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether a PNG has pixels that are not white (decoded through the renderer's own crate).
fn png_has_ink(bytes: &[u8]) -> bool {
    let pixmap = ets_charts::raster::decode_png(bytes).expect("a PNG");
    pixmap
        .chunks(4)
        .any(|p| p[0] < 200 || p[1] < 200 || p[2] < 200)
}

async fn every_chart_type_renders_in_every_format() {
    let app = TestApp::start().await;
    let (_, experiment, runs) = world(&app, false).await;
    let specs = [
        json!({ "type": "line", "metrics": ["loss", "acc"], "smoothing": 0.5 }),
        json!({ "type": "line", "metrics": ["loss"], "group_by": "params.opt", "band": "ci95", "log_y": true }),
        json!({ "type": "line", "metrics": ["loss"], "x_axis": "relative_time" }),
        json!({ "type": "line", "metrics": ["loss"], "x_axis": "metric", "x_metric": "acc" }),
        json!({ "type": "bar", "metrics": ["acc", "loss"], "aggregate": "max" }),
        json!({ "type": "bar", "metrics": ["acc"], "aggregate": "mean", "group_by": "params.opt" }),
        json!({ "type": "scatter", "x": "params.lr", "metrics": ["acc"], "log_x": true }),
        json!({ "type": "heatmap", "params": ["lr", "opt"], "metrics": ["acc"] }),
        json!({ "type": "confusion_matrix", "run_ids": [runs[0]] }),
        json!({ "type": "histogram", "metrics": ["acc"], "bins": 5 }),
        json!({ "type": "parallel_coordinates", "params": ["lr", "opt"], "metrics": ["loss", "acc"] }),
    ];
    let out = tempfile::tempdir().expect("temp dir");
    let tools = Tools::find();
    let (mut json_files, mut html_files, mut pdf_files) = (Vec::new(), Vec::new(), Vec::new());
    for (i, spec) in specs.iter().enumerate() {
        let mut body = spec.clone();
        body["name"] = json!(format!("chart {i}"));
        body["experiment_id"] = json!(experiment);
        let id = create_chart(&app, body).await;
        let definition = app
            .get(&format!("/api/v1/visualizations/charts/{id}"))
            .await;
        assert_eq!(definition.body["type"], spec["type"], "{}", definition.body);
        for (format, content_type) in [
            ("json", "application/json"),
            ("svg", "image/svg+xml"),
            ("png", "image/png"),
            ("pdf", "application/pdf"),
            ("html", "text/html"),
        ] {
            let path =
                format!("/api/v1/visualizations/charts/{id}?format={format}&width=640&height=400");
            let (status, got_type, bytes) = fetch(&app, &path).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{spec} {format}: {}",
                String::from_utf8_lossy(&bytes)
            );
            assert!(
                got_type.starts_with(content_type),
                "{spec} {format}: {got_type}"
            );
            match format {
                "json" => {
                    let figure: Value = serde_json::from_slice(&bytes).expect("JSON");
                    assert!(
                        !figure["data"].as_array().expect("data").is_empty(),
                        "{spec}: {figure}"
                    );
                    assert_eq!(figure["layout"]["width"], 640, "{spec}");
                }
                "svg" => assert!(String::from_utf8_lossy(&bytes).contains("<svg"), "{spec}"),
                "png" => assert!(png_has_ink(&bytes), "{spec}: a blank PNG"),
                "pdf" => assert!(bytes.starts_with(b"%PDF"), "{spec}"),
                _ => {
                    let page = String::from_utf8_lossy(&bytes);
                    assert!(
                        page.contains("Plotly.newPlot") && !page.contains("<script src="),
                        "{spec}"
                    );
                }
            }
            let file = out.path().join(format!("chart-{i}.{format}"));
            std::fs::write(&file, &bytes).expect("written");
            match format {
                "json" => json_files.push(file),
                "html" => html_files.push(file),
                "pdf" => pdf_files.push(file),
                _ => {}
            }
        }
    }
    let Some(tools) = tools else { return };
    tools.validate_plotly(&json_files);
    for pdf in &pdf_files {
        tools.check_pdf(pdf, &["--pages", "1"]);
    }
    // Chromium is slow to start: open one page of each kind of trace.
    for html in [&html_files[0], &html_files[7], &html_files[10]] {
        tools.render_html(html, &html.with_extension("shot.png"));
    }
    // Opened from the server itself, under the CSP it sends with the page.
    let chart = create_chart(
        &app,
        json!({ "name": "served", "type": "line", "experiment_id": experiment, "metrics": ["loss"] }),
    )
    .await;
    let served = app.url(&format!(
        "/api/v1/visualizations/charts/{chart}?format=html"
    ));
    tools
        .render_url(&served, &out.path().join("served.png"), &[])
        .await;
}

async fn line_charts_are_reduced_to_their_pixel_columns_and_keep_every_spike() {
    let app = TestApp::start().await;
    let project = app.create_project("m4").await;
    let experiment = app.create_experiment(&project, "long").await;
    let run = app.create_run(&experiment).await;
    let n = 100_000i64;
    let steps: Vec<i64> = (0..n).collect();
    let mut values: Vec<f64> = steps.iter().map(|&s| (s as f64 / 3000.0).sin()).collect();
    values[31_337] = 50.0;
    values[77_777] = -50.0;
    let reply = app
        .post(
            &format!("/api/v1/runs/{run}/bulk-metrics"),
            json!({ "series": [{ "key": "signal", "steps": steps, "values": values, "timestamp": 1 }] }),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    let id = create_chart(
        &app,
        json!({ "name": "signal", "type": "line", "experiment_id": experiment, "metrics": ["signal"] }),
    )
    .await;
    let path = format!("/api/v1/visualizations/charts/{id}?format=json&width=800");
    let (_, _, bytes) = fetch(&app, &path).await;
    let figure: Value = serde_json::from_slice(&bytes).expect("JSON");
    let trace = &figure["data"][0];
    let (ys, xs) = (numbers(&trace["y"]), numbers(&trace["x"]));
    // One run, no legend: the plot area of an 800 px chart is 800 - 80 - 24 px wide. A
    // browser draws the JSON: each column keeps its lowest and highest point, plus the ends.
    let columns = 800 - 80 - 24;
    assert!(
        ys.len() <= 2 * columns + 2,
        "{} points for {columns} pixel columns",
        ys.len()
    );
    assert!(ys.len() > columns, "too few points: {}", ys.len());
    assert!(
        ys.contains(&50.0) && ys.contains(&-50.0),
        "a spike was lost"
    );
    assert_eq!(
        (xs[0], xs[xs.len() - 1]),
        (0.0, (n - 1) as f64),
        "the ends are kept"
    );
    assert_eq!(
        trace["y"]["dtype"], "f8",
        "a long series is a typed array: {}",
        trace["y"]
    );

    // Sent gzip-compressed to a client that accepts it, the same figure.
    let response = app
        .client
        .get(app.url(&path))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.headers()["content-encoding"], "gzip");
    let compressed = response.bytes().await.expect("body");
    assert!(
        compressed.len() < bytes.len(),
        "{} bytes compressed, {} plain",
        compressed.len(),
        bytes.len()
    );
    let mut plain = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .expect("gzip");
    assert_eq!(plain, bytes);

    // plotly.py's validator accepts the typed arrays, and plotly.js reads them: in Chromium,
    // the page's y axis reaches both spikes.
    if let Some(tools) = Tools::find() {
        let out = tempfile::tempdir().expect("temp dir");
        let json_file = out.path().join("long.json");
        std::fs::write(&json_file, &bytes).expect("write the JSON");
        tools.validate_plotly(&[json_file]);
        let html = app.url(&format!("/api/v1/visualizations/charts/{id}?format=html"));
        tools
            .render_url(
                &html,
                &out.path().join("long.png"),
                &["--y-includes", "-50,50"],
            )
            .await;
    }
}

/// The numbers of a Plotly data array: a JSON list (nulls skipped) or a typed array
/// (`{"dtype", "bdata"}`: little-endian, base64).
fn numbers(v: &Value) -> Vec<f64> {
    use base64::Engine as _;
    if let Some(list) = v.as_array() {
        return list.iter().filter_map(Value::as_f64).collect();
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["bdata"].as_str().expect("a list or a typed array"))
        .expect("base64");
    match v["dtype"].as_str().expect("dtype") {
        "i4" => bytes
            .chunks_exact(4)
            .map(|c| f64::from(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        "f4" => bytes
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        "f8" => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
        other => panic!("unexpected dtype {other}"),
    }
}

async fn dashboards_list_their_charts_and_lose_deleted_ones() {
    let app = TestApp::start().await;
    let (_, experiment, _) = world(&app, false).await;
    let loss = create_chart(
        &app,
        json!({ "name": "loss", "type": "line", "experiment_id": experiment, "metrics": ["loss"] }),
    )
    .await;
    let acc = create_chart(
        &app,
        json!({ "name": "acc", "type": "bar", "experiment_id": experiment, "metrics": ["acc"] }),
    )
    .await;
    let reply = app
        .post(
            "/api/v1/visualizations/dashboards",
            json!({ "name": "overview", "charts": [acc, loss] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let dashboard = reply.id();
    let got = app
        .get(&format!("/api/v1/visualizations/dashboards/{dashboard}"))
        .await;
    let ids: Vec<&str> = got.body["charts"]
        .as_array()
        .expect("charts")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(
        ids,
        [acc.as_str(), loss.as_str()],
        "charts in the order given"
    );
    let list = app.get("/api/v1/visualizations/dashboards").await;
    assert_eq!(list.body["items"].as_array().expect("items").len(), 1);
    let charts = app
        .get(&format!(
            "/api/v1/visualizations/charts?experiment_id={experiment}"
        ))
        .await;
    assert_eq!(charts.body["items"].as_array().expect("items").len(), 2);
    // Renamed and reordered.
    let patched = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/visualizations/dashboards/{dashboard}")))
                .json(&json!({ "name": "renamed", "charts": [loss, acc] })),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(patched.body["name"], "renamed");
    assert_eq!(patched.body["charts"][0]["id"], json!(loss));
    app.delete_ok(&format!("/api/v1/visualizations/charts/{loss}"))
        .await;
    let got = app
        .get(&format!("/api/v1/visualizations/dashboards/{dashboard}"))
        .await;
    assert_eq!(
        got.body["charts"].as_array().expect("charts").len(),
        1,
        "{}",
        got.body
    );
    assert_eq!(
        app.get(&format!("/api/v1/visualizations/charts/{loss}"))
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    // The dashboard drawn as a report.
    let (status, content_type, bytes) = fetch(
        &app,
        &format!("/api/v1/visualizations/dashboards/{dashboard}?format=pdf"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/pdf")
    );
    assert!(bytes.starts_with(b"%PDF"));
    // A chart that does not exist cannot be added.
    let reply = app
        .post(
            "/api/v1/visualizations/dashboards",
            json!({ "name": "broken", "charts": [acc, "nope"] }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND, "{}", reply.body);
    app.delete_ok(&format!("/api/v1/visualizations/dashboards/{dashboard}"))
        .await;
    assert_eq!(
        app.get(&format!("/api/v1/visualizations/charts/{acc}"))
            .await
            .status,
        StatusCode::OK,
        "charts outlive their dashboard"
    );
}

async fn templates_make_charts_from_an_experiment() {
    let app = TestApp::start().await;
    let (_, experiment, _) = world(&app, true).await;
    let templates = app.get("/api/v1/visualizations/templates").await;
    let names: Vec<&str> = templates
        .body
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert!(names.len() >= 5, "{names:?}");
    for name in names {
        let reply = app
            .post(
                &format!("/api/v1/visualizations/charts/from-template/{name}"),
                json!({ "experiment_id": experiment }),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{name}: {}", reply.body);
        let id = reply.id();
        let (status, _, bytes) = fetch(
            &app,
            &format!("/api/v1/visualizations/charts/{id}?format=png"),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{name}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert!(png_has_ink(&bytes), "{name}");
    }
    let reply = app
        .post(
            "/api/v1/visualizations/charts/from-template/nonexistent",
            json!({ "experiment_id": experiment }),
        )
        .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

async fn a_snapshot_keeps_its_data_and_a_live_chart_follows_the_runs() {
    let app = TestApp::start().await;
    let (_, experiment, runs) = world(&app, false).await;
    let chart = |snapshot: bool| {
        json!({ "name": "acc", "type": "bar", "experiment_id": experiment,
                                          "metrics": ["acc"], "snapshot": snapshot })
    };
    let frozen = create_chart(&app, chart(true)).await;
    let live = create_chart(&app, chart(false)).await;
    let frozen_def = app
        .get(&format!("/api/v1/visualizations/charts/{frozen}"))
        .await;
    assert!(
        frozen_def.body["snapshot_at"].is_i64() || frozen_def.body["snapshot_at"].is_string(),
        "{}",
        frozen_def.body
    );
    let before = fetch(
        &app,
        &format!("/api/v1/visualizations/charts/{frozen}?format=json"),
    )
    .await
    .2;
    let reply = app
        .post(
            &format!("/api/v1/runs/{}/metrics", runs[0]),
            json!({ "metrics": [{ "key": "acc", "value": 123.0, "step": 10_000 }] }),
        )
        .await;
    assert!(reply.status.is_success(), "{}", reply.body);
    let after = fetch(
        &app,
        &format!("/api/v1/visualizations/charts/{frozen}?format=json"),
    )
    .await
    .2;
    assert_eq!(before, after, "a snapshot does not follow the runs");
    let live_figure = String::from_utf8(
        fetch(
            &app,
            &format!("/api/v1/visualizations/charts/{live}?format=json"),
        )
        .await
        .2,
    )
    .expect("utf-8");
    assert!(
        live_figure.contains("123"),
        "a live chart shows the new value: {live_figure}"
    );
    // Thawed by a patch, it follows the runs again.
    let reply = app
        .send(
            app.client
                .patch(app.url(&format!("/api/v1/visualizations/charts/{frozen}")))
                .json(&json!({ "snapshot": false })),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let thawed = String::from_utf8(
        fetch(
            &app,
            &format!("/api/v1/visualizations/charts/{frozen}?format=json"),
        )
        .await
        .2,
    )
    .expect("utf-8");
    assert!(thawed.contains("123"));
}

async fn experiment_exports_carry_the_disclaimer_on_every_pdf_page() {
    let app = TestApp::start().await;
    let (_, experiment, _) = world(&app, true).await;
    let out = tempfile::tempdir().expect("temp dir");
    let base = format!("/api/v1/visualizations/export/experiment/{experiment}");
    let (status, content_type, pdf) = fetch(&app, &format!("{base}?format=pdf")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/pdf")
    );
    let pdf_file = out.path().join("report.pdf");
    std::fs::write(&pdf_file, &pdf).expect("written");
    let (status, _, html) = fetch(&app, &format!("{base}?format=html")).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(html).expect("utf-8");
    assert!(
        html.contains("Medical disclaimer"),
        "the HTML report shows the disclaimer"
    );
    let html_file = out.path().join("report.html");
    std::fs::write(&html_file, &html).expect("written");
    let (status, content_type, zip) = fetch(&app, &format!("{base}?format=zip")).await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/zip")
    );
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).expect("a ZIP");
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.expect("an entry name").into_owned())
        .collect();
    assert!(
        names.iter().any(|n| n.ends_with(".png")) && names.iter().any(|n| n.ends_with(".svg")),
        "{names:?}"
    );
    let (status, _, bundle) = fetch(&app, &format!("{base}?format=json")).await;
    assert_eq!(status, StatusCode::OK);
    let bundle: Value = serde_json::from_slice(&bundle).expect("JSON");
    assert!(bundle["disclaimer"].is_string(), "{bundle}");
    if let Some(tools) = Tools::find() {
        tools.check_pdf(&pdf_file, &["--expect-text", "Medical disclaimer"]);
        tools.render_html(&html_file, &out.path().join("report.png"));
    }
}

async fn the_crisis_detection_dashboard_marks_runs_that_breach_a_threshold() {
    let app = TestApp::start().await;
    let (project, experiment, runs) = world(&app, true).await;
    let reply = app
        .get(&format!(
            "/api/v1/visualizations/healthcare/crisis-detection-dashboard?project_id={project}"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let panel = &reply.body["items"][0];
    assert_eq!(panel["experiment_id"], json!(experiment));
    assert_eq!(panel["figures"].as_array().expect("figures").len(), 3);
    // Latest crisis detection rates: 0.995, 0.985, 0.975 against a 0.99 minimum.
    let mut breaching: Vec<&str> = panel["runs"]
        .as_array()
        .expect("runs")
        .iter()
        .filter(|r| !r["breaches"].as_array().expect("breaches").is_empty())
        .filter_map(|r| r["run_id"].as_str())
        .collect();
    breaching.sort_unstable();
    let mut expected = [runs[1].as_str(), runs[2].as_str()];
    expected.sort_unstable();
    assert_eq!(breaching, expected, "{panel}");
    assert_eq!(panel["breaching_runs"], 2);
    let (status, content_type, _) = fetch(
        &app,
        &format!("/api/v1/visualizations/healthcare/crisis-detection-dashboard?experiment_id={experiment}&format=pdf"),
    )
    .await;
    assert_eq!(
        (status, content_type.as_str()),
        (StatusCode::OK, "application/pdf")
    );
}

async fn bad_chart_input_is_a_4xx_that_says_what_to_fix() {
    let app = TestApp::start().await;
    let (_, experiment, _) = world(&app, false).await;
    let cases = [
        (
            json!({ "name": "x", "type": "pie", "experiment_id": experiment, "metrics": ["acc"] }),
            "pie",
        ),
        (
            json!({ "name": "x", "type": "heatmap", "experiment_id": experiment, "metrics": ["acc"], "params": ["lr"] }),
            "exactly two",
        ),
        (
            json!({ "name": "x", "type": "line", "experiment_id": experiment }),
            "metric",
        ),
        (
            json!({ "name": "x", "type": "line", "experiment_id": experiment, "metrics": ["acc"], "colour": "red" }),
            "colour",
        ),
        (
            json!({ "name": "x", "type": "line", "experiment_id": experiment, "metrics": ["acc"], "smoothing": 1.5 }),
            "smoothing",
        ),
        (
            json!({ "name": "x", "type": "line", "experiment_id": experiment, "metrics": ["acc"], "filter": "metrics.acc >" }),
            "filter",
        ),
        (
            json!({ "name": " ", "type": "line", "experiment_id": experiment, "metrics": ["acc"] }),
            "name",
        ),
        (
            json!({ "name": "x", "type": "line", "metrics": ["acc"] }),
            "experiment_id",
        ),
    ];
    for (body, hint) in cases {
        let reply = app
            .post("/api/v1/visualizations/charts", body.clone())
            .await;
        assert!(reply.status.is_client_error(), "{body}: {}", reply.status);
        let message = reply.body.to_string().to_lowercase();
        assert!(
            message.contains(&hint.to_lowercase()),
            "{body}: {message} lacks '{hint}'"
        );
    }
    let id = create_chart(
        &app,
        json!({ "name": "ok", "type": "line", "experiment_id": experiment, "metrics": ["acc"] }),
    )
    .await;
    for query in ["format=gif", "format=png&width=10", "format=png&dpi=5000"] {
        let (status, _, body) =
            fetch(&app, &format!("/api/v1/visualizations/charts/{id}?{query}")).await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    let missing = create_chart(&app, json!({ "name": "cm", "type": "confusion_matrix", "experiment_id": experiment, "artifact": "nothing.json" })).await;
    let reply = app
        .get(&format!(
            "/api/v1/visualizations/charts/{missing}?format=json"
        ))
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.error_message().contains("nothing.json"),
        "{}",
        reply.body
    );
}

async fn a_preview_draws_a_definition_without_saving_it() {
    let app = TestApp::start().await;
    let (_, experiment, _) = world(&app, false).await;
    let definition = json!({ "name": "try", "type": "scatter", "experiment_id": experiment,
                             "x": "params.lr", "metrics": ["acc"] });
    let response = app
        .client
        .post(app.url("/api/v1/visualizations/preview?format=svg"))
        .json(&definition)
        .send()
        .await
        .expect("request sent");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
    let svg = response.text().await.expect("body");
    assert!(
        svg.starts_with("<svg") && svg.contains(">try<"),
        "{}",
        &svg[..200.min(svg.len())]
    );

    let json = app.post("/api/v1/visualizations/preview", definition).await;
    assert_eq!(json.status, StatusCode::OK, "{}", json.body);
    assert!(
        !json.body["data"]
            .as_array()
            .expect("Plotly data")
            .is_empty()
    );
    let saved = app
        .get(&format!(
            "/api/v1/visualizations/charts?experiment_id={experiment}"
        ))
        .await;
    assert_eq!(saved.body["items"], json!([]), "a preview saves nothing");

    let bad = app
        .post(
            "/api/v1/visualizations/preview",
            json!({ "name": "bad", "type": "pie", "experiment_id": experiment }),
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert!(
        bad.body["error"]["message"]
            .as_str()
            .expect("message")
            .contains("pie")
    );
}
