//! `/dashboard`: the tenant's month and 30 days at a glance (usage, billing summary, recent
//! activity, service status, limit warnings), each part shown only with its permission and
//! refreshed every 60 s without a reload.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::Visitor;
use askama::Template;
use avb_core::services::{audit, members, tenants, usage};
use avb_domain::{Permission, ProbeStatus};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{Datelike, Duration, Utc};
use std::collections::BTreeMap;

/// Usage totals of a period.
pub struct UsageSummary {
    pub requests: String,
    pub audio_in: String,
    pub audio_out: String,
    pub tokens_in: String,
    pub tokens_out: String,
}

impl UsageSummary {
    fn from_totals(t: &BTreeMap<String, f64>) -> Self {
        let n = |k: &str| t.get(k).copied().unwrap_or(0.0);
        Self {
            requests: format!("{}", n("requests") as u64),
            audio_in: format!("{:.1}", n("audio_minutes_input")),
            audio_out: format!("{:.1}", n("audio_minutes_output")),
            tokens_in: format!("{}", n("llm_tokens_input") as u64),
            tokens_out: format!("{}", n("llm_tokens_output") as u64),
        }
    }
}

/// One audit row.
pub struct ActivityRow {
    pub at: String,
    pub actor: String,
    pub action: String,
}

/// The billing card.
pub struct Billing {
    pub plan: String,
    /// The plan's name, amount due so far and next billing date, from the billing provider.
    pub plan_name: String,
    pub amount_due: String,
    pub next_billing: String,
    pub email: String,
    pub month: String,
    pub usage: UsageSummary,
}

/// A warning shown above everything.
pub struct Warning {
    pub severity: &'static str,
    pub text: String,
    pub href: &'static str,
}

/// The part of the dashboard that refreshes itself.
#[derive(Template)]
#[template(path = "dashboard/_panel.html")]
struct Panel {
    warnings: Vec<Warning>,
    usage: Option<UsageSummary>,
    billing: Option<Billing>,
    audit: Option<Vec<ActivityRow>>,
    refreshed: String,
    failed: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "dashboard/show.html")]
struct DashboardShowPage {
    chrome: Chrome,
    heading: String,
    panel: Panel,
}

fn month_start() -> chrono::DateTime<Utc> {
    let now = Utc::now();
    now.date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now)
}

async fn panel(state: &PortalState, v: &Visitor) -> Panel {
    let ctx = &state.ctx;
    let scope = &v.scope;
    let now = Utc::now();
    let mut failed = Vec::new();
    let mut warnings = Vec::new();
    let usage = if scope.has(Permission::UsageView) {
        match usage::totals(ctx, scope, now - Duration::days(30), now).await {
            Ok(t) => Some(UsageSummary::from_totals(&t)),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: usage unavailable");
                failed.push("usage");
                None
            }
        }
    } else {
        None
    };
    let billing = if scope.has(Permission::BillingView) {
        let month = month_start();
        match (
            tenants::current(ctx, scope).await,
            usage::totals(ctx, scope, month, now + Duration::seconds(1)).await,
            avb_core::services::subscriptions::overview(ctx, scope).await,
        ) {
            (Ok(Some(t)), Ok(totals), Ok(o)) => {
                // At 80% of any limit: a warning with the way to more.
                for l in o.limits.iter().filter(|l| l.warning) {
                    warnings.push(Warning {
                        severity: "warn",
                        text: format!(
                            "{}: {:.0} of {} used ({:.0}%). Upgrade the plan for more.",
                            l.label,
                            l.used,
                            l.max.unwrap_or_default(),
                            l.share.unwrap_or_default() * 100.0
                        ),
                        href: "/billing",
                    });
                }
                Some(Billing {
                    plan: t.plan,
                    plan_name: o.plan_name,
                    amount_due: o.amount_due,
                    next_billing: o.next_billing_date.format("%Y-%m-%d").to_string(),
                    email: t.billing_email,
                    month: month.format("%B %Y").to_string(),
                    usage: UsageSummary::from_totals(&totals),
                })
            }
            (Ok(None), _, _) => None,
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                tracing::warn!(error = %e, "dashboard: billing unavailable");
                failed.push("billing");
                None
            }
        }
    } else {
        None
    };
    // Limits: the usage alert threshold (80% and more) and the member seats.
    if scope.has(Permission::SettingsManage)
        && let Ok(Some(settings)) = tenants::settings(ctx, scope).await
        && let Some(threshold) = settings.usage_threshold_requests
        && let Ok(t) = usage::totals(ctx, scope, month_start(), now + Duration::seconds(1)).await
    {
        let used = t.get("requests").copied().unwrap_or(0.0);
        let share = used / threshold.max(1) as f64;
        if share >= 0.8 {
            warnings.push(Warning {
                severity: if share >= 1.0 { "error" } else { "warn" },
                text: format!(
                    "{} of the {threshold} requests of your monthly usage alert are used ({:.0}%).",
                    used as u64,
                    share * 100.0
                ),
                href: "/usage",
            });
        }
    }
    if scope.has(Permission::TeamManage)
        && let Ok((used, limit)) = members::seats(ctx, scope).await
        && used >= limit
    {
        warnings.push(Warning {
            severity: "warn",
            text: format!("All {limit} member seats of your plan are used."),
            href: "/team",
        });
    }
    let audit = if scope.has(Permission::AuditView) {
        let page = avb_core::PageRequest {
            limit: 10,
            after: None,
        };
        match audit::list(ctx, scope, &Default::default(), page).await {
            Ok(p) => Some(
                p.items
                    .into_iter()
                    .map(|e| ActivityRow {
                        at: e.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                        actor: e.actor_label,
                        action: e.action,
                    })
                    .collect(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "dashboard: audit unavailable");
                failed.push("activity");
                None
            }
        }
    } else {
        None
    };
    Panel {
        warnings,
        usage,
        billing,
        audit,
        refreshed: now.format("%H:%M:%S UTC").to_string(),
        failed,
    }
}

/// `GET /dashboard` (requires signing in, no permission: each card shows what the role may see).
pub async fn page(State(state): State<PortalState>, v: Visitor) -> Result<Response, PageError> {
    // A SaaS admin outside any tenant lands on the platform overview.
    if v.scope.is_saas_admin() && v.scope.tenant().is_none() {
        return Ok(axum::response::Redirect::to("/admin").into_response());
    }
    let heading = match tenants::current(&state.ctx, &v.scope).await? {
        Some(t) => t.name,
        None if v.scope.is_saas_admin() => "Platform".to_string(),
        None => "Dashboard".to_string(),
    };
    let page = DashboardShowPage {
        chrome: v.chrome("/dashboard", None),
        heading,
        panel: panel(&state, &v).await,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /dashboard/panel` (requires signing in, no permission): the refreshing part alone
/// (polled every 60 s).
pub async fn refresh(State(state): State<PortalState>, v: Visitor) -> Response {
    render(&panel(&state, &v).await, StatusCode::OK)
}

/// One service's state.
pub struct ServiceRow {
    pub name: String,
    pub status: ProbeStatus,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "dashboard/_status.html")]
struct DashboardStatusFragment {
    services: Vec<ServiceRow>,
}

/// `GET /dashboard/status` (requires signing in, no permission): the same probes as the admin
/// monitoring page (database, Redis, engines...), loaded after the page as engine probes can
/// take up to 2 s.
pub async fn status(State(state): State<PortalState>, _: Visitor) -> Response {
    let services = avb_core::monitoring::probe_all(&state.ctx)
        .await
        .into_iter()
        .map(|p| ServiceRow {
            name: p.service,
            status: p.status,
            detail: match (p.latency_ms, p.detail.is_empty()) {
                (Some(ms), true) => format!("{ms:.1} ms"),
                (Some(ms), false) => format!("{} · {ms:.0} ms", p.detail),
                (None, _) => p.detail,
            },
        })
        .collect();
    render(&DashboardStatusFragment { services }, StatusCode::OK)
}
