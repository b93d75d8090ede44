//! Who may do what: principals, roles, and the permission each route declares.
//!
//! Authentication (who is calling) happens once per request in the API's auth middleware,
//! which turns credentials into a [`Principal`]. Authorization has two halves: the route's
//! declared [`Permission`] (one table, `auth::policy`), checked by the middleware before the
//! handler runs, and the object check in the service layer, which compares the role the route
//! declared with the caller's role on the project of every object it touches
//! (`Services::authorize`). A caller with no role on a project learns nothing about it: its
//! objects answer 404, exactly as if they did not exist.

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A role on a project, ordered by what it allows.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Read everything in the project.
    Viewer,
    /// Also write runs, params, tags, metrics and artifacts.
    Editor,
    /// Also settings, members, deletion and restore.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a route requires before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    /// Anyone, with or without credentials (health, `/info`, the docs).
    Public,
    /// Any authenticated principal; the handler touches no project (or only its own things,
    /// like the caller's API keys).
    Authenticated,
    /// This role on the project of every object the handler touches; lists show only
    /// projects where the caller has at least this role.
    Project(Role),
    /// Global admins only (users, the audit trail).
    GlobalAdmin,
}

/// A user or a service account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    User,
    ServiceAccount,
}

/// How a principal proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// An API key (its id, never the secret).
    ApiKey {
        key_id: String,
    },
    Password,
    Jwt,
    /// The browser UI's session cookie.
    Session,
}

/// An authenticated caller: who, and the roles it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub name: String,
    pub kind: PrincipalKind,
    pub global_admin: bool,
    /// Role per project id (memberships and, for JWTs, group roles).
    pub roles: HashMap<String, Role>,
    pub credential: Credential,
}

impl Principal {
    /// The caller's role on a project; global admins are admins everywhere.
    pub fn role_on(&self, project_id: &str) -> Option<Role> {
        if self.global_admin {
            return Some(Role::Admin);
        }
        self.roles.get(project_id).copied()
    }
}
