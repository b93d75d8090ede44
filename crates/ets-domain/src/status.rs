//! Lifecycles of projects, experiments and runs, and which transitions are allowed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Whether a project is in active use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProjectStatus {
    Active,
    Archived,
}

/// Experiment lifecycle: `draft → running → stopped | completed`; a stopped experiment may be
/// resumed (`stopped → running`), a completed one is final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExperimentStatus {
    Draft,
    Running,
    Stopped,
    Completed,
}

/// Run lifecycle: `scheduled → running → finished | failed | killed`. A scheduled run may also
/// be failed or killed before it starts, and an ended run may be resumed (`→ running`, as
/// MLflow's `start_run(run_id=…)` does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Scheduled,
    Running,
    Finished,
    Failed,
    Killed,
}

/// Lifecycle enums that travel as lowercase names (JSON, storage, query filters).
pub trait NamedStatus: Sized + Copy + 'static {
    /// Parses a name (case-insensitive).
    fn parse_name(text: &str) -> Option<Self>;
    /// The accepted names, for error messages.
    fn all_names() -> String;
}

macro_rules! str_enum {
    ($ty:ty { $($variant:ident = $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every variant, in lifecycle order.
            pub const ALL: &'static [$ty] = &[$(<$ty>::$variant),+];

            /// The lowercase name used in JSON, in storage and in filters.
            pub fn as_str(self) -> &'static str {
                match self { $(<$ty>::$variant => $text),+ }
            }

            /// Parses the lowercase name (case-insensitive).
            pub fn parse(text: &str) -> Option<Self> {
                $(if text.eq_ignore_ascii_case($text) { return Some(<$ty>::$variant); })+
                None
            }

            /// The accepted names, for error messages.
            pub fn names() -> String {
                [$($text),+].join(", ")
            }
        }

        impl NamedStatus for $ty {
            fn parse_name(text: &str) -> Option<Self> {
                <$ty>::parse(text)
            }

            fn all_names() -> String {
                <$ty>::names()
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

str_enum!(ProjectStatus { Active = "active", Archived = "archived" });
str_enum!(ExperimentStatus { Draft = "draft", Running = "running", Stopped = "stopped", Completed = "completed" });
str_enum!(RunStatus { Scheduled = "scheduled", Running = "running", Finished = "finished", Failed = "failed", Killed = "killed" });

impl ExperimentStatus {
    /// Whether an experiment may move from `self` to `next`.
    pub fn can_become(self, next: ExperimentStatus) -> bool {
        use ExperimentStatus::*;
        matches!(
            (self, next),
            (Draft, Running)
                | (Stopped, Running)
                | (Running, Stopped)
                | (Running, Completed)
                | (Stopped, Completed)
        )
    }
}

impl RunStatus {
    /// `finished`, `failed` and `killed` are final.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Killed
        )
    }

    /// Whether a run may move from `self` to `next`.
    pub fn can_become(self, next: RunStatus) -> bool {
        use RunStatus::*;
        matches!(
            (self, next),
            (Scheduled, Running)
                | (Scheduled | Running, Failed | Killed)
                | (Running, Finished)
                | (Finished | Failed | Killed, Running)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn experiment_transitions() {
        use ExperimentStatus::*;
        assert!(Draft.can_become(Running));
        assert!(Running.can_become(Stopped));
        assert!(Running.can_become(Completed));
        assert!(Stopped.can_become(Running));
        assert!(!Draft.can_become(Stopped));
        assert!(!Completed.can_become(Running));
        assert!(!Running.can_become(Running));
    }

    #[test]
    fn run_transitions() {
        use RunStatus::*;
        assert!(Scheduled.can_become(Running));
        assert!(Running.can_become(Finished));
        assert!(Scheduled.can_become(Killed));
        assert!(!Scheduled.can_become(Finished));
        for end in [Finished, Failed, Killed] {
            assert!(end.is_terminal());
            assert!(end.can_become(Running), "an ended run can be resumed");
            assert!(
                RunStatus::ALL
                    .iter()
                    .filter(|n| **n != Running)
                    .all(|next| !end.can_become(*next))
            );
        }
    }

    #[test]
    fn names_parse_back() {
        for status in RunStatus::ALL {
            assert_eq!(RunStatus::parse(status.as_str()), Some(*status));
        }
        assert_eq!(
            ExperimentStatus::parse("RUNNING"),
            Some(ExperimentStatus::Running)
        );
        assert_eq!(ProjectStatus::parse("gone"), None);
    }
}
