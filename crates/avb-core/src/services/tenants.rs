//! Tenants: created and administered by SaaS admins; read by their own members.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::revocation::Revocation;
pub use crate::views::{Tenant, TenantSettings};
use avb_domain::{ApiKeyStatus, Email, Name, Permission, TenantId, TenantStatus, ValidationError};
use avb_storage::repos::{api_keys, audit as audit_repo, tenants};
use avb_storage::{Page, PageRequest};

/// Input for a new tenant.
pub struct NewTenantInput {
    pub name: String,
    pub billing_email: String,
    pub plan: Option<String>,
    pub timezone: Option<String>,
}

/// Validates a plan code: 1..40 of `[a-z0-9_-]`.
pub fn parse_plan(raw: &str) -> Result<String, ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= 40
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(raw.to_string())
    } else {
        Err(ValidationError::new(
            "plan",
            "must be 1-40 of a-z, 0-9, '_' or '-'",
        ))
    }
}

/// Validates an IANA time-zone name shape (`UTC`, `Europe/Berlin`, `America/Argentina/Salta`).
pub fn parse_timezone(raw: &str) -> Result<String, ValidationError> {
    let ok = !raw.is_empty()
        && raw.len() <= 64
        && raw.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'+'))
        })
        && raw
            .as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_uppercase());
    if ok {
        Ok(raw.to_string())
    } else {
        Err(ValidationError::new(
            "timezone",
            "must be an IANA time zone such as UTC or Europe/Berlin",
        ))
    }
}

/// Refuses a plan code that is not a plan on offer (unknown or deprecated), naming those that are.
async fn require_offered_plan(ctx: &AppContext, code: &str) -> CoreResult<()> {
    let offered = crate::services::plans::offered(ctx).await?;
    if offered.iter().any(|p| p.terms.code == code) {
        return Ok(());
    }
    let codes: Vec<&str> = offered.iter().map(|p| p.terms.code.as_str()).collect();
    Err(ValidationError::new(
        "plan",
        format!(
            "'{code}' is not a plan on offer; choose one of: {}",
            codes.join(", ")
        ),
    )
    .into())
}

/// Creates a tenant (platform permission) on a plan on offer.
pub async fn create(ctx: &AppContext, scope: &Scope, input: NewTenantInput) -> CoreResult<Tenant> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let name = Name::parse("name", &input.name)?;
    let email = Email::parse("billing_email", &input.billing_email)?;
    let plan = parse_plan(input.plan.as_deref().unwrap_or("free"))?;
    let timezone = parse_timezone(input.timezone.as_deref().unwrap_or("UTC"))?;
    require_offered_plan(ctx, &plan).await?;
    let id = TenantId::new();
    let tx = ctx.store.platform_tx(true).await?;
    let t = tenants::insert(
        &tx,
        tenants::NewTenant {
            id,
            name: name.as_str(),
            billing_email: email.as_str(),
            plan: &plan,
            timezone: &timezone,
        },
    )
    .await?;
    let summary =
        serde_json::json!({"name": name.as_str(), "billing_email": email.as_str(), "plan": plan});
    audit_repo::append(
        &tx,
        audit::entry(scope, Some(id), "tenant.create", "tenant", id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(t.into())
}

/// Lists tenants (platform permission), searching name, e-mail or id.
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    q: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<Tenant>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    // Platform-wide reads are audited.
    let tx = ctx.store.platform_tx(true).await?;
    let page = tenants::list(&tx, q, page).await?;
    let summary = serde_json::json!({"q": q, "returned": page.items.len()});
    audit_repo::append(
        &tx,
        audit::entry(scope, None, "admin.tenants.list", "tenant", "*", summary),
    )
    .await?;
    tx.commit().await?;
    Ok(page.map(Tenant::from))
}

/// One tenant: SaaS admins see any; members see their own.
pub async fn get(ctx: &AppContext, scope: &Scope, id: TenantId) -> CoreResult<Tenant> {
    if scope.is_saas_admin() {
        ctx.policy
            .authorize(scope, Permission::PlatformTenants, None)?;
        // A platform read of one tenant is audited in that tenant's own log.
        let tx = ctx.store.tenant_tx(id, true).await?;
        let t = tenants::get(&tx, id).await?;
        audit_repo::append(
            &tx,
            audit::entry(
                scope,
                Some(id),
                "admin.tenant.view",
                "tenant",
                id,
                serde_json::json!({}),
            ),
        )
        .await?;
        tx.commit().await?;
        return Ok(t.into());
    }
    if scope.tenant() != Some(id) {
        return Err(CoreError::NotFound);
    }
    let tx = ctx.store.tenant_tx(id, false).await?;
    let t = tenants::get(&tx, id).await?;
    tx.commit().await?;
    Ok(t.into())
}

/// The caller's own tenant.
pub async fn current(ctx: &AppContext, scope: &Scope) -> CoreResult<Option<Tenant>> {
    let Some(id) = scope.tenant() else {
        return Ok(None);
    };
    let tx = ctx.store.tenant_tx(id, false).await?;
    let t = tenants::get(&tx, id).await?;
    tx.commit().await?;
    Ok(Some(t.into()))
}

/// Suspends a tenant: marks it and disables every active key (kept for reactivation).
pub async fn suspend(
    ctx: &AppContext,
    scope: &Scope,
    id: TenantId,
    reason: Option<String>,
) -> CoreResult<Tenant> {
    set_status(ctx, scope, id, TenantStatus::Suspended, reason).await
}

/// Reactivates a tenant and restores the keys suspension disabled.
pub async fn reactivate(ctx: &AppContext, scope: &Scope, id: TenantId) -> CoreResult<Tenant> {
    set_status(ctx, scope, id, TenantStatus::Active, None).await
}

async fn set_status(
    ctx: &AppContext,
    scope: &Scope,
    id: TenantId,
    status: TenantStatus,
    reason: Option<String>,
) -> CoreResult<Tenant> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.tenant_tx(id, true).await?;
    let current = tenants::get(&tx, id).await?;
    if TenantStatus::from_stored(&current.status) == status {
        return Err(CoreError::Conflict(format!(
            "tenant is already {}",
            status.as_str()
        )));
    }
    let (from, to, action) = match status {
        TenantStatus::Suspended => (
            ApiKeyStatus::Active,
            ApiKeyStatus::Suspended,
            "tenant.suspend",
        ),
        TenantStatus::Active => (
            ApiKeyStatus::Suspended,
            ApiKeyStatus::Active,
            "tenant.reactivate",
        ),
    };
    let keys = api_keys::move_status(&tx, from.as_str(), to.as_str()).await?;
    let t = tenants::set_status(&tx, id, status.as_str()).await?;
    let summary = serde_json::json!({"keys_changed": keys.len(), "reason": reason});
    audit_repo::append(
        &tx,
        audit::entry(scope, Some(id), action, "tenant", id, summary.clone()),
    )
    .await?;
    let event = match status {
        TenantStatus::Suspended => "tenant.suspended",
        TenantStatus::Active => "tenant.reactivated",
    };
    crate::services::events::record(&tx, event, summary).await?;
    tx.commit().await?;
    let prefixes: Vec<String> = keys.into_iter().map(|k| k.prefix).collect();
    let mut items: Vec<Revocation> = prefixes.into_iter().map(Revocation::KeyPrefix).collect();
    if status == TenantStatus::Suspended {
        items.push(Revocation::Tenant(id));
        // Live voice sessions end on whichever replica holds them.
        let tx = ctx.store.tenant_tx(id, false).await?;
        let live = avb_storage::repos::realtime_sessions::active_ids(&tx).await?;
        tx.commit().await?;
        items.extend(live.into_iter().map(Revocation::RealtimeSession));
    }
    ctx.revocations.revoke(Some(id), items).await;
    Ok(t.into())
}

/// The caller's tenant's notification settings (requires `settings:manage`).
pub async fn settings(ctx: &AppContext, scope: &Scope) -> CoreResult<Option<TenantSettings>> {
    let tenant = crate::services::projects::tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let s = avb_storage::repos::tenant_settings::get(&tx).await?;
    tx.commit().await?;
    Ok(s.map(TenantSettings::from))
}

/// Changes the caller's tenant's profile (requires `settings:manage`).
pub async fn update_profile(
    ctx: &AppContext,
    scope: &Scope,
    name: &str,
    billing_email: &str,
    timezone: &str,
) -> CoreResult<Tenant> {
    let tenant = crate::services::projects::tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let name = Name::parse("name", name)?;
    let email = Email::parse("billing_email", billing_email)?;
    let timezone = parse_timezone(timezone)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let t = tenants::set_profile(&tx, tenant, name.as_str(), email.as_str(), &timezone).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "tenant.profile_update",
            "tenant",
            tenant,
            serde_json::json!({"name": t.name, "billing_email": t.billing_email, "timezone": t.timezone}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(t.into())
}

/// Changes the caller's tenant's notification settings (requires `settings:manage`): the
/// monthly request count that raises `usage.threshold_reached`, and who is e-mailed.
pub async fn update_notifications(
    ctx: &AppContext,
    scope: &Scope,
    threshold: Option<i64>,
    notify_email: &str,
) -> CoreResult<()> {
    let tenant = crate::services::projects::tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    if threshold.is_some_and(|t| t < 1) {
        return Err(ValidationError::new("usage_threshold", "must be a positive number").into());
    }
    let notify = notify_email.trim();
    let notify = if notify.is_empty() {
        String::new()
    } else {
        Email::parse("notify_email", notify)?.as_str().to_string()
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    avb_storage::repos::tenant_settings::put(&tx, threshold, &notify).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "tenant.notifications_update",
            "tenant",
            tenant,
            serde_json::json!({"usage_threshold_requests": threshold, "notify_email": notify}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
