//! What the test modules share in their one process.

use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::OnceLock;

/// The process's Prometheus recorder, installed once (a recorder is global) the way `avb serve`
/// installs it, and made the monitoring pages' metrics source.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let handle = metrics_exporter_prometheus::PrometheusBuilder::new()
                .set_buckets(avb_core::monitoring::LATENCY_BUCKETS)
                .expect("latency buckets")
                .install_recorder()
                .expect("the only recorder of this process");
            let source = handle.clone();
            avb_core::monitoring::set_metrics_source(move || source.render());
            handle
        })
        .clone()
}
