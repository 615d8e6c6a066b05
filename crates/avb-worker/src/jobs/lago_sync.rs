//! Lago kept in step (when `[lago]` is set), once per cluster: metrics, plans, customers and
//! subscriptions are upserted every `lago.sync_interval_secs`, repairing any change a hook
//! could not push.

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job, when Lago is configured.
pub fn job(ctx: &AppContext) -> Option<Periodic> {
    if ctx.config.lago.api_url.is_none() || ctx.config.lago.api_key.is_none() {
        return None;
    }
    let every = Duration::from_secs(ctx.config.lago.sync_interval_secs.max(10));
    Some(
        Periodic::new("lago_sync", every, |Run { ctx, .. }| async move {
            match avb_core::services::lago_sync::reconcile(&ctx).await {
                Ok(r) => tracing::debug!(?r, "Lago reconciled"),
                Err(e) => tracing::warn!(error = %e, "Lago reconciliation failed; will retry"),
            }
        })
        .once_per_cluster(),
    )
}
