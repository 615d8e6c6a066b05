//! The STT and LLM consoles over the API: the Whisper models the engine serves, test
//! transcriptions of an uploaded file, a provider's models, and test prompts. Tests are
//! rate-limited per tenant, audited and metered like real calls.

use crate::auth::Auth;
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, Query};
use crate::router::AppState;
use avb_core::services::voice_console::{
    self, EngineFailure, LlmModels, LlmTestResult, MAX_UPLOAD_BYTES, SttModels, SttStats,
    SttTestResult, SttUpload,
};
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use serde::Deserialize;

/// The STT settings, the six Whisper sizes (which the engine serves) and the tenant's
/// transcription figures.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct SttModelsResponse {
    #[serde(flatten)]
    pub models: SttModels,
    pub stats: SttStats,
}

/// `GET /api/v1/voice/stt-models` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/voice/stt-models", tag = "voice",
    responses((status = 200, body = SttModelsResponse)), security(("bearer" = [])))]
pub async fn stt_models(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<SttModelsResponse>> {
    let (models, stats) = tokio::try_join!(
        voice_console::stt_models(&state.ctx, &scope),
        voice_console::stt_stats(&state.ctx, &scope)
    )?;
    Ok(axum::Json(SttModelsResponse { models, stats }))
}

pub(crate) fn engine_error(f: EngineFailure) -> ApiError {
    ApiError::new(
        StatusCode::FAILED_DEPENDENCY,
        "engine_unavailable",
        "Engine failed",
        f.to_string(),
    )
}

/// A service error; the per-tenant test budget is named as such (not as a client's address).
pub(crate) fn core_error(e: avb_core::CoreError) -> ApiError {
    match e {
        avb_core::CoreError::RateLimited(secs) => {
            let mut err = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "Too many requests",
                format!(
                    "at most {} test calls per tenant per minute; retry in {secs} s",
                    voice_console::TESTS_PER_MINUTE
                ),
            );
            err.set_retry_after(u32::try_from(secs).unwrap_or(60));
            err
        }
        other => other.into(),
    }
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Payload too large",
        format!("the file is larger than the 10 MB limit ({MAX_UPLOAD_BYTES} bytes)"),
    )
}

fn multipart_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::field("body", text)
    }
}

/// The multipart form of an STT test.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct SttTestForm {
    /// WAV, MP3, Ogg or WebM audio, at most 10 MB and 5 minutes.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// BCP-47 tag or `auto`; default: the tenant's setting.
    language: Option<String>,
    /// Model; default: the tenant's setting or the server's.
    model: Option<String>,
    /// The words spoken, for the word error rate.
    reference: Option<String>,
}

/// `POST /api/v1/voice/stt-test` (requires `projects:view`): transcribes an uploaded file with
/// the tenant's settings. Rate-limited per tenant (429), audited and metered.
#[utoipa::path(post, path = "/api/v1/voice/stt-test", tag = "voice",
    request_body(content = SttTestForm, content_type = "multipart/form-data"),
    responses((status = 200, body = SttTestResult),
        (status = 415, body = crate::error::Problem, description = "The body is not multipart/form-data"),
        (status = 422, body = crate::error::Problem, description = "Not audio, too long, or a bad option; `errors[].field` names it"),
        (status = 429, body = crate::error::Problem, description = "Too many test calls from this tenant this minute"),
        (status = 424, body = crate::error::Problem, description = "The speech-to-text engine failed or is not configured; the detail names the engine and why")),
    security(("bearer" = [])))]
pub async fn stt_test(
    State(state): State<AppState>,
    Auth(scope): Auth,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<axum::Json<SttTestResult>> {
    let mut form = form.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as multipart/form-data with a file field",
        )
    })?;
    let mut up = SttUpload::default();
    let mut has_file = false;
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e.status(), e.body_text())),
        };
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                up.file_name = field.file_name().unwrap_or_default().to_string();
                up.bytes = field
                    .bytes()
                    .await
                    .map_err(|e| multipart_error(e.status(), e.body_text()))?
                    .to_vec();
                has_file = true;
            }
            "language" | "model" | "reference" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e.status(), e.body_text()))?;
                match name.as_str() {
                    "language" => up.language = Some(text),
                    "model" => up.model = Some(text),
                    _ => up.reference = Some(text),
                }
            }
            other => {
                return Err(ApiError::validation(
                    other.to_string(),
                    "unknown field; send file, language, model and reference",
                ));
            }
        }
    }
    if !has_file {
        return Err(ApiError::validation("file", "is required"));
    }
    match voice_console::stt_test(&state.ctx, &scope, up)
        .await
        .map_err(core_error)?
    {
        Ok(r) => Ok(axum::Json(r)),
        Err(f) => Err(engine_error(f)),
    }
}

/// Which provider to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LlmModelsQuery {
    /// `server` (default), `openai`, `groq`, `ollama` or `custom`.
    provider: Option<String>,
    /// The provider's base URL (required for `ollama` and `custom`).
    base_url: Option<String>,
}

/// A provider's models and the stored key's fingerprint.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LlmModelsResponse {
    #[serde(flatten)]
    pub models: LlmModels,
    /// `sha256:` and 8 hex digits of the stored provider key's hash; the key is never shown.
    pub key_fingerprint: Option<String>,
}

/// `GET /api/v1/voice/llm-models` (requires `projects:view`): the models the provider lists at
/// its `/models`, asked with the tenant's stored key; an unreachable provider is reported in
/// `error`.
#[utoipa::path(get, path = "/api/v1/voice/llm-models", tag = "voice", params(LlmModelsQuery),
    responses((status = 200, body = LlmModelsResponse),
        (status = 422, body = crate::error::Problem, description = "Unknown provider, or a URL that is not https or points at a private address")),
    security(("bearer" = [])))]
pub async fn llm_models(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<LlmModelsQuery>,
) -> ApiResult<axum::Json<LlmModelsResponse>> {
    let models = voice_console::llm_models(
        &state.ctx,
        &scope,
        q.provider.as_deref(),
        q.base_url.as_deref(),
    )
    .await?;
    let key_fingerprint = voice_console::llm_key_fingerprint(&state.ctx, &scope).await?;
    Ok(axum::Json(LlmModelsResponse {
        models,
        key_fingerprint,
    }))
}

/// A test prompt.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LlmTestRequest {
    /// At most 4000 characters; answered with the persona's instructions.
    pub prompt: String,
}

/// `POST /api/v1/voice/llm-test` (requires `projects:view`): runs a prompt with the tenant's
/// LLM settings and persona; the reply with time to first token and tokens per second.
/// Rate-limited per tenant (429), audited and metered.
#[utoipa::path(post, path = "/api/v1/voice/llm-test", tag = "voice", request_body = LlmTestRequest,
    responses((status = 200, body = LlmTestResult),
        (status = 429, body = crate::error::Problem, description = "Too many test calls from this tenant this minute"),
        (status = 424, body = crate::error::Problem, description = "The language model failed or is not configured; the detail names the engine and why")),
    security(("bearer" = [])))]
pub async fn llm_test(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<LlmTestRequest>,
) -> ApiResult<axum::Json<LlmTestResult>> {
    match voice_console::llm_test_collect(&state.ctx, &scope, &req.prompt)
        .await
        .map_err(core_error)?
    {
        Ok(r) => Ok(axum::Json(r)),
        Err(f) => Err(engine_error(f)),
    }
}
