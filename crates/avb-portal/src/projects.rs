//! `/projects`: the tenant's projects with pagination, and the create form for those who may.

use crate::PortalState;
use crate::pages::{Chrome, Visitor, forbidden, render, signed_in, signed_in_form};

use askama::Template;
use avb_core::CoreError;
use avb_core::services::projects::{self, ProjectInput};
use avb_domain::Permission;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

const PAGE_SIZE: u64 = 20;
const ENVIRONMENTS: &[&str] = &["production", "staging", "development"];

/// A row of the list.
pub struct ProjectRow {
    pub name: String,
    pub environment: String,
    pub keys: u64,
    pub created: String,
}

#[derive(Template)]
#[template(path = "projects.html")]
struct ProjectsPage {
    chrome: Chrome,
    can_manage: bool,
    rows: Vec<ProjectRow>,
    next: Option<String>,
    created: bool,
    error: Option<String>,
    error_field: String,
    form_name: String,
    environments: Vec<EnvOption>,
}

/// An environment choice of the form.
pub struct EnvOption {
    pub name: &'static str,
    pub selected: bool,
}

/// `?after=<id>` (next page) and `?created=1` (after a create).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    created: Option<String>,
}

/// What the form held when it failed, to show it again.
struct FormState {
    name: String,
    environment: String,
    error: Option<(String, String)>,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    after: Option<uuid::Uuid>,
    created: bool,
    form: FormState,
    status: StatusCode,
) -> Response {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let listed = match projects::list(&state.ctx, &v.scope, None, request).await {
        Ok(p) => p,
        Err(CoreError::Forbidden(p)) => return forbidden(v, p),
        Err(e) => {
            tracing::error!(error = %e, "projects page: list failed");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "Projects are unavailable right now. Retry in a moment.",
            )
                .into_response();
        }
    };
    let (error_field, error) = match form.error {
        Some((f, m)) => (f, Some(m)),
        None => (String::new(), None),
    };
    let page = ProjectsPage {
        chrome: v.chrome("/projects", None),
        can_manage: v.scope.has(Permission::ProjectsManage),
        rows: listed
            .items
            .into_iter()
            .map(|p| ProjectRow {
                name: p.project.name,
                environment: p.project.environment,
                keys: p.key_count,
                created: p.project.created_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        next: listed.next.map(|id| id.to_string()),
        created,
        error,
        error_field,
        environments: ENVIRONMENTS
            .iter()
            .map(|name| EnvOption {
                name,
                selected: *name == form.environment,
            })
            .collect(),
        form_name: form.name,
    };
    render(&page, status)
}

/// `GET /projects` (requires `projects:view`).
pub async fn list(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let after = q.after.as_deref().and_then(|a| a.parse().ok());
    let blank = FormState {
        name: String::new(),
        environment: "production".into(),
        error: None,
    };
    page(
        &state,
        &v,
        after,
        q.created.is_some(),
        blank,
        StatusCode::OK,
    )
    .await
}

/// The create form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    environment: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /projects` (requires `projects:manage`): creates, then shows the list again.
pub async fn create(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CreateForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &form.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let input = ProjectInput {
        name: Some(form.name.clone()),
        environment: Some(form.environment.clone()),
        description: None,
    };
    match projects::create(&state.ctx, &v.scope, input).await {
        Ok(_) => Redirect::to("/projects?created=1").into_response(),
        Err(CoreError::Forbidden(p)) => forbidden(&v, p),
        Err(CoreError::Validation(e)) => {
            let again = FormState {
                name: form.name,
                environment: form.environment,
                error: Some((e.field.clone(), format!("{}: {}", e.field, e.message))),
            };
            page(
                &state,
                &v,
                None,
                false,
                again,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => {
            tracing::error!(error = %e, "projects page: create failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "The project could not be created right now. Retry in a moment.",
            )
                .into_response()
        }
    }
}
