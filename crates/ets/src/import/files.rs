//! MLflow's file store (`./mlruns`): `<experiment id>/meta.yaml` (+ `tags/`), and per run
//! `<run id>/meta.yaml`, `params/`, `tags/`, `metrics/` (one file per key, a key's `/` as
//! folders; metric lines `timestamp value step`) and `artifacts/`. The `meta.yaml` files
//! are flat `key: value` maps, read here without a YAML library (plain, single- and
//! double-quoted scalars, continuation lines of a folded plain scalar).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;

use super::source::{
    Experiment, Point, Run, Source, files_below, local_artifact_dir, local_files, read_local,
    status_name,
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

    async fn artifacts(&mut self, run: &Run) -> anyhow::Result<Vec<String>> {
        local_files(self.artifact_dir(run)?.as_deref())
    }

    async fn artifact(&mut self, run: &Run, path: &str) -> anyhow::Result<Vec<u8>> {
        read_local(
            &self
                .artifact_dir(run)?
                .context("the run has no artifacts")?,
            path,
        )
    }
}

impl FileSource {
    /// The run's `artifact_uri`, else `--artifacts`, else its `artifacts/` folder in the store
    /// (where the store's runs keep them by default).
    fn artifact_dir(&self, run: &Run) -> anyhow::Result<Option<PathBuf>> {
        let root = self.artifacts.as_deref().unwrap_or(&self.root);
        local_artifact_dir(run, Some(root))
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
    }
}
