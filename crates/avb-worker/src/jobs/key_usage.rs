//! Writes the API keys' batched usage (last use, request counts); once more when stopping.

use crate::supervise::{Periodic, Run};
use std::time::Duration;

/// How often batched key usage is written.
pub const EVERY: Duration = Duration::from_secs(5);

/// The job: every replica flushes what it counted.
pub fn job() -> Periodic {
    Periodic::new("key_usage_flush", EVERY, |Run { ctx, .. }| async move {
        if let Err(e) = ctx.keys.flush_usage(&ctx.store).await {
            tracing::warn!(error = %e, "flushing API key usage failed");
        }
    })
    .first_after(EVERY)
    .run_on_stop()
}
