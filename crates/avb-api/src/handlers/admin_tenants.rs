//! SaaS-admin tenant administration (requires `platform:tenants`).

use crate::auth::Auth;
use crate::dto::{CreateTenantRequest, ListResponse, SuspendRequest, TenantDto, page_request};
use crate::error::ApiResult;
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::tenants::{self, NewTenantInput};
use avb_domain::TenantId;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

/// Search and paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Matches name, billing e-mail or id.
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/admin/tenants` (requires `platform:tenants`).
#[utoipa::path(get, path = "/api/v1/admin/tenants", tag = "admin", params(ListQuery),
    responses((status = 200, body = ListResponse<TenantDto>), (status = 403, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ListResponse<TenantDto>>> {
    let page = tenants::list(
        &state.ctx,
        &scope,
        q.q.as_deref(),
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// `POST /api/v1/admin/tenants` (requires `platform:tenants`).
#[utoipa::path(post, path = "/api/v1/admin/tenants", tag = "admin", request_body = CreateTenantRequest,
    responses((status = 201, body = TenantDto), (status = 403, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<CreateTenantRequest>,
) -> ApiResult<(StatusCode, axum::Json<TenantDto>)> {
    let input = NewTenantInput {
        name: req.name,
        billing_email: req.billing_email,
        plan: req.plan,
        timezone: req.timezone,
    };
    Ok((
        StatusCode::CREATED,
        axum::Json(tenants::create(&state.ctx, &scope, input).await?.into()),
    ))
}

/// `GET /api/v1/admin/tenants/{id}` (requires `platform:tenants`).
#[utoipa::path(get, path = "/api/v1/admin/tenants/{id}", tag = "admin", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TenantDto), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<TenantId>,
) -> ApiResult<axum::Json<TenantDto>> {
    state
        .ctx
        .policy
        .authorize(&scope, avb_domain::Permission::PlatformTenants, None)?;
    Ok(axum::Json(
        tenants::get(&state.ctx, &scope, id).await?.into(),
    ))
}

/// `POST /api/v1/admin/tenants/{id}/suspend`: marks the tenant and disables its keys.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/suspend", tag = "admin", params(("id" = uuid::Uuid, Path)), request_body = Option<SuspendRequest>,
    responses((status = 200, body = TenantDto), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn suspend(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<TenantId>,
    body: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<axum::Json<TenantDto>> {
    let body = body.map_err(crate::extract::body_rejection)?;
    let reason = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        let req: SuspendRequest = serde_json::from_slice(&body).map_err(|e| {
            let (field, msg) = crate::extract::describe_data_error(&e.to_string());
            crate::error::ApiError::validation(field, msg)
        })?;
        req.reason
    };
    Ok(axum::Json(
        tenants::suspend(&state.ctx, &scope, id, reason)
            .await?
            .into(),
    ))
}

/// `POST /api/v1/admin/tenants/{id}/reactivate`: restores the tenant and the keys suspension disabled.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/reactivate", tag = "admin", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = TenantDto), (status = 403, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn reactivate(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<TenantId>,
) -> ApiResult<axum::Json<TenantDto>> {
    Ok(axum::Json(
        tenants::reactivate(&state.ctx, &scope, id).await?.into(),
    ))
}
