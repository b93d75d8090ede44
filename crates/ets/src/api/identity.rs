//! `/api/v1/auth/*` (API keys, users, browser sessions) and project members.

use axum::Json as JsonResponse;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::auth::{SESSION_COOKIE, session_cookie};
use super::error::ErrorBody;
use super::extract::{ClientIp, Json, Path, Query};
use super::{AppState, ItemList};
use crate::actor::Actor;
use crate::auth::Role;
use crate::error::{Error, Result};
use crate::service::identity::{
    ApiKey, CreatedApiKey, CreatedUser, Member, NewApiKey, NewUser, SetMemberRole, User, UserPatch,
};

/// Whose keys: another user's (global admins only).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyOwner {
    pub user: Option<String>,
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct WhoAmI {
    /// `null` when authentication is off.
    pub user: Option<String>,
    pub global_admin: bool,
    /// Role per project id.
    pub roles: std::collections::BTreeMap<String, Role>,
    pub auth_enabled: bool,
}

/// Who is calling, with their roles.
#[utoipa::path(get, path = "/api/v1/auth/whoami", tag = "auth",
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)))]
pub async fn whoami(State(s): State<AppState>, actor: Actor) -> JsonResponse<WhoAmI> {
    let principal = actor.principal();
    JsonResponse(WhoAmI {
        user: principal.map(|p| p.name.clone()),
        global_admin: actor.is_unrestricted(),
        roles: principal
            .map(|p| p.roles.iter().map(|(k, v)| (k.clone(), *v)).collect())
            .unwrap_or_default(),
        auth_enabled: s.config.auth.enabled,
    })
}

/// Create an API key (for yourself; global admins may name another user). The key is in the
/// answer only: store it now.
#[utoipa::path(post, path = "/api/v1/auth/keys", tag = "auth", request_body = NewApiKey,
    responses((status = 201, body = CreatedApiKey), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn create_key(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<NewApiKey>,
) -> Result<(StatusCode, JsonResponse<CreatedApiKey>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_api_key(&actor, body).await?),
    ))
}

/// Your API keys (never their secrets), revoked ones included.
#[utoipa::path(get, path = "/api/v1/auth/keys", tag = "auth", params(KeyOwner),
    responses((status = 200, body = ItemList<ApiKey>), (status = 401, body = ErrorBody)))]
pub async fn list_keys(
    State(s): State<AppState>,
    actor: Actor,
    Query(owner): Query<KeyOwner>,
) -> Result<JsonResponse<ItemList<ApiKey>>> {
    let items = s.list_api_keys(&actor, owner.user.as_deref()).await?;
    Ok(JsonResponse(ItemList { items }))
}

/// Revoke an API key: it stops working at once on this instance, within
/// `auth.cache_seconds` on others.
#[utoipa::path(delete, path = "/api/v1/auth/keys/{id}", tag = "auth", params(("id" = String, Path), KeyOwner),
    responses((status = 200, body = ApiKey), (status = 404, body = ErrorBody)))]
pub async fn revoke_key(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
    Query(owner): Query<KeyOwner>,
) -> Result<JsonResponse<ApiKey>> {
    Ok(JsonResponse(
        s.revoke_api_key(&actor, &id, owner.user.as_deref()).await?,
    ))
}

/// Create a user or service account (global admins). Without a password, a user gets a
/// generated one, shown in this answer only.
#[utoipa::path(post, path = "/api/v1/auth/users", tag = "auth", request_body = NewUser,
    responses((status = 201, body = CreatedUser), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_user(
    State(s): State<AppState>,
    actor: Actor,
    Json(body): Json<NewUser>,
) -> Result<(StatusCode, JsonResponse<CreatedUser>)> {
    Ok((
        StatusCode::CREATED,
        JsonResponse(s.create_user(&actor, body).await?),
    ))
}

/// Every user and service account (global admins).
#[utoipa::path(get, path = "/api/v1/auth/users", tag = "auth",
    responses((status = 200, body = ItemList<User>), (status = 403, body = ErrorBody)))]
pub async fn list_users(
    State(s): State<AppState>,
    actor: Actor,
) -> Result<JsonResponse<ItemList<User>>> {
    Ok(JsonResponse(ItemList {
        items: s.list_users(&actor).await?,
    }))
}

/// A user (global admins).
#[utoipa::path(get, path = "/api/v1/auth/users/{name}", tag = "auth", params(("name" = String, Path)),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get_user(
    State(s): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
) -> Result<JsonResponse<User>> {
    Ok(JsonResponse(s.get_user(&actor, &name).await?))
}

/// Change a user: admin rights, disable (users are disabled, never deleted, so the audit
/// trail keeps naming them), password (global admins).
#[utoipa::path(patch, path = "/api/v1/auth/users/{name}", tag = "auth", params(("name" = String, Path)),
    request_body = UserPatch, responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn update_user(
    State(s): State<AppState>,
    actor: Actor,
    Path(name): Path<String>,
    Json(body): Json<UserPatch>,
) -> Result<JsonResponse<User>> {
    Ok(JsonResponse(s.update_user(&actor, &name, body).await?))
}

/// Login form of the browser UI.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A started session: the cookie is set (HttpOnly, SameSite=Strict); send `csrf_token` in
/// `X-CSRF-Token` with every state-changing request.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoggedIn {
    pub user: User,
    pub csrf_token: String,
}

/// Log in with user name and password; starts a browser session.
#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = LoggedIn), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<Login>,
) -> Result<Response> {
    if !s.config.auth.enabled {
        return Err(Error::BadRequest(
            "authentication is off (auth.enabled = false); there is nothing to log in to".into(),
        ));
    }
    let session = s.login(&body.username, &body.password, ip).await?;
    // Behind HTTPS (`server.hsts`) the cookie never travels over plain HTTP.
    let secure = if s.config.server.hsts { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        session.token, session.max_age_seconds
    );
    let mut response = JsonResponse(LoggedIn {
        user: session.user,
        csrf_token: session.csrf_token,
    })
    .into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).map_err(Error::internal)?,
    );
    Ok(response)
}

/// End the browser session.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)))]
pub async fn logout(State(s): State<AppState>, headers: HeaderMap) -> Result<Response> {
    if let Some(token) = session_cookie(&headers) {
        s.logout(&token).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("ets_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
    );
    Ok(response)
}

/// Members of a project and their roles.
#[utoipa::path(get, path = "/api/v1/projects/{id}/members", tag = "projects", params(("id" = String, Path)),
    responses((status = 200, body = ItemList<Member>), (status = 404, body = ErrorBody)))]
pub async fn list_members(
    State(s): State<AppState>,
    actor: Actor,
    Path(id): Path<String>,
) -> Result<JsonResponse<ItemList<Member>>> {
    Ok(JsonResponse(ItemList {
        items: s.list_members(&actor, &id).await?,
    }))
}

/// Give a user a role on the project (project admins).
#[utoipa::path(put, path = "/api/v1/projects/{id}/members/{user}", tag = "projects",
    params(("id" = String, Path), ("user" = String, Path)), request_body = SetMemberRole,
    responses((status = 200, body = Member), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn put_member(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, user)): Path<(String, String)>,
    Json(body): Json<SetMemberRole>,
) -> Result<JsonResponse<Member>> {
    let member = s
        .set_member(&actor, &id, &user, Some(body.role))
        .await?
        .ok_or_else(|| Error::internal("member not written"))?;
    Ok(JsonResponse(member))
}

/// Remove a user's role on the project (project admins); the last admin stays.
#[utoipa::path(delete, path = "/api/v1/projects/{id}/members/{user}", tag = "projects",
    params(("id" = String, Path), ("user" = String, Path)),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_member(
    State(s): State<AppState>,
    actor: Actor,
    Path((id, user)): Path<(String, String)>,
) -> Result<StatusCode> {
    s.set_member(&actor, &id, &user, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
