//! Replica heartbeats, and the sweep of sessions whose replica stopped beating. Every replica
//! runs it: the heartbeat is its own, and closing a dead replica's sessions is safe from any
//! survivor (the first run also closes what this data directory's previous process left open).

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use avb_core::services::liveness;

/// The job, beating every quarter of `realtime.lost_after_secs`.
pub fn job(ctx: &AppContext) -> Periodic {
    Periodic::new(
        "replica_heartbeat",
        liveness::beat_every(ctx),
        |Run { ctx, round, .. }| async move {
            if let Err(e) = liveness::beat(&ctx).await {
                tracing::warn!(error = %e, "replica heartbeat failed");
            }
            if round == 0 {
                match liveness::close_previous(&ctx).await {
                    Ok(n) if n > 0 => tracing::warn!(
                        sessions = n,
                        "closed sessions the previous process left open"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "closing the previous process's sessions failed")
                    }
                }
                return;
            }
            if let Err(e) = liveness::close_lost(&ctx).await {
                tracing::warn!(error = %e, "closing lost sessions failed");
            }
            if let Err(e) = liveness::close_own_orphans(&ctx).await {
                tracing::warn!(error = %e, "closing this replica's orphaned sessions failed");
            }
        },
    )
}
