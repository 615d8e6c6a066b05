//! Leader leases: a replica that holds lease `name` runs the jobs that must run once per
//! cluster; it renews the lease well before it expires, and when it stops renewing (it died or
//! stopped) another replica takes the lease over.

use crate::context::AppContext;
use crate::error::CoreResult;
use avb_storage::repos::leases;
use chrono::Utc;
use std::time::Duration;

/// Takes or renews lease `name` for this replica for `ttl`; returns whether this replica holds
/// it now.
pub async fn hold(ctx: &AppContext, name: &str, ttl: Duration) -> CoreResult<bool> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(30));
    let tx = ctx.store.platform_tx(true).await?;
    let held = leases::acquire(&tx, name, &ctx.replica_id, now, until).await?;
    tx.commit().await?;
    Ok(held)
}

/// Gives up lease `name` if this replica holds it, so another replica takes over at once.
pub async fn release(ctx: &AppContext, name: &str) -> CoreResult<()> {
    let tx = ctx.store.platform_tx(true).await?;
    leases::release(&tx, name, &ctx.replica_id).await?;
    tx.commit().await?;
    Ok(())
}

/// The replica that holds lease `name` now, if any.
pub async fn holder(ctx: &AppContext, name: &str) -> CoreResult<Option<String>> {
    let tx = ctx.store.platform_tx(false).await?;
    let h = leases::holder(&tx, name, Utc::now()).await?;
    tx.commit().await?;
    Ok(h)
}
