//! Users, API keys, project members and sessions in PostgreSQL (SQL and rows:
//! `store::identity`).

use super::sql::is_unique_violation;
use super::{PgStore, Tx};
use crate::auth::Role;
use crate::error::{EntityKind, Error, Result};
use crate::store::identity::{self as q, ApiKeyRecord, KeyLogin, MemberRecord, SessionRecord};
use crate::store::identity::{UserRecord, UserRef};
use crate::store::{Mutation, rules};

/// The user, optionally locked until the transaction ends.
async fn get_user(tx: &Tx<'_>, by: &UserRef, lock: &str) -> Result<UserRecord> {
    let value = by.value();
    let statement = tx
        .prepare_cached(&format!("{} {lock}", q::select_user(by)))
        .await?;
    let row = tx.query_opt(&statement, &[&value]).await?;
    match row {
        Some(row) => Ok(q::user_row(&row, 0)?),
        None => Err(Error::not_found(EntityKind::User, value)),
    }
}

async fn user_roles(tx: &Tx<'_>, user_id: &str) -> Result<Vec<(String, Role)>> {
    let statement = tx.prepare_cached(q::USER_ROLES).await?;
    let rows = tx.query(&statement, &[&user_id]).await?;
    Ok(rows
        .iter()
        .map(q::role_row)
        .collect::<std::result::Result<_, _>>()?)
}

async fn get_member(tx: &Tx<'_>, project_id: &str, user_id: &str) -> Result<Option<MemberRecord>> {
    let statement = tx.prepare_cached(&q::select_member()).await?;
    let row = tx.query_opt(&statement, &[&project_id, &user_id]).await?;
    Ok(row.as_ref().map(q::member_row).transpose()?)
}

/// Adds the creator of a project as its admin (inside the project's creation).
pub(super) async fn add_first_admin(
    tx: &Tx<'_>,
    project_id: &str,
    user_id: &str,
    at: i64,
) -> Result<()> {
    let statement = tx.prepare_cached(q::UPSERT_MEMBER).await?;
    tx.execute(
        &statement,
        &[&project_id, &user_id, &Role::Admin.as_str(), &at],
    )
    .await?;
    Ok(())
}

impl PgStore {
    pub(super) async fn project_of(&self, entity: EntityKind, id: &str) -> Result<String> {
        let Some(sql) = q::project_of(entity) else {
            return Err(Error::internal(format!("{entity} has no project")));
        };
        let id = id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(sql).await?;
                match tx.query_opt(&statement, &[&id]).await? {
                    Some(row) => Ok(row.try_get(0)?),
                    None => Err(Error::not_found(entity, &id)),
                }
            })
        })
        .await
    }

    pub(super) async fn create_user(&self, user: UserRecord) -> Result<UserRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_USER).await?;
                tx.execute(
                    &statement,
                    &[
                        &user.id,
                        &user.name,
                        &user.kind.as_str(),
                        &user.password_hash,
                        &(user.global_admin as i64),
                        &(user.disabled as i64),
                        &user.created_at,
                        &user.updated_at,
                    ],
                )
                .await
                .map_err(|e| {
                    if is_unique_violation(&e) {
                        rules::user_name_taken(&user.name)
                    } else {
                        e.into()
                    }
                })?;
                Ok(user)
            })
        })
        .await
    }

    pub(super) async fn get_user(&self, by: UserRef) -> Result<UserRecord> {
        self.read(move |tx| Box::pin(async move { get_user(tx, &by, "").await }))
            .await
    }

    pub(super) async fn list_users(&self) -> Result<Vec<UserRecord>> {
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::list_users()).await?;
                let rows = tx.query(&statement, &[]).await?;
                Ok(rows
                    .iter()
                    .map(|r| q::user_row(r, 0))
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn update_user(
        &self,
        by: UserRef,
        mutation: Mutation<UserRecord>,
    ) -> Result<UserRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                let mut user = get_user(tx, &by, "FOR UPDATE").await?;
                mutation(&mut user)?;
                let statement = tx.prepare_cached(q::UPDATE_USER).await?;
                tx.execute(
                    &statement,
                    &[
                        &user.id,
                        &user.password_hash,
                        &(user.global_admin as i64),
                        &(user.disabled as i64),
                        &user.updated_at,
                    ],
                )
                .await?;
                Ok(user)
            })
        })
        .await
    }

    pub(super) async fn create_api_key(&self, key: ApiKeyRecord) -> Result<ApiKeyRecord> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_KEY).await?;
                tx.execute(
                    &statement,
                    &[
                        &key.id,
                        &key.user_id,
                        &key.name,
                        &key.secret_hash,
                        &key.created_at,
                        &key.expires_at,
                    ],
                )
                .await?;
                Ok(key)
            })
        })
        .await
    }

    pub(super) async fn list_api_keys(&self, user_id: &str) -> Result<Vec<ApiKeyRecord>> {
        let user_id = user_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::list_keys()).await?;
                let rows = tx.query(&statement, &[&user_id]).await?;
                Ok(rows
                    .iter()
                    .map(q::key_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn revoke_api_key(
        &self,
        user_id: &str,
        key_id: &str,
        at: i64,
    ) -> Result<ApiKeyRecord> {
        let (user_id, key_id) = (user_id.to_owned(), key_id.to_owned());
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::REVOKE_KEY).await?;
                tx.execute(&statement, &[&key_id, &user_id, &at]).await?;
                let statement = tx.prepare_cached(&q::select_key()).await?;
                match tx.query_opt(&statement, &[&key_id, &user_id]).await? {
                    Some(row) => Ok(q::key_row(&row)?),
                    None => Err(Error::not_found(EntityKind::ApiKey, &key_id)),
                }
            })
        })
        .await
    }

    pub(super) async fn key_login(&self, key_id: &str) -> Result<Option<KeyLogin>> {
        let key_id = key_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(&q::key_login()).await?;
                let Some(row) = tx.query_opt(&statement, &[&key_id]).await? else {
                    return Ok(None);
                };
                let key = q::key_row(&row)?;
                let user = q::user_row(&row, q::KEY_COLUMN_COUNT)?;
                let roles = user_roles(tx, &user.id).await?;
                Ok(Some(KeyLogin { key, user, roles }))
            })
        })
        .await
    }

    pub(super) async fn touch_api_key(&self, key_id: &str, at: i64) -> Result<()> {
        let key_id = key_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::TOUCH_KEY).await?;
                tx.execute(&statement, &[&key_id, &at]).await?;
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn user_roles(&self, user_id: &str) -> Result<Vec<(String, Role)>> {
        let user_id = user_id.to_owned();
        self.read(move |tx| Box::pin(async move { user_roles(tx, &user_id).await }))
            .await
    }

    pub(super) async fn list_members(&self, project_id: &str) -> Result<Vec<MemberRecord>> {
        let project_id = project_id.to_owned();
        self.read(move |tx| {
            Box::pin(async move {
                super::projects::get(tx, &project_id, "").await?;
                let statement = tx.prepare_cached(&q::list_members()).await?;
                let rows = tx.query(&statement, &[&project_id]).await?;
                Ok(rows
                    .iter()
                    .map(q::member_row)
                    .collect::<std::result::Result<_, _>>()?)
            })
        })
        .await
    }

    pub(super) async fn set_member(
        &self,
        project_id: &str,
        user: UserRef,
        role: Option<Role>,
        at: i64,
    ) -> Result<Option<MemberRecord>> {
        let project_id = project_id.to_owned();
        self.write(move |tx| {
            Box::pin(async move {
                // The project row lock serialises member changes (the last-admin rule).
                super::projects::get(tx, &project_id, "FOR NO KEY UPDATE").await?;
                let user = get_user(tx, &user, "").await?;
                let current = get_member(tx, &project_id, &user.id).await?;
                let statement = tx.prepare_cached(q::PROJECT_ADMINS).await?;
                let admins: i64 = tx.query_one(&statement, &[&project_id]).await?.get(0);
                rules::check_keeps_an_admin(
                    &project_id,
                    &user.name,
                    current.as_ref().map(|m| m.role),
                    role,
                    admins,
                )?;
                match role {
                    Some(role) => {
                        let statement = tx.prepare_cached(q::UPSERT_MEMBER).await?;
                        tx.execute(&statement, &[&project_id, &user.id, &role.as_str(), &at])
                            .await?;
                        get_member(tx, &project_id, &user.id).await
                    }
                    None => {
                        if current.is_none() {
                            return Err(Error::not_found(EntityKind::Member, &user.name));
                        }
                        let statement = tx.prepare_cached(q::DELETE_MEMBER).await?;
                        tx.execute(&statement, &[&project_id, &user.id]).await?;
                        Ok(None)
                    }
                }
            })
        })
        .await
    }

    pub(super) async fn create_session(&self, session: SessionRecord) -> Result<()> {
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::INSERT_SESSION).await?;
                tx.execute(
                    &statement,
                    &[
                        &session.token_hash,
                        &session.user_id,
                        &session.csrf_token,
                        &session.created_at,
                        &session.expires_at,
                    ],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    pub(super) async fn get_session(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        let token_hash = token_hash.to_vec();
        self.read(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::SELECT_SESSION).await?;
                let row = tx.query_opt(&statement, &[&token_hash]).await?;
                Ok(row.as_ref().map(q::session_row).transpose()?)
            })
        })
        .await
    }

    pub(super) async fn delete_session(&self, token_hash: &[u8]) -> Result<()> {
        let token_hash = token_hash.to_vec();
        self.write(move |tx| {
            Box::pin(async move {
                let statement = tx.prepare_cached(q::DELETE_SESSION).await?;
                tx.execute(&statement, &[&token_hash]).await?;
                Ok(())
            })
        })
        .await
    }
}
