//! `/admin/monitoring/alerts`: alert rules (create with validation, delete) and the incidents
//! they opened, each with its timeline.

use super::{failed, require};
use crate::PortalState;
use crate::pages::{Chrome, Visitor, render, signed_in, signed_in_form};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::alerts::{self, RuleInput};
use avb_domain::Permission;
use axum::extract::{ConnectInfo, Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

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
    pub status: String,
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
#[template(path = "admin_alerts.html")]
struct AlertsPage {
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
) -> Response {
    if let Some(r) = require(v, Permission::PlatformTenants) {
        return r;
    }
    let request = avb_core::PageRequest {
        limit: 50,
        after: None,
    };
    let (rules, incidents) = match tokio::try_join!(
        alerts::rules(&state.ctx, &v.scope),
        alerts::incidents(&state.ctx, &v.scope, false, request)
    ) {
        Ok(x) => x,
        Err(e) => return failed(v, "alerts", e),
    };
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    render(
        &AlertsPage {
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
    )
}

/// `GET /admin/monitoring/alerts`.
pub async fn list(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<DoneQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let blank = FormFields {
        channel: "email".into(),
        for_secs: "60".into(),
        ..FormFields::default()
    };
    page(&state, &v, &q.done, blank, None, StatusCode::OK).await
}

/// `POST /admin/monitoring/alerts`: adds a rule.
pub async fn create(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<FormFields>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
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
        Ok(_) => Redirect::to("/admin/monitoring/alerts?done=rule_created").into_response(),
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
        Err(e) => failed(&v, "alert rule", e),
    }
}

/// `POST /admin/monitoring/alerts/{id}/delete`.
pub async fn delete(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<crate::pages::CsrfForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let Ok(id) = id.parse() else {
        return (StatusCode::NOT_FOUND, "No such rule.").into_response();
    };
    match alerts::delete_rule(&state.ctx, &v.scope, id).await {
        Ok(()) => Redirect::to("/admin/monitoring/alerts?done=rule_deleted").into_response(),
        Err(e) => failed(&v, "alert rule", e),
    }
}

/// A timeline entry.
pub struct EventRow {
    pub at: String,
    pub kind: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "admin_incident.html")]
struct IncidentPage {
    chrome: Chrome,
    status: String,
    summary: String,
    opened: String,
    resolved: String,
    events: Vec<EventRow>,
}

/// `GET /admin/monitoring/incidents/{id}`.
pub async fn incident(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    if let Some(r) = require(&v, Permission::PlatformTenants) {
        return r;
    }
    let Ok(id) = id.parse() else {
        return (StatusCode::NOT_FOUND, "No such incident.").into_response();
    };
    let (inc, events) = match alerts::incident(&state.ctx, &v.scope, id).await {
        Ok(x) => x,
        Err(e) => return failed(&v, "incident", e),
    };
    let fmt = |t: chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S").to_string();
    render(
        &IncidentPage {
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
    )
}
