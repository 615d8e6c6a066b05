//! API keys.

use crate::auth::Auth;
use crate::dto::{
    ApiKeyDto, CreateKeyRequest, CreatedKeyDto, ListResponse, UpdateKeyRequest, page_request,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::api_keys::{self, CreatedKey, KeyUpdate, NewKeyInput};
use avb_domain::{ApiKeyId, KeyEnvironment, ProjectId};
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters for the key list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub project_id: Option<uuid::Uuid>,
    /// Stored status: `active`, `revoked` or `suspended`.
    pub status: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

fn created(c: CreatedKey) -> CreatedKeyDto {
    CreatedKeyDto {
        key: c.key.into(),
        secret: c.secret,
    }
}

/// `GET /api/v1/api-keys` (requires `api_keys:view`; API keys with the `sessions` scope cannot list keys).
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "api-keys", params(ListQuery),
    responses((status = 200, body = ListResponse<ApiKeyDto>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ListResponse<ApiKeyDto>>> {
    if let Some(s) = q.status.as_deref()
        && !matches!(s, "active" | "revoked" | "suspended")
    {
        return Err(ApiError::field(
            "status",
            "must be active, revoked or suspended",
        ));
    }
    let filter = api_keys::KeyFilter {
        project: q.project_id.map(ProjectId),
        status: q.status.as_deref(),
    };
    let page = api_keys::list(
        &state.ctx,
        &scope,
        filter,
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// `POST /api/v1/api-keys` (requires `api_keys:manage`). The secret is in this response only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "api-keys", request_body = CreateKeyRequest,
    responses((status = 201, body = CreatedKeyDto), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<CreateKeyRequest>,
) -> ApiResult<(StatusCode, axum::Json<CreatedKeyDto>)> {
    let environment = match req.environment.as_deref().unwrap_or("live") {
        "live" => KeyEnvironment::Live,
        "test" => KeyEnvironment::Test,
        _ => return Err(ApiError::validation("environment", "must be live or test")),
    };
    let input = NewKeyInput {
        name: req.name,
        project: req.project_id.map(ProjectId),
        scopes: req.scopes.unwrap_or_else(|| vec!["realtime".into()]),
        environment,
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(created(api_keys::create(&state.ctx, &scope, input).await?)),
    ))
}

/// `GET /api/v1/api-keys/{id}` (requires `api_keys:view`).
#[utoipa::path(get, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ApiKeyId>,
) -> ApiResult<axum::Json<ApiKeyDto>> {
    Ok(axum::Json(
        api_keys::get(&state.ctx, &scope, id).await?.into(),
    ))
}

/// `PATCH /api/v1/api-keys/{id}`: name, scopes, project (requires `api_keys:manage`).
#[utoipa::path(patch, path = "/api/v1/api-keys/{id}", tag = "api-keys", params(("id" = uuid::Uuid, Path)), request_body = UpdateKeyRequest,
    responses((status = 200, body = ApiKeyDto), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ApiKeyId>,
    Json(req): Json<UpdateKeyRequest>,
) -> ApiResult<axum::Json<ApiKeyDto>> {
    let upd = KeyUpdate {
        name: req.name,
        scopes: req.scopes,
        project: req.project_id.map(|p| p.map(ProjectId)),
    };
    Ok(axum::Json(
        api_keys::update(&state.ctx, &scope, id, upd).await?.into(),
    ))
}

/// `POST /api/v1/api-keys/{id}/rotate`: a new key; the old one works for 24 h (requires `api_keys:manage`).
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/rotate", tag = "api-keys", params(("id" = uuid::Uuid, Path)),
    responses((status = 201, body = CreatedKeyDto), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn rotate(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ApiKeyId>,
) -> ApiResult<(StatusCode, axum::Json<CreatedKeyDto>)> {
    Ok((
        StatusCode::CREATED,
        axum::Json(created(api_keys::rotate(&state.ctx, &scope, id).await?)),
    ))
}

/// `POST /api/v1/api-keys/{id}/revoke`: invalidates the key at once (requires `api_keys:manage`).
#[utoipa::path(post, path = "/api/v1/api-keys/{id}/revoke", tag = "api-keys", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ApiKeyDto), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ApiKeyId>,
) -> ApiResult<axum::Json<ApiKeyDto>> {
    Ok(axum::Json(
        api_keys::revoke(&state.ctx, &scope, id).await?.into(),
    ))
}
