//! `/api-keys`: the tenant's keys (never their secrets), creation with the secret shown once,
//! and revocation behind a confirmation page.

use crate::PortalState;
use crate::pages::{Chrome, Visitor, forbidden, render, signed_in, signed_in_form};

use askama::Template;
use avb_core::CoreError;
use avb_core::services::api_keys::{self, NewKeyInput};
use avb_domain::{ApiKeyId, KeyEnvironment, Permission};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

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
#[template(path = "api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    can_manage: bool,
    rows: Vec<KeyRow>,
    next: Option<String>,
    revoked: bool,
    error: Option<String>,
    form_name: String,
}

#[derive(Template)]
#[template(path = "api_key_created.html")]
struct CreatedPage {
    chrome: Chrome,
    name: String,
    secret: String,
    rotated: bool,
}

#[derive(Template)]
#[template(path = "api_key_revoke.html")]
struct RevokePage {
    chrome: Chrome,
    rotate: bool,
    id: String,
    name: String,
    display: String,
}

fn display(environment: &str, prefix: &str) -> String {
    format!("avb_{environment}_{prefix}_…")
}

fn unavailable(what: &str, e: &CoreError) -> Response {
    tracing::error!(error = %e, "api keys page: {what} failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "API keys are unavailable right now. Retry in a moment.",
    )
        .into_response()
}

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "No such key.").into_response()
}

async fn list_page(
    state: &PortalState,
    v: &Visitor,
    after: Option<uuid::Uuid>,
    revoked: bool,
    error: Option<String>,
    form_name: String,
    status: StatusCode,
) -> Response {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let filter = avb_core::services::api_keys::KeyFilter {
        project: None,
        status: None,
    };
    let listed = match api_keys::list(&state.ctx, &v.scope, filter, request).await {
        Ok(p) => p,
        Err(CoreError::Forbidden(p)) => return forbidden(v, p),
        Err(e) => return unavailable("list", &e),
    };
    let page = KeysPage {
        chrome: v.chrome("/api-keys", None),
        can_manage: v.scope.has(Permission::ApiKeysManage),
        rows: listed
            .items
            .into_iter()
            .map(|k| KeyRow {
                id: k.id.to_string(),
                display: display(&k.environment, &k.prefix),
                scopes: k.scopes.replace(',', ", "),
                active: k.status == "active",
                status: k.status,
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
    render(&page, status)
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
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
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

/// `POST /api-keys` (requires `api_keys:manage`): shows the new secret once, uncached.
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
            let page = CreatedPage {
                chrome: v.chrome("/api-keys", None),
                name: created.key.name,
                secret: created.secret,
                rotated: false,
            };
            let mut res = render(&page, StatusCode::CREATED);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(CoreError::Forbidden(p)) => forbidden(&v, p),
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
        Err(e) => unavailable("create", &e),
    }
}

fn key_id(raw: &str) -> Option<ApiKeyId> {
    raw.parse::<uuid::Uuid>().ok().map(ApiKeyId)
}

/// `GET /api-keys/{id}/revoke`: the confirmation page (requires `api_keys:manage`).
pub async fn confirm_revoke(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    confirm(&state, &headers, peer, &id, false).await
}

/// `GET /api-keys/{id}/rotate`: the confirmation page (requires `api_keys:manage`).
pub async fn confirm_rotate(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    confirm(&state, &headers, peer, &id, true).await
}

async fn confirm(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
    id: &str,
    rotate: bool,
) -> Response {
    let v = match signed_in(state, headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if !v.scope.has(Permission::ApiKeysManage) {
        return forbidden(&v, Permission::ApiKeysManage);
    }
    let Some(id) = key_id(id) else {
        return not_found();
    };
    match api_keys::get(&state.ctx, &v.scope, id).await {
        Ok(k) => {
            let page = RevokePage {
                chrome: v.chrome("/api-keys", None),
                rotate,
                id: k.id.to_string(),
                display: display(&k.environment, &k.prefix),
                name: k.name,
            };
            render(&page, StatusCode::OK)
        }
        Err(CoreError::NotFound) => not_found(),
        Err(CoreError::Forbidden(p)) => forbidden(&v, p),
        Err(e) => unavailable("get", &e),
    }
}

/// `POST /api-keys/{id}/revoke` (requires `api_keys:manage`).
pub async fn revoke(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<crate::pages::CsrfForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &form.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Some(id) = key_id(&id) else {
        return not_found();
    };
    match api_keys::revoke(&state.ctx, &v.scope, id).await {
        Ok(_) => Redirect::to("/api-keys?revoked=1").into_response(),
        Err(CoreError::NotFound) => not_found(),
        Err(CoreError::Forbidden(p)) => forbidden(&v, p),
        Err(e) => unavailable("revoke", &e),
    }
}

/// `POST /api-keys/{id}/rotate`: a new secret for the key, shown once; the old one keeps working
/// for 24 hours.
pub async fn rotate(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<crate::pages::CsrfForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &form.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Some(id) = key_id(&id) else {
        return not_found();
    };
    match api_keys::rotate(&state.ctx, &v.scope, id).await {
        Ok(created) => {
            let page = CreatedPage {
                chrome: v.chrome("/api-keys", None),
                name: created.key.name,
                secret: created.secret,
                rotated: true,
            };
            let mut res = render(&page, StatusCode::CREATED);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(CoreError::NotFound) => not_found(),
        Err(CoreError::Forbidden(p)) => forbidden(&v, p),
        Err(CoreError::Conflict(m)) => (StatusCode::CONFLICT, m).into_response(),
        Err(e) => unavailable("rotate", &e),
    }
}
