//! Audit retention (`audit.retention_days`): rows older than that are archived, a minute after
//! start and then daily, once per cluster.

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job, when a retention is configured.
pub fn job(ctx: &AppContext) -> Option<Periodic> {
    let days = ctx.config.audit.retention_days?;
    Some(
        Periodic::new(
            "audit_retention",
            Duration::from_secs(24 * 3600),
            move |Run { ctx, .. }| async move {
                let scope = avb_core::Scope::local_operator(None);
                match avb_core::services::audit::archive_older_than(&ctx, &scope, days).await {
                    Ok(a) if !a.is_empty() => {
                        tracing::info!(archives = a.len(), "audit rows archived")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "audit archiving failed"),
                }
            },
        )
        .first_after(Duration::from_secs(60))
        .once_per_cluster(),
    )
}
