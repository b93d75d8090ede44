//! The object half of authorization: the caller's role on the project of each object a
//! service function touches, against the role its route declared (`auth::policy`).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::actor::Actor;
use crate::auth::{Principal, Role};
use crate::error::{EntityKind, Error, Result};

use super::Services;

/// Entries kept before the index starts over (an entity's project never changes, so any
/// entry stays true; the bound only caps memory).
const PROJECT_INDEX_CAPACITY: usize = 200_000;

/// Which project each run, experiment, logged model, study and trial belongs to: it never
/// changes, so it is looked up once and authorization then costs no query.
#[derive(Default)]
pub struct ProjectIndex {
    /// One map per kind of entity (runs, experiments, logged models, studies, trials), so a
    /// lookup borrows the id instead of building a key on every authorized request.
    entries: [Mutex<HashMap<String, String>>; 5],
}

impl ProjectIndex {
    fn map(&self, entity: EntityKind) -> Option<&Mutex<HashMap<String, String>>> {
        let slot = match entity {
            EntityKind::Run | EntityKind::ParentRun => 0,
            EntityKind::Experiment => 1,
            EntityKind::LoggedModel => 2,
            EntityKind::Study => 3,
            EntityKind::Trial => 4,
            _ => return None,
        };
        Some(&self.entries[slot])
    }

    fn get(&self, entity: EntityKind, id: &str) -> Option<String> {
        let entries = self.map(entity)?.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(id).cloned()
    }

    fn insert(&self, entity: EntityKind, id: &str, project: &str) {
        let Some(map) = self.map(entity) else { return };
        let mut entries = map.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= PROJECT_INDEX_CAPACITY {
            entries.clear();
        }
        entries.insert(id.to_owned(), project.to_owned());
    }
}

impl Services {
    /// The project of an entity (a project is its own).
    pub(crate) async fn project_of(&self, entity: EntityKind, id: &str) -> Result<String> {
        if entity == EntityKind::Project {
            return Ok(id.to_owned());
        }
        if let Some(project) = self.project_index.get(entity, id) {
            return Ok(project);
        }
        let project = self.store.project_of(entity, id).await?;
        self.project_index.insert(entity, id, &project);
        Ok(project)
    }

    /// Records the project of an entity just created (its first authorization then costs no
    /// query).
    pub(super) fn remember_project(&self, entity: EntityKind, id: &str, project: &str) {
        self.project_index.insert(entity, id, project);
    }

    /// Checks that `actor` holds the role its route declared on the project of `entity` `id`.
    /// No role there (or no such entity) is `NotFound`, so ids of other projects leak
    /// nothing; a lesser role is `Forbidden`.
    pub(crate) async fn authorize(
        &self,
        actor: &Actor,
        entity: EntityKind,
        id: &str,
    ) -> Result<()> {
        let (principal, needs) = match actor {
            Actor::Anonymous | Actor::System => return Ok(()),
            Actor::Unauthenticated => return Err(Error::not_found(entity, id)),
            Actor::User { principal, needs } => (principal, *needs),
        };
        if principal.global_admin {
            return Ok(());
        }
        // A route that declared no project role touches no project: only global admins may.
        let needs = needs.unwrap_or(Role::Admin);
        let project = self.project_of(entity, id).await?;
        match self.current_role(principal, &project, needs).await? {
            None => Err(Error::not_found(entity, id)),
            Some(role) if role >= needs => Ok(()),
            Some(role) => Err(Error::Forbidden(format!(
                "{entity} '{id}': this needs the {needs} role on its project; you are {role}"
            ))),
        }
    }

    /// [`Services::authorize`] for a project by id.
    pub(crate) async fn authorize_project(&self, actor: &Actor, project_id: &str) -> Result<()> {
        self.authorize(actor, EntityKind::Project, project_id).await
    }

    /// The projects whose entities `actor` may list under its route's role; `None`: all.
    pub(crate) async fn visible_projects(&self, actor: &Actor) -> Result<Option<Vec<String>>> {
        let (principal, needs) = match actor {
            Actor::Anonymous | Actor::System => return Ok(None),
            Actor::Unauthenticated => return Ok(Some(Vec::new())),
            Actor::User { principal, needs } => (principal, needs.unwrap_or(Role::Admin)),
        };
        if principal.global_admin {
            return Ok(None);
        }
        let roles = self.fresh_roles(principal).await?;
        Ok(Some(
            roles
                .into_iter()
                .filter(|(_, role)| *role >= needs)
                .map(|(project, _)| project)
                .collect(),
        ))
    }

    /// The role on `project`, read again from the database when the cached principal's roles
    /// would refuse (a role granted a moment ago, perhaps on another instance, counts at once).
    async fn current_role(
        &self,
        principal: &Principal,
        project: &str,
        needs: Role,
    ) -> Result<Option<Role>> {
        match principal.role_on(project) {
            Some(role) if role >= needs => Ok(Some(role)),
            _ => Ok(self
                .fresh_roles(principal)
                .await?
                .into_iter()
                .find(|(p, _)| p == project)
                .map(|(_, role)| role)),
        }
    }

    /// Memberships from the database plus roles that come with the credential (JWT groups).
    async fn fresh_roles(&self, principal: &Principal) -> Result<Vec<(String, Role)>> {
        let mut roles: HashMap<String, Role> = principal.roles.clone();
        for (project, role) in self.store.user_roles(&principal.user_id).await? {
            let entry = roles.entry(project).or_insert(role);
            *entry = (*entry).max(role);
        }
        Ok(roles.into_iter().collect())
    }
}
