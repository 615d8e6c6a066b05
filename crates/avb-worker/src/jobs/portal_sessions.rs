//! Purges portal browser sessions idle past their lifetime (hourly; idempotent, so every replica
//! may run it).

use crate::supervise::{Periodic, Run};
use std::time::Duration;

/// The job.
pub fn job() -> Periodic {
    Periodic::new(
        "portal_session_purge",
        Duration::from_secs(3600),
        |Run { ctx, .. }| async move {
            match avb_core::services::housekeeping::purge_idle_portal_sessions(&ctx).await {
                Ok(n) if n > 0 => tracing::info!(removed = n, "idle portal sessions purged"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "purging portal sessions failed"),
            }
        },
    )
}
