//! Reading, exporting and verifying the audit log.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, TenantId};
use avb_storage::entities::audit_event::Model as AuditEvent;
use avb_storage::repos::audit::{self as audit_repo};

pub use avb_storage::repos::audit::{AuditFilter, ChainBreak};
use avb_storage::{Page, PageRequest};

/// Rows an export returns at most.
pub const EXPORT_LIMIT: usize = 100_000;

/// Lists the caller's tenant's audit log.
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    filter: &AuditFilter,
    page: PageRequest,
) -> CoreResult<Page<AuditEvent>> {
    let tenant = tenant_of(scope, Permission::AuditView)?;
    ctx.policy
        .authorize(scope, Permission::AuditView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = audit_repo::list(&tx, None, filter, page).await?;
    tx.commit().await?;
    Ok(page)
}

/// Every matching row (up to [`EXPORT_LIMIT`]), newest first, for CSV/JSON export.
pub async fn export(
    ctx: &AppContext,
    scope: &Scope,
    filter: &AuditFilter,
) -> CoreResult<Vec<AuditEvent>> {
    let tenant = tenant_of(scope, Permission::AuditView)?;
    ctx.policy
        .authorize(scope, Permission::AuditView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = audit_repo::list(&tx, None, filter, PageRequest { limit: 1000, after }).await?;
        out.extend(page.items);
        after = page.next;
        if after.is_none() || out.len() >= EXPORT_LIMIT {
            break;
        }
    }
    tx.commit().await?;
    out.truncate(EXPORT_LIMIT);
    Ok(out)
}

/// Verifies the hash chains: one tenant's, or every chain for a platform caller.
pub async fn verify(
    ctx: &AppContext,
    scope: &Scope,
    tenant: Option<TenantId>,
) -> CoreResult<(u64, Vec<ChainBreak>)> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = match tenant {
        Some(t) => ctx.store.tenant_tx(t, false).await?,
        None => ctx.store.platform_tx(false).await?,
    };
    let res = audit_repo::verify(&tx).await?;
    tx.commit().await?;
    Ok(res)
}

/// The audit log across tenants, or one tenant's (requires `platform:audit`).
pub async fn platform_list(
    ctx: &AppContext,
    scope: &Scope,
    tenant: Option<TenantId>,
    filter: &AuditFilter,
    page: PageRequest,
) -> CoreResult<Page<AuditEvent>> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let page = audit_repo::list(&tx, tenant, filter, page).await?;
    tx.commit().await?;
    Ok(page)
}

/// Every matching row across tenants (up to [`EXPORT_LIMIT`]), newest first (requires
/// `platform:audit`).
pub async fn platform_export(
    ctx: &AppContext,
    scope: &Scope,
    tenant: Option<TenantId>,
    filter: &AuditFilter,
) -> CoreResult<Vec<AuditEvent>> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page =
            audit_repo::list(&tx, tenant, filter, PageRequest { limit: 1000, after }).await?;
        out.extend(page.items);
        after = page.next;
        if after.is_none() || out.len() >= EXPORT_LIMIT {
            break;
        }
    }
    tx.commit().await?;
    out.truncate(EXPORT_LIMIT);
    Ok(out)
}

/// One row of any tenant (requires `platform:audit`).
pub async fn platform_get(
    ctx: &AppContext,
    scope: &Scope,
    id: uuid::Uuid,
) -> CoreResult<AuditEvent> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let row = audit_repo::get(&tx, id).await?;
    tx.commit().await?;
    Ok(row)
}
