//! Team: members of a tenant and invitations to join it.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::password;
use crate::scope::{Actor, RequestMeta, Scope};
use crate::services::projects::tenant_of;
use crate::token::{hash_token, random_alnum};
use avb_domain::{
    Email, Name, Permission, Role, TenantId, UserId, ValidationError, check_password_policy,
};
use avb_storage::entities::invitation::Model as Invitation;
use avb_storage::repos::memberships::Member;
use avb_storage::repos::{audit as audit_repo, invitations, memberships, tenants, users};
use avb_storage::{Page, PageRequest};
use chrono::{Duration, Utc};

/// How long an invitation link stays valid.
pub const INVITATION_DAYS: i64 = 7;

/// Lists the tenant's members.
pub async fn list_members(
    ctx: &AppContext,
    scope: &Scope,
    page: PageRequest,
) -> CoreResult<Page<Member>> {
    let tenant = tenant_of(scope, Permission::TeamView)?;
    ctx.policy
        .authorize(scope, Permission::TeamView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = memberships::list(&tx, page).await?;
    tx.commit().await?;
    Ok(page)
}

/// Parses a role that can be granted inside a tenant.
pub fn parse_tenant_role(raw: &str) -> Result<Role, ValidationError> {
    let role: Role = raw
        .parse()
        .map_err(|e: avb_domain::roles::UnknownRole| ValidationError::new("role", e.to_string()))?;
    if role == Role::SaasAdmin {
        return Err(ValidationError::new(
            "role",
            "saas_admin cannot be granted inside a tenant",
        ));
    }
    Ok(role)
}

/// Invites `email` with `role`; the link is e-mailed (outbox when SMTP is not configured).
pub async fn invite(
    ctx: &AppContext,
    scope: &Scope,
    email: &str,
    role: &str,
) -> CoreResult<Invitation> {
    let tenant = tenant_of(scope, Permission::TeamManage)?;
    ctx.policy
        .authorize(scope, Permission::TeamManage, Some(tenant))?;
    let email = Email::parse("email", email)?;
    let role = parse_tenant_role(role)?;
    if role == Role::TenantOwner && scope.role() != Some(Role::TenantOwner) && !scope.is_operator()
    {
        return Err(CoreError::Validation(ValidationError::new(
            "role",
            "only a tenant owner can invite an owner",
        )));
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if invitations::pending_for(&tx, email.as_str()).await? {
        return Err(CoreError::Conflict(format!(
            "{email} already has a pending invitation"
        )));
    }
    if let Some(u) = users::find_by_email(&tx, email.as_str()).await?
        && memberships::find(&tx, UserId(u.id)).await?.is_some()
    {
        return Err(CoreError::Conflict(format!("{email} is already a member")));
    }
    let tenant_row = tenants::get(&tx, tenant).await?;
    let token = random_alnum(40);
    let inv = invitations::insert(
        &tx,
        email.as_str(),
        role.as_str(),
        hash_token(&token),
        scope.actor().user_id(),
        Utc::now() + Duration::days(INVITATION_DAYS),
    )
    .await?;
    let link = format!(
        "{}/invitations/accept?token={token}",
        ctx.config.public_url()
    );
    let body = format!(
        "{} invited you to join {} on AgentVoiceBox as {}.\n\nAccept within {INVITATION_DAYS} days:\n{link}\n\nToken: {token}\n",
        scope.actor().label(),
        tenant_row.name,
        role.as_str()
    );
    ctx.mailer
        .queue(
            &tx,
            email.as_str(),
            &format!("Join {} on AgentVoiceBox", tenant_row.name),
            &body,
        )
        .await?;
    let summary = serde_json::json!({"email": email.as_str(), "role": role.as_str()});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "invitation.create",
            "invitation",
            inv.id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(inv)
}

/// Lists invitations, optionally by status (pending, accepted).
pub async fn list_invitations(
    ctx: &AppContext,
    scope: &Scope,
    status: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<Invitation>> {
    let tenant = tenant_of(scope, Permission::TeamView)?;
    ctx.policy
        .authorize(scope, Permission::TeamView, Some(tenant))?;
    if let Some(s) = status
        && !matches!(s, "pending" | "accepted")
    {
        return Err(ValidationError::new("status", "must be pending or accepted").into());
    }
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = invitations::list(&tx, status, page).await?;
    tx.commit().await?;
    Ok(page)
}

/// Accepts an invitation: creates the account if needed and adds the membership.
pub async fn accept(
    ctx: &AppContext,
    token: &str,
    name: Option<&str>,
    new_password: Option<&str>,
    meta: &RequestMeta,
) -> CoreResult<(UserId, TenantId)> {
    let bad =
        || CoreError::Validation(ValidationError::new("token", "is invalid, used or expired"));
    let token_hash = hash_token(token.trim());
    // The invitee has no scope yet: find which tenant the token belongs to...
    let lookup = ctx.store.platform_tx(false).await?;
    let tenant = TenantId(
        invitations::find_by_token(&lookup, &token_hash)
            .await
            .map_err(|_| bad())?
            .tenant_id,
    );
    lookup.commit().await?;
    // ...then do all the writing inside that tenant's scope, in one transaction.
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let inv = invitations::find_by_token(&tx, &token_hash)
        .await
        .map_err(|_| bad())?;
    if inv.status != "pending" || inv.expires_at <= Utc::now() {
        return Err(bad());
    }
    let user = match users::find_by_email(&tx, &inv.email).await? {
        Some(u) => u,
        None => {
            let name = Name::parse("name", name.unwrap_or_default())?;
            let pw = new_password
                .ok_or_else(|| ValidationError::new("password", "is required for a new account"))?;
            check_password_policy(pw, Some(&inv.email))?;
            let hash = password::hash(pw.to_string()).await?;
            users::insert(
                &tx,
                users::NewUser {
                    id: UserId::new(),
                    email: &inv.email,
                    name: name.as_str(),
                    password_hash: Some(hash),
                    is_saas_admin: false,
                },
            )
            .await?
        }
    };
    let uid = UserId(user.id);
    if memberships::find(&tx, uid).await?.is_some() {
        return Err(CoreError::Conflict(
            "already a member of this tenant".into(),
        ));
    }
    memberships::insert(&tx, uid, &inv.role).await?;
    let inv_id = inv.id;
    let role = inv.role.clone();
    invitations::mark_accepted(&tx, inv).await?;
    let scope = Scope::new(
        Actor::User {
            id: uid,
            email: user.email.clone(),
        },
        Some(tenant),
        None,
        false,
        None,
        meta.clone(),
    );
    let summary = serde_json::json!({"user_id": uid, "role": role});
    audit_repo::append(
        &tx,
        audit::entry(
            &scope,
            Some(tenant),
            "invitation.accept",
            "invitation",
            inv_id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((uid, tenant))
}
