//! Webhook endpoints and their delivery log (Standard Webhooks signatures).

use crate::auth::Auth;
use crate::dto::{ListResponse, page_request};
use crate::error::ApiResult;
use crate::extract::{Json, PathId, Query};
use crate::handlers::me::PageQuery;
use crate::router::AppState;
use avb_core::services::webhooks;
use avb_domain::WebhookEndpointId;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookDto {
    pub id: Uuid,
    pub url: String,
    pub description: String,
    /// Subscribed event types.
    pub events: Vec<String>,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<webhooks::Endpoint> for WebhookDto {
    fn from(e: webhooks::Endpoint) -> Self {
        Self {
            id: e.id.into(),
            url: e.url,
            description: e.description,
            events: e.events.split(',').map(str::to_string).collect(),
            enabled: e.enabled,
            created_at: e.created_at,
        }
    }
}

/// A new endpoint.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewWebhookRequest {
    /// https URL (http and private hosts only with `webhooks.allow_private_urls`).
    pub url: String,
    #[serde(default)]
    pub description: String,
    /// session.closed, api_key.revoked, usage.threshold_reached.
    pub events: Vec<String>,
}

/// The endpoint with its signing secret (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedWebhookDto {
    #[serde(flatten)]
    pub endpoint: WebhookDto,
    /// `whsec_...`: verifies `webhook-signature`; not retrievable later.
    pub secret: String,
}

/// `GET /api/v1/webhooks` (requires `settings:manage`): the tenant's endpoints, newest first.
#[utoipa::path(get, path = "/api/v1/webhooks", tag = "webhooks", params(PageQuery),
    responses((status = 200, body = ListResponse<WebhookDto>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<ListResponse<WebhookDto>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = webhooks::page(&state.ctx, &scope, page).await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// `POST /api/v1/webhooks` (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/webhooks", tag = "webhooks", request_body = NewWebhookRequest,
    responses((status = 201, body = CreatedWebhookDto), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<NewWebhookRequest>,
) -> ApiResult<(StatusCode, axum::Json<CreatedWebhookDto>)> {
    let (e, secret) =
        webhooks::create(&state.ctx, &scope, &req.url, &req.description, &req.events).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedWebhookDto {
            endpoint: e.into(),
            secret,
        }),
    ))
}

/// `DELETE /api/v1/webhooks/{id}` (requires `settings:manage`).
#[utoipa::path(delete, path = "/api/v1/webhooks/{id}", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<WebhookEndpointId>,
) -> ApiResult<StatusCode> {
    webhooks::delete(&state.ctx, &scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// What a test send got.
#[derive(Debug, Serialize, ToSchema)]
pub struct TestSendDto {
    /// The endpoint's HTTP status; absent when it could not be reached.
    pub status_code: Option<u16>,
    pub error: String,
    pub duration_ms: i64,
}

/// `POST /api/v1/webhooks/{id}/test`: sends a signed `webhook.test` now.
#[utoipa::path(post, path = "/api/v1/webhooks/{id}/test", tag = "webhooks", params(("id" = Uuid, Path)),
    responses((status = 200, body = TestSendDto), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<WebhookEndpointId>,
) -> ApiResult<axum::Json<TestSendDto>> {
    let r = webhooks::send_test(&state.ctx, &scope, id).await?;
    Ok(axum::Json(TestSendDto {
        status_code: r.status_code,
        error: r.error,
        duration_ms: r.duration_ms,
    }))
}

/// One delivery.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryDto {
    pub id: Uuid,
    pub event_type: String,
    /// pending, delivered or failed.
    pub status: String,
    pub attempts: i32,
    pub last_status_code: Option<i32>,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub next_attempt_at: DateTime<Utc>,
}

/// `GET /api/v1/webhooks/{id}/deliveries` (requires `settings:manage`).
#[utoipa::path(get, path = "/api/v1/webhooks/{id}/deliveries", tag = "webhooks",
    params(("id" = Uuid, Path), PageQuery),
    responses((status = 200, body = ListResponse<DeliveryDto>), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn deliveries(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<WebhookEndpointId>,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<ListResponse<DeliveryDto>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = webhooks::deliveries(&state.ctx, &scope, Some(id), page).await?;
    Ok(axum::Json(ListResponse::from_page(page, |d| DeliveryDto {
        id: d.id.into(),
        event_type: d.event_type,
        status: d.status.to_string(),
        attempts: d.attempts,
        last_status_code: d.last_status_code,
        last_error: d.last_error,
        created_at: d.created_at,
        delivered_at: d.delivered_at,
        next_attempt_at: d.next_attempt_at,
    })))
}
