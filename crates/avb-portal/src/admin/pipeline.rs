//! `/admin/pipeline` (requires `platform:tenants`): the voice pipeline Audio -> STT ->
//! Intent/Skill -> LLM -> TTS -> Audio over the last hour, day or week, from every tenant's
//! recorded turns: per-stage percentiles, success rate and error breakdown, the unhealthy
//! stage highlighted, latency thresholds as `stage_p99_ms` alert rules, charts of throughput,
//! error rate and one stage's p50/p95/p99, a per-tenant table and the latest turns' waterfalls.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{Require, perm};
use crate::waterfall::{Waterfall, waterfall};
use askama::Template;
use avb_core::services::pipeline::{self, PipelineView, STAGES, Series, Window};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;

/// `?window=1h|24h|7d&stage=<stage>`.
#[derive(Debug, Default, Deserialize)]
pub struct PipelineQuery {
    #[serde(default)]
    window: String,
    #[serde(default)]
    stage: String,
}

#[derive(Template)]
#[template(path = "admin/pipeline/show.html")]
struct PipelinePage {
    chrome: Chrome,
    view: PipelineView,
    windows: Vec<(&'static str, &'static str, bool)>,
    stage_choices: Vec<(&'static str, &'static str, bool)>,
    stage_label: &'static str,
    throughput_json: String,
    errors_json: String,
    latency_json: String,
    recent: Vec<(String, Waterfall)>,
}

fn charts(s: &Series) -> (String, String, String) {
    (
        crate::charts::chart_json(
            &s.x,
            &[(
                "Turns per minute",
                s.throughput.iter().copied().map(Some).collect(),
            )],
        ),
        crate::charts::chart_json(&s.x, &[("Failed turns %", s.error_rate.clone())]),
        crate::charts::chart_json(
            &s.x,
            &[
                ("p50", s.p50.clone()),
                ("p95", s.p95.clone()),
                ("p99", s.p99.clone()),
            ],
        ),
    )
}

/// `GET /admin/pipeline`.
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<PipelineQuery>,
) -> Result<Response, PageError> {
    let window = Window::parse(&q.window);
    let view = pipeline::view(&state.ctx, &v.scope, window, &q.stage).await?;
    let (throughput_json, errors_json, latency_json) = charts(&view.series);
    let page = PipelinePage {
        chrome: v.chrome("/admin/pipeline", None),
        windows: [
            ("1h", "Last hour"),
            ("24h", "Last 24 hours"),
            ("7d", "Last 7 days"),
        ]
        .into_iter()
        .map(|(k, l)| (k, l, k == window.as_str()))
        .collect(),
        stage_choices: STAGES
            .iter()
            .map(|(k, l)| (*k, *l, *k == view.stage))
            .collect(),
        stage_label: STAGES
            .iter()
            .find(|(k, _)| *k == view.stage)
            .map(|(_, l)| *l)
            .unwrap_or(""),
        throughput_json,
        errors_json,
        latency_json,
        recent: view
            .recent
            .iter()
            .map(|r| (r.tenant.clone(), waterfall(&r.turn)))
            .collect(),
        view,
    };
    Ok(render(&page, StatusCode::OK))
}
