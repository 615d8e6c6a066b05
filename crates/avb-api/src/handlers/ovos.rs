//! OVOS for a tenant: its settings, its skills (with a test that sends an utterance through
//! ovos-core), and the intent analytics of its turns.

use crate::auth::Auth;
use crate::dto::{ListResponse, page_request, parse_time};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::router::AppState;
use avb_core::services::intents::{self, IntentEventView, IntentSummary, Outcome};
use avb_core::services::skill_settings::{self, SkillSettings};
use avb_core::services::skills::{self, SkillTest, SkillsView, TenantOvos};
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// `GET /api/v1/ovos/settings` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/ovos/settings", tag = "ovos",
    responses((status = 200, body = TenantOvos)), security(("bearer" = [])))]
pub async fn get_settings(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<TenantOvos>> {
    Ok(axum::Json(skills::settings(&state.ctx, &scope).await?))
}

/// `PUT /api/v1/ovos/settings` (requires `settings:manage`): applies to sessions that start
/// afterwards.
#[utoipa::path(put, path = "/api/v1/ovos/settings", tag = "ovos", request_body = TenantOvos,
    responses((status = 200, body = TenantOvos), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn put_settings(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(input): Json<TenantOvos>,
) -> ApiResult<axum::Json<TenantOvos>> {
    Ok(axum::Json(
        skills::save_settings(&state.ctx, &scope, input).await?,
    ))
}

/// `GET /api/v1/ovos/skills` (requires `projects:view`): the skills ovos-core has loaded (the
/// catalogue alone, with why, when it is not reachable) and which this tenant turned off.
#[utoipa::path(get, path = "/api/v1/ovos/skills", tag = "ovos",
    responses((status = 200, body = SkillsView)), security(("bearer" = [])))]
pub async fn list_skills(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<SkillsView>> {
    Ok(axum::Json(skills::skills(&state.ctx, &scope).await?))
}

/// An utterance to try.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SkillTestRequest {
    /// 1 to 500 characters.
    pub utterance: String,
}

/// `POST /api/v1/ovos/skills/test` (requires `projects:view`): the utterance through ovos-core
/// with this tenant's settings; 409 when ovos-core is not reachable.
#[utoipa::path(post, path = "/api/v1/ovos/skills/test", tag = "ovos", request_body = SkillTestRequest,
    responses((status = 200, body = SkillTest), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn test_skill(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<SkillTestRequest>,
) -> ApiResult<axum::Json<SkillTest>> {
    Ok(axum::Json(
        skills::test_utterance(&state.ctx, &scope, &req.utterance).await?,
    ))
}

/// Intent analytics filters.
#[derive(Debug, Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct IntentQuery {
    /// RFC 3339 lower bound (inclusive).
    pub from: Option<String>,
    /// RFC 3339 upper bound (exclusive).
    pub to: Option<String>,
    /// `intent`, `fallback`, `solver`, `persona` or `failure` (events only).
    pub outcome: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/intents/summary` (requires `usage:view`): top intents, outcomes, unrecognised
/// utterances and the daily trend.
#[utoipa::path(get, path = "/api/v1/intents/summary", tag = "ovos", params(IntentQuery),
    responses((status = 200, body = IntentSummary)), security(("bearer" = [])))]
pub async fn summary(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<IntentQuery>,
) -> ApiResult<axum::Json<IntentSummary>> {
    if q.outcome.is_some() || q.limit.is_some() || q.cursor.is_some() {
        return Err(ApiError::field(
            "outcome",
            "outcome, limit and cursor apply to /api/v1/intents/events",
        ));
    }
    let from = parse_time("from", q.from.as_deref())?;
    let to = parse_time("to", q.to.as_deref())?;
    Ok(axum::Json(
        intents::summary(&state.ctx, &scope, from, to).await?,
    ))
}

/// `GET /api/v1/intents/events` (requires `usage:view`): recorded turns, newest first.
#[utoipa::path(get, path = "/api/v1/intents/events", tag = "ovos", params(IntentQuery),
    responses((status = 200, body = ListResponse<IntentEventView>)), security(("bearer" = [])))]
pub async fn events(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<IntentQuery>,
) -> ApiResult<axum::Json<ListResponse<IntentEventView>>> {
    let outcome = match q.outcome.as_deref().filter(|o| !o.is_empty()) {
        None => None,
        Some(o) => Some(Outcome::parse(o).ok_or_else(|| {
            ApiError::field(
                "outcome",
                "must be intent, fallback, solver, persona or failure",
            )
        })?),
    };
    let page = intents::events(
        &state.ctx,
        &scope,
        parse_time("from", q.from.as_deref())?,
        parse_time("to", q.to.as_deref())?,
        outcome,
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, |e| e)))
}

/// `GET /api/v1/ovos/skills/{skill_id}/settings`: the skill's settings form (from its
/// `settingsmeta.json`) and the values in force. SaaS admins may read any catalogue skill's;
/// tenants (`projects:view`) only a per-tenant-safe skill's.
#[utoipa::path(get, path = "/api/v1/ovos/skills/{skill_id}/settings", tag = "ovos",
    params(("skill_id" = String, Path, description = "A catalogue skill's id")),
    responses((status = 200, body = SkillSettings), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get_skill_settings(
    State(state): State<AppState>,
    Auth(scope): Auth,
    axum::extract::Path(skill_id): axum::extract::Path<String>,
) -> ApiResult<axum::Json<SkillSettings>> {
    Ok(axum::Json(
        skill_settings::get(&state.ctx, &scope, &skill_id).await?,
    ))
}

/// `PUT /api/v1/ovos/skills/{skill_id}/settings`: changes some of the skill's settings (a
/// JSON object of field -> value), applies them to ovos-core (409 when it is not connected
/// or does not confirm; nothing is kept then) and audits the change. SaaS admins: any
/// catalogue skill; tenants (`settings:manage`): per-tenant-safe skills only.
#[utoipa::path(put, path = "/api/v1/ovos/skills/{skill_id}/settings", tag = "ovos",
    params(("skill_id" = String, Path, description = "A catalogue skill's id")),
    request_body(content = Object, description = "Field name -> value"),
    responses((status = 200, body = SkillSettings), (status = 403, body = crate::error::Problem), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn put_skill_settings(
    State(state): State<AppState>,
    Auth(scope): Auth,
    axum::extract::Path(skill_id): axum::extract::Path<String>,
    Json(input): Json<serde_json::Map<String, serde_json::Value>>,
) -> ApiResult<axum::Json<SkillSettings>> {
    Ok(axum::Json(
        skill_settings::save(&state.ctx, &scope, &skill_id, input).await?,
    ))
}
