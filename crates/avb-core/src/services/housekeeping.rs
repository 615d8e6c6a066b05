//! Platform housekeeping the periodic jobs call.

use crate::context::AppContext;
use crate::error::CoreResult;

/// How long a portal browser session may stay idle before it is purged.
pub const PORTAL_SESSION_IDLE: chrono::Duration = chrono::Duration::hours(12);

/// Deletes portal browser sessions idle for longer than [`PORTAL_SESSION_IDLE`]; returns how
/// many.
pub async fn purge_idle_portal_sessions(ctx: &AppContext) -> CoreResult<u64> {
    let tx = ctx.store.platform_tx(true).await?;
    let n = avb_storage::repos::portal_sessions::delete_idle(
        &tx,
        chrono::Utc::now() - PORTAL_SESSION_IDLE,
    )
    .await?;
    tx.commit().await?;
    Ok(n)
}
