//! The README's curl walkthrough works exactly as written, against a real server.

mod common;

use common::TestApp;

#[tokio::test]
async fn readme_walkthrough_runs_as_written() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let marker = readme
        .find("<!-- walkthrough")
        .expect("README marks its walkthrough");
    let block = &readme[marker..];
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
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "walkthrough failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains(r#""key":"train/loss","points":[{"step":1"#),
        "{stdout}"
    );
    assert!(stdout.contains(r#""total_points":3"#), "{stdout}");
    assert!(stdout.contains(r#""status":"finished""#), "{stdout}");
    assert!(stdout.contains(r#""metric_points":4"#), "{stdout}");
}
