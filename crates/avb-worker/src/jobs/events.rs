//! The platform events' outbox: published to Kafka by the leader only (one publisher keeps each
//! tenant's events in order and avoids duplicate sends); without Kafka it only prunes.

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job: every `[kafka] publish_every_ms` with Kafka, every minute without.
pub fn job(ctx: &AppContext) -> Periodic {
    let every = if ctx.kafka.is_some() {
        Duration::from_millis(ctx.config.kafka.publish_every_ms.max(1))
    } else {
        Duration::from_secs(60)
    };
    Periodic::new("events", every, |Run { ctx, .. }| async move {
        match avb_core::services::events::publish_due(&ctx).await {
            Ok(n) if n > 0 => tracing::debug!(published = n, "platform events to Kafka"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "publishing platform events failed; they stay in the outbox"),
        }
    })
    .once_per_cluster()
}
