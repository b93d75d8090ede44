//! Electronic signatures of runs (issue 14; 21 CFR Part 11): a signer re-enters their
//! password (or one of their API keys) — both identification components again, §11.200 —
//! and the signature records their name, the time and its meaning (§11.50), bound to the run
//! by a hash of the run's content at signing (§11.70). A later change to the run's content
//! makes the signature `superseded`; it is never changed or deleted, and every signature is
//! an audit record (`run.sign`).
//!
//! With `require_medical_disclaimer`, a run is approved only when a disclaimer is recorded on
//! it (the tag [`DISCLAIMER_TAG`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use ets_domain::Timestamp;
use ets_domain::model::{Artifact, Run};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::Services;
use super::identity::Presented;
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::SignatureRecord;

/// The run tag holding the medical disclaimer shown with the run's results.
pub const DISCLAIMER_TAG: &str = "ets.medical_disclaimer";
/// Longest comment.
const MAX_COMMENT_CHARS: usize = 2000;

/// What a signature means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    Reviewed,
    Approved,
    Rejected,
}

impl Meaning {
    pub fn as_str(self) -> &'static str {
        match self {
            Meaning::Reviewed => "reviewed",
            Meaning::Approved => "approved",
            Meaning::Rejected => "rejected",
        }
    }
}

/// Body of `POST /api/v1/runs/{id}/signatures`.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSignature {
    pub meaning: Meaning,
    /// The signer's password, or one of their API keys, entered again for this signature.
    pub password: String,
    /// Why (e.g. the review's reference); printed with the signature.
    pub comment: Option<String>,
}

/// Whether a signature still covers the run as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SignatureState {
    /// The run's content is what was signed.
    Valid,
    /// The run changed after signing.
    Superseded,
}

/// A signature as shown.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Signature {
    pub id: String,
    pub run_id: String,
    /// The signer's user name.
    pub signer: String,
    #[schema(value_type = String)]
    pub meaning: String,
    pub comment: Option<String>,
    pub signed_at: Timestamp,
    /// Hex SHA-256 of the run's content when it was signed.
    pub content_hash: String,
    pub state: SignatureState,
}

impl Signature {
    fn of(record: SignatureRecord, current_hash: &str) -> Signature {
        Signature {
            state: if record.content_hash == current_hash {
                SignatureState::Valid
            } else {
                SignatureState::Superseded
            },
            id: record.id,
            run_id: record.run_id,
            signer: record.signer_name,
            meaning: record.meaning,
            comment: record.comment,
            signed_at: record.signed_at,
            content_hash: record.content_hash,
        }
    }
}

/// A run's signatures, oldest first, with the hash of its content now.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SignatureList {
    pub items: Vec<Signature>,
    pub content_hash: String,
}

/// What a signature covers: the run's name, status, params, tags, metrics (each key's latest
/// value, step, range and count) and artifacts (path, size, SHA-256), in canonical JSON
/// (sorted keys); hex SHA-256 of that.
pub fn content_hash(run: &Run, artifacts: &[Artifact]) -> String {
    let metrics: BTreeMap<&str, serde_json::Value> = run
        .metrics
        .iter()
        .map(|m| {
            (
                m.key.as_str(),
                serde_json::json!([
                    m.last_value.to_bits(),
                    m.last_step,
                    m.count,
                    m.min.map(f64::to_bits),
                    m.max.map(f64::to_bits)
                ]),
            )
        })
        .collect();
    let artifacts: BTreeMap<&str, (i64, &str)> = artifacts
        .iter()
        .map(|a| (a.path.as_str(), (a.size, a.sha256.as_str())))
        .collect();
    let content = serde_json::json!({
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "params": run.params,
        "tags": run.tags,
        "metrics": metrics,
        "artifacts": artifacts,
    });
    hex::encode(Sha256::digest(content.to_string().as_bytes()))
}

impl Services {
    /// Signs a run for the calling user, who re-enters their password or an API key.
    pub async fn sign_run(
        &self,
        actor: &Actor,
        run_id: &str,
        input: NewSignature,
        ip: Option<IpAddr>,
    ) -> Result<Signature> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let principal = actor.principal().ok_or_else(|| {
            Error::Forbidden(
                "a signature names its signer: turn authentication on (auth.enabled) and sign \
                 in as yourself"
                    .into(),
            )
        })?;
        if let Some(comment) = &input.comment
            && comment.chars().count() > MAX_COMMENT_CHARS
        {
            return Err(Error::invalid(
                "comment",
                format!("must be at most {MAX_COMMENT_CHARS} characters"),
            ));
        }
        if input.password.is_empty() {
            return Err(Error::invalid(
                "password",
                "re-enter your password (or one of your API keys) to sign",
            ));
        }
        let refused = || {
            Error::Forbidden(format!(
                "the password or API key entered is not {}'s; nothing was signed",
                principal.name
            ))
        };
        let signer = self
            .authenticate(
                Presented::Basic {
                    user: principal.name.clone(),
                    secret: input.password,
                },
                ip,
            )
            .await
            .map_err(|e| match e {
                Error::Unauthenticated(_) => refused(),
                other => other,
            })?;
        if signer.user_id != principal.user_id {
            return Err(refused());
        }
        let run = self.store.get_run(run_id).await?;
        if input.meaning == Meaning::Approved {
            let experiment = self.store.get_experiment(&run.experiment_id).await?;
            let required = experiment
                .healthcare
                .as_ref()
                .is_some_and(|h| h.require_medical_disclaimer);
            let recorded = run
                .tags
                .get(DISCLAIMER_TAG)
                .is_some_and(|d| !d.trim().is_empty());
            if required && !recorded {
                return Err(Error::Conflict(format!(
                    "run '{run_id}' cannot be approved without a medical disclaimer: its \
                     experiment requires one; record it as the run's tag '{DISCLAIMER_TAG}'"
                )));
            }
        }
        let artifacts = self.store.list_artifacts(run_id, None).await?;
        let hash = content_hash(&run, &artifacts);
        let record = self
            .store
            .add_signature(SignatureRecord {
                id: ets_domain::new_id(),
                run_id: run_id.to_owned(),
                signer_id: signer.user_id.clone(),
                signer_name: signer.name.clone(),
                meaning: input.meaning.as_str().to_owned(),
                comment: input.comment,
                content_hash: hash.clone(),
                signed_at: Timestamp::now(),
            })
            .await?;
        Ok(Signature::of(record, &hash))
    }

    /// A run's signatures, each `valid` or `superseded` against the run's content now.
    pub async fn run_signatures(&self, actor: &Actor, run_id: &str) -> Result<SignatureList> {
        self.authorize(actor, EntityKind::Run, run_id).await?;
        let run = self.store.get_run(run_id).await?;
        let artifacts = self.store.list_artifacts(run_id, None).await?;
        let hash = content_hash(&run, &artifacts);
        let items = self
            .store
            .signatures(vec![run_id.to_owned()])
            .await?
            .into_iter()
            .map(|r| Signature::of(r, &hash))
            .collect();
        Ok(SignatureList {
            items,
            content_hash: hash,
        })
    }
}

/// The lines an export prints about its runs' approvals: each run's recorded medical
/// disclaimer and its signatures (signer, meaning, time, and whether it still covers the
/// run). Runs without either are left out.
pub fn approval_lines(
    runs: &[(Run, Vec<Artifact>)],
    signatures: &[SignatureRecord],
) -> Vec<String> {
    let mut lines = Vec::new();
    for (run, artifacts) in runs {
        let signed: Vec<&SignatureRecord> =
            signatures.iter().filter(|s| s.run_id == run.id).collect();
        let disclaimer = run.tags.get(DISCLAIMER_TAG);
        if signed.is_empty() && disclaimer.is_none() {
            continue;
        }
        lines.push(format!("Run {} ({})", run.name, run.id));
        if let Some(disclaimer) = disclaimer {
            lines.push(format!("  Medical disclaimer: {disclaimer}"));
        }
        let hash = content_hash(run, artifacts);
        for s in signed {
            let state = if s.content_hash == hash {
                "valid"
            } else {
                "superseded by a later change"
            };
            lines.push(format!(
                "  {} by {} at {} ({state}){}",
                s.meaning,
                s.signer_name,
                s.signed_at.to_rfc3339(),
                s.comment
                    .as_deref()
                    .map(|c| format!(": {c}"))
                    .unwrap_or_default()
            ));
        }
    }
    lines
}
