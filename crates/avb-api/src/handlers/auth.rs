//! Token endpoints of the local identity provider.

use crate::auth::{Auth, Meta};
use crate::dto::{
    PasswordResetConfirm, PasswordResetRequest, RefreshRequest, TokenRequest, TokenResponse,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::Json;
use crate::router::AppState;
use avb_core::config::IdentityProvider;
use avb_core::identity::local::{self, LoginInput};
use avb_domain::TenantId;
use axum::extract::State;
use axum::http::StatusCode;

fn local_only(state: &AppState) -> ApiResult<()> {
    if state.ctx.config.identity.provider != IdentityProvider::Local {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "password login is handled by the configured identity provider",
        ));
    }
    Ok(())
}

/// `POST /api/v1/auth/token`: password (+ TOTP) login. No authentication. An unknown address,
/// a wrong password and a locked account answer the same 401 (the owner of a locked account is
/// told by e-mail); 429 with `Retry-After` beyond the per-address and per-network budgets.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth", request_body = TokenRequest,
    responses((status = 200, body = TokenResponse),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 429, body = crate::error::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u64, description = "Seconds until the limit's window ends")))))]
pub async fn token(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(req): Json<TokenRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    local_only(&state)?;
    let input = LoginInput {
        email: &req.email,
        password: &req.password,
        totp: req.totp.as_deref(),
        tenant: req.tenant_id.map(TenantId),
    };
    Ok(axum::Json(
        local::login(&state.ctx, input, &meta).await?.into(),
    ))
}

/// `POST /api/v1/auth/refresh`: exchanges a refresh token (rotated) for a new pair.
#[utoipa::path(post, path = "/api/v1/auth/refresh", tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenResponse), (status = 401, body = crate::error::Problem)))]
pub async fn refresh(
    State(state): State<AppState>,
    Json(req): Json<RefreshRequest>,
) -> ApiResult<axum::Json<TokenResponse>> {
    local_only(&state)?;
    Ok(axum::Json(
        local::refresh(&state.ctx, &req.refresh_token).await?.into(),
    ))
}

/// `POST /api/v1/auth/logout`: ends the caller's login session. Requires a login token.
#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204)), security(("bearer" = [])))]
pub async fn logout(State(state): State<AppState>, Auth(scope): Auth) -> ApiResult<StatusCode> {
    local::logout(&state.ctx, &scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/auth/password-reset`: mails a reset link; always 202.
#[utoipa::path(post, path = "/api/v1/auth/password-reset", tag = "auth", request_body = PasswordResetRequest, responses((status = 202)))]
pub async fn password_reset(
    State(state): State<AppState>,
    Json(req): Json<PasswordResetRequest>,
) -> ApiResult<StatusCode> {
    local_only(&state)?;
    local::request_password_reset(&state.ctx, &req.email).await?;
    Ok(StatusCode::ACCEPTED)
}

/// `POST /api/v1/auth/password-reset/confirm`: sets a new password with the mailed token.
#[utoipa::path(post, path = "/api/v1/auth/password-reset/confirm", tag = "auth", request_body = PasswordResetConfirm,
    responses((status = 204), (status = 422, body = crate::error::Problem)))]
pub async fn password_reset_confirm(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Json(req): Json<PasswordResetConfirm>,
) -> ApiResult<StatusCode> {
    local_only(&state)?;
    local::confirm_password_reset(&state.ctx, &req.token, &req.password, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
