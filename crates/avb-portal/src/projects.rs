//! `/projects`: the tenant's projects with pagination, and the create form for those who may.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, Visitor, has_csrf, perm};

use askama::Template;
use avb_core::CoreError;
use avb_core::services::projects::{self, ProjectInput};
use avb_domain::Permission;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

const PAGE_SIZE: u64 = 20;
const ENVIRONMENTS: &[&str] = &["production", "staging", "development"];

/// A row of the list.
pub struct ProjectRow {
    pub id: String,
    pub name: String,
    pub environment: String,
    pub keys: u64,
    pub created: String,
}

#[derive(Template)]
#[template(path = "projects/list.html")]
struct ProjectsListPage {
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
) -> Result<Response, PageError> {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let listed = projects::list(&state.ctx, &v.scope, None, request).await?;
    let (error_field, error) = match form.error {
        Some((f, m)) => (f, Some(m)),
        None => (String::new(), None),
    };
    let page = ProjectsListPage {
        chrome: v.chrome("/projects", None),
        can_manage: v.scope.has(Permission::ProjectsManage),
        rows: listed
            .items
            .into_iter()
            .map(|p| ProjectRow {
                id: p.project.id.to_string(),
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
    Ok(render(&page, status))
}

/// `GET /projects` (requires `projects:view`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
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
has_csrf!(CreateForm);

/// `POST /projects` (requires `projects:manage`): creates, then shows the list again.
pub async fn create(
    State(state): State<PortalState>,
    CsrfForm(v, form): CsrfForm<CreateForm>,
) -> Result<Response, PageError> {
    let input = ProjectInput {
        name: Some(form.name.clone()),
        environment: Some(form.environment.clone()),
        description: None,
    };
    match projects::create(&state.ctx, &v.scope, input).await {
        Ok(_) => Ok(Redirect::to("/projects?created=1").into_response()),
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
        Err(e) => Err(e.into()),
    }
}
