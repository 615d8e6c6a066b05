//! A SaaS admin viewing a tenant's portal read-only: starting and stopping are audited in the
//! platform log and the tenant's, and so is every page viewed meanwhile.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use avb_domain::{Permission, TenantId};
use avb_storage::repos::{audit as audit_repo, tenants};

/// Checks that `scope` may view `tenant` and records the start; returns the tenant's name.
pub async fn start(ctx: &AppContext, scope: &Scope, tenant: TenantId) -> CoreResult<String> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    if scope.impersonate(tenant).is_none() {
        return Err(CoreError::Forbidden(Permission::PlatformTenants));
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let t = tenants::get(&tx, tenant).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "admin.impersonation.start",
            "tenant",
            tenant,
            serde_json::json!({"tenant": t.name}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(t.name)
}

/// Records that the impersonating admin opened `path`; returns the tenant's name.
pub async fn page_view(ctx: &AppContext, view: &Scope, path: &str) -> CoreResult<String> {
    let tenant = view
        .tenant()
        .filter(|_| view.is_impersonating())
        .ok_or(CoreError::Forbidden(Permission::PlatformTenants))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let t = tenants::get(&tx, tenant).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            view,
            Some(tenant),
            "admin.impersonation.view",
            "page",
            path,
            serde_json::json!({"path": path}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(t.name)
}

/// Records the end of a view.
pub async fn stop(ctx: &AppContext, scope: &Scope, tenant: TenantId) -> CoreResult<()> {
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "admin.impersonation.stop",
            "tenant",
            tenant,
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
