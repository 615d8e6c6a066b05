//! Realtime session records.

use crate::auth::Auth;
use crate::dto::{
    ListResponse, SessionDetailDto, SessionDto, SessionItemDto, TurnDto, page_request, parse_time,
};
use crate::error::{ApiError, ApiResult};
use crate::extract::{PathId, Query};
use crate::router::AppState;
use avb_core::services::sessions::{self, SessionFilter};
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;

/// Session filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `active` or `closed`.
    pub status: Option<String>,
    pub project_id: Option<uuid::Uuid>,
    pub api_key_id: Option<uuid::Uuid>,
    /// RFC 3339 lower bound on the start time (inclusive).
    pub from: Option<String>,
    /// RFC 3339 upper bound on the start time (exclusive).
    pub to: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/sessions` (requires `sessions:view`; API keys with the `sessions` scope may call it).
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions", params(ListQuery),
    responses((status = 200, body = ListResponse<SessionDto>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ListResponse<SessionDto>>> {
    if q.status
        .as_deref()
        .is_some_and(|s| !matches!(s, "active" | "closed"))
    {
        return Err(ApiError::field("status", "must be active or closed"));
    }
    let filter = SessionFilter {
        status: q.status.clone(),
        project: q.project_id,
        api_key: q.api_key_id,
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
    };
    let page = sessions::list(
        &state.ctx,
        &scope,
        &filter,
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// `GET /api/v1/sessions/{id}`: the session with its conversation and per-turn timings
/// (requires `sessions:view`).
#[utoipa::path(get, path = "/api/v1/sessions/{id}", tag = "sessions", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = SessionDetailDto), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<avb_domain::SessionId>,
) -> ApiResult<axum::Json<SessionDetailDto>> {
    let (session, items, turns) = sessions::detail(&state.ctx, &scope, id).await?;
    Ok(axum::Json(SessionDetailDto {
        session: session.into(),
        items: items
            .into_iter()
            .map(|i| SessionItemDto {
                item_id: i.item_id,
                kind: i.kind,
                role: i.role,
                text: i.text,
                created_at: i.created_at,
            })
            .collect(),
        turns: turns
            .into_iter()
            .map(|t| TurnDto {
                response_id: t.response_id,
                status: t.status.to_string(),
                stt_ms: t.stt_ms,
                llm_first_token_ms: t.llm_first_token_ms,
                tts_first_byte_ms: t.tts_first_byte_ms,
                first_audio_ms: t.first_audio_ms,
                voice_to_voice_ms: t.voice_to_voice_ms,
                skill_ms: t.skill_ms,
                created_at: t.created_at,
            })
            .collect(),
    }))
}

/// `POST /api/v1/sessions/{id}/close`: ends a live session on whichever replica holds it
/// (requires `sessions:manage`).
#[utoipa::path(post, path = "/api/v1/sessions/{id}/close", tag = "sessions", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = SessionDto), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<avb_domain::SessionId>,
) -> ApiResult<axum::Json<SessionDto>> {
    Ok(axum::Json(
        sessions::close(&state.ctx, &scope, id).await?.into(),
    ))
}
