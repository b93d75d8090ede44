//! The README's curl walkthrough works exactly as written, against a real server.

mod common;

use common::TestApp;

common::on_both_databases!(
    readme_walkthrough_runs_as_written,
    readme_artifacts_walkthrough_runs_as_written,
);

/// Runs the bash block that follows `marker` in the README against a fresh server; returns
/// its output.
async fn run_block(marker: &str) -> String {
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
