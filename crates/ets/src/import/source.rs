//! What the importer reads from an MLflow store, whatever the store: experiments, runs with
//! their params and tags, full metric histories and artifact files, and MLflow 3 logged
//! models with their params, tags, metrics and artifact files.

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
    /// MLflow 3: the logged models the run used (`log_inputs(models=…)`), by source id.
    pub model_inputs: Vec<String>,
    /// MLflow 3: the logged models the run produced (`log_outputs`), by source id, with the
    /// step.
    pub model_outputs: Vec<(String, i64)>,
}

/// A run's logged models: those it used, and those it produced with the step.
pub type ModelLinks = (Vec<String>, Vec<(String, i64)>);

/// An MLflow 3 logged model (active ones only).
#[derive(Debug, Clone, Default)]
pub struct LoggedModel {
    /// The id in the source store (`m-…`).
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    pub model_type: Option<String>,
    /// The id in the source store of the run that produced it.
    pub source_run_id: Option<String>,
    /// The status as MLflow's REST API names it: `LOGGED_MODEL_READY`,
    /// `LOGGED_MODEL_UPLOAD_FAILED`, `LOGGED_MODEL_PENDING`, `LOGGED_MODEL_STATUS_UNSPECIFIED`.
    pub status: String,
    pub params: Vec<(String, String)>,
    pub tags: Vec<(String, String)>,
    pub metrics: Vec<ModelPoint>,
    /// Where its files are (`…/<experiment id>/models/<model id>/artifacts`).
    pub artifact_uri: Option<String>,
}

/// A metric value of a logged model: a point logged by a run, maybe on a dataset.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelPoint {
    /// The id in the source store of the run that logged it.
    pub run_id: String,
    pub point: Point,
    pub dataset_name: Option<String>,
    pub dataset_digest: Option<String>,
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
    /// The artifact files of a run or logged model (paths relative to its artifact root,
    /// `/`-separated), or `Err` with the reason they cannot be reached.
    async fn artifacts(&mut self, of: Owner<'_>) -> anyhow::Result<Vec<String>>;
    /// The bytes of one of its artifact files.
    async fn artifact(&mut self, of: Owner<'_>, path: &str) -> anyhow::Result<Vec<u8>>;
    /// The logged models the run used and produced (`Run::model_inputs`, `model_outputs`;
    /// a store whose run listing leaves them out reads them here).
    async fn model_links(&mut self, run: &Run) -> anyhow::Result<ModelLinks> {
        Ok((run.model_inputs.clone(), run.model_outputs.clone()))
    }
    /// The active logged models of an experiment, with params, tags and metrics.
    async fn models(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<LoggedModel>>;
}

/// Whose artifact files: a run's or a logged model's.
#[derive(Debug, Clone, Copy)]
pub enum Owner<'a> {
    Run(&'a Run),
    Model(&'a LoggedModel),
}

impl Owner<'_> {
    /// Its artifact URI in the source store.
    fn uri(&self) -> Option<&str> {
        match self {
            Owner::Run(run) => run.artifact_uri.as_deref(),
            Owner::Model(model) => model.artifact_uri.as_deref(),
        }
    }

    /// Where MLflow puts its files below an artifact root: `<experiment id>/<run id>/artifacts`,
    /// `<experiment id>/models/<model id>/artifacts`.
    fn default_dir(&self, root: &Path) -> PathBuf {
        match self {
            Owner::Run(run) => root.join(&run.experiment_id).join(&run.id),
            Owner::Model(model) => root
                .join(&model.experiment_id)
                .join("models")
                .join(&model.id),
        }
        .join("artifacts")
    }
}

impl std::fmt::Display for Owner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owner::Run(run) => write!(f, "run {}", run.id),
            Owner::Model(model) => write!(f, "model {}", model.id),
        }
    }
}

/// MLflow's REST name of a logged model status from its stores' number
/// (`LoggedModelStatus.to_int`), or a name as given.
pub fn model_status_name(status: &str) -> String {
    match status.trim() {
        "0" | "UNSPECIFIED" => "LOGGED_MODEL_STATUS_UNSPECIFIED",
        "1" | "PENDING" => "LOGGED_MODEL_PENDING",
        "2" | "READY" => "LOGGED_MODEL_READY",
        "3" | "FAILED" => "LOGGED_MODEL_UPLOAD_FAILED",
        other => return other.to_ascii_uppercase(),
    }
    .to_owned()
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

/// The local folder holding the artifacts of a run or logged model, for the stores on this
/// machine: its artifact URI (`file://…` or a path; `mlflow-artifacts:/P` is `P` below `root`,
/// the server's `--artifacts-destination`), else its folder below `root`
/// ([`Owner::default_dir`]). `None` when it has no artifact folder although its store's is
/// there (it logged none); an error when the artifacts cannot be reached from here.
pub fn local_artifact_dir(of: Owner<'_>, root: Option<&Path>) -> anyhow::Result<Option<PathBuf>> {
    let uri = of.uri().unwrap_or_default();
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
        candidates.push(of.default_dir(root));
    }
    if let Some(dir) = candidates.iter().find(|dir| dir.is_dir()) {
        return Ok(Some(dir.clone()));
    }
    // The store's artifact folder (or the owner's own folder) is there: no artifacts logged.
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
        assert_eq!(model_status_name("2"), "LOGGED_MODEL_READY");
        assert_eq!(model_status_name("3"), "LOGGED_MODEL_UPLOAD_FAILED");
        assert_eq!(
            model_status_name("LOGGED_MODEL_PENDING"),
            "LOGGED_MODEL_PENDING"
        );
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
            local_artifact_dir(Owner::Run(&run), Some(&dir)).unwrap(),
            Some(artifacts.clone())
        );
        assert!(local_artifact_dir(Owner::Run(&run), None).is_err());
        let none_logged = Run {
            id: "def".into(),
            artifact_uri: Some("mlflow-artifacts:/1/def/artifacts".into()),
            ..run.clone()
        };
        assert_eq!(
            local_artifact_dir(Owner::Run(&none_logged), Some(&dir)).unwrap(),
            None
        );
        assert!(
            local_artifact_dir(Owner::Run(&none_logged), Some(&dir.join("elsewhere"))).is_err()
        );
        let by_path = Run {
            artifact_uri: Some(format!("file://{}", artifacts.display())),
            ..run.clone()
        };
        assert_eq!(
            local_artifact_dir(Owner::Run(&by_path), None).unwrap(),
            Some(artifacts.clone())
        );
        assert_eq!(files_below(&artifacts).unwrap(), ["b.txt", "sub/a.txt"]);
        assert_eq!(read_local(&artifacts, "sub/a.txt").unwrap(), b"a");
        // A logged model's files, by its URI or below the store.
        let model_files = dir.join("1").join("models").join("m-1").join("artifacts");
        std::fs::create_dir_all(&model_files).unwrap();
        let model = LoggedModel {
            id: "m-1".into(),
            experiment_id: "1".into(),
            artifact_uri: Some("mlflow-artifacts:/1/models/m-1/artifacts".into()),
            ..Default::default()
        };
        assert_eq!(
            local_artifact_dir(Owner::Model(&model), Some(&dir)).unwrap(),
            Some(model_files.clone())
        );
        let elsewhere = LoggedModel {
            artifact_uri: Some("s3://bucket/1/models/m-1/artifacts".into()),
            ..model.clone()
        };
        assert_eq!(
            local_artifact_dir(Owner::Model(&elsewhere), Some(&dir)).unwrap(),
            Some(model_files)
        );
        assert!(local_artifact_dir(Owner::Model(&elsewhere), None).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
