//! `/admin/ovos`: the OVOS messagebus: health (alerts when ovos-core is not connected, its
//! skills are not ready, or the probe's p99 is over the threshold), throughput, probe latency,
//! connected clients with their counters and queues, recent disconnects with reasons, and a
//! graceful restart (after confirmation; audited). The page refreshes itself every 5 s.
//! Requires `platform:tenants`.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, perm};
use askama::Template;
use avb_core::services::ovos::{self, OvosStatus};
use avb_core::services::skills::{self, CatalogueRow, InstallState};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "admin/ovos/show.html")]
struct BusPage {
    chrome: Chrome,
    s: OvosStatus,
    latency: Option<String>,
    catalogue_problem: Option<String>,
    catalogue: Vec<CatalogueRow>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct BusQuery {
    #[serde(default)]
    done: String,
}

/// `GET /admin/ovos`.
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<BusQuery>,
) -> Result<Response, PageError> {
    let s = ovos::status(&state.ctx, &v.scope).await?;
    let latency = s
        .bus
        .as_ref()
        .and_then(|b| b.latency_ms)
        .map(|[p50, p95, p99]| format!("p50 {p50:.2} ms · p95 {p95:.2} ms · p99 {p99:.2} ms"));
    let (catalogue_problem, catalogue) = if s.enabled {
        skills::catalogue(&state.ctx, &v.scope).await?
    } else {
        (None, Vec::new())
    };
    let page = BusPage {
        chrome: v.chrome("/admin/ovos", Some(&q.done)),
        s,
        latency,
        catalogue_problem,
        catalogue,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /admin/ovos/restart`: tells the clients, closes them; they reconnect.
pub async fn restart(
    State(state): State<PortalState>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    ovos::restart(&state.ctx, &v.scope).await?;
    Ok(Redirect::to("/admin/ovos?done=bus_restarted").into_response())
}

/// The skill to install.
#[derive(Debug, Deserialize)]
pub struct InstallForm {
    #[serde(default)]
    package: String,
    #[serde(default)]
    csrf: String,
}
crate::extract::has_csrf!(InstallForm);

/// `POST /admin/ovos/skills/install` (after confirmation; audited): installs a catalogue skill
/// into ovos-core; the page shows its progress.
pub async fn install(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<InstallForm>,
) -> Result<Response, PageError> {
    skills::install(&state.ctx, &v.scope, &f.package).await?;
    Ok(Redirect::to("/admin/ovos?done=skill_installing").into_response())
}
