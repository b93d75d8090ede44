//! Project use cases.

use ets_domain::model::{
    ExperimentDefaults, NewProject, Project, ProjectPatch, ProjectStats, ProjectTemplate,
};
use ets_domain::status::ProjectStatus;
use ets_domain::{Timestamp, templates, validate};

use super::{ListParams, Services, apply_tag_patch, validate_description, validate_tags};
use crate::actor::Actor;
use crate::error::{EntityKind, Error, Result};
use crate::store::{Page, ProjectFilter};

/// Query of `GET /api/v1/projects`.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// `active` or `archived`.
    pub status: Option<String>,
    /// Exact name.
    pub name: Option<String>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    pub owner: Option<String>,
    /// `key` (has the tag) or `key:value`.
    pub tag: Option<String>,
    /// `active` (default), `deleted` (in the trash) or `all`.
    pub lifecycle: Option<String>,
}

/// Body of `POST /api/v1/projects/from-template/{name}`: the new project's own fields.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FromTemplate {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub owner: Option<String>,
    #[serde(default)]
    pub members: Vec<ets_domain::model::Member>,
    /// Added to the template's tags.
    #[serde(default)]
    pub tags: ets_domain::model::Tags,
}

pub(super) fn validate_defaults(defaults: &ExperimentDefaults) -> Result<()> {
    super::experiments::validate_objectives(
        "experiment_defaults.objectives",
        &defaults.objectives,
    )?;
    if let Some(hc) = &defaults.healthcare {
        super::experiments::validate_healthcare("experiment_defaults.healthcare", hc)?;
    }
    Ok(())
}

pub(super) fn validate_members(members: &[ets_domain::model::Member]) -> Result<()> {
    for (i, member) in members.iter().enumerate() {
        validate::name(&format!("members[{i}].user"), &member.user)?;
    }
    Ok(())
}

impl Services {
    pub async fn create_project(&self, actor: &Actor, input: NewProject) -> Result<Project> {
        self.insert_project(actor, input, None).await
    }

    async fn insert_project(
        &self,
        actor: &Actor,
        input: NewProject,
        template: Option<String>,
    ) -> Result<Project> {
        let name = validate::name("name", &input.name)?;
        validate_description("description", input.description.as_ref())?;
        validate_tags("tags", input.tags.iter().map(|(k, v)| (k, Some(v))))?;
        validate_members(&input.members)?;
        let experiment_defaults = input.experiment_defaults.unwrap_or_default();
        validate_defaults(&experiment_defaults)?;
        let now = Timestamp::now();
        let project = Project {
            id: ets_domain::new_id(),
            name,
            description: input.description,
            owner: input.owner.or_else(|| actor.user_name().map(str::to_owned)),
            members: input.members,
            tags: input.tags,
            status: ProjectStatus::Active,
            template,
            experiment_defaults,
            created_at: now,
            updated_at: now,
            deleted_at: None,
        };
        // The creator becomes the project's first admin.
        let admin = actor.principal().map(|p| p.user_id.clone());
        self.store.create_project(project, admin).await
    }

    pub async fn create_project_from_template(
        &self,
        actor: &Actor,
        template: &str,
        input: FromTemplate,
    ) -> Result<Project> {
        let template = templates::project_template(template)
            .ok_or_else(|| Error::not_found(EntityKind::ProjectTemplate, template))?;
        let mut tags = template.tags;
        tags.extend(input.tags);
        let project = NewProject {
            name: input.name,
            description: input.description.or(Some(template.description)),
            owner: input.owner,
            members: input.members,
            tags,
            experiment_defaults: Some(template.experiment_defaults),
        };
        self.insert_project(actor, project, Some(template.name))
            .await
    }

    pub async fn get_project(&self, actor: &Actor, id: &str) -> Result<Project> {
        self.authorize(actor, EntityKind::Project, id).await?;
        self.store.get_project(id).await
    }

    pub async fn list_projects(
        &self,
        actor: &Actor,
        query: ProjectQuery,
        list: ListParams,
    ) -> Result<Page<Project>> {
        let status = super::status_filter(query.status.as_deref())?;
        let filter = ProjectFilter {
            visible_projects: self.visible_projects(actor).await?,
            lifecycle: super::search::parse_lifecycle(query.lifecycle.as_deref())?,
            status,
            name: query.name,
            name_contains: query.name_contains,
            owner: query.owner,
            tag: super::parse_tag_filter(query.tag.as_deref()),
        };
        self.store
            .list_projects(filter, self.page_request(&list)?)
            .await
    }

    pub async fn update_project(
        &self,
        actor: &Actor,
        id: &str,
        patch: ProjectPatch,
    ) -> Result<Project> {
        self.authorize(actor, EntityKind::Project, id).await?;
        let name = patch
            .name
            .as_deref()
            .map(|n| validate::name("name", n))
            .transpose()?;
        validate_description("description", patch.description.as_ref())?;
        validate_tags("tags", patch.tags.iter().map(|(k, v)| (k, v.as_ref())))?;
        if let Some(members) = &patch.members {
            validate_members(members)?;
        }
        if let Some(defaults) = &patch.experiment_defaults {
            validate_defaults(defaults)?;
        }
        self.store
            .update_project(
                id,
                Box::new(move |project| {
                    if let Some(name) = name {
                        project.name = name;
                    }
                    if let Some(description) = patch.description {
                        project.description = Some(description);
                    }
                    if let Some(owner) = patch.owner {
                        project.owner = Some(owner);
                    }
                    if let Some(members) = patch.members {
                        project.members = members;
                    }
                    if let Some(status) = patch.status {
                        project.status = status;
                    }
                    if let Some(defaults) = patch.experiment_defaults {
                        project.experiment_defaults = defaults;
                    }
                    apply_tag_patch(&mut project.tags, &patch.tags);
                    Ok(())
                }),
            )
            .await
    }

    /// Deletes a project: moves it to the trash (restorable) with its experiments and their
    /// runs, or with `permanent` deletes it for good with their metrics and artifacts. A
    /// project with experiments (outside the trash, unless `permanent`) needs `cascade`.
    pub async fn delete_project(
        &self,
        actor: &Actor,
        id: &str,
        permanent: bool,
        cascade: bool,
    ) -> Result<()> {
        self.authorize(actor, EntityKind::Project, id).await?;
        if permanent {
            let run_ids = self.store.delete_project(id, cascade).await?;
            self.delete_run_artifacts(&run_ids).await;
        } else {
            self.store.set_project_deleted(id, true, cascade).await?;
        }
        Ok(())
    }

    /// Brings a project back from the trash, with the experiments and runs trashed with it.
    pub async fn restore_project(&self, actor: &Actor, id: &str) -> Result<Project> {
        self.authorize(actor, EntityKind::Project, id).await?;
        self.store.set_project_deleted(id, false, false).await
    }

    pub async fn project_stats(&self, actor: &Actor, id: &str) -> Result<ProjectStats> {
        self.authorize(actor, EntityKind::Project, id).await?;
        self.store.project_stats(id).await
    }

    pub fn project_templates(&self) -> Vec<ProjectTemplate> {
        templates::project_templates()
    }
}
