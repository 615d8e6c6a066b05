//! What the test modules share in their one process.

use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::OnceLock;

/// The process's Prometheus recorder, installed once (a recorder is global) the way `avb serve`
/// installs it. An app reads it once made its metrics source:
/// `app.ctx.monitor.set_metrics_source(move || handle.render())`.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(avb_core::monitoring::LATENCY_BUCKETS)
                .expect("latency buckets")
                .install_recorder()
                .expect("the only recorder of this process")
        })
        .clone()
}
