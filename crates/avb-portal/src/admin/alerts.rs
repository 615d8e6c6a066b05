//! `/admin/monitoring/alerts`: alert rules (create with validation, delete) and the incidents
//! they opened, each with its timeline.

use super::{failed, require};
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::alerts::{self, RuleInput};
use avb_domain::{IncidentStatus, Permission};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// A rule row.
pub struct RuleRow {
    pub id: String,
    pub name: String,
    pub condition: String,
    pub notify: String,
}

/// An incident row.
pub struct IncidentRow {
    pub id: String,
    pub status: IncidentStatus,
    pub summary: String,
    pub opened: String,
    pub resolved: String,
}

/// A metric choice.
pub struct MetricChoice {
    pub name: &'static str,
    pub help: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "admin/alerts/list.html")]
struct AdminAlertsListPage {
    chrome: Chrome,
    rules: Vec<RuleRow>,
    incidents: Vec<IncidentRow>,
    metrics: Vec<MetricChoice>,
    form: FormFields,
    error: Option<String>,
}

/// The rule form as entered.
#[derive(Debug, Default, Deserialize)]
pub struct FormFields {
    #[serde(default)]
    name: String,
    #[serde(default)]
    metric: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    for_secs: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    destination: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(FormFields);

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: &str,
    form: FormFields,
    error: Option<String>,
    status: StatusCode,
) -> Result<Response, PageError> {
    require(v, Permission::PlatformTenants)?;
    let request = avb_core::PageRequest {
        limit: 50,
        after: None,
    };
    let (rules, incidents) = tokio::try_join!(
        alerts::rules(&state.ctx, &v.scope),
        alerts::incidents(&state.ctx, &v.scope, false, request)
    )
    .map_err(failed("alerts"))?;
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(render(
        &AdminAlertsListPage {
            chrome: v.chrome("/admin/monitoring", Some(done)),
            rules: rules
                .into_iter()
                .map(|r| RuleRow {
                    id: r.id.to_string(),
                    condition: format!(
                        "{} on {} > {} for {} s",
                        r.metric, r.target, r.threshold, r.for_secs
                    ),
                    notify: format!("{} {}", r.channel, r.destination),
                    name: r.name,
                })
                .collect(),
            incidents: incidents
                .items
                .into_iter()
                .map(|i| IncidentRow {
                    id: i.id.to_string(),
                    status: i.status,
                    summary: i.summary,
                    opened: fmt(i.opened_at),
                    resolved: i.resolved_at.map(fmt).unwrap_or_else(|| "—".into()),
                })
                .collect(),
            metrics: alerts::METRICS
                .iter()
                .map(|(name, help)| MetricChoice {
                    name,
                    help,
                    selected: *name == form.metric,
                })
                .collect(),
            form,
            error,
        },
        status,
    ))
}

/// `GET /admin/monitoring/alerts` (requires `platform:tenants`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let blank = FormFields {
        channel: "email".into(),
        for_secs: "60".into(),
        ..FormFields::default()
    };
    page(&state, &v, &q.done, blank, None, StatusCode::OK).await
}

/// `POST /admin/monitoring/alerts` (requires `platform:tenants`): adds a rule.
pub async fn create(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<FormFields>,
) -> Result<Response, PageError> {
    let input = RuleInput {
        name: f.name.clone(),
        metric: f.metric.clone(),
        target: f.target.clone(),
        threshold: f.threshold.clone(),
        for_secs: f.for_secs.clone(),
        channel: f.channel.clone(),
        destination: f.destination.clone(),
    };
    match alerts::create_rule(&state.ctx, &v.scope, input).await {
        Ok(_) => Ok(Redirect::to("/admin/monitoring/alerts?done=rule_created").into_response()),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            page(
                &state,
                &v,
                "",
                f,
                Some(msg),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(failed("alert rule")(e)),
    }
}

/// `POST /admin/monitoring/alerts/{id}/delete` (requires `platform:tenants`).
pub async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let Ok(id) = id.parse() else {
        return Err(PageError::not_found("rule"));
    };
    match alerts::delete_rule(&state.ctx, &v.scope, id).await {
        Ok(()) => Ok(Redirect::to("/admin/monitoring/alerts?done=rule_deleted").into_response()),
        Err(e) => Err(failed("alert rule")(e)),
    }
}

/// A timeline entry.
pub struct EventRow {
    pub at: String,
    pub kind: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "admin/alerts/incident.html")]
struct AdminAlertsIncidentPage {
    chrome: Chrome,
    status: IncidentStatus,
    summary: String,
    opened: String,
    resolved: String,
    events: Vec<EventRow>,
}

/// `GET /admin/monitoring/incidents/{id}` (requires `platform:tenants`).
pub async fn incident(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Ok(id) = id.parse() else {
        return Err(PageError::not_found("incident"));
    };
    let (inc, events) = alerts::incident(&state.ctx, &v.scope, id)
        .await
        .map_err(failed("incident"))?;
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    Ok(render(
        &AdminAlertsIncidentPage {
            chrome: v.chrome("/admin/monitoring", None),
            status: inc.status,
            summary: inc.summary,
            opened: fmt(inc.opened_at),
            resolved: inc.resolved_at.map(fmt).unwrap_or_else(|| "—".into()),
            events: events
                .into_iter()
                .map(|e| EventRow {
                    at: fmt(e.created_at),
                    kind: e.kind,
                    detail: e.detail,
                })
                .collect(),
        },
        StatusCode::OK,
    ))
}
