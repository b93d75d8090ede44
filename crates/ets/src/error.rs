//! The error type of the service layer and the stores beneath it.
//!
//! Each variant is a distinct situation a client can act on; the HTTP adapters map variants to
//! status codes in one place per API surface (`api::error`), with no catch-all arm.

use ets_domain::ValidationError;

/// Result of service and store operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input that can never succeed as sent (names the field).
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// An artifact path that could leave its run (`..`, absolute, backslash, NUL, encoded
    /// tricks). A malformed request rather than a bad field value: 400 on every surface.
    #[error("{0}")]
    InvalidPath(ValidationError),

    /// An upload whose content does not match the checksum the client sent; nothing is kept.
    #[error(
        "{what}: the client sent SHA-256 {expected} but the received content hashes to {actual}; nothing was stored"
    )]
    ChecksumMismatch {
        what: String,
        expected: String,
        actual: String,
    },

    /// A malformed request outside the JSON body: query string, path, JSON syntax.
    #[error("{0}")]
    BadRequest(String),

    /// The addressed entity does not exist.
    #[error("{entity} '{id}' not found")]
    NotFound { entity: EntityKind, id: String },

    /// An entity with this unique name already exists.
    #[error("{entity} named '{name}' already exists{scope}")]
    AlreadyExists {
        entity: EntityKind,
        name: String,
        scope: String,
    },

    /// The request conflicts with the entity's current state (lifecycle, write-once params).
    #[error("{0}")]
    Conflict(String),

    /// A configured quota would be exceeded (runs per experiment, running experiments, metric
    /// keys per run); waiting does not lift it.
    #[error("{message} (limit {setting} = {limit}; raise it in the [limits] configuration or with ETS_{env_name})", env_name = setting_env(setting))]
    LimitExceeded {
        message: String,
        setting: &'static str,
        limit: u64,
    },

    /// A capacity of this instance is in use (e.g. `live.max_connections`): unlike a
    /// [`Error::LimitExceeded`] quota, it lifts by itself, so clients may retry later.
    #[error("{message} (limit {setting} = {limit}; retry later)")]
    Busy {
        message: String,
        setting: &'static str,
        limit: u64,
    },

    /// No valid credentials were presented (auth is on).
    #[error("{0}")]
    Unauthenticated(String),

    /// The caller may see the object but lacks the role the operation needs.
    #[error("{0}")]
    Forbidden(String),

    /// Too many requests from this principal or client (a token bucket ran dry).
    #[error("{message}; retry in {retry_after_seconds} s")]
    RateLimited {
        message: String,
        retry_after_seconds: u64,
    },

    /// A service ETS depends on for this request cannot be reached (the identity provider's
    /// keys); retrying later may succeed.
    #[error("{0}")]
    Unavailable(String),

    /// The disk under the data directory (database or artifacts) is full: nothing of the
    /// request was stored; retrying helps once space is freed.
    #[error("{0}")]
    StorageFull(String),

    /// A request body or upload is larger than allowed.
    #[error("{0}")]
    PayloadTooLarge(String),

    /// A JSON route's body sent without a JSON content type (a cross-site form or
    /// `text/plain` request cannot change state).
    #[error("{0}")]
    UnsupportedMediaType(String),

    /// Storage or another internal failure. The message is logged, not shown to clients.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The kinds of things an error can be about (shown to clients as `details.entity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Project,
    ProjectTemplate,
    Experiment,
    ExperimentTag,
    Run,
    ParentRun,
    Metric,
    Tag,
    Artifact,
    ArtifactLocation,
    StoredObject,
    LoggedModel,
    Upload,
    User,
    ApiKey,
    Member,
    AuditRecord,
    Chart,
    Dashboard,
    ChartTemplate,
    AlertRule,
    Alert,
    Study,
    Trial,
}

impl EntityKind {
    /// How messages and `details.entity` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Project => "project",
            EntityKind::ProjectTemplate => "project template",
            EntityKind::Experiment => "experiment",
            EntityKind::ExperimentTag => "experiment tag",
            EntityKind::Run => "run",
            EntityKind::ParentRun => "parent run",
            EntityKind::Metric => "metric",
            EntityKind::Tag => "tag",
            EntityKind::Artifact => "artifact",
            EntityKind::ArtifactLocation => "artifact location",
            EntityKind::StoredObject => "stored object",
            EntityKind::LoggedModel => "logged model",
            EntityKind::Upload => "upload",
            EntityKind::User => "user",
            EntityKind::ApiKey => "API key",
            EntityKind::Member => "member",
            EntityKind::AuditRecord => "audit record",
            EntityKind::Chart => "chart",
            EntityKind::Dashboard => "dashboard",
            EntityKind::ChartTemplate => "chart template",
            EntityKind::AlertRule => "alert rule",
            EntityKind::Alert => "alert",
            EntityKind::Study => "study",
            EntityKind::Trial => "trial",
        }
    }
}

impl std::fmt::Display for EntityKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

fn setting_env(setting: &str) -> String {
    setting.replace('.', "__").to_ascii_uppercase()
}

impl Error {
    /// The disk is full ([`Error::StorageFull`]), as the client is told.
    pub fn storage_full() -> Error {
        Error::StorageFull(
            "the server's disk is full: nothing of this request was stored; retry once space is \
             freed"
                .into(),
        )
    }

    pub fn not_found(entity: EntityKind, id: impl Into<String>) -> Self {
        Error::NotFound {
            entity,
            id: id.into(),
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid(ValidationError::new(field, message))
    }

    /// Checks an artifact path (see [`ets_domain::validate::artifact_path`]).
    pub fn check_artifact_path(field: &str, path: &str) -> Result<()> {
        ets_domain::validate::artifact_path(field, path).map_err(Error::InvalidPath)
    }

    pub fn internal(context: impl std::fmt::Display) -> Self {
        Error::Internal(context.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_errors_name_the_setting_and_its_variable() {
        let err = Error::LimitExceeded {
            message: "experiment e has 1000 runs".into(),
            setting: "limits.max_runs_per_experiment",
            limit: 1000,
        };
        let text = err.to_string();
        assert!(
            text.contains("limits.max_runs_per_experiment = 1000"),
            "{text}"
        );
        assert!(
            text.contains("ETS_LIMITS__MAX_RUNS_PER_EXPERIMENT"),
            "{text}"
        );
    }
}
