//! Alert rules: incidents open and resolve on the leader's view of the metrics (once per
//! cluster, so two replicas do not open the same incident twice).

use crate::supervise::{Periodic, Run};
use std::time::Duration;

/// How often the rules are checked.
pub const EVERY: Duration = Duration::from_secs(15);

/// The job.
pub fn job() -> Periodic {
    Periodic::new("alerts", EVERY, |Run { ctx, .. }| async move {
        if let Err(e) = avb_core::services::alerts::evaluate(&ctx).await {
            tracing::warn!(error = %e, "evaluating alert rules failed");
        }
    })
    .first_after(EVERY)
    .once_per_cluster()
}
