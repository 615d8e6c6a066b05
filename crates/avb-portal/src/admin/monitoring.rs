//! `/admin/monitoring`: service health with uptime, the work queue, and latency per HTTP route and
//! per voice-pipeline stage (per tenant) from this process's metrics registry.

use super::failed;
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{Require, perm};
use askama::Template;
use avb_core::monitoring::{self, Sample};
use avb_domain::ProbeStatus;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use std::collections::HashMap;

/// One service.
pub struct ServiceRow {
    pub name: String,
    pub status: ProbeStatus,
    pub latency: String,
    pub uptime: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "admin/monitoring/_health.html")]
struct Health {
    services: Vec<ServiceRow>,
    down: Vec<String>,
}

async fn health(state: &PortalState) -> Health {
    let probes = monitoring::probe_all(&state.ctx).await;
    let uptime = state.ctx.monitor.uptime.uptime();
    let down = probes
        .iter()
        .filter(|p| p.status == ProbeStatus::Down)
        .map(|p| p.service.clone())
        .collect();
    Health {
        services: probes
            .into_iter()
            .map(|p| ServiceRow {
                uptime: uptime
                    .get(&p.service)
                    .map(|(pct, n)| format!("{pct:.1}% of {n} checks"))
                    .unwrap_or_else(|| "no history yet".into()),
                latency: p
                    .latency_ms
                    .map(|ms| format!("{ms:.1} ms"))
                    .unwrap_or_else(|| "—".into()),
                name: p.service,
                status: p.status,
                detail: p.detail,
            })
            .collect(),
        down,
    }
}

/// `GET /admin/monitoring/health` (requires `platform:tenants`): the health fragment (polled
/// by the overview every 30 s).
pub async fn health_fragment(
    State(state): State<PortalState>,
    _: Require<perm::PlatformTenants>,
) -> Result<Response, PageError> {
    Ok(render(&health(&state).await, StatusCode::OK))
}

/// Latency of one route or stage.
pub struct LatencyRow {
    pub name: String,
    pub tenant: String,
    pub count: String,
    /// Per minute over the window.
    pub rate: String,
    pub errors: String,
    pub p50: String,
    pub p95: String,
    pub p99: String,
}

#[derive(Template)]
#[template(path = "admin/monitoring/show.html")]
struct AdminMonitoringPage {
    /// Charts of the recorded turns: title, unit, data island.
    charts: Vec<(String, String, String)>,
    chrome: Chrome,
    health: Health,
    queue: Option<String>,
    metrics: bool,
    source: String,
    problem: Option<String>,
    routes: Vec<LatencyRow>,
    stages: Vec<LatencyRow>,
    failures: Vec<FailureRow>,
}

/// Failures of one stage for one tenant.
pub struct FailureRow {
    pub stage: String,
    pub tenant: String,
    pub count: String,
}

fn failures(samples: &[Sample], names: &HashMap<String, String>) -> Vec<FailureRow> {
    monitoring::counter_by(
        samples,
        "avb_realtime_stage_errors_total",
        &["stage", "tenant"],
        |_| true,
    )
    .into_iter()
    .filter(|(_, n)| *n > 0.0)
    .map(|(k, n)| FailureRow {
        stage: k[0].clone(),
        tenant: names.get(&k[1]).cloned().unwrap_or_else(|| k[1].clone()),
        count: format!("{n:.0}"),
    })
    .collect()
}

fn ms(seconds: f64) -> String {
    if seconds.is_nan() {
        "—".into()
    } else {
        format!("{:.1}", seconds * 1000.0)
    }
}

fn routes(samples: &[Sample], minutes: f64) -> Vec<LatencyRow> {
    let errors = monitoring::counter_by(
        samples,
        "avb_http_requests_total",
        &["method", "route"],
        |l| l.get("status").is_some_and(|s| s.starts_with('5')),
    );
    let mut rows: Vec<(f64, LatencyRow)> = monitoring::histograms(
        samples,
        "avb_http_request_duration_seconds",
        &["method", "route"],
    )
    .into_iter()
    .map(|h| {
        let method = h.labels.get("method").cloned().unwrap_or_default();
        let route = h.labels.get("route").cloned().unwrap_or_default();
        let e = errors
            .get(&vec![method.clone(), route.clone()])
            .copied()
            .unwrap_or(0.0);
        (
            h.count,
            LatencyRow {
                name: format!("{method} {route}"),
                tenant: String::new(),
                count: format!("{:.0}", h.count),
                rate: format!("{:.1}", h.count / minutes),
                errors: format!("{:.1}%", 100.0 * e / h.count.max(1.0)),
                p50: ms(h.p50),
                p95: ms(h.p95),
                p99: ms(h.p99),
            },
        )
    })
    .collect();
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    rows.into_iter().map(|(_, r)| r).collect()
}

fn stages(samples: &[Sample], names: &HashMap<String, String>, minutes: f64) -> Vec<LatencyRow> {
    let mut rows: Vec<LatencyRow> =
        monitoring::histograms(samples, "avb_realtime_stage_seconds", &["stage", "tenant"])
            .into_iter()
            .map(|h| {
                let tenant = h.labels.get("tenant").cloned().unwrap_or_default();
                LatencyRow {
                    name: h.labels.get("stage").cloned().unwrap_or_default(),
                    tenant: names.get(&tenant).cloned().unwrap_or(tenant),
                    count: format!("{:.0}", h.count),
                    rate: format!("{:.1}", h.count / minutes),
                    errors: String::new(),
                    p50: ms(h.p50),
                    p95: ms(h.p95),
                    p99: ms(h.p99),
                }
            })
            .collect();
    rows.sort_by(|a, b| (&a.name, &a.tenant).cmp(&(&b.name, &b.tenant)));
    rows
}

/// `GET /admin/monitoring` (requires `platform:tenants`).
pub async fn page(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
) -> Result<Response, PageError> {
    let request = avb_core::PageRequest {
        limit: 1000,
        after: None,
    };
    let names: HashMap<String, String> =
        match avb_core::services::tenants::list(&state.ctx, &v.scope, None, request).await {
            Ok(p) => p
                .items
                .into_iter()
                .map(|t| (t.id.to_string(), t.name))
                .collect(),
            Err(e) => return Err(failed("monitoring")(e)),
        };
    let (source, samples, metrics, problem, minutes) = match monitoring::samples(&state.ctx).await {
        Ok((monitoring::FiguresSource::Local, samples)) => (
            "this server's registry, since it started".to_string(),
            samples,
            state.ctx.monitor.scrape().is_some(),
            None,
            state.ctx.monitor.registry_minutes(),
        ),
        Ok((monitoring::FiguresSource::Prometheus { url, minutes }, samples)) => (
            format!("Prometheus at {url}, last {minutes} minutes, every replica it scrapes"),
            samples,
            true,
            None,
            f64::from(minutes),
        ),
        Err(e) => (String::new(), Vec::new(), false, Some(e), 1.0),
    };
    let queue = match monitoring::queue_depth(&state.ctx).await {
        None => None,
        Some(Ok(q)) => Some(format!(
            "Redis stream: {} waiting, {} taken and unfinished, {} in the dead-letter stream",
            q.waiting, q.pending, q.dead
        )),
        Some(Err(e)) => Some(format!("unavailable: {e}")),
    };
    // The last 24 hours of recorded turns, charted (the pipeline page has the detail).
    let day = avb_core::services::pipeline::view(
        &state.ctx,
        &v.scope,
        avb_core::services::pipeline::Window::Day,
        "voice_to_voice",
    )
    .await
    .map_err(failed("monitoring"))?;
    let s = &day.series;
    let charts = (day.turns > 0).then(|| {
        [
            (
                "Turns per minute, last 24 hours",
                "/min",
                crate::charts::chart_json(
                    &s.x,
                    &[(
                        "Turns/min",
                        s.throughput.iter().copied().map(Some).collect(),
                    )],
                ),
            ),
            (
                "Failed turns, last 24 hours",
                "%",
                crate::charts::chart_json(&s.x, &[("Failed %", s.error_rate.clone())]),
            ),
            (
                "Voice to voice, last 24 hours",
                "ms",
                crate::charts::chart_json(
                    &s.x,
                    &[
                        ("p50", s.p50.clone()),
                        ("p95", s.p95.clone()),
                        ("p99", s.p99.clone()),
                    ],
                ),
            ),
        ]
        .into_iter()
        .map(|(t, u, j)| (t.to_string(), u.to_string(), j))
        .collect()
    });
    Ok(render(
        &AdminMonitoringPage {
            chrome: v.chrome("/admin/monitoring", None),
            health: health(&state).await,
            queue,
            metrics,
            source,
            problem,
            routes: routes(&samples, minutes),
            stages: stages(&samples, &names, minutes),
            failures: failures(&samples, &names),
            charts: charts.unwrap_or_default(),
        },
        StatusCode::OK,
    ))
}

/// `?level=&service=&minutes=`.
#[derive(Debug, Default, serde::Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    level: String,
    #[serde(default)]
    service: String,
    #[serde(default)]
    minutes: String,
}

/// One log line.
pub struct LogRow {
    pub at: String,
    pub level: String,
    pub target: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "admin/monitoring/logs.html")]
struct AdminMonitoringLogsPage {
    chrome: Chrome,
    level: String,
    service: String,
    minutes: i64,
    rows: Vec<LogRow>,
}

/// `GET /admin/monitoring/logs` (requires `platform:tenants`): this server's recent log
/// lines, filtered.
pub async fn logs(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    axum::extract::Query(q): axum::extract::Query<LogQuery>,
) -> Result<Response, PageError> {
    let level = match q.level.to_ascii_lowercase().as_str() {
        l @ ("error" | "warn" | "info" | "debug" | "trace") => l.to_string(),
        _ => "info".to_string(),
    };
    let minutes = q.minutes.parse::<i64>().unwrap_or(60).clamp(1, 24 * 60);
    let service = q.service.trim().to_string();
    let rows = state
        .ctx
        .monitor
        .logs
        .recent(&level, &service, minutes, 500)
        .into_iter()
        .map(|l| LogRow {
            at: l.at.format("%H:%M:%S%.3f").to_string(),
            level: l.level,
            target: l.target,
            message: l.message,
        })
        .collect();
    Ok(render(
        &AdminMonitoringLogsPage {
            chrome: v.chrome("/admin/monitoring", None),
            level,
            service,
            minutes,
            rows,
        },
        StatusCode::OK,
    ))
}
