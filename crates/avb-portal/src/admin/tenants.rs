//! `/admin/tenants`: every tenant with live search and pagination; a tenant's profile, usage,
//! members and keys; suspend and reactivate behind a confirmation; read-only impersonation.

use super::{ConfirmPage, amount, failed, require};
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, SelfForm, Visitor, has_csrf, perm};
use crate::session::SESSION_COOKIE;
use askama::Template;
use avb_core::services::{api_keys, impersonation, members, tenants, usage};
use avb_domain::{Permission, TenantId, TenantStatus};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

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
    pub status: TenantStatus,
    pub created: String,
}

/// The table, also served alone for search-as-you-type.
#[derive(Template)]
#[template(path = "admin/tenants/_table.html")]
struct Table {
    rows: Vec<TenantRow>,
    next: Option<String>,
    q: String,
}

#[derive(Template)]
#[template(path = "admin/tenants/list.html")]
struct AdminTenantsListPage {
    chrome: Chrome,
    q: String,
    table: Table,
}

async fn table(state: &PortalState, v: &Visitor, q: &ListQuery) -> Result<Table, PageError> {
    let request = avb_core::PageRequest {
        limit: 25,
        after: q.after.parse().ok(),
    };
    let search = Some(q.q.trim()).filter(|s| !s.is_empty());
    let listed = tenants::list(&state.ctx, &v.scope, search, request)
        .await
        .map_err(failed("tenant list"))?;
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

/// `GET /admin/tenants` (requires `platform:tenants`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let table = table(&state, &v, &q).await?;
    Ok(render(
        &AdminTenantsListPage {
            chrome: v.chrome("/admin/tenants", Some(q.done.as_str())),
            q: q.q.clone(),
            table,
        },
        StatusCode::OK,
    ))
}

/// `GET /admin/tenants/table?q=` (requires `platform:tenants`): the table alone (search as
/// you type).
pub async fn search(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    Ok(render(&table(&state, &v, &q).await?, StatusCode::OK))
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
#[template(path = "admin/tenants/detail.html")]
struct AdminTenantsDetailPage {
    chrome: Chrome,
    id: String,
    name: String,
    email: String,
    plan: String,
    status: TenantStatus,
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

/// `GET /admin/tenants/{id}` (requires `platform:tenants`).
pub async fn detail(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let Some(id) = tenant_id(&id) else {
        return Err(PageError::not_found("tenant"));
    };
    let ctx = &state.ctx;
    let t = tenants::get(ctx, &v.scope, id)
        .await
        .map_err(failed("tenant"))?;
    // Members, keys and usage are read through the admin's read-only view of the tenant.
    let Some(view) = v.scope.impersonate(id) else {
        return Err(PageError::Forbidden(Permission::PlatformTenants));
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
    let (ms, ks, totals) = tokio::try_join!(
        members::list_members(ctx, &view, page),
        api_keys::list(ctx, &view, filter, page),
        usage::totals(ctx, &view, now - chrono::Duration::days(30), now),
    )
    .map_err(failed("tenant"))?;
    let n = |k: &str| totals.get(k).copied().unwrap_or(0.0);
    let page = AdminTenantsDetailPage {
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
    Ok(render(&page, StatusCode::OK))
}

/// `GET /admin/tenants/{id}/suspend` and `/reactivate` (requires `platform:tenants`): the
/// confirmation page.
pub async fn confirm_status(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let Some(tid) = tenant_id(&id) else {
        return Err(PageError::not_found("tenant"));
    };
    let t = tenants::get(&state.ctx, &v.scope, tid)
        .await
        .map_err(failed("tenant"))?;
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
        _ => return Err(PageError::not_found("action")),
    };
    Ok(render(
        &ConfirmPage {
            chrome: v.chrome("/admin/tenants", None),
            title,
            body,
            action: format!("/admin/tenants/{id}/{action}"),
            button,
            cancel: format!("/admin/tenants/{id}"),
        },
        StatusCode::OK,
    ))
}

/// A confirmation form.
#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}
has_csrf!(ConfirmForm);

/// `POST /admin/tenants/{id}/suspend` and `/reactivate` (requires `platform:tenants`).
pub async fn set_status(
    State(state): State<PortalState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(v, f): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    let Some(tid) = tenant_id(&id) else {
        return Err(PageError::not_found("tenant"));
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
        _ => return Err(PageError::not_found("action")),
    };
    match result {
        Ok(_) => Ok(Redirect::to(&format!("/admin/tenants/{id}?done={done}")).into_response()),
        Err(e) => Err(failed("tenant")(e)),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    let header = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    crate::session::cookie(header, SESSION_COOKIE).map(str::to_string)
}

/// `POST /admin/tenants/{id}/impersonate` (requires `platform:tenants`): view the tenant's
/// portal read-only.
pub async fn impersonate(
    State(state): State<PortalState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<ConfirmForm>,
) -> Result<Response, PageError> {
    require(&v, Permission::PlatformTenants)?;
    let Some(tid) = tenant_id(&id) else {
        return Err(PageError::not_found("tenant"));
    };
    impersonation::start(&state.ctx, &v.scope, tid)
        .await
        .map_err(failed("tenant"))?;
    let cookie = session_cookie(&headers).ok_or(PageError::SignIn)?;
    match state.sessions.set_impersonating(&cookie, Some(tid)).await {
        Ok(()) => Ok(Redirect::to("/dashboard").into_response()),
        Err(e) => Err(failed("impersonation")(e)),
    }
}

/// `POST /admin/impersonation/stop` (requires signing in, no permission; works while viewing
/// a tenant): back to the admin's own view.
pub async fn stop(
    State(state): State<PortalState>,
    headers: HeaderMap,
    SelfForm { scope, viewing }: SelfForm,
) -> Result<Response, PageError> {
    let cookie = session_cookie(&headers).ok_or(PageError::SignIn)?;
    if let Some(tenant) = viewing
        && let Err(e) = impersonation::stop(&state.ctx, &scope, tenant).await
    {
        tracing::warn!(error = %e, "impersonation: recording the stop failed");
    }
    if let Err(e) = state.sessions.set_impersonating(&cookie, None).await {
        tracing::error!(error = %e, "impersonation: ending the view failed");
        return Err(PageError::Unavailable);
    }
    match viewing {
        Some(t) => Ok(Redirect::to(&format!("/admin/tenants/{t}")).into_response()),
        None => Ok(Redirect::to("/admin").into_response()),
    }
}
