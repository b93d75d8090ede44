//! What the importer reads from an MLflow store, whatever the store: experiments, runs with
//! their params and tags, full metric histories and artifact files.

use std::path::{Path, PathBuf};

use async_trait::async_trait;

/// An MLflow experiment (active ones only).
#[derive(Debug, Clone)]
pub struct Experiment {
    /// The id in the source store.
    pub id: String,
    pub name: String,
    pub tags: Vec<(String, String)>,
}

/// An MLflow run (active ones only), without its metrics.
#[derive(Debug, Clone, Default)]
pub struct Run {
    /// The id in the source store.
    pub id: String,
    pub experiment_id: String,
    pub name: Option<String>,
    /// MLflow's name of the status: `RUNNING`, `SCHEDULED`, `FINISHED`, `FAILED`, `KILLED`.
    pub status: String,
    pub start_time: Option<i64>,
    pub end_time: Option<i64>,
    pub user_id: Option<String>,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub artifact_uri: Option<String>,
}

/// One point of a metric history.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub key: String,
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
    pub step: i64,
}

/// An MLflow store the importer reads.
#[async_trait]
pub trait Source: Send {
    /// The store, as recorded on every imported run (`ets.import.source`).
    fn uri(&self) -> String;
    /// The active experiments.
    async fn experiments(&mut self) -> anyhow::Result<Vec<Experiment>>;
    /// The active runs of an experiment, with params and tags.
    async fn runs(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<Run>>;
    /// Every point of every metric of the run.
    async fn metrics(&mut self, run: &Run) -> anyhow::Result<Vec<Point>>;
    /// The run's artifact files (paths relative to its artifact root, `/`-separated), or
    /// `Err` with the reason they cannot be reached.
    async fn artifacts(&mut self, run: &Run) -> anyhow::Result<Vec<String>>;
    /// The bytes of one of the run's artifact files.
    async fn artifact(&mut self, run: &Run, path: &str) -> anyhow::Result<Vec<u8>>;
}

/// MLflow's status name of the file store's number (`RunStatus` enum).
pub fn status_name(number: &str) -> String {
    match number.trim() {
        "1" => "RUNNING",
        "2" => "SCHEDULED",
        "3" => "FINISHED",
        "4" => "FAILED",
        "5" => "KILLED",
        other => return other.to_ascii_uppercase(),
    }
    .to_owned()
}

/// The local folder holding a run's artifacts, for the stores on this machine: its
/// `artifact_uri` (`file://…` or a path; `mlflow-artifacts:/P` is `P` below `root`, the
/// server's `--artifacts-destination`), else `<root>/<experiment id>/<run id>/artifacts`.
/// `None` when the run has no artifact folder although its store's is there (it logged
/// none); an error when the artifacts cannot be reached from here.
pub fn local_artifact_dir(run: &Run, root: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let uri = run.artifact_uri.as_deref().unwrap_or_default();
    let mut candidates = Vec::new();
    if let Some(rest) = uri.strip_prefix("mlflow-artifacts:") {
        // `mlflow-artifacts:/1/abc/artifacts` or `mlflow-artifacts://host:port/1/abc/artifacts`.
        let rest = match rest.strip_prefix("//") {
            Some(with_host) => with_host.split_once('/').map_or("", |(_, path)| path),
            None => rest,
        };
        if let Some(root) = root {
            candidates.push(root.join(rest.trim_start_matches('/')));
        }
    } else if let Some(path) = uri.strip_prefix("file://") {
        candidates.push(PathBuf::from(path));
    } else if !uri.is_empty() && !uri.contains("://") {
        candidates.push(PathBuf::from(uri));
    }
    if let Some(root) = root {
        candidates.push(
            root.join(&run.experiment_id)
                .join(&run.id)
                .join("artifacts"),
        );
    }
    if let Some(dir) = candidates.iter().find(|dir| dir.is_dir()) {
        return Ok(Some(dir.clone()));
    }
    // The store's artifact folder (or the run's own folder) is there: no artifacts logged.
    let store_there = root.is_some_and(Path::is_dir)
        || candidates
            .iter()
            .any(|dir| dir.parent().is_some_and(Path::is_dir));
    if store_there {
        return Ok(None);
    }
    match root {
        Some(root) => anyhow::bail!(
            "artifacts at '{uri}' not found on this machine (nor in {})",
            root.display()
        ),
        None => anyhow::bail!(
            "artifacts at '{uri}' not found on this machine (give the artifact folder with --artifacts)"
        ),
    }
}

/// The files of a run's local artifact folder (none without a folder).
pub fn local_files(dir: Option<&Path>) -> anyhow::Result<Vec<String>> {
    dir.map_or_else(|| Ok(Vec::new()), files_below)
}

/// The files below `dir`, as `/`-separated paths relative to it, sorted.
pub fn files_below(dir: &Path) -> anyhow::Result<Vec<String>> {
    fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            if entry.file_type()?.is_dir() {
                walk(&entry.path(), &path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, "", &mut out).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
    out.sort();
    Ok(out)
}

/// A file below a local artifact folder (the path comes from the folder's own listing).
pub fn read_local(dir: &Path, path: &str) -> anyhow::Result<Vec<u8>> {
    let file = dir.join(path);
    std::fs::read(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_numbers_of_the_file_store() {
        assert_eq!(status_name("3"), "FINISHED");
        assert_eq!(status_name("5"), "KILLED");
        assert_eq!(status_name("FAILED"), "FAILED");
    }

    #[test]
    fn artifact_folders_from_the_run_uri() {
        let dir = std::env::temp_dir().join(format!("ets-import-{}", std::process::id()));
        let artifacts = dir.join("1").join("abc").join("artifacts");
        std::fs::create_dir_all(artifacts.join("sub")).unwrap();
        std::fs::write(artifacts.join("sub").join("a.txt"), b"a").unwrap();
        std::fs::write(artifacts.join("b.txt"), b"b").unwrap();
        let run = Run {
            id: "abc".into(),
            experiment_id: "1".into(),
            artifact_uri: Some("mlflow-artifacts:/1/abc/artifacts".into()),
            ..Default::default()
        };
        assert_eq!(
            local_artifact_dir(&run, Some(&dir)).unwrap(),
            Some(artifacts.clone())
        );
        assert!(local_artifact_dir(&run, None).is_err());
        let none_logged = Run {
            id: "def".into(),
            artifact_uri: Some("mlflow-artifacts:/1/def/artifacts".into()),
            ..run.clone()
        };
        assert_eq!(local_artifact_dir(&none_logged, Some(&dir)).unwrap(), None);
        assert!(local_artifact_dir(&none_logged, Some(&dir.join("elsewhere"))).is_err());
        let by_path = Run {
            artifact_uri: Some(format!("file://{}", artifacts.display())),
            ..run.clone()
        };
        assert_eq!(
            local_artifact_dir(&by_path, None).unwrap(),
            Some(artifacts.clone())
        );
        assert_eq!(files_below(&artifacts).unwrap(), ["b.txt", "sub/a.txt"]);
        assert_eq!(read_local(&artifacts, "sub/a.txt").unwrap(), b"a");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
