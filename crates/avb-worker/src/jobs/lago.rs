//! Usage to Lago (when `lago.api_url` and `lago.api_key` are set), once per cluster; rows stay
//! unshipped (and are retried) until Lago accepts them.

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job, when Lago is configured.
pub fn job(ctx: &AppContext) -> Option<Periodic> {
    if ctx.config.lago.api_url.is_none() || ctx.config.lago.api_key.is_none() {
        return None;
    }
    let every = Duration::from_secs(ctx.config.lago.interval_secs.max(1));
    Some(
        Periodic::new("lago_usage", every, |Run { ctx, .. }| async move {
            match avb_core::services::billing::ship_usage(&ctx).await {
                Ok(n) if n > 0 => tracing::debug!(events = n, "usage shipped to Lago"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "shipping usage to Lago failed; will retry"),
            }
        })
        .first_after(every)
        .once_per_cluster(),
    )
}
