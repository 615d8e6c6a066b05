//! Invoices of ended billing periods (the local ledger), once per cluster: each ended period is
//! invoiced once and the subscription moves to its next period (a scheduled downgrade applies).

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job, every `billing.interval_secs`.
pub fn job(ctx: &AppContext) -> Periodic {
    let every = Duration::from_secs(ctx.config.billing.interval_secs.max(1));
    Periodic::new("invoicing", every, |Run { ctx, .. }| async move {
        match avb_core::services::invoices::close_ended_periods(&ctx).await {
            Ok(n) if n > 0 => tracing::info!(invoices = n, "billing periods invoiced"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "invoicing ended periods failed; will retry"),
        }
    })
    .once_per_cluster()
}
