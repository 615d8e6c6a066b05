//! The caller's own account.

use crate::auth::Auth;
use crate::dto::{
    ChangePasswordRequest, ListResponse, LoginEventDto, MeResponse, MembershipDto,
    TotpDisableRequest, TotpEnableRequest, TotpSetupResponse, page_request,
};
use crate::error::ApiResult;
use crate::extract::{Json, Query};
use crate::router::AppState;
use avb_core::identity::local;
use avb_core::services::{tenants, users};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

/// `GET /api/v1/me`: who the credentials belong to, the tenant and the effective permissions.
/// Any authenticated caller.
#[utoipa::path(get, path = "/api/v1/me", tag = "me", responses((status = 200, body = MeResponse)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<MeResponse>> {
    let user = users::me(&state.ctx, &scope).await?;
    let tenant = tenants::current(&state.ctx, &scope).await?;
    let memberships = users::my_tenants(&state.ctx, &scope)
        .await?
        .into_iter()
        .map(|(t, role)| MembershipDto {
            tenant_id: t.as_uuid(),
            role,
        })
        .collect();
    let actor = scope.actor();
    Ok(axum::Json(MeResponse {
        actor_type: actor.kind().to_string(),
        actor_id: actor.id(),
        email: user
            .as_ref()
            .map(|u| u.email.clone())
            .or_else(|| match actor {
                avb_core::Actor::External { email, .. } => Some(email.clone()),
                _ => None,
            }),
        name: user.as_ref().map(|u| u.name.clone()),
        saas_admin: scope.is_saas_admin(),
        totp_enabled: user.as_ref().is_some_and(|u| u.totp_enabled),
        tenant: tenant.map(Into::into),
        role: scope.role().map(|r| r.as_str().to_string()),
        permissions: scope
            .permissions()
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        memberships,
    }))
}

/// `POST /api/v1/me/password`: changes the caller's password (local users) and ends every other
/// login session of theirs (other tokens, browsers, refresh tokens); the calling one stays.
#[utoipa::path(post, path = "/api/v1/me/password", tag = "me", request_body = ChangePasswordRequest,
    responses((status = 204), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn change_password(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<ChangePasswordRequest>,
) -> ApiResult<StatusCode> {
    local::change_password(&state.ctx, &scope, &req.current_password, &req.new_password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/totp`: a new TOTP secret to load into an authenticator (not yet enabled).
#[utoipa::path(post, path = "/api/v1/me/totp", tag = "me", responses((status = 200, body = TotpSetupResponse)), security(("bearer" = [])))]
pub async fn totp_setup(Auth(scope): Auth) -> ApiResult<axum::Json<TotpSetupResponse>> {
    let (secret, otpauth_url) = local::totp_begin(&scope)?;
    Ok(axum::Json(TotpSetupResponse {
        secret,
        otpauth_url,
    }))
}

/// `POST /api/v1/me/totp/enable`: turns TOTP on (or replaces the authenticator) after checking
/// a code of the new secret, the current password and, when TOTP is already on, a current code
/// of the authenticator in use.
#[utoipa::path(post, path = "/api/v1/me/totp/enable", tag = "me", request_body = TotpEnableRequest,
    responses((status = 204), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn totp_enable(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<TotpEnableRequest>,
) -> ApiResult<StatusCode> {
    let proof = local::FactorProof {
        password: &req.password,
        current_code: req.current_code.as_deref(),
    };
    local::totp_enable(&state.ctx, &scope, &req.secret, &req.code, proof).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/me/totp/disable`: turns TOTP off after checking the current password and a
/// current code. 409 when TOTP is off.
#[utoipa::path(post, path = "/api/v1/me/totp/disable", tag = "me", request_body = TotpDisableRequest,
    responses((status = 204), (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 409, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 422, body = crate::error::Problem, content_type = "application/problem+json")),
    security(("bearer" = [])))]
pub async fn totp_disable(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<TotpDisableRequest>,
) -> ApiResult<StatusCode> {
    let proof = local::FactorProof {
        password: &req.password,
        current_code: Some(&req.current_code),
    };
    local::totp_disable(&state.ctx, &scope, proof).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Paging parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// 1..200, default 50.
    pub limit: Option<u64>,
    /// Cursor from the previous page.
    pub cursor: Option<String>,
}

/// `GET /api/v1/me/logins`: the caller's login history.
#[utoipa::path(get, path = "/api/v1/me/logins", tag = "me", params(PageQuery),
    responses((status = 200, body = ListResponse<LoginEventDto>)), security(("bearer" = [])))]
pub async fn logins(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<ListResponse<LoginEventDto>>> {
    let page = users::my_logins(
        &state.ctx,
        &scope,
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, |e| {
        LoginEventDto {
            id: e.id.into(),
            ip: e.ip,
            user_agent: e.user_agent,
            success: e.success,
            reason: e.reason,
            created_at: e.created_at,
        }
    })))
}
