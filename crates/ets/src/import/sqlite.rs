//! An MLflow SQLite tracking database (`sqlite:///mlflow.db`), read-only, with its artifact
//! folder (`--artifacts`, the server's `--artifacts-destination` or `./mlruns`). Tables of
//! MLflow's SQL store: `experiments`, `experiment_tags`, `runs`, `params`, `tags`, `metrics`
//! (the whole history; NaN is stored as 0 with `is_nan`), and MLflow 3's `logged_models`,
//! `logged_model_params`, `logged_model_tags`, `logged_model_metrics` and `inputs` (a run's
//! links to models: `RUN_INPUT` → `MODEL_INPUT`, `RUN_OUTPUT` → `MODEL_OUTPUT` with a step).
//! A database of an MLflow before 3 has no model tables: it has no models.

use std::path::{Path, PathBuf};

use anyhow::Context;
use async_trait::async_trait;
use rusqlite::{Connection, OpenFlags, params};

use super::source::{
    Experiment, LoggedModel, ModelPoint, Owner, Point, Run, Source, local_artifact_dir,
    local_files, model_status_name, read_local,
};

pub struct SqliteSource {
    uri: String,
    db: Connection,
    artifacts: Option<PathBuf>,
}

impl SqliteSource {
    /// `uri` is `sqlite:///PATH` (SQLAlchemy's form: `sqlite:///rel.db`, `sqlite:////abs.db`).
    pub fn open(uri: &str, artifacts: Option<PathBuf>) -> anyhow::Result<SqliteSource> {
        let path = uri
            .strip_prefix("sqlite:///")
            .with_context(|| format!("'{uri}': a SQLite store is sqlite:///PATH"))?;
        let path = Path::new(path);
        if !path.is_file() {
            anyhow::bail!("{}: no such database file", path.display());
        }
        let db = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .with_context(|| format!("opening {}", path.display()))?;
        db.query_row("SELECT count(*) FROM experiments", [], |_| Ok(()))
            .with_context(|| format!("{}: not an MLflow tracking database", path.display()))?;
        Ok(SqliteSource {
            uri: uri.to_owned(),
            db,
            artifacts,
        })
    }

    /// Whether the database has this table (MLflow 3's are missing from older ones).
    fn has_table(&self, name: &str) -> rusqlite::Result<bool> {
        self.db.query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [name],
            |row| row.get(0),
        )
    }

    /// The model ids a run is linked to as `source_type` (`RUN_INPUT`, `RUN_OUTPUT`), with
    /// the step.
    fn links_of(&self, run_id: &str, source_type: &str) -> rusqlite::Result<Vec<(String, i64)>> {
        let mut statement = self.db.prepare_cached(
            "SELECT destination_id, step FROM inputs WHERE source_id = ?1 AND source_type = ?2 \
             ORDER BY destination_id",
        )?;
        let rows = statement.query_map([run_id, source_type], |row| {
            Ok((row.get(0)?, row.get::<_, Option<i64>>(1)?.unwrap_or(0)))
        })?;
        rows.collect()
    }

    fn pairs(&self, sql: &str, id: &str) -> rusqlite::Result<Vec<(String, String)>> {
        let mut statement = self.db.prepare_cached(sql)?;
        let rows = statement.query_map([id], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, Option<String>>(1)?.unwrap_or_default(),
            ))
        })?;
        rows.collect()
    }
}

#[async_trait]
impl Source for SqliteSource {
    fn uri(&self) -> String {
        self.uri.clone()
    }

    async fn experiments(&mut self) -> anyhow::Result<Vec<Experiment>> {
        let mut statement = self.db.prepare(
            "SELECT CAST(experiment_id AS TEXT), name FROM experiments \
             WHERE lifecycle_stage = 'active' ORDER BY experiment_id",
        )?;
        let found = statement
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        drop(statement);
        found
            .into_iter()
            .map(|(id, name)| {
                let tags = self.pairs(
                    "SELECT key, value FROM experiment_tags WHERE experiment_id = ?1 ORDER BY key",
                    &id,
                )?;
                Ok(Experiment { id, name, tags })
            })
            .collect()
    }

    async fn runs(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<Run>> {
        let mut statement = self.db.prepare(
            "SELECT run_uuid, name, status, start_time, end_time, user_id, artifact_uri \
             FROM runs WHERE experiment_id = ?1 AND lifecycle_stage = 'active' \
             ORDER BY start_time, run_uuid",
        )?;
        let mut runs = statement
            .query_map(params![experiment.id], |row| {
                Ok(Run {
                    id: row.get(0)?,
                    experiment_id: experiment.id.clone(),
                    name: row.get(1)?,
                    status: row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    start_time: row.get(3)?,
                    end_time: row.get(4)?,
                    user_id: row.get(5)?,
                    artifact_uri: row.get(6)?,
                    ..Default::default()
                })
            })?
            .collect::<rusqlite::Result<Vec<Run>>>()?;
        drop(statement);
        for run in &mut runs {
            run.params = self.pairs(
                "SELECT key, value FROM params WHERE run_uuid = ?1 ORDER BY key",
                &run.id,
            )?;
            run.tags = self.pairs(
                "SELECT key, value FROM tags WHERE run_uuid = ?1 ORDER BY key",
                &run.id,
            )?;
        }
        if self.has_table("inputs")? {
            for run in &mut runs {
                run.model_inputs = self
                    .links_of(&run.id, "RUN_INPUT")?
                    .into_iter()
                    .map(|(id, _)| id)
                    .collect();
                run.model_outputs = self.links_of(&run.id, "RUN_OUTPUT")?;
            }
        }
        Ok(runs)
    }

    async fn metrics(&mut self, run: &Run) -> anyhow::Result<Vec<Point>> {
        let mut statement = self.db.prepare_cached(
            "SELECT key, value, timestamp, step, is_nan FROM metrics WHERE run_uuid = ?1 \
             ORDER BY key, timestamp, step, value",
        )?;
        let points = statement
            .query_map([&run.id], |row| {
                let is_nan: Option<bool> = row.get(4)?;
                let value: Option<f64> = row.get(1)?;
                Ok(Point {
                    key: row.get(0)?,
                    value: if is_nan.unwrap_or(false) {
                        f64::NAN
                    } else {
                        value.unwrap_or(f64::NAN)
                    },
                    timestamp: row.get::<_, Option<i64>>(2)?.unwrap_or(0),
                    step: row.get::<_, Option<i64>>(3)?.unwrap_or(0),
                })
            })?
            .collect::<rusqlite::Result<Vec<Point>>>()?;
        Ok(points)
    }

    async fn models(&mut self, experiment: &Experiment) -> anyhow::Result<Vec<LoggedModel>> {
        if !self.has_table("logged_models")? {
            return Ok(Vec::new());
        }
        let mut statement = self.db.prepare(
            "SELECT model_id, name, model_type, source_run_id, CAST(status AS TEXT), \
             artifact_location FROM logged_models \
             WHERE experiment_id = ?1 AND lifecycle_stage = 'active' \
             ORDER BY creation_timestamp_ms, model_id",
        )?;
        let mut models = statement
            .query_map(params![experiment.id], |row| {
                Ok(LoggedModel {
                    id: row.get(0)?,
                    experiment_id: experiment.id.clone(),
                    name: row.get(1)?,
                    model_type: row.get(2)?,
                    source_run_id: row.get(3)?,
                    status: model_status_name(
                        &row.get::<_, Option<String>>(4)?.unwrap_or_default(),
                    ),
                    artifact_uri: row.get(5)?,
                    ..Default::default()
                })
            })?
            .collect::<rusqlite::Result<Vec<LoggedModel>>>()?;
        drop(statement);
        for model in &mut models {
            model.params = self.pairs(
                "SELECT param_key, param_value FROM logged_model_params WHERE model_id = ?1 \
                 ORDER BY param_key",
                &model.id,
            )?;
            model.tags = self.pairs(
                "SELECT tag_key, tag_value FROM logged_model_tags WHERE model_id = ?1 \
                 ORDER BY tag_key",
                &model.id,
            )?;
            let mut statement = self.db.prepare_cached(
                "SELECT run_id, metric_name, metric_value, metric_timestamp_ms, metric_step, \
                 dataset_name, dataset_digest FROM logged_model_metrics WHERE model_id = ?1 \
                 ORDER BY metric_name, metric_timestamp_ms, metric_step, run_id",
            )?;
            model.metrics = statement
                .query_map([&model.id], |row| {
                    Ok(ModelPoint {
                        run_id: row.get(0)?,
                        point: Point {
                            key: row.get(1)?,
                            value: row.get::<_, Option<f64>>(2)?.unwrap_or(f64::NAN),
                            timestamp: row.get(3)?,
                            step: row.get(4)?,
                        },
                        dataset_name: row.get(5)?,
                        dataset_digest: row.get(6)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<ModelPoint>>>()?;
        }
        Ok(models)
    }

    async fn artifacts(&mut self, of: Owner<'_>) -> anyhow::Result<Vec<String>> {
        local_files(local_artifact_dir(of, self.artifacts.as_deref())?.as_deref())
    }

    async fn artifact(&mut self, of: Owner<'_>, path: &str) -> anyhow::Result<Vec<u8>> {
        read_local(
            &local_artifact_dir(of, self.artifacts.as_deref())?
                .with_context(|| format!("the {of} has no artifacts"))?,
            path,
        )
    }
}
