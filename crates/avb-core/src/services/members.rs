//! Team: members of a tenant and invitations to join it.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::password;
use crate::scope::{Actor, RequestMeta, Scope};
use crate::services::projects::tenant_of;
use crate::services::revocation::Revocation;
use crate::token::{hash_token, random_alnum};
pub use crate::views::{Invitation, Member};
use avb_domain::{
    Email, InvitationStatus, Name, Permission, Role, TenantId, UserId, ValidationError,
    check_password_policy,
};
use avb_storage::repos::{
    audit as audit_repo, auth_sessions, invitations, memberships, tenants, users,
};
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
    Ok(page.map(Member::from))
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
    invite_in(ctx, scope, tenant, email, role).await
}

/// Invites the first owner of `tenant` (the SaaS admin's onboarding; requires
/// `platform:tenants`). The invitation lands them in the tenant portal.
pub async fn invite_owner(
    ctx: &AppContext,
    scope: &Scope,
    tenant: TenantId,
    email: &str,
) -> CoreResult<Invitation> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let email = Email::parse("owner_email", email)?;
    invite_in(ctx, scope, tenant, email, Role::TenantOwner).await
}

/// Records and mails an invitation to `tenant` once the caller was authorised.
async fn invite_in(
    ctx: &AppContext,
    scope: &Scope,
    tenant: TenantId,
    email: Email,
    role: Role,
) -> CoreResult<Invitation> {
    let limit = seat_limit(ctx, tenant).await?;
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
    if seats_used(&tx).await? >= limit {
        return Err(CoreError::LimitReached(format!(
            "the {} plan allows {limit} members (pending invitations included); upgrade the plan to invite more",
            tenant_row.plan
        )));
    }
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
    // Keycloak holds the accounts: it sends its own organization invitation (B7.2); the role
    // waits here and is granted when the invitee first signs in.
    let via_keycloak = match (&ctx.keycloak_admin, ctx.config.identity.provider) {
        (Some(kc), crate::config::IdentityProvider::Keycloak) => {
            kc.invite(tenant, &tenant_row.name, email.as_str()).await?;
            true
        }
        _ => false,
    };
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
    if !via_keycloak {
        ctx.mailer
            .queue(
                &tx,
                email.as_str(),
                &format!("Join {} on AgentVoiceBox", tenant_row.name),
                &body,
            )
            .await?;
    }
    let summary = serde_json::json!({"email": email.as_str(), "role": role.as_str(), "via_keycloak": via_keycloak});
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
    Ok(inv.into())
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
        && !matches!(
            InvitationStatus::from_stored(s),
            InvitationStatus::Pending | InvitationStatus::Accepted
        )
    {
        return Err(ValidationError::new("status", "must be pending or accepted").into());
    }
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = invitations::list(&tx, status, page).await?;
    tx.commit().await?;
    Ok(page.map(Invitation::from))
}

/// Accepts an invitation: creates the account if needed and adds the membership.
pub async fn accept(
    ctx: &AppContext,
    token: &str,
    name: Option<&str>,
    new_password: Option<&str>,
    meta: &RequestMeta,
) -> CoreResult<(UserId, TenantId)> {
    accept_as(ctx, token, name, new_password, Joiner::Any, meta).await
}

/// Which account may take an invitation up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Joiner {
    /// The invited address's account, created from `name` and `password` when it has none.
    Any,
    /// Only a new account: the address must have none yet.
    NewAccount,
    /// Only this existing account (whose credentials the caller checked), and it must be the
    /// invited address's.
    Account(UserId),
}

/// What an invitation link is worth now (for the portal's page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvitationLink {
    /// Pending: to `tenant` as `role`; `account` says whether the address has an account
    /// already (and whether it has TOTP on).
    Valid {
        email: String,
        tenant: String,
        role: String,
        account: Option<bool>,
    },
    /// Accepted already.
    Used,
    /// Revoked by the tenant.
    Revoked,
    /// Past its days.
    Expired,
    /// Not an invitation token.
    Unknown,
}

/// Looks an invitation token up without using it.
pub async fn invitation_link(ctx: &AppContext, token: &str) -> CoreResult<InvitationLink> {
    let token_hash = hash_token(token.trim());
    let lookup = ctx.store.platform_tx(false).await?;
    let Ok(inv) = invitations::find_by_token(&lookup, &token_hash).await else {
        lookup.commit().await?;
        return Ok(InvitationLink::Unknown);
    };
    let account = users::find_by_email(&lookup, &inv.email)
        .await?
        .map(|u| u.totp_secret.is_some());
    lookup.commit().await?;
    let state = match InvitationStatus::from_stored(&inv.status) {
        InvitationStatus::Accepted => InvitationLink::Used,
        InvitationStatus::Revoked => InvitationLink::Revoked,
        _ if inv.expires_at <= Utc::now() => InvitationLink::Expired,
        _ => {
            let tx = ctx.store.tenant_tx(TenantId(inv.tenant_id), false).await?;
            let tenant = tenants::get(&tx, TenantId(inv.tenant_id)).await?.name;
            tx.commit().await?;
            InvitationLink::Valid {
                email: inv.email,
                tenant,
                role: inv.role,
                account,
            }
        }
    };
    Ok(state)
}

/// Accepts an invitation for the account `joiner` allows.
pub async fn accept_as(
    ctx: &AppContext,
    token: &str,
    name: Option<&str>,
    new_password: Option<&str>,
    joiner: Joiner,
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
    if InvitationStatus::from_stored(&inv.status) != InvitationStatus::Pending
        || inv.expires_at <= Utc::now()
    {
        return Err(bad());
    }
    let user = match (users::find_by_email(&tx, &inv.email).await?, joiner) {
        (Some(_), Joiner::NewAccount) => {
            return Err(CoreError::Conflict(
                "this address has an account already: join with it".into(),
            ));
        }
        (Some(u), Joiner::Account(id)) if u.id != id.as_uuid() => return Err(bad()),
        (None, Joiner::Account(_)) => return Err(bad()),
        (Some(u), _) => u,
        (None, _) => {
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
            summary.clone(),
        ),
    )
    .await?;
    crate::services::events::record(&tx, "member.added", summary).await?;
    tx.commit().await?;
    Ok((uid, tenant))
}

/// How many members (plus pending invitations) the tenant has, and how many its plan allows.
pub async fn seats(ctx: &AppContext, scope: &Scope) -> CoreResult<(u64, u64)> {
    let tenant = tenant_of(scope, Permission::TeamView)?;
    ctx.policy
        .authorize(scope, Permission::TeamView, Some(tenant))?;
    let limit = seat_limit(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let used = seats_used(&tx).await?;
    tx.commit().await?;
    Ok((used, limit))
}

/// Seats taken: members plus pending invitations.
pub async fn seats_used(tx: &avb_storage::TenantTx) -> CoreResult<u64> {
    Ok(memberships::count(tx).await? + invitations::count_pending(tx).await?)
}

/// The seats the tenant's plan allows (`u64::MAX` when unlimited).
async fn seat_limit(ctx: &AppContext, tenant: TenantId) -> CoreResult<u64> {
    Ok(crate::services::subscriptions::limits(ctx, tenant)
        .await?
        .seats
        .unwrap_or(u64::MAX))
}

/// Whether the actor may touch an owner's membership (owners and operators only).
fn may_manage_owners(scope: &Scope) -> bool {
    scope.role() == Some(Role::TenantOwner) || scope.is_operator()
}

/// Changes a member's role (requires `team:manage`). Nobody changes their own role, only owners
/// grant or take away ownership, and the last owner stays an owner.
pub async fn change_role(
    ctx: &AppContext,
    scope: &Scope,
    user: UserId,
    role: &str,
) -> CoreResult<Member> {
    let tenant = tenant_of(scope, Permission::TeamManage)?;
    ctx.policy
        .authorize(scope, Permission::TeamManage, Some(tenant))?;
    let role = parse_tenant_role(role)?;
    if scope.actor().user_id() == Some(user) {
        return Err(CoreError::Conflict(
            "you cannot change your own role".into(),
        ));
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let current = memberships::find(&tx, user)
        .await?
        .ok_or(CoreError::NotFound)?;
    let owner = Role::TenantOwner.as_str();
    if (current.role == owner || role == Role::TenantOwner) && !may_manage_owners(scope) {
        return Err(CoreError::Validation(ValidationError::new(
            "role",
            "only a tenant owner can grant or take away ownership",
        )));
    }
    if current.role == owner
        && role != Role::TenantOwner
        && memberships::count_with_role(&tx, owner).await? <= 1
    {
        return Err(CoreError::Conflict(
            "the tenant must keep at least one owner".into(),
        ));
    }
    let from = current.role.clone();
    let u = users::get(&tx, user).await?;
    // Keycloak first when it is the source of truth (B7.3): if it refuses, nothing changes.
    write_to_keycloak(ctx, user, &u.email, Some(tenant), Some(role.as_str())).await?;
    let membership = memberships::set_role(&tx, user, role.as_str()).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "member.role_change",
            "membership",
            membership.id,
            serde_json::json!({"user_id": user, "from": from, "to": role.as_str()}),
        ),
    )
    .await?;
    crate::services::events::record(
        &tx,
        "member.role_changed",
        serde_json::json!({"user_id": user, "from": from, "to": role.as_str()}),
    )
    .await?;
    tx.commit().await?;
    // Cached sessions of the member pick up the new role now, not after the cache expires.
    ctx.revocations
        .revoke(Some(tenant), vec![Revocation::User(user)])
        .await;
    Ok(Member {
        membership: membership.into(),
        user: u.into(),
    })
}

/// Removes a member (requires `team:manage`) and signs them out. Nobody removes themselves here,
/// and only owners remove owners.
pub async fn remove(ctx: &AppContext, scope: &Scope, user: UserId) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::TeamManage)?;
    ctx.policy
        .authorize(scope, Permission::TeamManage, Some(tenant))?;
    if scope.actor().user_id() == Some(user) {
        return Err(CoreError::Conflict("you cannot remove yourself".into()));
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let current = memberships::find(&tx, user)
        .await?
        .ok_or(CoreError::NotFound)?;
    if current.role == Role::TenantOwner.as_str() && !may_manage_owners(scope) {
        return Err(CoreError::Validation(ValidationError::new(
            "user",
            "only a tenant owner can remove an owner",
        )));
    }
    if let Ok(u) = users::get(&tx, user).await {
        write_to_keycloak(ctx, user, &u.email, None, None).await?;
    }
    let removed = memberships::remove(&tx, user).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "member.remove",
            "membership",
            removed.id,
            serde_json::json!({"user_id": user, "role": removed.role}),
        ),
    )
    .await?;
    crate::services::events::record(
        &tx,
        "member.removed",
        serde_json::json!({"user_id": user, "role": removed.role}),
    )
    .await?;
    tx.commit().await?;
    let platform = ctx.store.platform_tx(true).await?;
    auth_sessions::revoke_all_for_user(&platform, user).await?;
    platform.commit().await?;
    ctx.revocations
        .revoke(
            Some(tenant),
            vec![
                Revocation::User(user),
                Revocation::RealtimeOfUser {
                    user,
                    tenant: Some(tenant),
                },
            ],
        )
        .await;
    Ok(())
}

/// Revokes a pending invitation (requires `team:manage`); its link stops working.
pub async fn revoke_invitation(
    ctx: &AppContext,
    scope: &Scope,
    id: avb_domain::InvitationId,
) -> CoreResult<Invitation> {
    let id = id.as_uuid();
    let tenant = tenant_of(scope, Permission::TeamManage)?;
    ctx.policy
        .authorize(scope, Permission::TeamManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let inv = invitations::get(&tx, id).await?;
    if InvitationStatus::from_stored(&inv.status) != InvitationStatus::Pending {
        return Err(CoreError::Conflict(format!(
            "the invitation is already {}",
            inv.status
        )));
    }
    let email = inv.email.clone();
    let inv = invitations::mark_revoked(&tx, inv).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "invitation.revoke",
            "invitation",
            inv.id,
            serde_json::json!({"email": email}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(inv.into())
}

/// Under `identity.provider = "keycloak"` with the admin client configured, a member's tenant
/// and role live in Keycloak: writes them there (no tenant: removed) and ends the user's
/// Keycloak sessions. A user Keycloak does not know is left alone (a local account).
async fn write_to_keycloak(
    ctx: &AppContext,
    user: UserId,
    email: &str,
    tenant: Option<avb_domain::TenantId>,
    role: Option<&str>,
) -> CoreResult<()> {
    if ctx.config.identity.provider != crate::config::IdentityProvider::Keycloak {
        return Ok(());
    }
    let Some(kc) = &ctx.keycloak_admin else {
        return Ok(());
    };
    match kc.id_of(user.as_uuid(), email).await? {
        Some(id) => kc.set_tenant_role(id, tenant, role).await,
        None => Ok(()),
    }
}
