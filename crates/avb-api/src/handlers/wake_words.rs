//! Wake words: a tenant's phrases, their check on synthesised speech, and the analytics of
//! detections in its sessions.

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::wake_words::{self, Validation, WakeAnalytics, WakeWordView, WakeWords};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// `GET /api/v1/wake-words` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/wake-words", tag = "ovos",
    responses((status = 200, body = WakeWords)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<WakeWords>> {
    Ok(axum::Json(wake_words::list(&state.ctx, &scope).await?))
}

/// A new wake word.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWakeWord {
    /// A built-in phrase (hey jarvis, hey mycroft, alexa, okay nabu, hey rhasspy) or a custom one.
    pub phrase: String,
    /// 0.05 to 0.95 (default 0.2).
    pub sensitivity: Option<f64>,
}

/// `POST /api/v1/wake-words` (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/wake-words", tag = "ovos", request_body = NewWakeWord,
    responses((status = 201, body = WakeWordView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<NewWakeWord>,
) -> ApiResult<(StatusCode, axum::Json<WakeWordView>)> {
    let w = wake_words::create(&state.ctx, &scope, &req.phrase, req.sensitivity).await?;
    Ok((StatusCode::CREATED, axum::Json(w)))
}

/// A change.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WakeWordChange {
    pub sensitivity: Option<f64>,
    pub enabled: Option<bool>,
}

/// `PATCH /api/v1/wake-words/{id}` (requires `settings:manage`).
#[utoipa::path(patch, path = "/api/v1/wake-words/{id}", tag = "ovos", params(("id" = uuid::Uuid, Path)), request_body = WakeWordChange,
    responses((status = 200, body = WakeWordView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(req): Json<WakeWordChange>,
) -> ApiResult<axum::Json<WakeWordView>> {
    Ok(axum::Json(
        wake_words::update(&state.ctx, &scope, id, req.sensitivity, req.enabled).await?,
    ))
}

/// `DELETE /api/v1/wake-words/{id}` (requires `settings:manage`).
#[utoipa::path(delete, path = "/api/v1/wake-words/{id}", tag = "ovos", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<StatusCode> {
    wake_words::delete(&state.ctx, &scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/wake-words/validate` (requires `projects:view`): the dictionary check and the
/// rates on synthesised speech.
#[utoipa::path(post, path = "/api/v1/wake-words/validate", tag = "ovos", request_body = NewWakeWord,
    responses((status = 200, body = Validation), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn validate(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<NewWakeWord>,
) -> ApiResult<axum::Json<Validation>> {
    Ok(axum::Json(
        wake_words::validate(&state.ctx, &scope, &req.phrase, req.sensitivity).await?,
    ))
}

/// `?days=` (1 to 90, default 30).
#[derive(Debug, Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct DaysQuery {
    pub days: Option<i64>,
}

/// `GET /api/v1/wake-words/analytics` (requires `usage:view`).
#[utoipa::path(get, path = "/api/v1/wake-words/analytics", tag = "ovos", params(DaysQuery),
    responses((status = 200, body = WakeAnalytics)), security(("bearer" = [])))]
pub async fn analytics(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<DaysQuery>,
) -> ApiResult<axum::Json<WakeAnalytics>> {
    Ok(axum::Json(
        wake_words::analytics(&state.ctx, &scope, q.days.unwrap_or(30)).await?,
    ))
}
