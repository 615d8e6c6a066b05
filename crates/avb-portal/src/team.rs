//! `/team`: members with their roles, invitations, role changes and removal (with confirmation),
//! and the plan's member limit with an upgrade prompt.

use crate::PortalState;
use crate::pages::{Chrome, Visitor, forbidden, render, signed_in, signed_in_form};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::members;
use avb_domain::{Permission, Role, UserId};
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;
use uuid::Uuid;

const PAGE_SIZE: u64 = 50;

/// A member row.
pub struct MemberRow {
    pub user_id: String,
    pub name: String,
    pub email: String,
    pub role: String,
    pub joined: String,
    pub is_me: bool,
}

/// A pending invitation row.
pub struct InvitationRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub expires: String,
}

/// A role choice.
pub struct RoleChoice {
    pub value: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    chrome: Chrome,
    can_manage: bool,
    members: Vec<MemberRow>,
    next: Option<String>,
    invitations: Vec<InvitationRow>,
    roles: Vec<&'static str>,
    form_email: String,
    form_roles: Vec<RoleChoice>,
    error: Option<String>,
    used: u64,
    limit: u64,
    at_limit: bool,
}

/// `?after=` and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct TeamQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
    #[serde(default)]
    error: String,
}

fn unavailable(e: &CoreError) -> Response {
    tracing::error!(error = %e, "team page failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "The team is unavailable right now. Retry in a moment.",
    )
        .into_response()
}

fn role_choices(selected: &str) -> Vec<RoleChoice> {
    Role::TENANT_ROLES
        .iter()
        .map(|r| RoleChoice {
            value: r.as_str(),
            selected: r.as_str() == selected,
        })
        .collect()
}

/// Messages of `?error=<code>` after a refused row action (fixed texts, nothing reflected).
fn error_message(code: &str) -> Option<String> {
    Some(
        match code {
            "self" => "You cannot change your own role or remove yourself.",
            "last_owner" => "The tenant must keep at least one owner.",
            "owners_only" => "Only a tenant owner can grant, take away or remove ownership.",
            "bad_role" => "Choose one of the listed roles.",
            _ => return None,
        }
        .to_string(),
    )
}

struct InviteForm {
    email: String,
    role: String,
    error: Option<String>,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    q: &TeamQuery,
    form: InviteForm,
    status: StatusCode,
) -> Response {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after: q.after.parse().ok(),
    };
    let listed = match members::list_members(&state.ctx, &v.scope, request).await {
        Ok(p) => p,
        Err(CoreError::Forbidden(p)) => return forbidden(v, p),
        Err(e) => return unavailable(&e),
    };
    let pending = avb_core::PageRequest {
        limit: 100,
        after: None,
    };
    let invitations =
        match members::list_invitations(&state.ctx, &v.scope, Some("pending"), pending).await {
            Ok(p) => p.items,
            Err(e) => return unavailable(&e),
        };
    let (used, limit) = match members::seats(&state.ctx, &v.scope).await {
        Ok(s) => s,
        Err(e) => return unavailable(&e),
    };
    let me = v.scope.actor().user_id().map(|u| u.as_uuid());
    let now = chrono::Utc::now();
    let page = TeamPage {
        chrome: v.chrome("/team", Some(q.done.as_str())),
        can_manage: v.scope.has(Permission::TeamManage),
        members: listed
            .items
            .into_iter()
            .map(|m| MemberRow {
                user_id: m.user.id.to_string(),
                is_me: Some(m.user.id) == me,
                name: m.user.name,
                email: m.user.email,
                role: m.membership.role,
                joined: m.membership.created_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        next: listed.next.map(|id| id.to_string()),
        invitations: invitations
            .into_iter()
            .filter(|i| i.expires_at > now)
            .map(|i| InvitationRow {
                id: i.id.to_string(),
                email: i.email,
                role: i.role,
                expires: i.expires_at.format("%Y-%m-%d").to_string(),
            })
            .collect(),
        roles: Role::TENANT_ROLES.iter().map(|r| r.as_str()).collect(),
        form_email: form.email,
        form_roles: role_choices(if form.role.is_empty() {
            Role::Developer.as_str()
        } else {
            &form.role
        }),
        error: form.error.or_else(|| error_message(&q.error)),
        at_limit: used >= limit,
        used,
        limit,
    };
    render(&page, status)
}

/// `GET /team` (requires `team:view`).
pub async fn list(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<TeamQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if !v.scope.has(Permission::TeamView) {
        return forbidden(&v, Permission::TeamView);
    }
    let blank = InviteForm {
        email: String::new(),
        role: String::new(),
        error: None,
    };
    page(&state, &v, &q, blank, StatusCode::OK).await
}

/// The invite form.
#[derive(Debug, Deserialize)]
pub struct InviteFields {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /team/invite` (requires `team:manage`).
pub async fn invite(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<InviteFields>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let message = match members::invite(&state.ctx, &v.scope, &f.email, &f.role).await {
        Ok(_) => return Redirect::to("/team?done=invited").into_response(),
        Err(CoreError::Forbidden(p)) => return forbidden(&v, p),
        Err(CoreError::Validation(e)) => format!("{}: {}", e.field, e.message),
        Err(CoreError::Conflict(m) | CoreError::LimitReached(m)) => m,
        Err(e) => return unavailable(&e),
    };
    let again = InviteForm {
        email: f.email,
        role: f.role,
        error: Some(message),
    };
    page(
        &state,
        &v,
        &TeamQuery::default(),
        again,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// A row action's form.
#[derive(Debug, Deserialize)]
pub struct RowForm {
    #[serde(default)]
    role: String,
    #[serde(default)]
    csrf: String,
}

fn user_id(raw: &str) -> Option<UserId> {
    raw.parse::<Uuid>().ok().map(UserId)
}

/// Where a refused row action sends the browser.
fn refused_row(v: &Visitor, e: CoreError) -> Response {
    let code = match e {
        CoreError::Forbidden(p) => return forbidden(v, p),
        CoreError::NotFound => return (StatusCode::NOT_FOUND, "No such member.").into_response(),
        CoreError::Conflict(m) if m.contains("yourself") || m.contains("your own") => "self",
        CoreError::Conflict(_) => "last_owner",
        CoreError::Validation(e) if e.field == "role" && e.message.contains("owner") => {
            "owners_only"
        }
        CoreError::Validation(e) if e.field == "user" => "owners_only",
        CoreError::Validation(_) => "bad_role",
        e => return unavailable(&e),
    };
    Redirect::to(&format!("/team?error={code}")).into_response()
}

/// `POST /team/members/{user}/role` (requires `team:manage`).
pub async fn change_role(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Form(f): Form<RowForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Some(user) = user_id(&user) else {
        return (StatusCode::NOT_FOUND, "No such member.").into_response();
    };
    match members::change_role(&state.ctx, &v.scope, user, &f.role).await {
        Ok(_) => Redirect::to("/team?done=role_changed").into_response(),
        Err(e) => refused_row(&v, e),
    }
}

#[derive(Template)]
#[template(path = "team_remove.html")]
struct RemovePage {
    chrome: Chrome,
    user_id: String,
    name: String,
    email: String,
}

/// `GET /team/members/{user}/remove`: the confirmation page.
pub async fn confirm_remove(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(user): Path<String>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if !v.scope.has(Permission::TeamManage) {
        return forbidden(&v, Permission::TeamManage);
    }
    let Some(user) = user_id(&user) else {
        return (StatusCode::NOT_FOUND, "No such member.").into_response();
    };
    // Find the member on the list (a tenant has at most a few hundred).
    let request = avb_core::PageRequest {
        limit: 1000,
        after: None,
    };
    let listed = match members::list_members(&state.ctx, &v.scope, request).await {
        Ok(p) => p,
        Err(e) => return refused_row(&v, e),
    };
    match listed
        .items
        .into_iter()
        .find(|m| m.user.id == user.as_uuid())
    {
        Some(m) => render(
            &RemovePage {
                chrome: v.chrome("/team", None),
                user_id: m.user.id.to_string(),
                name: m.user.name,
                email: m.user.email,
            },
            StatusCode::OK,
        ),
        None => (StatusCode::NOT_FOUND, "No such member.").into_response(),
    }
}

/// `POST /team/members/{user}/remove`.
pub async fn remove(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(user): Path<String>,
    Form(f): Form<RowForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Some(user) = user_id(&user) else {
        return (StatusCode::NOT_FOUND, "No such member.").into_response();
    };
    match members::remove(&state.ctx, &v.scope, user).await {
        Ok(()) => Redirect::to("/team?done=member_removed").into_response(),
        Err(e) => refused_row(&v, e),
    }
}

/// `POST /team/invitations/{id}/revoke`.
pub async fn revoke_invitation(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<RowForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse::<Uuid>() else {
        return (StatusCode::NOT_FOUND, "No such invitation.").into_response();
    };
    match members::revoke_invitation(&state.ctx, &v.scope, id).await {
        Ok(_) | Err(CoreError::Conflict(_)) => {
            Redirect::to("/team?done=invitation_revoked").into_response()
        }
        Err(CoreError::NotFound) => (StatusCode::NOT_FOUND, "No such invitation.").into_response(),
        Err(CoreError::Forbidden(p)) => forbidden(&v, p),
        Err(e) => unavailable(&e),
    }
}
