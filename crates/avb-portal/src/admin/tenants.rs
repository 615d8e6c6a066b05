//! `/admin/tenants`: every tenant with live search and pagination; a tenant's profile, usage,
//! members and keys; suspend and reactivate behind a confirmation; read-only impersonation.

use super::{ConfirmPage, amount, failed, require};
use crate::PortalState;
use crate::pages::{Chrome, Visitor, render, signed_in, signed_in_form};
use crate::session::SESSION_COOKIE;
use askama::Template;
use avb_core::services::{api_keys, impersonation, members, tenants, usage};
use avb_domain::{Permission, TenantId};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

/// `?q=&after=&done=`.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

/// A row of the list.
pub struct TenantRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub plan: String,
    pub status: String,
    pub created: String,
}

/// The table, also served alone for search-as-you-type.
#[derive(Template)]
#[template(path = "admin_tenants_table.html")]
struct Table {
    rows: Vec<TenantRow>,
    next: Option<String>,
    q: String,
}

#[derive(Template)]
#[template(path = "admin_tenants.html")]
struct ListPage {
    chrome: Chrome,
    q: String,
    table: Table,
}

async fn table(state: &PortalState, v: &Visitor, q: &ListQuery) -> Result<Table, Response> {
    let request = avb_core::PageRequest {
        limit: 25,
        after: q.after.parse().ok(),
    };
    let search = Some(q.q.trim()).filter(|s| !s.is_empty());
    let listed = tenants::list(&state.ctx, &v.scope, search, request)
        .await
        .map_err(|e| failed(v, "tenant list", e))?;
    Ok(Table {
        rows: listed
            .items
            .into_iter()
            .map(|t| TenantRow {
                id: t.id.to_string(),
                name: t.name,
                email: t.billing_email,
                plan: t.plan,
                status: t.status,
                created: t.created_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        next: listed.next.map(|n| n.to_string()),
        q: q.q.clone(),
    })
}

/// `GET /admin/tenants`.
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
    if let Some(r) = require(&v, Permission::PlatformTenants) {
        return r;
    }
    match table(&state, &v, &q).await {
        Ok(table) => render(
            &ListPage {
                chrome: v.chrome("/admin/tenants", Some(q.done.as_str())),
                q: q.q.clone(),
                table,
            },
            StatusCode::OK,
        ),
        Err(r) => r,
    }
}

/// `GET /admin/tenants/table?q=`: the table alone (search as you type).
pub async fn search(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if let Some(r) = require(&v, Permission::PlatformTenants) {
        return r;
    }
    match table(&state, &v, &q).await {
        Ok(t) => render(&t, StatusCode::OK),
        Err(r) => r,
    }
}

/// A member of the tenant.
pub struct MemberRow {
    pub email: String,
    pub role: String,
}

/// A key of the tenant.
pub struct KeyRow {
    pub name: String,
    pub prefix: String,
    pub status: String,
    pub requests: i64,
}

#[derive(Template)]
#[template(path = "admin_tenant.html")]
struct DetailPage {
    chrome: Chrome,
    id: String,
    name: String,
    email: String,
    plan: String,
    status: String,
    timezone: String,
    created: String,
    requests: String,
    minutes_in: String,
    minutes_out: String,
    tokens: String,
    members: Vec<MemberRow>,
    keys: Vec<KeyRow>,
}

fn tenant_id(raw: &str) -> Option<TenantId> {
    raw.parse::<uuid::Uuid>().ok().map(TenantId)
}

/// `GET /admin/tenants/{id}`.
pub async fn detail(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if let Some(r) = require(&v, Permission::PlatformTenants) {
        return r;
    }
    let Some(id) = tenant_id(&id) else {
        return (StatusCode::NOT_FOUND, "No such tenant.").into_response();
    };
    let ctx = &state.ctx;
    let t = match tenants::get(ctx, &v.scope, id).await {
        Ok(t) => t,
        Err(e) => return failed(&v, "tenant", e),
    };
    // Members, keys and usage are read through the admin's read-only view of the tenant.
    let Some(view) = v.scope.impersonate(id) else {
        return super::failed(
            &v,
            "tenant",
            avb_core::CoreError::Forbidden(Permission::PlatformTenants),
        );
    };
    let page = avb_core::PageRequest {
        limit: 100,
        after: None,
    };
    let now = chrono::Utc::now();
    let filter = api_keys::KeyFilter {
        project: None,
        status: None,
    };
    let (ms, ks, totals) = match tokio::try_join!(
        members::list_members(ctx, &view, page),
        api_keys::list(ctx, &view, filter, page),
        usage::totals(ctx, &view, now - chrono::Duration::days(30), now),
    ) {
        Ok(x) => x,
        Err(e) => return failed(&v, "tenant", e),
    };
    let n = |k: &str| totals.get(k).copied().unwrap_or(0.0);
    let page = DetailPage {
        chrome: v.chrome("/admin/tenants", Some(q.done.as_str())),
        id: t.id.to_string(),
        name: t.name,
        email: t.billing_email,
        plan: t.plan,
        status: t.status,
        timezone: t.timezone,
        created: t.created_at.format("%Y-%m-%d").to_string(),
        requests: amount(n("requests")),
        minutes_in: amount(n("audio_minutes_input")),
        minutes_out: amount(n("audio_minutes_output")),
        tokens: amount(n("llm_tokens_input") + n("llm_tokens_output")),
        members: ms
            .items
            .into_iter()
            .map(|m| MemberRow {
                email: m.user.email,
                role: m.membership.role,
            })
            .collect(),
        keys: ks
            .items
            .into_iter()
            .map(|k| KeyRow {
                status: api_keys::display_status(&k).to_string(),
                name: k.name,
                prefix: format!("avb_{}_{}_…", k.environment, k.prefix),
                requests: k.request_count,
            })
            .collect(),
    };
    render(&page, StatusCode::OK)
}

/// `GET /admin/tenants/{id}/suspend` and `/reactivate`: the confirmation page.
pub async fn confirm_status(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if let Some(r) = require(&v, Permission::PlatformTenants) {
        return r;
    }
    let Some(tid) = tenant_id(&id) else {
        return (StatusCode::NOT_FOUND, "No such tenant.").into_response();
    };
    let t = match tenants::get(&state.ctx, &v.scope, tid).await {
        Ok(t) => t,
        Err(e) => return failed(&v, "tenant", e),
    };
    let (title, body, button) = match action.as_str() {
        "suspend" => (
            format!("Suspend {}?", t.name),
            "Every API key stops working and live voice sessions end at once, on every server. Members can no longer sign in to this tenant. Reactivating restores the keys.".to_string(),
            "Suspend tenant",
        ),
        "reactivate" => (
            format!("Reactivate {}?", t.name),
            "The keys that suspension disabled work again and members can sign in.".to_string(),
            "Reactivate tenant",
        ),
        _ => return (StatusCode::NOT_FOUND, "No such action.").into_response(),
    };
    render(
        &ConfirmPage {
            chrome: v.chrome("/admin/tenants", None),
            title,
            body,
            action: format!("/admin/tenants/{id}/{action}"),
            button,
            cancel: format!("/admin/tenants/{id}"),
        },
        StatusCode::OK,
    )
}

/// A confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /admin/tenants/{id}/suspend` and `/reactivate`.
pub async fn set_status(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path((id, action)): Path<(String, String)>,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Some(tid) = tenant_id(&id) else {
        return (StatusCode::NOT_FOUND, "No such tenant.").into_response();
    };
    let reason = Some(f.reason.trim().to_string()).filter(|r| !r.is_empty());
    let (result, done) = match action.as_str() {
        "suspend" => (
            tenants::suspend(&state.ctx, &v.scope, tid, reason).await,
            "suspended",
        ),
        "reactivate" => (
            tenants::reactivate(&state.ctx, &v.scope, tid).await,
            "reactivated",
        ),
        _ => return (StatusCode::NOT_FOUND, "No such action.").into_response(),
    };
    match result {
        Ok(_) => Redirect::to(&format!("/admin/tenants/{id}?done={done}")).into_response(),
        Err(e) => failed(&v, "tenant", e),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let header = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    crate::session::cookie(header, SESSION_COOKIE).map(str::to_string)
}

/// `POST /admin/tenants/{id}/impersonate`: view the tenant's portal read-only.
pub async fn impersonate(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if let Some(r) = require(&v, Permission::PlatformTenants) {
        return r;
    }
    let Some(tid) = tenant_id(&id) else {
        return (StatusCode::NOT_FOUND, "No such tenant.").into_response();
    };
    if let Err(e) = impersonation::start(&state.ctx, &v.scope, tid).await {
        return failed(&v, "tenant", e);
    }
    let Some(cookie) = session_cookie(&headers) else {
        return Redirect::to("/login").into_response();
    };
    match state.sessions.set_impersonating(&cookie, Some(tid)).await {
        Ok(()) => Redirect::to("/dashboard").into_response(),
        Err(e) => failed(&v, "impersonation", e),
    }
}

/// `POST /admin/impersonation/stop`: back to the admin's own view.
pub async fn stop(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let (scope, viewing) = match crate::pages::signed_in_self(&state, &headers, peer, &f.csrf).await
    {
        Ok(x) => x,
        Err(refused) => return refused,
    };
    let Some(cookie) = session_cookie(&headers) else {
        return Redirect::to("/login").into_response();
    };
    if let Some(tenant) = viewing
        && let Err(e) = impersonation::stop(&state.ctx, &scope, tenant).await
    {
        tracing::warn!(error = %e, "impersonation: recording the stop failed");
    }
    if let Err(e) = state.sessions.set_impersonating(&cookie, None).await {
        tracing::error!(error = %e, "impersonation: ending the view failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "Leaving the view failed. Retry in a moment.",
        )
            .into_response();
    }
    match viewing {
        Some(t) => Redirect::to(&format!("/admin/tenants/{t}")).into_response(),
        None => Redirect::to("/admin").into_response(),
    }
}
