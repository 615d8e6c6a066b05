//! The voice catalogue and voice previews (the voice studio's `/voice` page, over the API).

use crate::auth::Auth;
use crate::error::ApiResult;
use crate::extract::Json;
use crate::router::AppState;
use avb_core::services::voices::{self, Catalogue};
use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

/// `GET /api/v1/voices`: the voices of the configured TTS engine (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/voices", tag = "voice",
    responses((status = 200, body = Catalogue)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<Catalogue>> {
    Ok(axum::Json(voices::catalogue(&state.ctx, &scope).await?))
}

/// A preview request.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    /// A voice of the catalogue, e.g. `af_heart`.
    pub voice: String,
    /// 0.5 to 2.0; default 1.0.
    #[serde(default)]
    pub speed: Option<f64>,
    /// What to say, at most 300 characters; default a sample sentence naming the voice.
    #[serde(default)]
    pub text: Option<String>,
}

/// `POST /api/v1/voices/preview`: speaks the text in the voice, streamed as 16-bit mono WAV
/// while it is synthesised (requires `projects:view`; 30 a minute per tenant; metered as output
/// audio and audited).
#[utoipa::path(post, path = "/api/v1/voices/preview", tag = "voice", request_body = PreviewRequest,
    responses((status = 200, description = "WAV audio", content_type = "audio/wav"),
        (status = 422, body = crate::error::Problem), (status = 429, body = crate::error::Problem),
        (status = 424, body = crate::error::Problem, description = "The text-to-speech engine failed or is not configured; the detail names it and why")),
    security(("bearer" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<PreviewRequest>,
) -> ApiResult<Response> {
    let p = voices::preview(
        &state.ctx,
        &scope,
        &req.voice,
        req.speed.unwrap_or(1.0),
        req.text.as_deref(),
    )
    .await?;
    let body = p.into_wav_stream();
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
