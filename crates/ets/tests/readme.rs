//! The README's curl walkthrough works exactly as written, against a real server.

mod common;

use common::TestApp;

common::on_both_databases!(
    readme_walkthrough_runs_as_written,
    readme_artifacts_walkthrough_runs_as_written,
    readme_charts_walkthrough_draws_the_image_the_readme_shows,
    readme_logs_walkthrough_runs_as_written,
);

/// Runs the bash block that follows `marker` in the README against a fresh server; returns
/// its output.
async fn run_block(marker: &str) -> String {
    run_block_with(marker, &[]).await
}

/// [`run_block`] with extra environment variables.
async fn run_block_with(marker: &str, env: &[(&str, &std::path::Path)]) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let at = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README has {marker}"));
    let block = &readme[at..];
    let start = block
        .find("```bash\n")
        .expect("a bash block follows the marker")
        + "```bash\n".len();
    let end = block[start..].find("```").expect("the block ends") + start;
    let script = &block[start..end];

    let app = TestApp::start().await;
    let output = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", script])
        .env("ETS", &app.base)
        .envs(env.iter().map(|(k, v)| (*k, v.as_os_str())))
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "walkthrough failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

async fn readme_walkthrough_runs_as_written() {
    let stdout = run_block("<!-- walkthrough").await;
    assert!(
        stdout.contains(r#""key":"train/loss","points":[{"step":1"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""total_points":3"#), "{stdout}");
    assert!(stdout.contains(r#""status":"finished""#), "{stdout}");
    assert!(stdout.contains(r#""metric_points":4"#), "{stdout}");
}

async fn readme_artifacts_walkthrough_runs_as_written() {
    let stdout = run_block("<!-- artifacts walkthrough").await;
    // The upload's record, the listing, the file, its first six bytes, the joined upload.
    assert!(
        stdout.contains(r#""path":"config/params.json","size":28"#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#""content_type":"application/json""#),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"lr": 0.001, "epochs": 30}"#),
        "{stdout}"
    );
    assert!(stdout.contains("\n{\"lr\":\n"), "{stdout}");
    // A form upload into a folder keeps the file's name; curl's generic part type gives way to
    // the extension's.
    assert!(
        stdout.contains(r#""path":"backup/params.json","size":28"#),
        "{stdout}"
    );
    assert_eq!(
        stdout
            .matches(r#""content_type":"application/json""#)
            .count(),
        3,
        "both uploads and the listing say JSON: {stdout}"
    );
    assert!(
        stdout.contains(r#""path":"weights/model.bin","size":3000000"#),
        "{stdout}"
    );
}

async fn readme_logs_walkthrough_runs_as_written() {
    let stdout = run_block("<!-- logs walkthrough").await;
    assert!(
        stdout.contains(r#""first_line":0,"written":2,"duplicate":false"#),
        "{stdout}"
    );
    // The answer the README quotes, then the regex search, the experiment's search, the stream.
    assert!(
        stdout.contains(
            r#"{"items":[{"line_number":0,"stream":"stdout","timestamp":1700000000000,"line":"epoch 1 loss=0.91"}],"next_page_token":null}"#
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains(r#"{"items":[{"line_number":1,"stream":"stderr","timestamp":1700000000450,"line":"WARNING: lr too high"}],"next_page_token":null}"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""run_id":"#), "{stdout}");
    assert!(stdout.contains("event: ready"), "{stdout}");
    assert!(stdout.contains("id: 2\nevent: lines\n"), "{stdout}");
}

/// The chart walkthrough draws exactly the image the README shows (`UPDATE_README_IMAGES=1`
/// writes it anew), and its report is a PDF.
async fn readme_charts_walkthrough_draws_the_image_the_readme_shows() {
    let out = tempfile::tempdir().unwrap();
    let (png, pdf) = (out.path().join("loss.png"), out.path().join("report.pdf"));
    let stdout = run_block_with(
        "<!-- charts walkthrough",
        &[("CHART_PNG", png.as_path()), ("REPORT_PDF", pdf.as_path())],
    )
    .await;
    assert!(stdout.contains(r#"{"data":[{"#), "{stdout}");
    assert!(std::fs::read(&pdf).unwrap().starts_with(b"%PDF"));
    let drawn = std::fs::read(&png).unwrap();
    let committed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/images/readme-chart.png"
    );
    if std::env::var_os("UPDATE_README_IMAGES").is_some() {
        std::fs::write(committed, &drawn).unwrap();
    }
    let shown =
        std::fs::read(committed).expect("docs/images/readme-chart.png (UPDATE_README_IMAGES=1)");
    assert!(
        shown == drawn,
        "the README's chart differs from what the walkthrough draws now; \
         rerun with UPDATE_README_IMAGES=1 and look at docs/images/readme-chart.png"
    );
}
