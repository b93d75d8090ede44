//! The audit trail's use cases: listing records and verifying the chain (global admins), and
//! the one rule for which reads are recorded (`[audit] reads`).

use ets_domain::Timestamp;
use serde::Deserialize;
use utoipa::IntoParams;

use super::Services;
use crate::actor::Actor;
use crate::audit::{AuditRecord, Event, VerifyReport, with_event};
use crate::config::AuditReads;
use crate::error::{Error, Result};
use crate::store::audit::decode_page_token;
use crate::store::{AuditQuery, DataOf, Page};
use ets_domain::model::Run;

/// Filter and page of `GET /api/v1/audit`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListParams {
    /// `project`, `experiment`, `run`, `artifact`, `logged_model`.
    pub entity_kind: Option<String>,
    /// An entity id (artifacts: `<run id>/<path>`).
    pub entity_id: Option<String>,
    /// The actor's name (`anonymous`, `system`, a user or service account).
    pub actor: Option<String>,
    /// An action such as `run.update`.
    pub action: Option<String>,
    /// Records at or after this time (RFC 3339 or epoch milliseconds).
    pub since: Option<String>,
    /// Records before this time (RFC 3339 or epoch milliseconds).
    pub until: Option<String>,
    /// `-seq` (newest first, the default) or `seq`.
    pub sort: Option<String>,
    /// Records per page: default 50, at most `limits.max_page_size`.
    pub page_size: Option<u32>,
    /// `next_page_token` of the previous page.
    pub page_token: Option<String>,
}

/// Only callers who may do anything anywhere read the trail (the auth layer refuses others
/// before this; this keeps the rule with the data).
fn require_unrestricted(actor: &Actor) -> Result<()> {
    if actor.is_unrestricted() {
        Ok(())
    } else {
        Err(Error::Forbidden(
            "the audit trail is for global admins".to_owned(),
        ))
    }
}

/// Parses `since` / `until`.
fn parse_time(field: &str, text: Option<&str>) -> Result<Option<Timestamp>> {
    text.map(|t| {
        Timestamp::parse(t).ok_or_else(|| {
            Error::BadRequest(format!(
                "{field} '{t}' is not a time; use RFC 3339 (2026-01-31T12:00:00Z) or epoch \
                 milliseconds"
            ))
        })
    })
    .transpose()
}

impl Services {
    /// A page of audit records, newest first unless `sort=seq`.
    pub async fn audit_records(
        &self,
        actor: &Actor,
        params: AuditListParams,
    ) -> Result<Page<AuditRecord>> {
        require_unrestricted(actor)?;
        let descending = match params.sort.as_deref().unwrap_or("-seq") {
            "-seq" => true,
            "seq" => false,
            other => {
                return Err(Error::BadRequest(format!(
                    "sort '{other}' is not supported; use seq or -seq"
                )));
            }
        };
        let after_seq = match params.page_token.as_deref().filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => Some(decode_page_token(token, descending).ok_or_else(|| {
                Error::BadRequest(
                    "page_token is malformed or was issued for the other sort; pass the \
                     next_page_token of the previous page with the same sort"
                        .into(),
                )
            })?),
        };
        let query = AuditQuery {
            entity_kind: params.entity_kind,
            entity_id: params.entity_id,
            actor: params.actor,
            action: params.action,
            since: parse_time("since", params.since.as_deref())?,
            until: parse_time("until", params.until.as_deref())?,
            descending,
            after_seq,
            page_size: self.page_size(params.page_size)?,
        };
        self.store.audit_records(query).await
    }

    /// Recomputes the whole chain.
    pub async fn verify_audit(&self, actor: &Actor) -> Result<VerifyReport> {
        require_unrestricted(actor)?;
        self.store.verify_audit().await
    }
}

impl Services {
    /// Records a read of `of`'s data when `[audit] reads` says so: every read (`all`), reads of
    /// experiments with a healthcare configuration (`healthcare`, the default), or none. Call
    /// it after the read succeeded and before returning the data: if the record cannot be
    /// written, the data is not returned.
    pub(crate) async fn audit_read(&self, event: Event, of: DataOf) -> Result<()> {
        let healthcare = match self.config.audit.reads {
            AuditReads::None => return Ok(()),
            AuditReads::All => true,
            AuditReads::Healthcare => self.store.is_healthcare(of).await?,
        };
        self.audit_read_of(event, healthcare).await
    }

    /// [`Services::audit_read`] of an experiment already read: `healthcare` says whether it
    /// has a healthcare configuration.
    pub(crate) async fn audit_read_of(&self, event: Event, healthcare: bool) -> Result<()> {
        let audited = match self.config.audit.reads {
            AuditReads::None => false,
            AuditReads::All => true,
            AuditReads::Healthcare => healthcare,
        };
        if audited {
            with_event(event, self.store.append_audit()).await?;
        }
        Ok(())
    }

    /// [`Services::audit_read`] for a list of runs: one `run.list` record per experiment
    /// whose runs it holds, naming how many.
    pub(crate) async fn audit_run_list(&self, runs: &[Run]) -> Result<()> {
        if self.config.audit.reads == AuditReads::None {
            return Ok(());
        }
        let mut experiments: Vec<&str> = runs.iter().map(|r| r.experiment_id.as_str()).collect();
        experiments.sort_unstable();
        experiments.dedup();
        for experiment in experiments {
            let count = runs
                .iter()
                .filter(|r| r.experiment_id == experiment)
                .count();
            let event = Event::new("run.list", "experiment", experiment).detail("runs", count);
            self.audit_read(event, DataOf::Experiment(experiment.to_owned()))
                .await?;
        }
        Ok(())
    }
}
