//! Personas: named assistant configurations with immutable published versions, and the
//! default persona of the tenant and of each project.

use crate::auth::Auth;
use crate::dto::{ListResponse, page_request};
use crate::error::ApiResult;
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::personas::{
    self, PersonaDefaults, PersonaInput, PersonaVersionView, PersonaView,
};
use avb_domain::ProjectId;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Filters for the persona list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `draft`, `published` or `archived`.
    pub status: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// The version to publish again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RollbackRequest {
    /// An existing version number of the persona.
    pub version: i32,
}

/// The default persona to set (null clears it).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefaultRequest {
    /// The persona, or null to clear the default.
    pub persona_id: Option<Uuid>,
    /// A project whose default to set; absent sets the tenant default.
    #[serde(default)]
    pub project_id: Option<Uuid>,
}

/// `GET /api/v1/personas` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/personas", tag = "personas", params(ListQuery),
    responses((status = 200, body = ListResponse<PersonaView>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ListResponse<PersonaView>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = personas::list(&state.ctx, &scope, q.status.as_deref(), page).await?;
    Ok(axum::Json(ListResponse::from_page(page, |p| p)))
}

/// `POST /api/v1/personas`: a new draft persona (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/personas", tag = "personas", request_body = PersonaInput,
    responses((status = 201, body = PersonaView), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(input): Json<PersonaInput>,
) -> ApiResult<(StatusCode, axum::Json<PersonaView>)> {
    let p = personas::create(&state.ctx, &scope, input).await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// `GET /api/v1/personas/{id}` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/personas/{id}", tag = "personas", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PersonaView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<PersonaView>> {
    Ok(axum::Json(personas::get(&state.ctx, &scope, id).await?))
}

/// `PATCH /api/v1/personas/{id}`: changes the draft; absent fields keep their value (requires
/// `settings:manage`). Sessions use the published version until the next publish.
#[utoipa::path(patch, path = "/api/v1/personas/{id}", tag = "personas", params(("id" = uuid::Uuid, Path)), request_body = PersonaInput,
    responses((status = 200, body = PersonaView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(input): Json<PersonaInput>,
) -> ApiResult<axum::Json<PersonaView>> {
    Ok(axum::Json(
        personas::update(&state.ctx, &scope, id, input).await?,
    ))
}

/// `DELETE /api/v1/personas/{id}`: deletes it and its versions; where it was a default, the
/// default is cleared so the tenant default applies (requires `settings:manage`).
#[utoipa::path(delete, path = "/api/v1/personas/{id}", tag = "personas", params(("id" = uuid::Uuid, Path)),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<StatusCode> {
    personas::delete(&state.ctx, &scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/v1/personas/{id}/publish`: snapshots the draft as the next immutable version,
/// which sessions then use (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/personas/{id}/publish", tag = "personas", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PersonaView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<PersonaView>> {
    Ok(axum::Json(personas::publish(&state.ctx, &scope, id).await?))
}

/// `POST /api/v1/personas/{id}/archive`: sessions stop using it; publishing restores it
/// (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/personas/{id}/archive", tag = "personas", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = PersonaView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn archive(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<PersonaView>> {
    Ok(axum::Json(personas::archive(&state.ctx, &scope, id).await?))
}

/// `GET /api/v1/personas/{id}/versions`: published versions, newest first (requires
/// `projects:view`).
#[utoipa::path(get, path = "/api/v1/personas/{id}/versions", tag = "personas", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = Vec<PersonaVersionView>), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn versions(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<Vec<PersonaVersionView>>> {
    Ok(axum::Json(
        personas::versions(&state.ctx, &scope, id).await?,
    ))
}

/// `POST /api/v1/personas/{id}/rollback`: makes an earlier version the published one
/// (requires `settings:manage`).
#[utoipa::path(post, path = "/api/v1/personas/{id}/rollback", tag = "personas", params(("id" = uuid::Uuid, Path)), request_body = RollbackRequest,
    responses((status = 200, body = PersonaView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(req): Json<RollbackRequest>,
) -> ApiResult<axum::Json<PersonaView>> {
    Ok(axum::Json(
        personas::rollback(&state.ctx, &scope, id, req.version).await?,
    ))
}

/// `GET /api/v1/persona-default`: the tenant's and projects' default personas (requires
/// `projects:view`).
#[utoipa::path(get, path = "/api/v1/persona-default", tag = "personas",
    responses((status = 200, body = PersonaDefaults)), security(("bearer" = [])))]
pub async fn get_default(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<PersonaDefaults>> {
    Ok(axum::Json(personas::defaults(&state.ctx, &scope).await?))
}

/// `PUT /api/v1/persona-default`: sets or clears the default persona of the tenant or of one
/// project (requires `settings:manage`).
#[utoipa::path(put, path = "/api/v1/persona-default", tag = "personas", request_body = DefaultRequest,
    responses((status = 200, body = PersonaDefaults), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn put_default(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<DefaultRequest>,
) -> ApiResult<axum::Json<PersonaDefaults>> {
    personas::set_default(
        &state.ctx,
        &scope,
        req.project_id.map(ProjectId::from),
        req.persona_id,
    )
    .await?;
    Ok(axum::Json(personas::defaults(&state.ctx, &scope).await?))
}

/// `POST /api/v1/personas/{id}/test`: a test turn against the persona's draft instructions
/// through the path real sessions use (requires `projects:view`). Rate-limited per tenant
/// (429), audited and metered like the LLM console's tests.
#[utoipa::path(post, path = "/api/v1/personas/{id}/test", tag = "personas", params(("id" = uuid::Uuid, Path)),
    request_body = crate::handlers::voice_console::LlmTestRequest,
    responses((status = 200, body = avb_core::services::voice_console::LlmTestResult),
        (status = 404, body = crate::error::Problem),
        (status = 429, body = crate::error::Problem, description = "Too many test calls from this tenant this minute"),
        (status = 424, body = crate::error::Problem, description = "The language model failed or is not configured")),
    security(("bearer" = [])))]
pub async fn test(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(req): Json<crate::handlers::voice_console::LlmTestRequest>,
) -> ApiResult<axum::Json<avb_core::services::voice_console::LlmTestResult>> {
    use crate::handlers::voice_console::{core_error, engine_error};
    let persona = personas::get(&state.ctx, &scope, id).await?;
    match avb_core::services::voice_console::llm_test_collect_as(
        &state.ctx,
        &scope,
        &req.prompt,
        Some(persona.instructions),
    )
    .await
    .map_err(core_error)?
    {
        Ok(r) => Ok(axum::Json(r)),
        Err(f) => Err(engine_error(f)),
    }
}

/// `GET /api/v1/solvers` (requires `projects:view`): each knowledge solver a persona may list,
/// and whether this platform can ask it now (configured and reachable) or why not.
#[utoipa::path(get, path = "/api/v1/solvers", tag = "personas",
    responses((status = 200, body = Vec<avb_core::services::solvers::SolverState>)), security(("bearer" = [])))]
pub async fn solvers(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<Vec<avb_core::services::solvers::SolverState>>> {
    Ok(axum::Json(
        avb_core::services::solvers::states(&state.ctx, &scope).await?,
    ))
}
