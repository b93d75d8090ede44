//! The auth middleware: finds the matched route's declared permission (`auth::policy`),
//! authenticates the credentials, refuses what the declaration does not allow, and hands the
//! handler an [`Actor`] carrying the principal and the role the route needs on the projects
//! of the objects it touches (checked by the service layer).

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;

use super::AppState;
use super::mlflow::MlflowError;
use crate::actor::Actor;
use crate::auth::secrets::constant_time_eq;
use crate::auth::{Credential, Permission, policy};
use crate::error::Error;
use crate::service::identity::Presented;

/// The UI's session cookie.
pub const SESSION_COOKIE: &str = "ets_session";
/// The header a browser session echoes its CSRF token in on state-changing requests.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who made a request, for the request log (set on the response by the middleware).
#[derive(Clone)]
pub struct PrincipalName(pub String);

/// An error in the shape of the API `path` belongs to.
pub(crate) fn refuse(path: &str, error: Error) -> Response {
    if super::guard::is_mlflow_path(path) {
        MlflowError::from(error).into_response()
    } else {
        error.into_response()
    }
}

/// The credentials a request carries: `Authorization` (Bearer or Basic), else the session
/// cookie.
pub(crate) fn presented(headers: &HeaderMap) -> Result<Option<Presented>, Error> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let malformed = || Error::Unauthenticated("malformed Authorization header".into());
        let text = value.to_str().map_err(|_| malformed())?;
        let (scheme, rest) = text.split_once(' ').ok_or_else(malformed)?;
        let rest = rest.trim();
        return if scheme.eq_ignore_ascii_case("bearer") {
            Ok(Some(Presented::Bearer(rest.to_owned())))
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(rest)
                .map_err(|_| malformed())?;
            let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
            let (user, secret) = decoded.split_once(':').ok_or_else(malformed)?;
            Ok(Some(Presented::Basic {
                user: user.to_owned(),
                secret: secret.to_owned(),
            }))
        } else {
            Err(Error::Unauthenticated(format!(
                "unsupported Authorization scheme '{scheme}'; use Bearer or Basic"
            )))
        };
    }
    Ok(session_cookie(headers).map(Presented::Session))
}

/// The value of the session cookie, if the request has one.
pub(crate) fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == SESSION_COOKIE).then(|| value.to_owned())
        })
}

/// Methods that change nothing (no CSRF token needed).
fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Authenticates a matched route's request (`template`: its route) against the route's
/// declared permission and puts the [`Actor`] in its extensions; a refusal is the answer to
/// send instead. `Ok` carries the principal's name for the request log when credentials were
/// checked.
pub(crate) async fn authenticate(
    s: &AppState,
    request: &mut Request,
    template: &str,
) -> Result<Option<PrincipalName>, Response> {
    let Some(permission) = policy::permission(request.method().as_str(), template) else {
        tracing::error!(method = %request.method(), route = template, "route has no permission declaration; refused");
        return Err(refuse(
            request.uri().path(),
            Error::Forbidden("this route declares no permission, so nobody may call it".into()),
        ));
    };
    if !s.config.auth.enabled {
        request.extensions_mut().insert(Actor::Anonymous);
        return Ok(None);
    }
    let ip = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let presented = match presented(request.headers()) {
        Ok(presented) => presented,
        Err(e) if permission == Permission::Public => {
            tracing::debug!(error = %e, "ignoring malformed credentials on a public route");
            None
        }
        Err(e) => return Err(refuse(request.uri().path(), e)),
    };
    let actor = match presented {
        None if permission == Permission::Public => Actor::Unauthenticated,
        None => {
            return Err(refuse(request.uri().path(), Error::Unauthenticated(
                "authentication required: send an API key or JWT as 'Authorization: Bearer …', or Basic \
                 credentials (user and password or API key)"
                    .into(),
            )));
        }
        Some(presented) => {
            let session = match &presented {
                Presented::Session(token) => Some(token.clone()),
                _ => None,
            };
            let principal = match s.authenticate(presented, ip).await {
                Ok(principal) => principal,
                Err(Error::Unauthenticated(_)) if permission == Permission::Public => {
                    request.extensions_mut().insert(Actor::Unauthenticated);
                    return Ok(None);
                }
                Err(e) => return Err(refuse(request.uri().path(), e)),
            };
            if let (Some(token), Credential::Session) = (&session, &principal.credential)
                && !is_safe(request.method())
                && let Err(e) = check_csrf(s, token, request.headers()).await
            {
                return Err(refuse(request.uri().path(), e));
            }
            if permission == Permission::GlobalAdmin && !principal.global_admin {
                return Err(refuse(
                    request.uri().path(),
                    Error::Forbidden("only global admins may do this".into()),
                ));
            }
            let needs = match permission {
                Permission::Project(role) => Some(role),
                _ => None,
            };
            Actor::User { principal, needs }
        }
    };
    let name = PrincipalName(actor.audit_name().to_owned());
    request.extensions_mut().insert(actor);
    Ok(Some(name))
}

/// A browser session's state-changing request must echo the session's CSRF token (a page
/// of another site cannot read it, so cannot send it).
async fn check_csrf(s: &AppState, token: &str, headers: &HeaderMap) -> Result<(), Error> {
    let sent = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = s.session_csrf_token(token).await?.unwrap_or_default();
    if expected.is_empty() || !constant_time_eq(sent.as_bytes(), expected.as_bytes()) {
        return Err(Error::Forbidden(format!(
            "a browser session must send its CSRF token in the {CSRF_HEADER} header"
        )));
    }
    Ok(())
}
