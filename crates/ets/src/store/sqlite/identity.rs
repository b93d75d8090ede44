//! Users, API keys, project members and sessions in SQLite (SQL and rows: `store::identity`).

use rusqlite::{Connection, OptionalExtension, params};

use super::sql::{is_unique_violation, numbered};
use crate::auth::Role;
use crate::error::{EntityKind, Error, Result};
use crate::store::identity::{self as q, ApiKeyRecord, KeyLogin, MemberRecord, SessionRecord};
use crate::store::identity::{UserRecord, UserRef};
use crate::store::{Mutation, rules};

pub(super) fn insert_user(conn: &Connection, user: &UserRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_USER))?
        .execute(params![
            user.id,
            user.name,
            user.kind.as_str(),
            user.password_hash,
            user.global_admin as i64,
            user.disabled as i64,
            user.created_at,
            user.updated_at,
        ])
        .map_err(|e| {
            if is_unique_violation(&e) {
                rules::user_name_taken(&user.name)
            } else {
                e.into()
            }
        })?;
    Ok(())
}

pub(super) fn get_user(conn: &Connection, by: &UserRef) -> Result<UserRecord> {
    let value = by.value();
    conn.prepare_cached(&numbered(&q::select_user(by)))?
        .query_row([value], |r| q::user_row(r, 0))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::User, value))
}

pub(super) fn list_users(conn: &Connection) -> Result<Vec<UserRecord>> {
    let mut statement = conn.prepare_cached(&q::list_users())?;
    let rows = statement.query_map([], |r| q::user_row(r, 0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn update_user(
    conn: &Connection,
    by: &UserRef,
    mutation: Mutation<UserRecord>,
) -> Result<UserRecord> {
    let mut user = get_user(conn, by)?;
    mutation(&mut user)?;
    conn.prepare_cached(&numbered(q::UPDATE_USER))?
        .execute(params![
            user.id,
            user.password_hash,
            user.global_admin as i64,
            user.disabled as i64,
            user.updated_at,
        ])?;
    Ok(user)
}

pub(super) fn insert_key(conn: &Connection, key: &ApiKeyRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_KEY))?
        .execute(params![
            key.id,
            key.user_id,
            key.name,
            key.secret_hash,
            key.created_at,
            key.expires_at,
        ])?;
    Ok(())
}

pub(super) fn list_keys(conn: &Connection, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
    let mut statement = conn.prepare_cached(&numbered(&q::list_keys()))?;
    let rows = statement.query_map([user_id], |r| q::key_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn revoke_key(
    conn: &Connection,
    user_id: &str,
    key_id: &str,
    at: i64,
) -> Result<ApiKeyRecord> {
    conn.prepare_cached(&numbered(q::REVOKE_KEY))?
        .execute(params![key_id, user_id, at])?;
    conn.prepare_cached(&numbered(&q::select_key()))?
        .query_row([key_id, user_id], |r| q::key_row(r))
        .optional()?
        .ok_or_else(|| Error::not_found(EntityKind::ApiKey, key_id))
}

pub(super) fn key_login(conn: &Connection, key_id: &str) -> Result<Option<KeyLogin>> {
    let found = conn
        .prepare_cached(&numbered(&q::key_login()))?
        .query_row([key_id], |r| {
            Ok((q::key_row(r)?, q::user_row(r, q::KEY_COLUMN_COUNT)?))
        })
        .optional()?;
    let Some((key, user)) = found else {
        return Ok(None);
    };
    let roles = user_roles(conn, &user.id)?;
    Ok(Some(KeyLogin { key, user, roles }))
}

pub(super) fn touch_key(conn: &Connection, key_id: &str, at: i64) -> Result<()> {
    conn.prepare_cached(&numbered(q::TOUCH_KEY))?
        .execute(params![key_id, at])?;
    Ok(())
}

pub(super) fn user_roles(conn: &Connection, user_id: &str) -> Result<Vec<(String, Role)>> {
    let mut statement = conn.prepare_cached(&numbered(q::USER_ROLES))?;
    let rows = statement.query_map([user_id], |r| q::role_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

pub(super) fn list_members(conn: &Connection, project_id: &str) -> Result<Vec<MemberRecord>> {
    super::projects::get(conn, project_id)?;
    let mut statement = conn.prepare_cached(&numbered(&q::list_members()))?;
    let rows = statement.query_map([project_id], |r| q::member_row(r))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn get_member(conn: &Connection, project_id: &str, user_id: &str) -> Result<Option<MemberRecord>> {
    Ok(conn
        .prepare_cached(&numbered(&q::select_member()))?
        .query_row([project_id, user_id], |r| q::member_row(r))
        .optional()?)
}

pub(super) fn set_member(
    conn: &Connection,
    project_id: &str,
    user: &UserRef,
    role: Option<Role>,
    at: i64,
) -> Result<Option<MemberRecord>> {
    super::projects::get(conn, project_id)?;
    let user = get_user(conn, user)?;
    let current = get_member(conn, project_id, &user.id)?;
    let admins: i64 = conn.query_row(&numbered(q::PROJECT_ADMINS), [project_id], |r| r.get(0))?;
    rules::check_keeps_an_admin(
        project_id,
        &user.name,
        current.as_ref().map(|m| m.role),
        role,
        admins,
    )?;
    match role {
        Some(role) => {
            conn.prepare_cached(&numbered(q::UPSERT_MEMBER))?
                .execute(params![project_id, user.id, role.as_str(), at])?;
            get_member(conn, project_id, &user.id)
        }
        None => {
            if current.is_none() {
                return Err(Error::not_found(EntityKind::Member, &user.name));
            }
            conn.prepare_cached(&numbered(q::DELETE_MEMBER))?
                .execute([project_id, user.id.as_str()])?;
            Ok(None)
        }
    }
}

/// Adds the creator of a project as its admin (inside the project's creation).
pub(super) fn add_first_admin(
    conn: &Connection,
    project_id: &str,
    user_id: &str,
    at: i64,
) -> Result<()> {
    conn.prepare_cached(&numbered(q::UPSERT_MEMBER))?
        .execute(params![project_id, user_id, Role::Admin.as_str(), at])?;
    Ok(())
}

pub(super) fn insert_session(conn: &Connection, s: &SessionRecord) -> Result<()> {
    conn.prepare_cached(&numbered(q::INSERT_SESSION))?
        .execute(params![
            s.token_hash,
            s.user_id,
            s.csrf_token,
            s.created_at,
            s.expires_at
        ])?;
    Ok(())
}

pub(super) fn get_session(conn: &Connection, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
    Ok(conn
        .prepare_cached(&numbered(q::SELECT_SESSION))?
        .query_row([token_hash], |r| q::session_row(r))
        .optional()?)
}

pub(super) fn delete_session(conn: &Connection, token_hash: &[u8]) -> Result<()> {
    conn.prepare_cached(&numbered(q::DELETE_SESSION))?
        .execute([token_hash])?;
    Ok(())
}

pub(super) fn project_of(conn: &Connection, entity: EntityKind, id: &str) -> Result<String> {
    let Some(sql) = q::project_of(entity) else {
        return Err(Error::internal(format!("{entity} has no project")));
    };
    conn.prepare_cached(&numbered(sql))?
        .query_row([id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| Error::not_found(entity, id))
}
