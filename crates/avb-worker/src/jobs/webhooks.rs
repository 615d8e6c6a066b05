//! The webhook outbox: due deliveries are leased row by row, so every replica may run this.

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job, polling every `webhooks.poll_secs`.
pub fn job(ctx: &AppContext) -> Periodic {
    let every = Duration::from_secs(ctx.config.webhooks.poll_secs.max(1));
    Periodic::new("webhooks", every, |Run { ctx, .. }| async move {
        match avb_core::services::webhooks::deliver_due(&ctx).await {
            Ok(n) if n > 0 => tracing::debug!(attempted = n, "webhook deliveries"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "webhook delivery failed"),
        }
    })
}
