//! Identity-provider groups to ETS roles (`auth.jwt.group_roles`).

use std::collections::BTreeMap;

use crate::auth::Role;
use crate::config::GroupRole;

/// What a token's groups grant. Projects are named (as configured), not ids: the caller
/// resolves names to ids and merges these with the user's memberships.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GroupGrants {
    /// A group maps to project `"*"` with role `admin`.
    pub global_admin: bool,
    /// One entry per project, sorted by name, with the highest role any group grants there.
    pub project_roles: Vec<(String, Role)>,
}

/// The grants of `groups` under `group_roles`. Group names match exactly (case-sensitive,
/// as providers send them). Entries with a role that does not parse are skipped; the
/// configuration check refuses them at load.
pub fn roles_for_groups(groups: &[String], group_roles: &[GroupRole]) -> GroupGrants {
    let mut grants = GroupGrants::default();
    let mut projects: BTreeMap<&str, Role> = BTreeMap::new();
    for grant in group_roles
        .iter()
        .filter(|grant| groups.contains(&grant.group))
    {
        let Some(role) = Role::parse(&grant.role) else {
            continue;
        };
        if grant.project == "*" {
            grants.global_admin |= role == Role::Admin;
            continue;
        }
        let best = projects.entry(grant.project.as_str()).or_insert(role);
        *best = (*best).max(role);
    }
    grants.project_roles = projects
        .into_iter()
        .map(|(project, role)| (project.to_owned(), role))
        .collect();
    grants
}
