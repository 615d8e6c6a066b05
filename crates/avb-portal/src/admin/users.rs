//! `/admin/users`: every user with live search; a user's memberships and sign-ins; disable
//! (signs them out everywhere) and enable behind a confirmation; password reset e-mail; failed
//! sign-ins across the platform.

use super::{ConfirmPage, failed};
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, perm};
use askama::Template;
use avb_core::services::platform;
use avb_domain::{UserId, UserStatus};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
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
pub struct UserRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub tenants: String,
    pub status: UserStatus,
    pub admin: bool,
}

#[derive(Template)]
#[template(path = "admin/users/_table.html")]
struct Table {
    rows: Vec<UserRow>,
    next: Option<String>,
    q: String,
}

#[derive(Template)]
#[template(path = "admin/users/list.html")]
struct AdminUsersListPage {
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
    let listed = platform::users(&state.ctx, &v.scope, search, request)
        .await
        .map_err(failed("user list"))?;
    Ok(Table {
        rows: listed
            .items
            .into_iter()
            .map(|u| UserRow {
                id: u.user.id.to_string(),
                tenants: u
                    .memberships
                    .iter()
                    .map(|(_, name, role)| format!("{name} ({role})"))
                    .collect::<Vec<_>>()
                    .join(", "),
                name: u.user.name,
                email: u.user.email,
                status: u.user.status,
                admin: u.user.is_saas_admin,
            })
            .collect(),
        next: listed.next.map(|n| n.to_string()),
        q: q.q.clone(),
    })
}

/// `GET /admin/users` (requires `platform:users`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::PlatformUsers>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let table = table(&state, &v, &q).await?;
    Ok(render(
        &AdminUsersListPage {
            chrome: v.chrome("/admin/users", Some(q.done.as_str())),
            q: q.q.clone(),
            table,
        },
        StatusCode::OK,
    ))
}

/// `GET /admin/users/table?q=` (requires `platform:users`): the table alone (search as you
/// type).
pub async fn search(
    State(state): State<PortalState>,
    v: Require<perm::PlatformUsers>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    Ok(render(&table(&state, &v, &q).await?, StatusCode::OK))
}

/// One sign-in.
pub struct LoginRow {
    pub at: String,
    pub email: String,
    pub ip: String,
    pub outcome: String,
}

/// A membership.
pub struct MembershipRow {
    pub tenant_id: String,
    pub tenant: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "admin/users/detail.html")]
struct AdminUsersDetailPage {
    chrome: Chrome,
    id: String,
    name: String,
    email: String,
    status: UserStatus,
    admin: bool,
    totp: bool,
    created: String,
    memberships: Vec<MembershipRow>,
    logins: Vec<LoginRow>,
    is_me: bool,
}

fn user_id(raw: &str) -> Option<UserId> {
    raw.parse::<uuid::Uuid>().ok().map(UserId)
}

fn login_row(l: platform::LoginEvent) -> LoginRow {
    LoginRow {
        at: l.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        email: l.email,
        ip: l.ip,
        outcome: if l.success {
            "signed in".into()
        } else {
            format!("refused ({})", l.reason)
        },
    }
}

/// `GET /admin/users/{id}` (requires `platform:users`).
pub async fn detail(
    State(state): State<PortalState>,
    v: Require<perm::PlatformUsers>,
    Path(id): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let Some(uid) = user_id(&id) else {
        return Err(PageError::not_found("user"));
    };
    let (view, logins) = platform::user(&state.ctx, &v.scope, uid)
        .await
        .map_err(failed("user"))?;
    let u = view.user;
    let page = AdminUsersDetailPage {
        chrome: v.chrome("/admin/users", Some(q.done.as_str())),
        id: u.id.to_string(),
        is_me: v.scope.actor().user_id() == Some(uid),
        name: u.name,
        email: u.email,
        status: u.status,
        admin: u.is_saas_admin,
        totp: u.totp_enabled,
        created: u.created_at.format("%Y-%m-%d").to_string(),
        memberships: view
            .memberships
            .into_iter()
            .map(|(t, name, role)| MembershipRow {
                tenant_id: t.to_string(),
                tenant: name,
                role,
            })
            .collect(),
        logins: logins.into_iter().map(login_row).collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /admin/users/{id}/disable` and `/enable` (requires `platform:users`): the
/// confirmation page.
pub async fn confirm_status(
    State(state): State<PortalState>,
    v: Require<perm::PlatformUsers>,
    Path((id, action)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let Some(uid) = user_id(&id) else {
        return Err(PageError::not_found("user"));
    };
    let (view, _) = platform::user(&state.ctx, &v.scope, uid)
        .await
        .map_err(failed("user"))?;
    let (title, body, button) = match action.as_str() {
        "disable" => (
            format!("Disable {}?", view.user.email),
            "They are signed out everywhere at once and cannot sign in until enabled again.",
            "Disable user",
        ),
        "enable" => (
            format!("Enable {}?", view.user.email),
            "They can sign in again with their password.",
            "Enable user",
        ),
        _ => return Err(PageError::not_found("action")),
    };
    Ok(render(
        &ConfirmPage {
            chrome: v.chrome("/admin/users", None),
            title,
            body: body.to_string(),
            action: format!("/admin/users/{id}/{action}"),
            button,
            cancel: format!("/admin/users/{id}"),
        },
        StatusCode::OK,
    ))
}

/// `POST /admin/users/{id}/disable`, `/enable` and `/password-reset` (requires
/// `platform:users`).
pub async fn act(
    State(state): State<PortalState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let Some(uid) = user_id(&id) else {
        return Err(PageError::not_found("user"));
    };
    let ctx = &state.ctx;
    let (result, done) = match action.as_str() {
        "disable" => (
            platform::set_user_enabled(ctx, &v.scope, uid, false)
                .await
                .map(|_| ()),
            "user_disabled",
        ),
        "enable" => (
            platform::set_user_enabled(ctx, &v.scope, uid, true)
                .await
                .map(|_| ()),
            "user_enabled",
        ),
        "password-reset" => (
            platform::send_password_reset(ctx, &v.scope, uid).await,
            "reset_sent",
        ),
        _ => return Err(PageError::not_found("action")),
    };
    match result {
        Ok(()) => Ok(Redirect::to(&format!("/admin/users/{id}?done={done}")).into_response()),
        Err(e) => Err(failed("user")(e)),
    }
}

#[derive(Template)]
#[template(path = "admin/users/failed_logins.html")]
struct AdminUsersFailedLoginsPage {
    chrome: Chrome,
    rows: Vec<LoginRow>,
    next: Option<String>,
}

/// `GET /admin/users/failed-logins` (requires `platform:users`).
pub async fn failed_logins(
    State(state): State<PortalState>,
    v: Require<perm::PlatformUsers>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let request = avb_core::PageRequest {
        limit: 50,
        after: q.after.parse().ok(),
    };
    let p = platform::failed_logins(&state.ctx, &v.scope, request)
        .await
        .map_err(failed("sign-in history"))?;
    Ok(render(
        &AdminUsersFailedLoginsPage {
            chrome: v.chrome("/admin/users", None),
            rows: p.items.into_iter().map(login_row).collect(),
            next: p.next.map(|n| n.to_string()),
        },
        StatusCode::OK,
    ))
}
