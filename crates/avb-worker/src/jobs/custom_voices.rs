//! Custom-voice jobs: due voices are leased row by row, so every replica may run this; a job
//! holds this loop for as long as its engine takes (the voice lab's budget, minutes at most).

use crate::supervise::{Periodic, Run};
use std::time::Duration;

/// The job, polling every 2 s (a voice waits at most that long for a worker).
pub fn job(ctx: &avb_core::AppContext) -> Option<Periodic> {
    let makers = &ctx.voice.makers;
    if makers.stock_blend.is_none() && makers.remote_clone.is_none() {
        return None;
    }
    Some(Periodic::new(
        "custom_voices",
        Duration::from_secs(2),
        |Run { ctx, .. }| async move {
            match avb_core::services::custom_voices::run_due(&ctx).await {
                Ok(n) if n > 0 => tracing::debug!(made = n, "custom voice jobs"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "custom voice job failed"),
            }
        },
    ))
}
