//! Operator and admin user management (the local provider).

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::password;
use crate::scope::Scope;
use crate::services::members::parse_tenant_role;
use avb_domain::{Email, Name, Permission, TenantId, UserId, check_password_policy};
use avb_storage::repos::{audit as audit_repo, login_events, memberships, tenants, users};
use avb_storage::{Page, PageRequest};

pub use crate::views::{LoginEvent, Mail, User};

/// Input for a new user.
pub struct NewUserInput {
    pub email: String,
    pub name: String,
    pub password: String,
    pub tenant: Option<(TenantId, String)>,
    pub saas_admin: bool,
}

/// Creates a user, optionally as a member of a tenant, optionally a SaaS admin.
pub async fn create(ctx: &AppContext, scope: &Scope, input: NewUserInput) -> CoreResult<User> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    let email = Email::parse("email", &input.email)?;
    let name = Name::parse("name", &input.name)?;
    check_password_policy(&input.password, Some(email.as_str()))?;
    let role = input
        .tenant
        .as_ref()
        .map(|(_, r)| parse_tenant_role(r))
        .transpose()?;
    if input.tenant.is_none() && !input.saas_admin {
        return Err(avb_domain::ValidationError::new(
            "tenant",
            "a user needs a tenant or --saas-admin",
        )
        .into());
    }
    let hash = password::hash(input.password.clone()).await?;
    let id = UserId::new();
    let tx = match &input.tenant {
        Some((t, _)) => avb_storage::AnyTx::Tenant(ctx.store.tenant_tx(*t, true).await?),
        None => avb_storage::AnyTx::Platform(ctx.store.platform_tx(true).await?),
    };
    if let Some((t, _)) = &input.tenant {
        tenants::get(&tx, *t)
            .await
            .map_err(|_| avb_domain::ValidationError::new("tenant", "no such tenant"))?;
    }
    let user = users::insert(
        &tx,
        users::NewUser {
            id,
            email: email.as_str(),
            name: name.as_str(),
            password_hash: Some(hash),
            is_saas_admin: input.saas_admin,
        },
    )
    .await
    .map_err(|e| match e {
        avb_storage::StorageError::Conflict(_) => {
            CoreError::Conflict(format!("a user with e-mail {email} already exists"))
        }
        other => other.into(),
    })?;
    if let (Some(role), Some(tenant_tx)) = (role, tx.as_tenant()) {
        memberships::insert(tenant_tx, id, role.as_str()).await?;
    }
    let tenant = input.tenant.as_ref().map(|(t, _)| *t);
    let summary = serde_json::json!({"email": email.as_str(), "role": role.map(|r| r.as_str()), "saas_admin": input.saas_admin});
    audit_repo::append(
        &tx,
        audit::entry(scope, tenant, "user.create", "user", id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(user.into())
}

/// The caller's own account.
pub async fn me(ctx: &AppContext, scope: &Scope) -> CoreResult<Option<User>> {
    let Some(id) = scope.actor().user_id() else {
        return Ok(None);
    };
    let tx = ctx.store.platform_tx(false).await?;
    let u = users::get(&tx, id).await?;
    tx.commit().await?;
    Ok(Some(u.into()))
}

/// The tenants the caller's account belongs to, with roles.
pub async fn my_tenants(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<(TenantId, String)>> {
    let Some(id) = scope.actor().user_id() else {
        return Ok(Vec::new());
    };
    let tx = ctx.store.platform_tx(false).await?;
    let ms = memberships::for_user(&tx, id).await?;
    tx.commit().await?;
    Ok(ms
        .into_iter()
        .map(|m| (TenantId(m.tenant_id), m.role))
        .collect())
}

/// The caller's login history.
pub async fn my_logins(
    ctx: &AppContext,
    scope: &Scope,
    page: PageRequest,
) -> CoreResult<Page<LoginEvent>> {
    let id = scope.actor().user_id().ok_or(CoreError::Unauthorized(
        "only local users have a login history",
    ))?;
    let tx = ctx.store.platform_tx(false).await?;
    let user = avb_storage::repos::users::get(&tx, id).await?;
    // Keycloak signs the user in (C2.5): its events are the history (newest first, one page).
    if let Some((kc, kid)) =
        crate::identity::keycloak_account::account(ctx, id, &user.email).await?
    {
        tx.commit().await?;
        let items = kc.login_history(kid, page.limit.clamp(1, 100)).await?;
        return Ok(Page { items, next: None });
    }
    let p = login_events::list_for_user(&tx, id, page).await?;
    tx.commit().await?;
    Ok(p.map(LoginEvent::from))
}

/// The mail outbox (operator view).
pub async fn outbox(
    ctx: &AppContext,
    scope: &Scope,
    to: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<Mail>> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let p = avb_storage::repos::mail::list(&tx, to, page).await?;
    tx.commit().await?;
    Ok(p.map(Mail::from))
}
