//! Usage totals from the ledger.

use crate::auth::Auth;
use crate::dto::parse_time;
use crate::error::ApiResult;
use crate::extract::Query;
use crate::router::AppState;
use avb_core::services::usage;
use axum::extract::State;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// Time range.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// RFC 3339 start (inclusive); default 30 days before `to`.
    pub from: Option<String>,
    /// RFC 3339 end (exclusive); default now.
    pub to: Option<String>,
}

/// Totals per metric.
#[derive(Debug, Serialize, ToSchema)]
pub struct UsageDto {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// `requests`, `audio_minutes_input`, `audio_minutes_output`, `llm_tokens_input`, `llm_tokens_output`.
    pub totals: BTreeMap<String, f64>,
}

/// `GET /api/v1/usage` (requires `usage:view`; API keys with the `usage` scope may call it).
#[utoipa::path(get, path = "/api/v1/usage", tag = "usage", params(UsageQuery),
    responses((status = 200, body = UsageDto), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn totals(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<UsageQuery>,
) -> ApiResult<axum::Json<UsageDto>> {
    let to = parse_time("to", q.to.as_deref())?.unwrap_or_else(Utc::now);
    let from = parse_time("from", q.from.as_deref())?.unwrap_or(to - Duration::days(30));
    let totals = usage::totals(&state.ctx, &scope, from, to).await?;
    Ok(axum::Json(UsageDto { from, to, totals }))
}
