//! `/team`: members with their roles, invitations, role changes and removal (with confirmation),
//! and the plan's member limit with an upgrade prompt.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::members;
use avb_domain::{Permission, Role, UserId};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
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
#[template(path = "team/list.html")]
struct TeamListPage {
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
) -> Result<Response, PageError> {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after: q.after.parse().ok(),
    };
    let listed = members::list_members(&state.ctx, &v.scope, request).await?;
    let pending = avb_core::PageRequest {
        limit: 100,
        after: None,
    };
    let invitations = members::list_invitations(&state.ctx, &v.scope, Some("pending"), pending)
        .await?
        .items;
    let (used, limit) = members::seats(&state.ctx, &v.scope).await?;
    let me = v.scope.actor().user_id();
    let now = chrono::Utc::now();
    let page = TeamListPage {
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
    Ok(render(&page, status))
}

/// `GET /team` (requires `team:view`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::TeamView>,
    Query(q): Query<TeamQuery>,
) -> Result<Response, PageError> {
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
has_csrf!(InviteFields);

/// `POST /team/invite` (requires `team:manage`).
pub async fn invite(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<InviteFields>,
) -> Result<Response, PageError> {
    let message = match members::invite(&state.ctx, &v.scope, &f.email, &f.role).await {
        Ok(_) => return Ok(Redirect::to("/team?done=invited").into_response()),
        Err(CoreError::Validation(e)) => format!("{}: {}", e.field, e.message),
        Err(CoreError::Conflict(m) | CoreError::LimitReached(m)) => m,
        Err(e) => return Err(e.into()),
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
has_csrf!(RowForm);

/// The member of the path, or the 404.
fn user_id(raw: &str) -> Result<UserId, PageError> {
    raw.parse::<Uuid>()
        .map(UserId)
        .map_err(|_| PageError::not_found("member"))
}

/// Where a refused row action sends the browser.
fn refused_row(e: CoreError) -> Result<Response, PageError> {
    let code = match e {
        CoreError::NotFound => return Err(PageError::not_found("member")),
        CoreError::Conflict(m) if m.contains("yourself") || m.contains("your own") => "self",
        CoreError::Conflict(_) => "last_owner",
        CoreError::Validation(e) if e.field == "role" && e.message.contains("owner") => {
            "owners_only"
        }
        CoreError::Validation(e) if e.field == "user" => "owners_only",
        CoreError::Validation(_) => "bad_role",
        e => return Err(e.into()),
    };
    Ok(Redirect::to(&format!("/team?error={code}")).into_response())
}

/// `POST /team/members/{user}/role` (requires `team:manage`).
pub async fn change_role(
    State(state): State<PortalState>,
    Path(user): Path<String>,
    CsrfForm(v, f): CsrfForm<RowForm>,
) -> Result<Response, PageError> {
    let user = user_id(&user)?;
    match members::change_role(&state.ctx, &v.scope, user, &f.role).await {
        Ok(_) => Ok(Redirect::to("/team?done=role_changed").into_response()),
        Err(e) => refused_row(e),
    }
}

#[derive(Template)]
#[template(path = "team/confirm_remove.html")]
struct TeamConfirmRemovePage {
    chrome: Chrome,
    user_id: String,
    name: String,
    email: String,
}

/// `GET /team/members/{user}/remove` (requires `team:manage`): the confirmation page.
pub async fn confirm_remove(
    State(state): State<PortalState>,
    v: Require<perm::TeamManage>,
    Path(user): Path<String>,
) -> Result<Response, PageError> {
    let user = user_id(&user)?;
    // Find the member on the list (a tenant has at most a few hundred).
    let request = avb_core::PageRequest {
        limit: 1000,
        after: None,
    };
    let listed = match members::list_members(&state.ctx, &v.scope, request).await {
        Ok(p) => p,
        Err(e) => return refused_row(e),
    };
    let m = listed
        .items
        .into_iter()
        .find(|m| m.user.id == user)
        .ok_or(PageError::not_found("member"))?;
    Ok(render(
        &TeamConfirmRemovePage {
            chrome: v.chrome("/team", None),
            user_id: m.user.id.to_string(),
            name: m.user.name,
            email: m.user.email,
        },
        StatusCode::OK,
    ))
}

/// `POST /team/members/{user}/remove` (requires `team:manage`).
pub async fn remove(
    State(state): State<PortalState>,
    Path(user): Path<String>,
    CsrfForm(v, _): CsrfForm<RowForm>,
) -> Result<Response, PageError> {
    let user = user_id(&user)?;
    match members::remove(&state.ctx, &v.scope, user).await {
        Ok(()) => Ok(Redirect::to("/team?done=member_removed").into_response()),
        Err(e) => refused_row(e),
    }
}

/// `POST /team/invitations/{id}/revoke` (requires `team:manage`).
pub async fn revoke_invitation(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<RowForm>,
) -> Result<Response, PageError> {
    let id = id
        .parse::<avb_domain::InvitationId>()
        .map_err(|_| PageError::not_found("invitation"))?;
    match members::revoke_invitation(&state.ctx, &v.scope, id).await {
        Ok(_) | Err(CoreError::Conflict(_)) => {
            Ok(Redirect::to("/team?done=invitation_revoked").into_response())
        }
        Err(e) => Err(PageError::or_not_found("invitation")(e)),
    }
}
