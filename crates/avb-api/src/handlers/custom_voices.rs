//! Custom voices: upload a sample, follow the job that makes the voice, rename, delete, make
//! it the default. Previews go through `POST /api/v1/voices/preview` with the voice's id.

use crate::auth::Auth;
use crate::dto::{ListResponse, page_request};
use crate::error::{ApiError, ApiResult};
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::custom_voices::{self, CustomVoiceView, MAX_SAMPLE_BYTES, MethodView};
use axum::extract::State;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Paging of the voice list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The multipart form that makes a voice.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreateForm {
    /// The sample: WAV (16-bit PCM) or MP3, 10 s to 5 min, at most 25 MB.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// 1 to 60 characters, unique in the tenant.
    name: String,
    /// `stock_blend` or `remote_clone` (see `GET /api/v1/custom-voices/methods`).
    method: String,
}

/// A new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameRequest {
    /// 1 to 60 characters, unique in the tenant.
    pub name: String,
}

/// The ways of making a voice this server offers.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct MethodsResponse {
    pub methods: Vec<MethodView>,
}

/// `GET /api/v1/custom-voices` (requires `projects:view`): newest first.
#[utoipa::path(get, path = "/api/v1/custom-voices", tag = "voice", params(ListQuery),
    responses((status = 200, body = ListResponse<CustomVoiceView>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ListResponse<CustomVoiceView>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = custom_voices::list(&state.ctx, &scope, page).await?;
    Ok(axum::Json(ListResponse::from_page(page, |v| v)))
}

/// `GET /api/v1/custom-voices/methods` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/custom-voices/methods", tag = "voice",
    responses((status = 200, body = MethodsResponse)), security(("bearer" = [])))]
pub async fn methods(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<MethodsResponse>> {
    Ok(axum::Json(MethodsResponse {
        methods: custom_voices::methods(&state.ctx, &scope)?,
    }))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        "Payload too large",
        format!("the sample is larger than the 25 MB limit ({MAX_SAMPLE_BYTES} bytes)"),
    )
}

fn multipart_error(status: StatusCode, text: String) -> ApiError {
    if status == StatusCode::PAYLOAD_TOO_LARGE {
        too_large()
    } else {
        ApiError::field("body", text)
    }
}

/// `POST /api/v1/custom-voices` (requires `settings:manage`): checks the sample and queues the
/// job that makes the voice; follow it with `GET /api/v1/custom-voices/{id}`.
#[utoipa::path(post, path = "/api/v1/custom-voices", tag = "voice",
    request_body(content = CreateForm, content_type = "multipart/form-data"),
    responses((status = 202, body = CustomVoiceView, description = "Queued; `progress` and `stage` follow the job"),
        (status = 413, body = crate::error::Problem, description = "The sample is larger than 25 MB"),
        (status = 415, body = crate::error::Problem, description = "The body is not multipart/form-data"),
        (status = 422, body = crate::error::Problem, description = "A bad sample (format, length, clipping, level, noise), name or method; `errors[].field` names it and the detail says how to fix it"),
        (status = 409, body = crate::error::Problem, description = "Too many voices, or too many being made")),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    form: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<CustomVoiceView>)> {
    let mut form = form.map_err(|_| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Unsupported media type",
            "send the body as multipart/form-data with file, name and method fields",
        )
    })?;
    let (mut file, mut name, mut method) = (None, String::new(), String::new());
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return Err(multipart_error(e.status(), e.body_text())),
        };
        let field_name = field.name().unwrap_or_default().to_string();
        match field_name.as_str() {
            "file" => {
                file = Some(
                    field
                        .bytes()
                        .await
                        .map_err(|e| multipart_error(e.status(), e.body_text()))?
                        .to_vec(),
                );
            }
            "name" | "method" => {
                let text = field
                    .text()
                    .await
                    .map_err(|e| multipart_error(e.status(), e.body_text()))?;
                if field_name == "name" {
                    name = text;
                } else {
                    method = text;
                }
            }
            other => {
                return Err(ApiError::validation(
                    other.to_string(),
                    "unknown field; send file, name and method",
                ));
            }
        }
    }
    let file = file.ok_or_else(|| ApiError::validation("file", "is required"))?;
    let v = custom_voices::create(&state.ctx, &scope, &name, &method, &file).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(v)))
}

/// `GET /api/v1/custom-voices/{id}` (requires `projects:view`): the voice and its job.
#[utoipa::path(get, path = "/api/v1/custom-voices/{id}", tag = "voice", params(("id" = String, Path, description = "`cv_<uuid>`")),
    responses((status = 200, body = CustomVoiceView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<String>,
) -> ApiResult<axum::Json<CustomVoiceView>> {
    Ok(axum::Json(
        custom_voices::get(&state.ctx, &scope, &id).await?,
    ))
}

/// `PATCH /api/v1/custom-voices/{id}`: renames it (requires `settings:manage`).
#[utoipa::path(patch, path = "/api/v1/custom-voices/{id}", tag = "voice", params(("id" = String, Path, description = "`cv_<uuid>`")),
    request_body = RenameRequest,
    responses((status = 200, body = CustomVoiceView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn rename(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<String>,
    Json(body): Json<RenameRequest>,
) -> ApiResult<axum::Json<CustomVoiceView>> {
    Ok(axum::Json(
        custom_voices::rename(&state.ctx, &scope, &id, &body.name).await?,
    ))
}

/// `DELETE /api/v1/custom-voices/{id}` (requires `settings:manage`): refused with 409 while
/// the tenant's settings or a persona use the voice.
#[utoipa::path(delete, path = "/api/v1/custom-voices/{id}", tag = "voice", params(("id" = String, Path, description = "`cv_<uuid>`")),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "In use; the detail says where")),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<String>,
) -> ApiResult<StatusCode> {
    custom_voices::delete(&state.ctx, &scope, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/custom-voices/{id}/default`: makes a ready voice the tenant's default voice
/// (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/custom-voices/{id}/default", tag = "voice", params(("id" = String, Path, description = "`cv_<uuid>`")),
    responses((status = 204), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Not ready yet")),
    security(("bearer" = [])))]
pub async fn set_default(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<String>,
) -> ApiResult<StatusCode> {
    custom_voices::set_default(&state.ctx, &scope, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
