//! Team members and invitations.

use crate::auth::{Auth, Meta};
use crate::dto::{
    AcceptInvitationRequest, InvitationDto, InviteRequest, ListResponse, MemberDto, page_request,
};
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::handlers::me::PageQuery;
use crate::router::AppState;
use avb_core::services::members;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/members` (requires `team:view`).
#[utoipa::path(get, path = "/api/v1/members", tag = "team", params(PageQuery),
    responses((status = 200, body = ListResponse<MemberDto>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<ListResponse<MemberDto>>> {
    let page = members::list_members(
        &state.ctx,
        &scope,
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, |m| MemberDto {
        membership_id: m.membership.id.into(),
        user_id: m.user.id.into(),
        email: m.user.email,
        name: m.user.name,
        role: m.membership.role,
        status: m.user.status.to_string(),
        joined_at: m.membership.created_at,
    })))
}

/// `POST /api/v1/invitations`: invites an e-mail with a role (requires `team:manage`).
#[utoipa::path(post, path = "/api/v1/invitations", tag = "team", request_body = InviteRequest,
    responses((status = 201, body = InvitationDto), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn invite(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<InviteRequest>,
) -> ApiResult<(StatusCode, axum::Json<InvitationDto>)> {
    let inv = members::invite(&state.ctx, &scope, &req.email, &req.role).await?;
    Ok((StatusCode::CREATED, axum::Json(inv.into())))
}

/// Filters for invitations.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InvitationQuery {
    /// `pending` or `accepted`.
    pub status: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/invitations` (requires `team:view`).
#[utoipa::path(get, path = "/api/v1/invitations", tag = "team", params(InvitationQuery),
    responses((status = 200, body = ListResponse<InvitationDto>)), security(("bearer" = [])))]
pub async fn list_invitations(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<InvitationQuery>,
) -> ApiResult<axum::Json<ListResponse<InvitationDto>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = members::list_invitations(&state.ctx, &scope, q.status.as_deref(), page).await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// Result of accepting an invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct AcceptedDto {
    pub user_id: uuid::Uuid,
    pub tenant_id: uuid::Uuid,
}

/// `POST /api/v1/invitations/accept`: joins the tenant with the mailed token (no authentication).
#[utoipa::path(post, path = "/api/v1/invitations/accept", tag = "team", request_body = AcceptInvitationRequest,
    responses((status = 200, body = AcceptedDto), (status = 422, body = crate::error::Problem)))]
pub async fn accept(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(req): Json<AcceptInvitationRequest>,
) -> ApiResult<axum::Json<AcceptedDto>> {
    let (user, tenant) = members::accept(
        &state.ctx,
        &req.token,
        req.name.as_deref(),
        req.password.as_deref(),
        &meta,
    )
    .await?;
    Ok(axum::Json(AcceptedDto {
        user_id: user.as_uuid(),
        tenant_id: tenant.as_uuid(),
    }))
}

/// A role change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// tenant_owner, tenant_admin, billing_admin, developer or viewer.
    pub role: String,
}

/// `PATCH /api/v1/members/{user_id}`: changes a member's role (requires `team:manage`; nobody
/// changes their own role; only owners touch ownership; the last owner stays).
#[utoipa::path(patch, path = "/api/v1/members/{user_id}", tag = "team", request_body = RoleRequest,
    params(("user_id" = uuid::Uuid, Path)),
    responses((status = 200, body = MemberDto), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn change_role(
    State(state): State<AppState>,
    Auth(scope): Auth,
    crate::extract::PathId(user): crate::extract::PathId<uuid::Uuid>,
    Json(req): Json<RoleRequest>,
) -> ApiResult<axum::Json<MemberDto>> {
    let m = members::change_role(&state.ctx, &scope, avb_domain::UserId(user), &req.role).await?;
    Ok(axum::Json(MemberDto {
        membership_id: m.membership.id.into(),
        user_id: m.user.id.into(),
        email: m.user.email,
        name: m.user.name,
        role: m.membership.role,
        status: m.user.status.to_string(),
        joined_at: m.membership.created_at,
    }))
}

/// `DELETE /api/v1/members/{user_id}`: removes a member and ends their sessions (requires
/// `team:manage`).
#[utoipa::path(delete, path = "/api/v1/members/{user_id}", tag = "team",
    params(("user_id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    Auth(scope): Auth,
    crate::extract::PathId(user): crate::extract::PathId<uuid::Uuid>,
) -> ApiResult<StatusCode> {
    members::remove(&state.ctx, &scope, avb_domain::UserId(user)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/invitations/{id}/revoke`: the link stops working (requires `team:manage`).
#[utoipa::path(post, path = "/api/v1/invitations/{id}/revoke", tag = "team",
    params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = InvitationDto), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn revoke_invitation(
    State(state): State<AppState>,
    Auth(scope): Auth,
    crate::extract::PathId(id): crate::extract::PathId<avb_domain::InvitationId>,
) -> ApiResult<axum::Json<InvitationDto>> {
    let inv = members::revoke_invitation(&state.ctx, &scope, id).await?;
    Ok(axum::Json(inv.into()))
}
