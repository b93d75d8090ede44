//! The entities of ETS and the inputs that create or change them.
//!
//! Input types are what both API surfaces deserialise into and what the service layer
//! validates; entity types are what the store returns and the native API shows.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Timestamp;
pub use crate::comparison::{BootstrapInterval, RateComparison};
use crate::stats::Summary;
use crate::status::{ExperimentStatus, ProjectStatus, RunStatus};

/// Tag maps: string keys to string values.
pub type Tags = BTreeMap<String, String>;
/// A tag update: a value sets the tag, `null` removes it.
pub type TagPatch = BTreeMap<String, Option<String>>;

// ---------------------------------------------------------------- projects

/// A member's role in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Owner,
    Admin,
    Member,
    Viewer,
}

/// A person (or service account) with a role in a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Member {
    pub user: String,
    pub role: MemberRole,
}

/// Settings a project hands down to each experiment created in it (unless the experiment
/// says otherwise). Filled by templates such as `healthcare`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentDefaults {
    /// A list of objectives, or the spec's map form keyed by metric (as on experiment creation).
    #[serde(deserialize_with = "objectives::deserialize")]
    pub objectives: Vec<Objective>,
    pub healthcare: Option<HealthcareConfig>,
}

/// A project: the top of the hierarchy, owning experiments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub members: Vec<Member>,
    pub tags: Tags,
    pub status: ProjectStatus,
    /// The template the project was created from, if any.
    pub template: Option<String>,
    pub experiment_defaults: ExperimentDefaults,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// Set while the project is in the trash (with the experiments and runs that went there
    /// with it); it can be restored. Trashed projects are left out of lists unless asked for.
    pub deleted_at: Option<Timestamp>,
}

/// Body of `POST /api/v1/projects`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProject {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub members: Vec<Member>,
    #[serde(default)]
    pub tags: Tags,
    #[serde(default)]
    pub experiment_defaults: Option<ExperimentDefaults>,
}

/// Body of `PUT /api/v1/projects/{id}`: every field is optional; present fields change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProjectPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    /// Replaces the member list.
    pub members: Option<Vec<Member>>,
    /// Sets (string) or removes (`null`) individual tags.
    pub tags: TagPatch,
    pub status: Option<ProjectStatus>,
    pub experiment_defaults: Option<ExperimentDefaults>,
}

/// Counts by status, plus the total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct StatusCounts {
    pub total: i64,
    pub by_status: BTreeMap<String, i64>,
}

/// `GET /api/v1/projects/{id}/stats`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProjectStats {
    pub project_id: String,
    pub experiments: StatusCounts,
    pub runs: StatusCounts,
    /// Distinct metric keys logged across all runs.
    pub metric_series: i64,
    /// Metric points stored across all runs.
    pub metric_points: i64,
    pub artifacts: i64,
    pub artifact_bytes: i64,
    /// Latest change to the project, its experiments or its runs (incl. metric logging).
    pub last_activity: Timestamp,
}

// ---------------------------------------------------------------- experiments

/// Whether larger or smaller values of a metric are better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Maximize,
    Minimize,
}

/// What an experiment optimises or must reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Objective {
    pub metric: String,
    pub direction: Direction,
    /// Value a run must reach (≥ for maximize, ≤ for minimize).
    #[serde(default)]
    pub target: Option<f64>,
    /// A required objective must be met for the experiment to count as successful.
    #[serde(default)]
    pub required: bool,
}

/// Objectives arrive as a list (`[{"metric": "accuracy", "direction": "maximize", …}]`) or in
/// the spec's map form keyed by metric (`{"accuracy": {"target": 0.95, "required": true}}`,
/// `direction` optional there and `maximize` by default: the spec's targets are minimums).
/// Both become the list, which is what responses show.
pub mod objectives {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::{Deserialize, de};

    use super::{Direction, Objective};

    /// One value of the map form.
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Entry {
        #[serde(default)]
        direction: Option<Direction>,
        #[serde(default)]
        target: Option<f64>,
        #[serde(default)]
        required: bool,
    }

    struct Shape(Vec<Objective>);

    impl<'de> Deserialize<'de> for Shape {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            struct ShapeVisitor;
            impl<'de> Visitor<'de> for ShapeVisitor {
                type Value = Shape;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a list of objectives or a map of metric to objective")
                }
                fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Shape, A::Error> {
                    let mut out = Vec::new();
                    while let Some(objective) = seq.next_element::<Objective>()? {
                        out.push(objective);
                    }
                    Ok(Shape(out))
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Shape, A::Error> {
                    let mut out: Vec<Objective> = Vec::new();
                    while let Some((metric, entry)) = map.next_entry::<String, Entry>()? {
                        if out.iter().any(|o| o.metric == metric) {
                            return Err(de::Error::custom(format!(
                                "metric '{metric}' has two objectives"
                            )));
                        }
                        out.push(Objective {
                            metric,
                            direction: entry.direction.unwrap_or(Direction::Maximize),
                            target: entry.target,
                            required: entry.required,
                        });
                    }
                    Ok(Shape(out))
                }
            }
            deserializer.deserialize_any(ShapeVisitor)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Objective>, D::Error> {
        Shape::deserialize(d).map(|s| s.0)
    }

    pub fn deserialize_opt<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Vec<Objective>>, D::Error> {
        Option::<Shape>::deserialize(d).map(|s| s.map(|s| s.0))
    }
}

/// The spec's healthcare safety configuration of an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HealthcareConfig {
    pub validate_crisis_detection: bool,
    /// Lowest acceptable crisis detection rate (sensitivity), 0..=1.
    pub min_crisis_detection_rate: f64,
    /// Highest acceptable false negative rate, 0..=1.
    pub max_false_negative_rate: f64,
    /// Lowest acceptable response quality score, 0..=1.
    pub min_response_quality: f64,
    pub enable_safety_monitoring: bool,
    pub require_medical_disclaimer: bool,
    pub audit_trail: bool,
}

impl Default for HealthcareConfig {
    /// The spec's numbers: crisis detection ≥ 99 %, false negatives ≤ 1 %, quality ≥ 80 %.
    fn default() -> Self {
        HealthcareConfig {
            validate_crisis_detection: true,
            min_crisis_detection_rate: 0.99,
            max_false_negative_rate: 0.01,
            min_response_quality: 0.8,
            enable_safety_monitoring: true,
            require_medical_disclaimer: true,
            audit_trail: true,
        }
    }
}

/// One dimension of a hyperparameter search space.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ParamSpec {
    Float {
        low: f64,
        high: f64,
        #[serde(default)]
        log: bool,
    },
    Int {
        low: i64,
        high: i64,
        #[serde(default)]
        step: Option<i64>,
        #[serde(default)]
        log: bool,
    },
    Categorical {
        choices: Vec<serde_json::Value>,
    },
}

/// Hyperparameter name → its range.
pub type SearchSpace = BTreeMap<String, ParamSpec>;

/// References into the sibling MLOps services.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct MlopsLinks {
    pub model_registry_id: Option<String>,
    pub pipeline_run_id: Option<String>,
    pub feature_store_snapshot: Option<String>,
}

/// An experiment: a question asked through many runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Experiment {
    pub id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub status: ExperimentStatus,
    pub tags: Tags,
    pub objectives: Vec<Objective>,
    pub search_space: SearchSpace,
    pub healthcare: Option<HealthcareConfig>,
    pub links: MlopsLinks,
    pub template: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Set while the experiment is in the trash (MLflow's `lifecycle_stage = deleted`); it can
    /// be restored. Soft-deleted experiments are left out of lists unless asked for.
    pub deleted_at: Option<Timestamp>,
    /// Where the runs' artifacts go, as given at creation (an `mlflow-artifacts:` URI, or a
    /// location inside ETS's artifact store); absent: the default, `mlflow-artifacts:/<id>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub artifact_location: Option<String>,
}

/// Body of `POST /api/v1/experiments`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExperiment {
    pub project_id: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub tags: Tags,
    /// Defaults to the template's, then the project's objectives. A list, or the spec's map
    /// form `{"accuracy": {"target": 0.95, "required": true}}` (direction defaults to
    /// `maximize` there).
    #[serde(default, deserialize_with = "objectives::deserialize_opt")]
    pub objectives: Option<Vec<Objective>>,
    #[serde(default)]
    pub search_space: Option<SearchSpace>,
    /// Defaults to the template's, then the project's healthcare configuration.
    #[serde(default)]
    pub healthcare: Option<HealthcareConfig>,
    #[serde(default)]
    pub links: MlopsLinks,
    /// Name of an experiment template (`GET /api/v1/experiments/templates`) to start from.
    #[serde(default)]
    pub template: Option<String>,
    /// Where the runs' artifacts go: an `mlflow-artifacts:/<path>` URI, or an `s3://`,
    /// `file://` or absolute path inside ETS's configured artifact store. Set once, here.
    #[serde(default)]
    pub artifact_location: Option<String>,
}

/// Body of `PUT /api/v1/experiments/{id}`: present fields change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ExperimentPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub tags: TagPatch,
    /// A list, or the map form as on creation.
    #[serde(deserialize_with = "objectives::deserialize_opt")]
    pub objectives: Option<Vec<Objective>>,
    pub search_space: Option<SearchSpace>,
    pub healthcare: Option<HealthcareConfig>,
    pub links: Option<MlopsLinks>,
    /// Moves the lifecycle, with the same rules as `start` / `stop`.
    pub status: Option<ExperimentStatus>,
}

/// Per-metric aggregate over an experiment's runs (each run contributes its latest value).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetricAggregate {
    pub key: String,
    /// From the experiment's objective on this metric, if any.
    pub direction: Option<Direction>,
    pub summary: Summary,
    /// The run with the best latest value, when the direction is known.
    pub best_run_id: Option<String>,
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub best_value: Option<f64>,
    /// For an objective with a target: how many runs reach it.
    pub runs_meeting_target: Option<usize>,
}

/// Body of `POST /api/v1/experiments/compare`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareRequest {
    /// Two or more experiment ids.
    pub experiment_ids: Vec<String>,
    /// Metric keys to compare; default: every key logged in any of the experiments.
    #[serde(default)]
    pub metrics: Option<Vec<String>>,
    /// Evaluation names (e.g. `crisis_detection`) whose rates to compare between the first two
    /// experiments, each side's counts summed over its runs, per slice.
    #[serde(default)]
    pub evaluations: Option<Vec<String>>,
}

/// An experiment's side of a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ComparedExperiment {
    pub id: String,
    pub name: String,
    pub status: ExperimentStatus,
    pub run_count: i64,
}

/// One metric compared across experiments.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetricComparison {
    pub key: String,
    pub direction: Option<Direction>,
    /// One entry per experiment, in request order.
    pub by_experiment: Vec<ExperimentMetricStats>,
    /// Experiment with the best mean, when the direction is known.
    pub best_experiment_id: Option<String>,
    /// The second experiment's values tested against the first's (each run's latest value).
    pub tests: MetricTests,
}

/// Two-sample tests of one metric: the second experiment of the request (the candidate)
/// against the first (the baseline), over each run's latest value. A statistic or p-value
/// is `null` where it is undefined (too few runs, no variance), as SciPy gives NaN.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetricTests {
    pub baseline_experiment_id: String,
    pub candidate_experiment_id: String,
    /// Welch's t-test of candidate − baseline (unequal variances), with the 95 % CI of the
    /// difference of the means.
    pub welch_t: TTest,
    /// Mann–Whitney U (two-sided; exact for small samples without ties, else asymptotic with
    /// tie and continuity correction — SciPy's `method="auto"`).
    pub mann_whitney_u: RankTest,
    /// Cohen's d of candidate − baseline (pooled standard deviation).
    pub cohens_d: Option<f64>,
    /// Cliff's delta: P(candidate > baseline) − P(candidate < baseline).
    pub cliffs_delta: Option<f64>,
    /// Percentile bootstrap 95 % CI of mean(candidate) − mean(baseline), each side resampled
    /// independently, 10,000 resamples with the fixed seed 14, so the same runs always give
    /// the same interval. `null` when a side has no value.
    pub bootstrap: Option<BootstrapInterval>,
    /// Welch's p-value adjusted with Holm–Bonferroni across the metrics of the comparison.
    pub p_value_holm: Option<f64>,
    /// One line in plain language.
    pub verdict: String,
}

/// A t-test (Welch's, or Student's paired) of candidate − baseline, with the 95 % CI of the
/// mean difference.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TTest {
    pub statistic: Option<f64>,
    pub p_value: Option<f64>,
    pub df: Option<f64>,
    pub mean_difference: Option<f64>,
    pub ci_lower: Option<f64>,
    pub ci_upper: Option<f64>,
}

/// A rank test: its statistic, two-sided p-value and how the p-value was computed
/// (`exact`, `asymptotic`, `permutation`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RankTest {
    pub statistic: Option<f64>,
    pub p_value: Option<f64>,
    pub method: Option<String>,
}

/// Statistics of one metric within one experiment.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExperimentMetricStats {
    pub experiment_id: String,
    pub summary: Summary,
    pub best_run_id: Option<String>,
}

/// Response of `POST /api/v1/experiments/compare`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Comparison {
    pub experiments: Vec<ComparedExperiment>,
    pub metrics: Vec<MetricComparison>,
    /// The requested evaluations' rates, second experiment against the first.
    pub evaluations: Vec<RateComparison>,
}

// ---------------------------------------------------------------- runs

/// A run: one execution (a training job, an evaluation) inside an experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Run {
    pub id: String,
    pub experiment_id: String,
    pub project_id: String,
    pub name: String,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub status: RunStatus,
    pub parent_run_id: Option<String>,
    /// Write-once parameters with their JSON types preserved.
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
    pub tags: Tags,
    /// Latest value and range of each metric key.
    pub metrics: Vec<MetricSummary>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub started_at: Option<Timestamp>,
    pub ended_at: Option<Timestamp>,
    /// Set while the run is in the trash (MLflow's `lifecycle_stage = deleted`).
    pub deleted_at: Option<Timestamp>,
    /// Datasets the run used (MLflow's `log_inputs`).
    pub inputs: Vec<DatasetInput>,
    /// Logged models the run used or produced (MLflow's `log_inputs` with models and
    /// `log_outputs`), by model id.
    pub models: Vec<RunModel>,
}

/// Whether a run used a logged model or produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ModelDirection {
    Input,
    Output,
}

/// A logged model a run used (`input`) or produced (`output`, at `step`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunModel {
    pub model_id: String,
    pub direction: ModelDirection,
    /// The step of the run that produced the model (outputs only).
    pub step: Option<i64>,
}

/// A dataset, identified within its experiment by name and digest (MLflow's model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Dataset {
    pub name: String,
    pub digest: String,
    /// e.g. `local`, `http`, `s3`, `delta_table`.
    pub source_type: String,
    /// JSON text describing where the data comes from.
    pub source: String,
    pub schema: Option<String>,
    pub profile: Option<String>,
}

/// A dataset used by a run, with tags such as `mlflow.data.context = training`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DatasetInput {
    pub dataset: Dataset,
    pub tags: Tags,
}

/// Lifecycle of a logged model (MLflow 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LoggedModelStatus {
    Pending,
    Ready,
    Failed,
}

/// A model logged from a run (MLflow 3's `LoggedModel`); its files are artifacts of the run
/// under `models/<model id>/`, so they show up with the run in both APIs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoggedModel {
    pub id: String,
    pub experiment_id: String,
    pub name: String,
    pub model_type: Option<String>,
    pub source_run_id: Option<String>,
    pub status: LoggedModelStatus,
    pub status_message: Option<String>,
    pub tags: Tags,
    pub params: Tags,
    /// Metrics logged for this model (with the run that logged them).
    pub metrics: Vec<ModelMetric>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A metric value logged for a model by a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ModelMetric {
    pub model_id: String,
    pub run_id: String,
    pub key: String,
    #[serde(with = "crate::value::metric_f64")]
    #[schema(value_type = f64)]
    pub value: f64,
    pub step: i64,
    pub timestamp: i64,
    /// The dataset the value was computed on (MLflow's `dataset_name`), if logged with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_name: Option<String>,
    /// The digest of that dataset (MLflow's `dataset_digest`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dataset_digest: Option<String>,
}

/// Body of `POST /api/v1/runs`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRun {
    pub experiment_id: String,
    /// Default: a generated name such as `brave-otter-42`.
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub parent_run_id: Option<String>,
    /// `running` (default) or `scheduled`.
    #[serde(default)]
    pub status: Option<RunStatus>,
    /// When the run started (default: now); for runs recorded after the fact.
    #[serde(default)]
    pub started_at: Option<Timestamp>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub tags: Tags,
}

/// Body of `PUT /api/v1/runs/{id}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RunPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    /// New params are added; re-sending an existing param with the same value is fine,
    /// with a different value it is refused (409) and nothing changes.
    #[schema(value_type = Object)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Sets (string) or removes (`null`) individual tags.
    pub tags: TagPatch,
}

/// Body of `POST /api/v1/runs/{id}/finish`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct FinishRun {
    /// `finished` (default), `failed` or `killed`.
    pub status: Option<RunStatus>,
}

/// A param ready for storage: its text form (what MLflow shows, and what write-once compares)
/// and its JSON form (what the native API returns).
#[derive(Debug, Clone, PartialEq)]
pub struct ParamValue {
    pub text: String,
    pub json: serde_json::Value,
}

impl ParamValue {
    /// Strings keep their text; other JSON values use their compact JSON text.
    pub fn from_json(json: serde_json::Value) -> Self {
        let text = match &json {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        ParamValue { text, json }
    }
}

// ---------------------------------------------------------------- metrics

/// One metric point as logged.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricInput {
    pub key: String,
    /// A number, or `"NaN"`, `"Infinity"`, `"-Infinity"`.
    #[serde(with = "crate::value::metric_f64")]
    #[schema(value_type = f64)]
    pub value: f64,
    /// Default 0.
    #[serde(default)]
    pub step: Option<i64>,
    /// Epoch milliseconds; default: the time the server receives the point.
    #[serde(default)]
    pub timestamp: Option<i64>,
}

/// A stored metric point of one series.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct MetricPoint {
    pub step: i64,
    /// Epoch milliseconds.
    pub timestamp: i64,
    #[serde(with = "crate::value::metric_f64")]
    #[schema(value_type = f64)]
    pub value: f64,
}

impl MetricPoint {
    pub const fn new(step: i64, timestamp: i64, value: f64) -> MetricPoint {
        MetricPoint {
            step,
            timestamp,
            value,
        }
    }

    /// The value as a totally ordered pair: numbers in numeric order (-0.0 just before 0.0),
    /// NaN where MLflow's stores sort it — they store NaN as 0 with an `is_nan` flag — just after
    /// 0.0. All NaNs are one value, whatever their bits.
    fn value_rank(&self) -> (i64, bool) {
        if self.value.is_nan() {
            return (Self::rank_of(0.0), true);
        }
        (Self::rank_of(self.value), false)
    }

    /// `f64::total_cmp`'s order as an integer.
    fn rank_of(value: f64) -> i64 {
        let bits = value.to_bits() as i64;
        bits ^ ((((bits >> 63) as u64) >> 1) as i64)
    }

    /// The order of a stored series (and of `metric_chunks`): step, then timestamp, then value.
    /// The greatest point by this order is the series' latest value (MLflow's `latest_metrics`
    /// rule: highest step, then timestamp, then value).
    pub fn series_key(&self) -> (i64, i64, (i64, bool)) {
        (self.step, self.timestamp, self.value_rank())
    }

    /// MLflow's `get-history` order: timestamp, then step, then value.
    pub fn history_key(&self) -> (i64, i64, (i64, bool)) {
        (self.timestamp, self.step, self.value_rank())
    }

    /// Whether two points are the same point: equal key (the caller's), step, timestamp and
    /// value, bit for bit, every NaN equal to every other (MLflow's identity of a metric).
    pub fn same_point(&self, other: &MetricPoint) -> bool {
        self.series_key() == other.series_key()
    }
}

/// Points of one metric key bound for storage (defaults applied). Points travel grouped by
/// key so the hot path carries no string per point.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoints {
    pub key: String,
    pub points: Vec<MetricPoint>,
}

/// Body of `POST /api/v1/runs/{id}/bulk-metrics`: columnar series, the compact form for large
/// uploads (about 3× smaller than one object per point, and parsed without allocating per point).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkMetrics {
    pub series: Vec<BulkSeries>,
}

/// One key's points as parallel arrays.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkSeries {
    pub key: String,
    pub steps: Vec<i64>,
    /// Numbers, or `"NaN"`, `"Infinity"`, `"-Infinity"`; as many as `steps`.
    #[schema(value_type = Vec<f64>)]
    pub values: Vec<crate::value::MetricValue>,
    /// Epoch milliseconds per point; or give one `timestamp` for all; default: now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamps: Option<Vec<i64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

/// Latest value and range of one metric key of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MetricSummary {
    pub key: String,
    /// Value of the greatest point by step, then timestamp, then value: MLflow's "latest" rule.
    #[serde(with = "crate::value::metric_f64")]
    #[schema(value_type = f64)]
    pub last_value: f64,
    pub last_step: i64,
    pub last_timestamp: i64,
    /// Smallest non-NaN value; absent when every value is NaN.
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub min: Option<f64>,
    #[serde(with = "crate::value::metric_f64_opt")]
    #[schema(value_type = Option<f64>)]
    pub max: Option<f64>,
    pub count: i64,
}

/// A metric series as read back.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetricSeries {
    pub key: String,
    pub points: Vec<MetricPoint>,
    /// Points in the requested step range before downsampling.
    pub total_points: i64,
    /// Whether `points` is a min/max-preserving sample of the range.
    pub downsampled: bool,
}

/// Outcome of logging metric points.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LogMetricsResult {
    pub run_id: String,
    /// Points stored by this request.
    pub written: usize,
    /// Points identical in key, step, timestamp and value to one already stored (or to an
    /// earlier one of the request), and so skipped; this makes retrying a batch safe.
    pub duplicates: usize,
}

// ---------------------------------------------------------------- artifacts

/// A stored artifact file of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Artifact {
    pub path: String,
    pub size: i64,
    /// Hex SHA-256 of the content.
    pub sha256: String,
    pub content_type: Option<String>,
    pub created_at: Timestamp,
}

// ---------------------------------------------------------------- templates

/// A project template.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProjectTemplate {
    pub name: String,
    pub description: String,
    pub tags: Tags,
    pub experiment_defaults: ExperimentDefaults,
}

/// An experiment template.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExperimentTemplate {
    pub name: String,
    pub description: String,
    pub objectives: Vec<Objective>,
    pub search_space: SearchSpace,
    pub healthcare: Option<HealthcareConfig>,
    pub tags: Tags,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objectives_arrive_as_a_list_or_as_the_specs_map() {
        let map: NewExperiment = serde_json::from_value(serde_json::json!({
            "project_id": "p", "name": "e",
            "objectives": {
                "accuracy": {"target": 0.95, "required": true},
                "loss": {"direction": "minimize"}
            }
        }))
        .unwrap();
        let list: NewExperiment = serde_json::from_value(serde_json::json!({
            "project_id": "p", "name": "e",
            "objectives": [
                {"metric": "accuracy", "direction": "maximize", "target": 0.95, "required": true},
                {"metric": "loss", "direction": "minimize"}
            ]
        }))
        .unwrap();
        assert_eq!(map.objectives, list.objectives);
        assert_eq!(map.objectives.as_ref().map(Vec::len), Some(2));

        let patch: ExperimentPatch =
            serde_json::from_value(serde_json::json!({"objectives": {"f1": {}}})).unwrap();
        assert_eq!(
            patch.objectives,
            Some(vec![Objective {
                metric: "f1".into(),
                direction: Direction::Maximize,
                target: None,
                required: false
            }])
        );
        let defaults: ExperimentDefaults =
            serde_json::from_value(serde_json::json!({"objectives": {"f1": {}}})).unwrap();
        assert_eq!(defaults.objectives.len(), 1);
        let none: ExperimentPatch = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(none.objectives, None);

        for bad in [
            serde_json::json!({"accuracy": {"goal": 1}}),
            serde_json::json!({"accuracy": {"direction": "sideways"}}),
            serde_json::json!("accuracy"),
        ] {
            assert!(
                serde_json::from_value::<ExperimentPatch>(serde_json::json!({"objectives": bad}))
                    .is_err()
            );
        }
    }

    fn p(step: i64, timestamp: i64, value: f64) -> MetricPoint {
        MetricPoint::new(step, timestamp, value)
    }

    #[test]
    fn point_identity_includes_the_value_and_nan_is_one_value() {
        assert!(p(1, 2, 3.0).same_point(&p(1, 2, 3.0)));
        assert!(!p(1, 2, 1.0).same_point(&p(1, 2, 1e9)));
        assert!(!p(1, 2, 0.0).same_point(&p(1, 2, -0.0)), "bit for bit");
        let other_nan = f64::from_bits(f64::NAN.to_bits() | 1);
        assert!(p(1, 2, f64::NAN).same_point(&p(1, 2, -other_nan)));
        assert!(!p(1, 2, f64::NAN).same_point(&p(1, 2, 0.0)));
    }

    #[test]
    fn series_and_history_orders() {
        let mut points = [
            p(2, 1, 0.0),
            p(1, 5, f64::NAN),
            p(1, 5, 0.0),
            p(1, 5, -0.0),
            p(1, 5, f64::INFINITY),
            p(1, 5, -1.0),
            p(1, 3, 9.0),
        ];
        points.sort_by_key(MetricPoint::series_key);
        let order: Vec<(i64, i64, String)> = points
            .iter()
            .map(|p| (p.step, p.timestamp, format!("{:?}", p.value)))
            .collect();
        let want = [
            (1, 3, "9.0"),
            (1, 5, "-1.0"),
            (1, 5, "-0.0"),
            (1, 5, "0.0"),
            (1, 5, "NaN"),
            (1, 5, "inf"),
            (2, 1, "0.0"),
        ];
        assert_eq!(order, want.map(|(s, t, v)| (s, t, v.to_owned())).to_vec());
        points.sort_by_key(MetricPoint::history_key);
        assert_eq!((points[0].step, points[0].timestamp), (2, 1));
        assert_eq!(points[1].value, 9.0);
    }
}
