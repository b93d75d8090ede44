//! Rows of the identity tables (users, API keys, project members, sessions) and the SQL both
//! backends run on them, written once (`$n` placeholders; SQLite converts them).

use crate::auth::{PrincipalKind, Role};
use crate::error::EntityKind;

/// A user or service account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub id: String,
    pub name: String,
    pub kind: PrincipalKind,
    /// Argon2id PHC string; `None`: the account cannot log in with a password.
    pub password_hash: Option<String>,
    pub global_admin: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An API key as stored: the secret only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: String,
    pub user_id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A user's role on a project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    pub project_id: String,
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    pub created_at: i64,
    pub updated_at: i64,
}

/// A browser session: the cookie's token only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_hash: Vec<u8>,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What an API key authenticates: the key, its user and the user's roles, read at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLogin {
    pub key: ApiKeyRecord,
    pub user: UserRecord,
    pub roles: Vec<(String, Role)>,
}

/// How a user is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserRef {
    Id(String),
    Name(String),
}

impl UserRef {
    /// The id or name it holds.
    pub fn value(&self) -> &str {
        match self {
            UserRef::Id(v) | UserRef::Name(v) => v,
        }
    }
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::ServiceAccount => "service_account",
        }
    }

    pub fn parse(text: &str) -> Option<PrincipalKind> {
        match text {
            "user" => Some(PrincipalKind::User),
            "service_account" => Some(PrincipalKind::ServiceAccount),
            _ => None,
        }
    }
}

/// The project an entity belongs to (`$1` is its id), for authorization.
pub(crate) fn project_of(entity: EntityKind) -> Option<&'static str> {
    Some(match entity {
        EntityKind::Project => "SELECT id FROM projects WHERE id = $1",
        EntityKind::Experiment => "SELECT project_id FROM experiments WHERE id = $1",
        EntityKind::Run | EntityKind::ParentRun => {
            "SELECT e.project_id FROM runs r JOIN experiments e ON e.id = r.experiment_id WHERE r.id = $1"
        }
        EntityKind::LoggedModel => {
            "SELECT e.project_id FROM logged_models m JOIN experiments e ON e.id = m.experiment_id \
             WHERE m.id = $1"
        }
        EntityKind::Chart | EntityKind::Dashboard => "SELECT project_id FROM views WHERE id = $1",
        EntityKind::AlertRule => "SELECT project_id FROM alert_rules WHERE id = $1",
        EntityKind::Alert => "SELECT project_id FROM alert_events WHERE id = $1",
        EntityKind::Study => {
            "SELECT e.project_id FROM studies s JOIN experiments e ON e.id = s.experiment_id \
             WHERE s.id = $1"
        }
        EntityKind::Trial => {
            "SELECT e.project_id FROM trials t JOIN studies s ON s.id = t.study_id \
             JOIN experiments e ON e.id = s.experiment_id WHERE t.id = $1"
        }
        _ => return None,
    })
}

pub(crate) const USER_COLUMNS: &str =
    "u.id, u.name, u.kind, u.password_hash, u.global_admin, u.disabled, u.created_at, u.updated_at";
pub(crate) const INSERT_USER: &str = "INSERT INTO users (id, name, kind, password_hash, global_admin, \
     disabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";
pub(crate) const UPDATE_USER: &str = "UPDATE users SET password_hash = $2, global_admin = $3, \
     disabled = $4, updated_at = $5 WHERE id = $1";

pub(crate) fn select_user(by: &UserRef) -> String {
    let column = match by {
        UserRef::Id(_) => "id",
        UserRef::Name(_) => "name",
    };
    format!("SELECT {USER_COLUMNS} FROM users u WHERE u.{column} = $1")
}

pub(crate) fn list_users() -> String {
    format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.name")
}

pub(crate) const KEY_COLUMNS: &str = "k.id, k.user_id, k.name, k.secret_hash, k.created_at, \
     k.expires_at, k.last_used_at, k.revoked_at";
pub(crate) const INSERT_KEY: &str = "INSERT INTO api_keys (id, user_id, name, secret_hash, \
     created_at, expires_at, last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, NULL, NULL)";
pub(crate) const REVOKE_KEY: &str =
    "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL";
/// Last use is kept to the minute: a busy key does not write on every request. (`$2` stands
/// alone in the comparison: in `$2 - 60000` PostgreSQL would type it `integer`, too small.)
pub(crate) const TOUCH_KEY: &str = "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 \
     AND (last_used_at IS NULL OR last_used_at + 60000 < $2)";

pub(crate) fn select_key() -> String {
    format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.id = $1 AND k.user_id = $2")
}

pub(crate) fn list_keys() -> String {
    format!("SELECT {KEY_COLUMNS} FROM api_keys k WHERE k.user_id = $1 ORDER BY k.created_at, k.id")
}

/// The key `$1` with its user's columns after the key's.
pub(crate) fn key_login() -> String {
    format!(
        "SELECT {KEY_COLUMNS}, {USER_COLUMNS} FROM api_keys k JOIN users u ON u.id = k.user_id \
         WHERE k.id = $1"
    )
}

pub(crate) const USER_ROLES: &str =
    "SELECT project_id, role FROM project_members WHERE user_id = $1";
pub(crate) const MEMBER_COLUMNS: &str =
    "m.project_id, m.user_id, u.name, m.role, m.created_at, m.updated_at";

pub(crate) fn list_members() -> String {
    format!(
        "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id \
         WHERE m.project_id = $1 ORDER BY u.name"
    )
}

pub(crate) fn select_member() -> String {
    format!(
        "SELECT {MEMBER_COLUMNS} FROM project_members m JOIN users u ON u.id = m.user_id \
         WHERE m.project_id = $1 AND m.user_id = $2"
    )
}

/// Adds a member or changes its role (keeping `created_at`).
pub(crate) const UPSERT_MEMBER: &str = "INSERT INTO project_members (project_id, user_id, role, \
     created_at, updated_at) VALUES ($1, $2, $3, $4, $4) ON CONFLICT (project_id, user_id) \
     DO UPDATE SET role = excluded.role, updated_at = excluded.updated_at";
pub(crate) const DELETE_MEMBER: &str =
    "DELETE FROM project_members WHERE project_id = $1 AND user_id = $2";
/// Admins of project `$1`, for the last-admin rule.
pub(crate) const PROJECT_ADMINS: &str =
    "SELECT count(*) FROM project_members WHERE project_id = $1 AND role = 'admin'";

pub(crate) const INSERT_SESSION: &str = "INSERT INTO sessions (token_hash, user_id, csrf_token, \
     created_at, expires_at) VALUES ($1, $2, $3, $4, $5)";
pub(crate) const SELECT_SESSION: &str = "SELECT token_hash, user_id, csrf_token, created_at, \
     expires_at FROM sessions WHERE token_hash = $1";
pub(crate) const DELETE_SESSION: &str = "DELETE FROM sessions WHERE token_hash = $1";

use super::rows::RowRead;

/// A user row in [`USER_COLUMNS`] order, starting at column `at`.
pub(crate) fn user_row<R: RowRead>(row: &R, at: usize) -> Result<UserRecord, R::Error> {
    Ok(UserRecord {
        id: row.text(at)?,
        name: row.text(at + 1)?,
        kind: PrincipalKind::parse(&row.text(at + 2)?).unwrap_or(PrincipalKind::User),
        password_hash: row.opt_text(at + 3)?,
        global_admin: row.int(at + 4)? != 0,
        disabled: row.int(at + 5)? != 0,
        created_at: row.int(at + 6)?,
        updated_at: row.int(at + 7)?,
    })
}

/// A key row in [`KEY_COLUMNS`] order.
pub(crate) fn key_row<R: RowRead>(row: &R) -> Result<ApiKeyRecord, R::Error> {
    Ok(ApiKeyRecord {
        id: row.text(0)?,
        user_id: row.text(1)?,
        name: row.text(2)?,
        secret_hash: row.bytes(3)?,
        created_at: row.int(4)?,
        expires_at: row.opt_int(5)?,
        last_used_at: row.opt_int(6)?,
        revoked_at: row.opt_int(7)?,
    })
}

/// Columns after the key's in [`key_login`].
pub(crate) const KEY_COLUMN_COUNT: usize = 8;

/// A member row in [`MEMBER_COLUMNS`] order.
pub(crate) fn member_row<R: RowRead>(row: &R) -> Result<MemberRecord, R::Error> {
    Ok(MemberRecord {
        project_id: row.text(0)?,
        user_id: row.text(1)?,
        user_name: row.text(2)?,
        role: Role::parse(&row.text(3)?).unwrap_or(Role::Viewer),
        created_at: row.int(4)?,
        updated_at: row.int(5)?,
    })
}

/// A `(project id, role)` row of [`USER_ROLES`].
pub(crate) fn role_row<R: RowRead>(row: &R) -> Result<(String, Role), R::Error> {
    Ok((
        row.text(0)?,
        Role::parse(&row.text(1)?).unwrap_or(Role::Viewer),
    ))
}

/// A session row of [`SELECT_SESSION`].
pub(crate) fn session_row<R: RowRead>(row: &R) -> Result<SessionRecord, R::Error> {
    Ok(SessionRecord {
        token_hash: row.bytes(0)?,
        user_id: row.text(1)?,
        csrf_token: row.text(2)?,
        created_at: row.int(3)?,
        expires_at: row.int(4)?,
    })
}
