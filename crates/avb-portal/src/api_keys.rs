//! `/api-keys`: the tenant's keys (never their secrets), creation with the secret shown once,
//! and revocation behind a confirmation page.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, has_csrf, perm};

use askama::Template;
use avb_core::CoreError;
use avb_core::services::api_keys::{self, NewKeyInput};
use avb_domain::{ApiKeyId, ApiKeyStatus, KeyEnvironment, Permission};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Redirect, Response};
use serde::Deserialize;

const PAGE_SIZE: u64 = 20;

/// A row of the list.
pub struct KeyRow {
    pub id: String,
    pub name: String,
    pub display: String,
    pub scopes: String,
    pub status: String,
    pub active: bool,
    pub requests: i64,
    pub last_used: String,
}

#[derive(Template)]
#[template(path = "api_keys/list.html")]
struct ApiKeysListPage {
    chrome: Chrome,
    can_manage: bool,
    rows: Vec<KeyRow>,
    next: Option<String>,
    revoked: bool,
    error: Option<String>,
    form_name: String,
}

#[derive(Template)]
#[template(path = "api_keys/created.html")]
struct ApiKeysCreatedPage {
    chrome: Chrome,
    name: String,
    secret: String,
    rotated: bool,
}

#[derive(Template)]
#[template(path = "api_keys/confirm.html")]
struct ApiKeysConfirmPage {
    chrome: Chrome,
    rotate: bool,
    id: String,
    name: String,
    display: String,
}

fn display(environment: &str, prefix: &str) -> String {
    format!("avb_{environment}_{prefix}_…")
}

async fn list_page(
    state: &PortalState,
    v: &Visitor,
    after: Option<uuid::Uuid>,
    revoked: bool,
    error: Option<String>,
    form_name: String,
    status: StatusCode,
) -> Result<Response, PageError> {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let filter = avb_core::services::api_keys::KeyFilter {
        project: None,
        status: None,
    };
    let listed = api_keys::list(&state.ctx, &v.scope, filter, request).await?;
    let page = ApiKeysListPage {
        chrome: v.chrome("/api-keys", None),
        can_manage: v.scope.has(Permission::ApiKeysManage),
        rows: listed
            .items
            .into_iter()
            .map(|k| KeyRow {
                id: k.id.to_string(),
                display: display(&k.environment, &k.prefix),
                scopes: k.scopes.replace(',', ", "),
                active: k.status == ApiKeyStatus::Active,
                status: k.status.to_string(),
                requests: k.request_count,
                last_used: k.last_used_at.map_or("never".into(), |t| {
                    t.format("%Y-%m-%d %H:%M UTC").to_string()
                }),
                name: k.name,
            })
            .collect(),
        next: listed.next.map(|id| id.to_string()),
        revoked,
        error,
        form_name,
    };
    Ok(render(&page, status))
}

/// `?after=<id>` (next page), `?revoked=1` (after a revocation).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    revoked: Option<String>,
}

/// `GET /api-keys` (requires `api_keys:view`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::ApiKeysView>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let after = q.after.as_deref().and_then(|a| a.parse().ok());
    list_page(
        &state,
        &v,
        after,
        q.revoked.is_some(),
        None,
        String::new(),
        StatusCode::OK,
    )
    .await
}

/// The create form: a name, scope checkboxes, and whether it is a test key.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    name: String,
    scope_realtime: Option<String>,
    scope_sessions: Option<String>,
    scope_usage: Option<String>,
    test: Option<String>,
    #[serde(default)]
    csrf: String,
}
has_csrf!(CreateForm);

/// `POST /api-keys` (requires `api_keys:manage`): shows the new secret once, uncached.
pub async fn create(
    State(state): State<PortalState>,
    CsrfForm(v, form): CsrfForm<CreateForm>,
) -> Result<Response, PageError> {
    let scopes: Vec<String> = [
        ("realtime", &form.scope_realtime),
        ("sessions", &form.scope_sessions),
        ("usage", &form.scope_usage),
    ]
    .into_iter()
    .filter(|(_, on)| on.is_some())
    .map(|(s, _)| s.to_string())
    .collect();
    if scopes.is_empty() {
        let msg = "Choose at least one scope.".to_string();
        return list_page(
            &state,
            &v,
            None,
            false,
            Some(msg),
            form.name,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let input = NewKeyInput {
        name: form.name.clone(),
        project: None,
        scopes,
        environment: if form.test.is_some() {
            KeyEnvironment::Test
        } else {
            KeyEnvironment::Live
        },
    };
    match api_keys::create(&state.ctx, &v.scope, input).await {
        Ok(created) => {
            let page = ApiKeysCreatedPage {
                chrome: v.chrome("/api-keys", None),
                name: created.key.name,
                secret: created.secret,
                rotated: false,
            };
            let mut res = render(&page, StatusCode::CREATED);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(res)
        }
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            list_page(
                &state,
                &v,
                None,
                false,
                Some(msg),
                form.name,
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

fn key_id(raw: &str) -> Option<ApiKeyId> {
    raw.parse::<uuid::Uuid>().ok().map(ApiKeyId)
}

/// `GET /api-keys/{id}/revoke` (requires `api_keys:manage`): the confirmation page.
pub async fn confirm_revoke(
    State(state): State<PortalState>,
    v: Require<perm::ApiKeysManage>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    confirm(&state, &v, &id, false).await
}

/// `GET /api-keys/{id}/rotate` (requires `api_keys:manage`): the confirmation page.
pub async fn confirm_rotate(
    State(state): State<PortalState>,
    v: Require<perm::ApiKeysManage>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    confirm(&state, &v, &id, true).await
}

async fn confirm(
    state: &PortalState,
    v: &Visitor,
    id: &str,
    rotate: bool,
) -> Result<Response, PageError> {
    let id = key_id(id).ok_or(PageError::not_found("key"))?;
    let k = api_keys::get(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("key"))?;
    let page = ApiKeysConfirmPage {
        chrome: v.chrome("/api-keys", None),
        rotate,
        id: k.id.to_string(),
        display: display(&k.environment, &k.prefix),
        name: k.name,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /api-keys/{id}/revoke` (requires `api_keys:manage`).
pub async fn revoke(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Redirect, PageError> {
    let id = key_id(&id).ok_or(PageError::not_found("key"))?;
    api_keys::revoke(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("key"))?;
    Ok(Redirect::to("/api-keys?revoked=1"))
}

/// `POST /api-keys/{id}/rotate` (requires `api_keys:manage`): a new secret for the key, shown
/// once; the old one keeps working for 24 hours.
pub async fn rotate(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = key_id(&id).ok_or(PageError::not_found("key"))?;
    let created = api_keys::rotate(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("key"))?;
    let page = ApiKeysCreatedPage {
        chrome: v.chrome("/api-keys", None),
        name: created.key.name,
        secret: created.secret,
        rotated: true,
    };
    let mut res = render(&page, StatusCode::CREATED);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}
