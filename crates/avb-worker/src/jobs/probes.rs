//! Service probes for the monitoring page's uptime percentages (each replica records its own
//! view).

use crate::supervise::{Periodic, Run};

/// The job, sampling every `monitoring::SAMPLE_EVERY`.
pub fn job() -> Periodic {
    Periodic::new(
        "probes",
        avb_core::monitoring::SAMPLE_EVERY,
        |Run { ctx, .. }| async move {
            let probes = avb_core::monitoring::probe_all(&ctx).await;
            ctx.monitor.uptime.record(&probes);
        },
    )
}
