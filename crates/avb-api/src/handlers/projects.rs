//! Projects.

use crate::auth::Auth;
use crate::dto::{
    CreateProjectRequest, ListResponse, ProjectDto, UpdateProjectRequest, page_request,
};
use crate::error::ApiResult;
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::projects::{self, ProjectInput};
use avb_domain::ProjectId;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::IntoParams;

/// Filters for the project list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `production`, `staging` or `development`.
    pub environment: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/projects` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ListQuery),
    responses((status = 200, body = ListResponse<ProjectDto>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<ListQuery>,
) -> ApiResult<axum::Json<ListResponse<ProjectDto>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = projects::list(&state.ctx, &scope, q.environment.as_deref(), page).await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// `POST /api/v1/projects` (requires `projects:manage`).
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = CreateProjectRequest,
    responses((status = 201, body = ProjectDto), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<CreateProjectRequest>,
) -> ApiResult<(StatusCode, axum::Json<ProjectDto>)> {
    let input = ProjectInput {
        name: Some(req.name),
        environment: Some(req.environment),
        description: req.description,
    };
    let p = projects::create(&state.ctx, &scope, input).await?;
    Ok((StatusCode::CREATED, axum::Json(p.into())))
}

/// `GET /api/v1/projects/{id}` (requires `projects:view`).
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = uuid::Uuid, Path)),
    responses((status = 200, body = ProjectDto), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ProjectId>,
) -> ApiResult<axum::Json<ProjectDto>> {
    Ok(axum::Json(
        projects::get(&state.ctx, &scope, id).await?.into(),
    ))
}

/// `PATCH /api/v1/projects/{id}` (requires `projects:manage`).
#[utoipa::path(patch, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = uuid::Uuid, Path)), request_body = UpdateProjectRequest,
    responses((status = 200, body = ProjectDto), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn update(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ProjectId>,
    Json(req): Json<UpdateProjectRequest>,
) -> ApiResult<axum::Json<ProjectDto>> {
    let input = ProjectInput {
        name: req.name,
        environment: req.environment,
        description: req.description,
    };
    Ok(axum::Json(
        projects::update(&state.ctx, &scope, id, input)
            .await?
            .into(),
    ))
}

/// Options for deleting a project.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Also revoke the project's keys (requires `api_keys:manage`); otherwise they are detached.
    #[serde(default)]
    pub revoke_keys: bool,
}

/// `DELETE /api/v1/projects/{id}` (requires `projects:manage`).
#[utoipa::path(delete, path = "/api/v1/projects/{id}", tag = "projects", params(("id" = uuid::Uuid, Path), DeleteQuery),
    responses((status = 204), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<ProjectId>,
    Query(q): Query<DeleteQuery>,
) -> ApiResult<StatusCode> {
    projects::delete(&state.ctx, &scope, id, q.revoke_keys).await?;
    Ok(StatusCode::NO_CONTENT)
}
