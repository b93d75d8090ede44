//! MLflow's file store (`./mlruns`): `<experiment id>/meta.yaml` (+ `tags/`), and per run
//! `<run id>/meta.yaml`, `params/`, `tags/`, `metrics/` (one file per key, a key's `/` as
//! folders; metric lines `timestamp value step`), `artifacts/`, and MLflow 3's `inputs/*/`
//! and `outputs/<model id>/` (the run's links to logged models); per logged model
//! `<experiment id>/models/<model id>/meta.yaml`, `params/`, `tags/` and `metrics/` (lines
//! `timestamp value step run_id [dataset_name dataset_digest]`). The `meta.yaml` files
//! are flat `key: value` maps, read here without a YAML library (plain, single- and
//! double-quoted scalars, continuation lines of a folded plain scalar).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;

use super::source::{
    Experiment, LoggedModel, ModelLinks, ModelPoint, Owner, Point, Run, Source, files_below,
    local_artifact_dir, local_files, model_status_name, read_local, status_name,
};

pub struct FileSource {
    root: PathBuf,
    artifacts: Option<PathBuf>,
}

impl FileSource {
    pub fn open(root: &Path, artifacts: Option<PathBuf>) -> anyhow::Result<FileSource> {
        let root = root
            .canonicalize()
            .with_context(|| format!("{}: no such MLflow file store", root.display()))?;
        if !root.is_dir() {
            anyhow::bail!(
                "{}: not a folder (an MLflow file store, ./mlruns)",
                root.display()
            );
        }
        Ok(FileSource { root, artifacts })
    }
}

/// The `key: value` pairs of a flat YAML mapping (MLflow's `meta.yaml`); `null`, `~` and
/// empty values are left out.
pub fn parse_meta(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A folded plain scalar continues on indented lines.
            if let Some(value) = last.as_ref().and_then(|key| out.get_mut(key)) {
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        let Some((key, raw)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_owned();
        last = None;
        if let Some(value) = scalar(raw.trim()) {
            out.insert(key.clone(), value);
            last = Some(key);
        }
    }
    out
}

fn scalar(raw: &str) -> Option<String> {
    if raw.is_empty() || raw == "null" || raw == "~" {
        return None;
    }
    if let Some(inner) = raw.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return Some(inner.replace("''", "'"));
    }
    if let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) {
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        }
        return Some(out);
    }
    if raw == "[]" || raw == "{}" {
        return None;
    }
    Some(raw.to_owned())
}

fn read_meta(dir: &Path) -> anyhow::Result<BTreeMap<String, String>> {
    let file = dir.join("meta.yaml");
    let text =
        std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    Ok(parse_meta(&text))
}

/// `key → file content` for every file below `dir` (a key's `/` is a folder).
fn key_files(dir: &Path) -> anyhow::Result<Vec<(String, String)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    files_below(dir)?
        .into_iter()
        .map(|key| {
            let value = std::fs::read_to_string(dir.join(&key))
                .with_context(|| format!("reading {}", dir.join(&key).display()))?;
            Ok((key, value))
        })
        .collect()
}

/// The sub-folders of `dir` that hold a `meta.yaml`, sorted by name.
fn meta_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if path.join("meta.yaml").is_file() && !name.is_some_and(|n| n.starts_with('.')) {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

fn parse_metric_line(key: &str, line: &str) -> Option<Point> {
    let mut fields = line.split_whitespace();
    let timestamp = fields.next()?.parse().ok()?;
    let value = fields.next()?.parse().ok()?;
    let step = fields.next().map_or(Some(0), |s| s.parse().ok())?;
    Some(Point {
        key: key.to_owned(),
        value,
        timestamp,
        step,
    })
}

/// A line of a logged model's metric file: `timestamp value step run_id` and maybe
/// `dataset_name dataset_digest`.
fn parse_model_metric_line(key: &str, line: &str) -> Option<ModelPoint> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() != 4 && fields.len() != 6 {
        return None;
    }
    let point = parse_metric_line(key, &fields[..3].join(" "))?;
    let dataset = |i: usize| fields.get(i).map(|s| (*s).to_owned());
    Some(ModelPoint {
        run_id: fields[3].to_owned(),
        point,
        dataset_name: dataset(4),
        dataset_digest: dataset(5),
    })
}

/// The `meta.yaml` maps of the sub-folders of `dir` (none without `dir`).
fn metas_below(dir: &Path) -> anyhow::Result<Vec<(PathBuf, BTreeMap<String, String>)>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    meta_folders(dir)?
        .into_iter()
        .map(|sub| Ok((sub.clone(), read_meta(&sub)?)))
        .collect()
}

/// The logged models a run's folder links it to: `inputs/*/` of source type `MODEL`, and
/// `outputs/<model id>/` with its step.
fn model_links(run_dir: &Path) -> anyhow::Result<ModelLinks> {
    let inputs = metas_below(&run_dir.join("inputs"))?
        .into_iter()
        .filter(|(_, meta)| meta.get("source_type").is_some_and(|t| t == "MODEL"))
        .filter_map(|(_, mut meta)| meta.remove("source_id"))
        .collect();
    let outputs = metas_below(&run_dir.join("outputs"))?
        .into_iter()
        .filter_map(|(dir, meta)| {
            let id = meta
                .get("source_id")
                .cloned()
                .or_else(|| dir.file_name().map(|n| n.to_string_lossy().into_owned()))?;
            Some((
                id,
                meta.get("step").and_then(|s| s.parse().ok()).unwrap_or(0),
            ))
        })
        .collect();
    Ok((inputs, outputs))
}

#[async_trait]
impl Source for FileSource {
    fn uri(&self) -> String {
        format!("file://{}", self.root.display())
    }

    async fn experiments(&mut self) -> anyhow::Result<Vec<Experiment>> {
        let mut out = Vec::new();
        for dir in meta_folders(&self.root)? {
            let meta = read_meta(&dir)?;
            if meta.get("lifecycle_stage").is_some_and(|s| s != "active") {
                continue;
            }
            let Some(name) = meta.get("name").cloned() else {
                continue;
            };
            let id = meta.get("experiment_id").cloned().unwrap_or_else(|| {
                dir.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default()
            });
            let mut tags = key_files(&dir.join("tags"))?;
            tags.sort();
            out.push(Experiment { id, name, tags });
        }
        // Numerically by id, as MLflow lists them.
        out.sort_by_key(|e| (e.id.parse::<u64>().unwrap_or(u64::MAX), e.id.clone()));
        Ok(out)
    }

    async fn runs(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        let dir = self.root.join(&experiment.id);
        let mut runs = Vec::new();
        for run_dir in meta_folders(&dir)? {
            let meta = read_meta(&run_dir)?;
            if meta.get("lifecycle_stage").is_some_and(|s| s != "active") {
                continue;
            }
            let Some(id) = meta.get("run_id").or_else(|| meta.get("run_uuid")).cloned() else {
                continue;
            };
            let int = |key: &str| meta.get(key).and_then(|v| v.parse::<i64>().ok());
            let mut params = key_files(&run_dir.join("params"))?;
            params.sort();
            let mut tags = key_files(&run_dir.join("tags"))?;
            tags.sort();
            let (model_inputs, model_outputs) = model_links(&run_dir)?;
            runs.push(Run {
                id,
                experiment_id: experiment.id.clone(),
                name: meta.get("run_name").cloned(),
                status: meta
                    .get("status")
                    .map(|s| status_name(s))
                    .unwrap_or_default(),
                start_time: int("start_time"),
                end_time: int("end_time"),
                user_id: meta.get("user_id").cloned(),
                params,
                tags,
                artifact_uri: meta.get("artifact_uri").cloned(),
                model_inputs,
                model_outputs,
            });
        }
        runs.sort_by(|a, b| (a.start_time, &a.id).cmp(&(b.start_time, &b.id)));
        Ok(runs)
    }

    async fn metrics(&mut self, run: &Run) -> anyhow::Result<Vec<Point>> {
        let dir = self
            .root
            .join(&run.experiment_id)
            .join(&run.id)
            .join("metrics");
        let mut points = Vec::new();
        for (key, text) in key_files(&dir)? {
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                points.push(parse_metric_line(&key, line).with_context(|| {
                    format!(
                        "{}: unreadable metric line '{line}'",
                        dir.join(&key).display()
                    )
                })?);
            }
        }
        Ok(points)
    }

    async fn models(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<LoggedModel>> {
        let mut models = Vec::new();
        for (dir, meta) in metas_below(&self.root.join(&experiment.id).join("models"))? {
            if meta.get("lifecycle_stage").is_some_and(|s| s != "active") {
                continue;
            }
            let Some(id) = meta.get("model_id").cloned() else {
                continue;
            };
            let mut params = key_files(&dir.join("params"))?;
            params.sort();
            let mut tags = key_files(&dir.join("tags"))?;
            tags.sort();
            let mut metrics = Vec::new();
            for (key, text) in key_files(&dir.join("metrics"))? {
                for line in text.lines().filter(|l| !l.trim().is_empty()) {
                    metrics.push(parse_model_metric_line(&key, line).with_context(|| {
                        format!(
                            "{}: unreadable metric line '{line}'",
                            dir.join("metrics").join(&key).display()
                        )
                    })?);
                }
            }
            let created = meta
                .get("creation_timestamp")
                .and_then(|t| t.parse::<i64>().ok());
            models.push((
                created,
                LoggedModel {
                    id,
                    experiment_id: experiment.id.clone(),
                    name: meta.get("name").cloned().unwrap_or_default(),
                    model_type: meta.get("model_type").cloned(),
                    source_run_id: meta.get("source_run_id").cloned(),
                    status: model_status_name(meta.get("status").map_or("", String::as_str)),
                    params,
                    tags,
                    metrics,
                    artifact_uri: meta.get("artifact_location").cloned(),
                },
            ));
        }
        models.sort_by(|(a, x), (b, y)| (a, &x.id).cmp(&(b, &y.id)));
        Ok(models.into_iter().map(|(_, model)| model).collect())
    }

    async fn artifacts(&mut self, of: Owner<'_>) -> anyhow::Result<Vec<String>> {
        local_files(self.artifact_dir(of)?.as_deref())
    }

    async fn artifact(&mut self, of: Owner<'_>, path: &str) -> anyhow::Result<Vec<u8>> {
        read_local(
            &self
                .artifact_dir(of)?
                .with_context(|| format!("the {of} has no artifacts"))?,
            path,
        )
    }
}

impl FileSource {
    /// Its artifact URI, else below `--artifacts`, else its `artifacts/` folder in the store
    /// (where the store keeps them by default).
    fn artifact_dir(&self, of: Owner<'_>) -> anyhow::Result<Option<PathBuf>> {
        let root = self.artifacts.as_deref().unwrap_or(&self.root);
        local_artifact_dir(of, Some(root))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_yaml_scalars() {
        let meta = parse_meta(
            "artifact_uri: file:///tmp/mlruns/1/abc/artifacts\nend_time: null\n\
             experiment_id: '1'\nname: 'it''s: \"quoted\"'\nother: \"a\\\"b\\nc\"\n\
             run_name: a long\n  folded name\ntags: []\nstatus: 3\n",
        );
        assert_eq!(meta["artifact_uri"], "file:///tmp/mlruns/1/abc/artifacts");
        assert!(!meta.contains_key("end_time"));
        assert!(!meta.contains_key("tags"));
        assert_eq!(meta["experiment_id"], "1");
        assert_eq!(meta["name"], "it's: \"quoted\"");
        assert_eq!(meta["other"], "a\"b\nc");
        assert_eq!(meta["run_name"], "a long folded name");
        assert_eq!(meta["status"], "3");
    }

    #[test]
    fn metric_lines() {
        let point = parse_metric_line("loss", "1700000000000 0.5 3").unwrap();
        assert_eq!(
            (point.timestamp, point.value, point.step),
            (1_700_000_000_000, 0.5, 3)
        );
        assert!(parse_metric_line("loss", "1 nan 0").unwrap().value.is_nan());
        assert_eq!(parse_metric_line("loss", "1 -inf").unwrap().step, 0);
        assert!(parse_metric_line("loss", "x 1 2").is_none());
        let m = parse_model_metric_line("acc", "1700 0.5 2 abc eval d1").unwrap();
        assert_eq!((m.run_id.as_str(), m.point.step), ("abc", 2));
        assert_eq!(
            (m.dataset_name.as_deref(), m.dataset_digest.as_deref()),
            (Some("eval"), Some("d1"))
        );
        let m = parse_model_metric_line("acc", "1700 0.5 2 abc").unwrap();
        assert_eq!(m.dataset_name, None);
        assert!(parse_model_metric_line("acc", "1700 0.5 2").is_none());
    }
}
