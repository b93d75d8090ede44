//! Who is calling. Every handler extracts an [`Actor`] and passes it to the service layer,
//! which checks it against the project of every object it touches (`Services::authorize`)
//! and records it in the audit trail.

use std::sync::Arc;

use crate::auth::{Principal, Role};

/// The caller of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// Authentication is off (`auth.enabled = false`): every caller may do everything.
    Anonymous,
    /// ETS itself: `ets gc`, the command line and background housekeeping.
    System,
    /// Authentication is on and no credentials came, on a public route: may touch no
    /// project's data.
    Unauthenticated,
    /// An authenticated principal, with the role the route declared it needs on the projects
    /// of the objects it touches (`None` when the route declares no project role).
    User {
        principal: Arc<Principal>,
        needs: Option<Role>,
    },
}

impl Actor {
    /// The user name to record as owner of what this caller creates, if known.
    pub fn user_name(&self) -> Option<&str> {
        match self {
            Actor::User { principal, .. } => Some(&principal.name),
            Actor::Anonymous | Actor::System | Actor::Unauthenticated => None,
        }
    }

    /// How the audit trail names this caller.
    pub fn audit_name(&self) -> &str {
        match self {
            Actor::Anonymous => "anonymous",
            Actor::System => "system",
            Actor::Unauthenticated => "unauthenticated",
            Actor::User { principal, .. } => &principal.name,
        }
    }

    /// The authenticated principal, if any.
    pub fn principal(&self) -> Option<&Principal> {
        match self {
            Actor::User { principal, .. } => Some(principal),
            _ => None,
        }
    }

    /// Whether the caller may do anything anywhere (auth off, ETS itself, or a global admin).
    pub fn is_unrestricted(&self) -> bool {
        match self {
            Actor::Anonymous | Actor::System => true,
            Actor::Unauthenticated => false,
            Actor::User { principal, .. } => principal.global_admin,
        }
    }
}
