//! Turn timing, exported as Prometheus histograms with stable names:
//! `avb_realtime_stage_seconds{stage, tenant}` for `stt`, `llm_first_token`, `tts_first_byte`,
//! `first_audio` (response start to first audio delta) and `voice_to_voice` (end of the user's
//! turn to the first audio delta); failures as `avb_realtime_stage_errors_total{stage, tenant}`
//! for the stages of [`crate::error::Stage`].

use crate::error::Stage;
use std::time::Duration;

/// Records one stage duration for a tenant.
pub fn stage(stage: &'static str, tenant: &str, elapsed: Duration) {
    metrics::histogram!("avb_realtime_stage_seconds", "stage" => stage, "tenant" => tenant.to_string())
        .record(elapsed.as_secs_f64());
}

/// Counts one failure of a stage for a tenant, and logs it (the session's span adds the tenant
/// and session ids). Called by [`crate::error::GatewayError::report`].
pub(crate) fn stage_failed(stage: Stage, tenant: &str, error: &dyn std::fmt::Display) {
    let stage = stage.as_str();
    tracing::warn!(stage, %error, "a realtime stage failed");
    metrics::counter!("avb_realtime_stage_errors_total", "stage" => stage, "tenant" => tenant.to_string())
        .increment(1);
}
