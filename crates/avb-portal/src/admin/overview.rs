//! `/admin`: tenant count, live sessions, requests and audio minutes, revenue status, service
//! health with probe latency, the 10 busiest tenants, alert banner; refreshed every 30 s.

use super::{amount, failed};
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{Require, Visitor, perm};
use askama::Template;
use avb_core::services::platform;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

/// One of the busiest tenants.
pub struct TopRow {
    pub id: String,
    pub name: String,
    pub requests: String,
    pub minutes: String,
}

#[derive(Template)]
#[template(path = "admin/overview/_panel.html")]
struct Panel {
    tenants: u64,
    suspended: u64,
    active_sessions: u64,
    requests: String,
    minutes: String,
    tokens: String,
    top: Vec<TopRow>,
    refreshed: String,
    /// Open incidents: (id, summary).
    incidents: Vec<(String, String)>,
    /// This month's revenue from Lago, or why there is none.
    revenue: String,
    revenue_note: String,
}

#[derive(Template)]
#[template(path = "admin/overview/show.html")]
struct AdminOverviewPage {
    chrome: Chrome,
    panel: Panel,
}

async fn panel(state: &PortalState, v: &Visitor) -> Result<Panel, PageError> {
    let o = platform::overview(&state.ctx, &v.scope)
        .await
        .map_err(failed("overview"))?;
    let open = avb_core::services::alerts::incidents(
        &state.ctx,
        &v.scope,
        true,
        avb_core::PageRequest {
            limit: 10,
            after: None,
        },
    )
    .await
    .map_err(failed("overview"))?;
    let (revenue, revenue_note) = match avb_core::services::billing::revenue_this_month(&state.ctx)
        .await
    {
        // The local ledger: recurring revenue of active subscriptions.
        Ok(None) => match avb_core::services::invoices::revenue(&state.ctx, &v.scope).await {
            Ok(r) if r.mrr.is_empty() => (
                "0".to_string(),
                "No paid subscriptions yet (local billing).".to_string(),
            ),
            Ok(r) => (
                format!("MRR {}", r.mrr.join(" + ")),
                format!(
                    "Monthly recurring revenue of {} active subscriptions; outstanding {} (local billing).",
                    r.active_subscriptions,
                    if r.outstanding.is_empty() {
                        "0".to_string()
                    } else {
                        r.outstanding.join(" + ")
                    }
                ),
            ),
            Err(e) => ("—".to_string(), format!("Unavailable: {e}")),
        },
        Ok(Some(totals)) if totals.is_empty() => (
            "0".to_string(),
            "No finalized invoices this month (Lago).".to_string(),
        ),
        Ok(Some(totals)) => (
            totals
                .iter()
                .map(|(cur, cents)| format!("{:.2} {cur}", *cents as f64 / 100.0))
                .collect::<Vec<_>>()
                .join(" + "),
            "Finalized invoices issued this month (Lago).".to_string(),
        ),
        Err(e) => {
            tracing::warn!(error = %e, "admin overview: revenue unavailable");
            ("—".to_string(), format!("Unavailable: {e}"))
        }
    };
    Ok(Panel {
        revenue,
        revenue_note,
        tenants: o.tenants,
        suspended: o.suspended,
        active_sessions: o.active_sessions,
        requests: amount(o.requests_30d),
        minutes: amount(o.audio_minutes_30d),
        tokens: amount(o.tokens_30d),
        top: o
            .top
            .into_iter()
            .map(|t| TopRow {
                id: t.tenant_id.to_string(),
                name: t.name,
                requests: amount(t.requests),
                minutes: amount(t.audio_minutes),
            })
            .collect(),
        refreshed: chrono::Utc::now().format("%H:%M:%S UTC").to_string(),
        incidents: open
            .items
            .into_iter()
            .map(|i| (i.id.to_string(), i.summary))
            .collect(),
    })
}

/// `GET /admin` (requires `platform:tenants`).
pub async fn page(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
) -> Result<Response, PageError> {
    let panel = panel(&state, &v).await?;
    Ok(render(
        &AdminOverviewPage {
            chrome: v.chrome("/admin", None),
            panel,
        },
        StatusCode::OK,
    ))
}

/// `GET /admin/panel` (requires `platform:tenants`): the refreshing part (every 30 s).
pub async fn refresh(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
) -> Result<Response, PageError> {
    Ok(render(&panel(&state, &v).await?, StatusCode::OK))
}
