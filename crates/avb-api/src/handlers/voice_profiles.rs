//! Voice profiles: the tenant's default voice/STT/LLM/persona settings and per-project
//! overrides that Realtime sessions start from.

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{Json, PathId};
use crate::router::AppState;
use avb_core::services::voice_profiles::{self, VoiceProfileInput, VoiceProfileView};
use avb_domain::ProjectId;
use axum::extract::State;
use axum::http::StatusCode;

/// `GET /api/v1/voice-profile`: the tenant default (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/voice-profile", tag = "voice",
    responses((status = 200, body = VoiceProfileView)), security(("bearer" = [])))]
pub async fn get_tenant(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<VoiceProfileView>> {
    Ok(axum::Json(
        voice_profiles::get(&state.ctx, &scope, None).await?,
    ))
}

/// `PUT /api/v1/voice-profile`: replaces the tenant default (requires `settings:manage`).
#[utoipa::path(put, path = "/api/v1/voice-profile", tag = "voice", request_body = VoiceProfileInput,
    responses((status = 200, body = VoiceProfileView), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn put_tenant(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(input): Json<VoiceProfileInput>,
) -> ApiResult<axum::Json<VoiceProfileView>> {
    Ok(axum::Json(
        voice_profiles::put(&state.ctx, &scope, None, input).await?,
    ))
}

/// `DELETE /api/v1/voice-profile`: back to the server defaults (requires `settings:manage`).
#[utoipa::path(delete, path = "/api/v1/voice-profile", tag = "voice",
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<StatusCode> {
    voice_profiles::delete(&state.ctx, &scope, None).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/projects/{id}/voice-profile`: the project's override (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/projects/{id}/voice-profile", tag = "voice", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = VoiceProfileView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get_project(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ProjectId>,
) -> ApiResult<axum::Json<VoiceProfileView>> {
    Ok(axum::Json(
        voice_profiles::get(&state.ctx, &scope, Some(id)).await?,
    ))
}

/// `PUT /api/v1/projects/{id}/voice-profile`: replaces the project's override (requires
/// `projects:manage`).
#[utoipa::path(put, path = "/api/v1/projects/{id}/voice-profile", tag = "voice", params(("id" = uuid::Uuid, Path)), request_body = VoiceProfileInput,
    responses((status = 200, body = VoiceProfileView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn put_project(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ProjectId>,
    Json(input): Json<VoiceProfileInput>,
) -> ApiResult<axum::Json<VoiceProfileView>> {
    Ok(axum::Json(
        voice_profiles::put(&state.ctx, &scope, Some(id), input).await?,
    ))
}

/// `DELETE /api/v1/projects/{id}/voice-profile`: the project inherits the tenant default again
/// (requires `projects:manage`).
#[utoipa::path(delete, path = "/api/v1/projects/{id}/voice-profile", tag = "voice", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete_project(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ProjectId>,
) -> ApiResult<StatusCode> {
    voice_profiles::delete(&state.ctx, &scope, Some(id)).await?;
    Ok(StatusCode::NO_CONTENT)
}
