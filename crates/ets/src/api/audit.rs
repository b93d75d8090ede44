//! The audit trail over HTTP: the request context every write is attributed to, and the
//! admin endpoints `GET /api/v1/audit` and `GET /api/v1/audit/verify`.

use std::net::SocketAddr;

use axum::Json as JsonResponse;
use axum::extract::{ConnectInfo, Request, State};

use super::error::ErrorBody;
use super::extract::Query;
use super::{AppState, ListResponse};
use crate::actor::Actor;
use crate::audit::{AuditRecord, RequestContext, VerifyReport};
use crate::error::Result;
use crate::service::audit::AuditListParams;

/// The request's audit context: the actor the auth step put in the extensions, the
/// `x-request-id`, and the client's address from the accept loop.
pub(super) fn request_context(request: &Request) -> RequestContext {
    RequestContext {
        actor: request
            .extensions()
            .get::<Actor>()
            .map_or("unauthenticated", Actor::audit_name)
            .to_owned(),
        request_id: request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        client_ip: request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(peer)| peer.ip().to_string()),
    }
}

/// List audit records.
///
/// Records are never changed or deleted by ETS. Global admins only.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditListParams),
    responses(
        (status = 200, description = "A page of records", body = ListResponse<AuditRecord>),
        (status = 400, description = "Malformed filter, time or page token", body = ErrorBody),
    )
)]
pub async fn list_audit(
    State(s): State<AppState>,
    actor: Actor,
    Query(params): Query<AuditListParams>,
) -> Result<JsonResponse<ListResponse<AuditRecord>>> {
    Ok(JsonResponse(s.audit_records(&actor, params).await?.into()))
}

/// Verify the audit trail.
///
/// Recomputes the hash chain over every record in order and reports the first record that
/// is missing, changed, inserted or out of place. Global admins only.
#[utoipa::path(
    get,
    path = "/api/v1/audit/verify",
    tag = "audit",
    responses(
        (status = 200, description = "The outcome (`ok` is false when the trail was tampered with)", body = VerifyReport),
    )
)]
pub async fn verify_audit(
    State(s): State<AppState>,
    actor: Actor,
) -> Result<JsonResponse<VerifyReport>> {
    Ok(JsonResponse(s.verify_audit(&actor).await?))
}
