//! The `StorageService` methods: who calls (credentials), which study and trial an integer
//! id names, then one service call each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ets_hpo::Distribution;
use tonic::{Request, Response, Status};

use super::convert::{self, split_trial_id, status, trial_id};
use super::proto;
use super::proto::storage_service_server::StorageService;
use crate::actor::Actor;
use crate::auth::Role;
use crate::error::Error;
use crate::service::Services;
use crate::service::identity::Presented;
use crate::store::{AttrKind, StudyRecord, TrialRecord};

/// Most trial ids remembered (their text ids never change); the map starts over past it.
const MAX_REMEMBERED_TRIALS: usize = 100_000;

type Reply<T> = Result<Response<T>, Status>;

pub struct OptunaStorage {
    services: Arc<Services>,
    /// Calls without credentials act with this API key (`optuna.api_key_file`).
    default_key: Option<String>,
    /// The `optuna.project` project's id, once resolved.
    project: tokio::sync::OnceCell<String>,
    /// Studies by number (what Optuna reads of them never changes).
    studies: Mutex<HashMap<i64, StudyRecord>>,
    /// Integer trial id → text trial id.
    trials: Mutex<HashMap<i64, String>>,
}

impl OptunaStorage {
    pub fn new(services: Arc<Services>) -> Result<Self, String> {
        let default_key = match &services.config.optuna.api_key_file {
            Some(path) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| format!("optuna.api_key_file {}: {e}", path.display()))?
                    .trim()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(Self {
            services,
            default_key,
            project: tokio::sync::OnceCell::new(),
            studies: Mutex::new(HashMap::new()),
            trials: Mutex::new(HashMap::new()),
        })
    }

    /// The caller: anyone when authentication is off; else the `authorization` metadata,
    /// or the configured key, with the role the call needs.
    async fn actor<T>(&self, request: &Request<T>, role: Role) -> Result<Actor, Status> {
        if !self.services.config.auth.enabled {
            return Ok(Actor::Anonymous);
        }
        let headers = request.metadata().clone().into_headers();
        let presented = crate::api::auth::presented(&headers)
            .map_err(status)?
            .or_else(|| self.default_key.clone().map(Presented::Bearer))
            .ok_or_else(|| {
                Status::unauthenticated(
                    "authentication required: send `authorization: Bearer <API key>` metadata, \
                     or configure optuna.api_key_file on the server",
                )
            })?;
        let ip = request.remote_addr().map(|a| a.ip());
        let principal = self
            .services
            .authenticate(presented, ip)
            .await
            .map_err(status)?;
        Ok(Actor::User {
            principal,
            needs: Some(role),
        })
    }

    async fn project(&self, actor: &Actor) -> Result<&str, Status> {
        let name = &self.services.config.optuna.project;
        self.project
            .get_or_try_init(|| async {
                self.services
                    .project_id_by_name(actor, name)
                    .await
                    .map_err(status)
            })
            .await
            .map(String::as_str)
    }

    async fn study(&self, actor: &Actor, seq: i64) -> Result<StudyRecord, Status> {
        let cached = self.studies.lock().expect("study cache").get(&seq).cloned();
        if let Some(study) = cached {
            self.services
                .authorize(actor, crate::error::EntityKind::Study, &study.id)
                .await
                .map_err(status)?;
            return Ok(study);
        }
        let project = self.project(actor).await?.to_owned();
        let study = self
            .services
            .study_numbered(actor, &project, seq)
            .await
            .map_err(status)?;
        self.studies
            .lock()
            .expect("study cache")
            .insert(seq, study.clone());
        Ok(study)
    }

    /// The study and text id of an integer trial id.
    async fn trial_ref(&self, actor: &Actor, id: i64) -> Result<(StudyRecord, String), Status> {
        let (seq, number) = split_trial_id(id).ok_or_else(|| {
            status(Error::not_found(
                crate::error::EntityKind::Trial,
                id.to_string(),
            ))
        })?;
        let study = self.study(actor, seq).await?;
        let cached = self.trials.lock().expect("trial cache").get(&id).cloned();
        if let Some(text) = cached {
            return Ok((study, text));
        }
        let trial = self.trial_numbered(actor, &study, number).await?;
        Ok((study, trial.id))
    }

    async fn trial_numbered(
        &self,
        actor: &Actor,
        study: &StudyRecord,
        number: i64,
    ) -> Result<TrialRecord, Status> {
        let trial = self
            .services
            .trial_numbered(actor, &study.id, number)
            .await
            .map_err(status)?;
        self.remember(study.seq, &trial);
        Ok(trial)
    }

    fn remember(&self, seq: i64, trial: &TrialRecord) {
        let mut trials = self.trials.lock().expect("trial cache");
        if trials.len() >= MAX_REMEMBERED_TRIALS {
            trials.clear();
        }
        trials.insert(trial_id(seq, trial.number), trial.id.clone());
    }

    async fn set_study_attr(
        &self,
        request: Request<(i64, String, String)>,
        kind: AttrKind,
    ) -> Result<(), Status> {
        let actor = self.actor(&request, Role::Editor).await?;
        let (seq, key, value) = request.into_inner();
        let study = self.study(&actor, seq).await?;
        self.services
            .set_study_attr(&actor, &study.id, kind, &key, &value)
            .await
            .map_err(status)
    }

    async fn study_attrs(
        &self,
        request: Request<i64>,
        kind: AttrKind,
    ) -> Result<HashMap<String, String>, Status> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let study = self.study(&actor, *request.get_ref()).await?;
        let attrs = self
            .services
            .study_attrs(&actor, &study.id)
            .await
            .map_err(status)?;
        Ok(convert::attrs_of(&attrs, kind))
    }

    async fn set_trial_attr(
        &self,
        request: Request<(i64, String, String)>,
        kind: AttrKind,
    ) -> Result<(), Status> {
        let actor = self.actor(&request, Role::Editor).await?;
        let (id, key, value) = request.into_inner();
        let (_, trial) = self.trial_ref(&actor, id).await?;
        self.services
            .set_trial_attr(&actor, &trial, kind, &key, &value)
            .await
            .map_err(status)
    }
}

/// Carries a request's metadata over to another body (for the shared helpers above).
fn with_body<T, U>(request: Request<T>, body: impl FnOnce(T) -> U) -> Request<U> {
    let (metadata, extensions, inner) = request.into_parts();
    Request::from_parts(metadata, extensions, body(inner))
}

#[tonic::async_trait]
impl StorageService for OptunaStorage {
    async fn create_new_study(
        &self,
        request: Request<proto::CreateNewStudyRequest>,
    ) -> Reply<proto::CreateNewStudyReply> {
        let actor = self.actor(&request, Role::Editor).await?;
        let project = self.project(&actor).await?.to_owned();
        let body = request.into_inner();
        let directions = body
            .directions
            .iter()
            .map(|d| convert::direction(*d))
            .collect::<Result<Vec<_>, _>>()?;
        let study = self
            .services
            .create_client_study(&actor, &project, &body.study_name, &directions)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::CreateNewStudyReply {
            study_id: study.seq,
        }))
    }

    async fn delete_study(
        &self,
        request: Request<proto::DeleteStudyRequest>,
    ) -> Reply<proto::DeleteStudyReply> {
        let actor = self.actor(&request, Role::Admin).await?;
        let seq = request.get_ref().study_id;
        let study = self.study(&actor, seq).await?;
        self.services
            .delete_study(&actor, &study.id)
            .await
            .map_err(status)?;
        self.studies.lock().expect("study cache").remove(&seq);
        Ok(Response::new(proto::DeleteStudyReply {}))
    }

    async fn set_study_user_attribute(
        &self,
        request: Request<proto::SetStudyUserAttributeRequest>,
    ) -> Reply<proto::SetStudyUserAttributeReply> {
        let request = with_body(request, |b| (b.study_id, b.key, b.value));
        self.set_study_attr(request, AttrKind::User).await?;
        Ok(Response::new(proto::SetStudyUserAttributeReply {}))
    }

    async fn set_study_system_attribute(
        &self,
        request: Request<proto::SetStudySystemAttributeRequest>,
    ) -> Reply<proto::SetStudySystemAttributeReply> {
        let request = with_body(request, |b| (b.study_id, b.key, b.value));
        self.set_study_attr(request, AttrKind::System).await?;
        Ok(Response::new(proto::SetStudySystemAttributeReply {}))
    }

    async fn get_study_id_from_name(
        &self,
        request: Request<proto::GetStudyIdFromNameRequest>,
    ) -> Reply<proto::GetStudyIdFromNameReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let project = self.project(&actor).await?.to_owned();
        let study = self
            .services
            .study_named(&actor, &project, &request.get_ref().study_name)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::GetStudyIdFromNameReply {
            study_id: study.seq,
        }))
    }

    async fn get_study_name_from_id(
        &self,
        request: Request<proto::GetStudyNameFromIdRequest>,
    ) -> Reply<proto::GetStudyNameFromIdReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let study = self.study(&actor, request.get_ref().study_id).await?;
        Ok(Response::new(proto::GetStudyNameFromIdReply {
            study_name: study.name,
        }))
    }

    async fn get_study_directions(
        &self,
        request: Request<proto::GetStudyDirectionsRequest>,
    ) -> Reply<proto::GetStudyDirectionsReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let study = self.study(&actor, request.get_ref().study_id).await?;
        Ok(Response::new(proto::GetStudyDirectionsReply {
            directions: convert::directions_of(&study),
        }))
    }

    async fn get_study_user_attributes(
        &self,
        request: Request<proto::GetStudyUserAttributesRequest>,
    ) -> Reply<proto::GetStudyUserAttributesReply> {
        let request = with_body(request, |b| b.study_id);
        Ok(Response::new(proto::GetStudyUserAttributesReply {
            user_attributes: self.study_attrs(request, AttrKind::User).await?,
        }))
    }

    async fn get_study_system_attributes(
        &self,
        request: Request<proto::GetStudySystemAttributesRequest>,
    ) -> Reply<proto::GetStudySystemAttributesReply> {
        let request = with_body(request, |b| b.study_id);
        Ok(Response::new(proto::GetStudySystemAttributesReply {
            system_attributes: self.study_attrs(request, AttrKind::System).await?,
        }))
    }

    async fn get_all_studies(
        &self,
        request: Request<proto::GetAllStudiesRequest>,
    ) -> Reply<proto::GetAllStudiesReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let project = self.project(&actor).await?.to_owned();
        let studies = self
            .services
            .project_studies(&actor, &project)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::GetAllStudiesReply {
            studies: studies
                .iter()
                .map(|(study, attrs)| convert::study(study, attrs))
                .collect(),
        }))
    }

    async fn create_new_trial(
        &self,
        request: Request<proto::CreateNewTrialRequest>,
    ) -> Reply<proto::CreateNewTrialReply> {
        let actor = self.actor(&request, Role::Editor).await?;
        let body = request.into_inner();
        let study = self.study(&actor, body.study_id).await?;
        let template = match body.template_trial {
            Some(trial) if !body.template_trial_is_none => Some(convert::template(trial)?),
            _ => None,
        };
        let trial = self
            .services
            .create_trial(&actor, &study, template)
            .await
            .map_err(status)?;
        self.remember(study.seq, &trial);
        Ok(Response::new(proto::CreateNewTrialReply {
            trial_id: trial_id(study.seq, trial.number),
        }))
    }

    async fn set_trial_parameter(
        &self,
        request: Request<proto::SetTrialParameterRequest>,
    ) -> Reply<proto::SetTrialParameterReply> {
        let actor = self.actor(&request, Role::Editor).await?;
        let body = request.into_inner();
        let distribution = Distribution::from_optuna_json(&body.param_name, &body.distribution)
            .map_err(|e| Status::invalid_argument(e.to_string()))?;
        let (_, trial) = self.trial_ref(&actor, body.trial_id).await?;
        self.services
            .set_trial_param(
                &actor,
                &trial,
                &body.param_name,
                body.param_value_internal,
                distribution,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SetTrialParameterReply {}))
    }

    async fn get_trial_id_from_study_id_trial_number(
        &self,
        request: Request<proto::GetTrialIdFromStudyIdTrialNumberRequest>,
    ) -> Reply<proto::GetTrialIdFromStudyIdTrialNumberReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let body = request.into_inner();
        let study = self.study(&actor, body.study_id).await?;
        let trial = self
            .trial_numbered(&actor, &study, body.trial_number)
            .await?;
        Ok(Response::new(
            proto::GetTrialIdFromStudyIdTrialNumberReply {
                trial_id: trial_id(study.seq, trial.number),
            },
        ))
    }

    async fn set_trial_state_values(
        &self,
        request: Request<proto::SetTrialStateValuesRequest>,
    ) -> Reply<proto::SetTrialStateValuesReply> {
        let actor = self.actor(&request, Role::Editor).await?;
        let body = request.into_inner();
        let state = convert::state(body.state)?;
        let (_, trial) = self.trial_ref(&actor, body.trial_id).await?;
        let values = (!body.values.is_empty()).then_some(body.values);
        let updated = self
            .services
            .set_trial_state(&actor, &trial, state, values)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SetTrialStateValuesReply {
            trial_updated: updated,
        }))
    }

    async fn set_trial_intermediate_value(
        &self,
        request: Request<proto::SetTrialIntermediateValueRequest>,
    ) -> Reply<proto::SetTrialIntermediateValueReply> {
        let actor = self.actor(&request, Role::Editor).await?;
        let body = request.into_inner();
        let (_, trial) = self.trial_ref(&actor, body.trial_id).await?;
        self.services
            .record_trial_value(&actor, &trial, body.step, body.intermediate_value)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::SetTrialIntermediateValueReply {}))
    }

    async fn set_trial_user_attribute(
        &self,
        request: Request<proto::SetTrialUserAttributeRequest>,
    ) -> Reply<proto::SetTrialUserAttributeReply> {
        let request = with_body(request, |b| (b.trial_id, b.key, b.value));
        self.set_trial_attr(request, AttrKind::User).await?;
        Ok(Response::new(proto::SetTrialUserAttributeReply {}))
    }

    async fn set_trial_system_attribute(
        &self,
        request: Request<proto::SetTrialSystemAttributeRequest>,
    ) -> Reply<proto::SetTrialSystemAttributeReply> {
        let request = with_body(request, |b| (b.trial_id, b.key, b.value));
        self.set_trial_attr(request, AttrKind::System).await?;
        Ok(Response::new(proto::SetTrialSystemAttributeReply {}))
    }

    async fn get_trial(
        &self,
        request: Request<proto::GetTrialRequest>,
    ) -> Reply<proto::GetTrialReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let id = request.get_ref().trial_id;
        let (seq, number) = split_trial_id(id).ok_or_else(|| {
            status(Error::not_found(
                crate::error::EntityKind::Trial,
                id.to_string(),
            ))
        })?;
        let study = self.study(&actor, seq).await?;
        let trial = self.trial_numbered(&actor, &study, number).await?;
        Ok(Response::new(proto::GetTrialReply {
            trial: Some(convert::trial(&study, &trial)),
        }))
    }

    async fn get_trials(
        &self,
        request: Request<proto::GetTrialsRequest>,
    ) -> Reply<proto::GetTrialsReply> {
        let actor = self.actor(&request, Role::Viewer).await?;
        let body = request.into_inner();
        let study = self.study(&actor, body.study_id).await?;
        // Trial numbers of this study: everything after the last finished one the client
        // holds, plus the unfinished ones it holds.
        let number_in_study = |id: i64| match split_trial_id(id) {
            Some((seq, number)) if seq == study.seq => Some(number),
            Some((seq, _)) if seq > study.seq => Some(i64::MAX),
            _ => None,
        };
        let after = number_in_study(body.trial_id_greater_than).unwrap_or(-1);
        let included: Vec<i64> = body
            .included_trial_ids
            .iter()
            .filter_map(|id| number_in_study(*id))
            .collect();
        let from = included.iter().map(|n| n - 1).fold(after, i64::min);
        let trials = self
            .services
            .trials_after(&actor, &study.id, from)
            .await
            .map_err(status)?;
        Ok(Response::new(proto::GetTrialsReply {
            trials: trials
                .iter()
                .filter(|t| t.number > after || included.contains(&t.number))
                .map(|t| convert::trial(&study, t))
                .collect(),
        }))
    }
}
