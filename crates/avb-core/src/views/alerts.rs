//! Alert rules, incidents and incident timelines.

use avb_domain::{AlertRuleId, IncidentEventId, IncidentId, IncidentStatus};
use avb_storage::entities::{alert_rule, incident, incident_event};
use chrono::{DateTime, Utc};

/// An alert rule.
#[derive(Debug, Clone)]
pub struct AlertRule {
    pub id: AlertRuleId,
    pub name: String,
    pub metric: String,
    pub target: String,
    pub threshold: f64,
    pub for_secs: i32,
    pub channel: String,
    pub destination: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<alert_rule::Model> for AlertRule {
    fn from(m: alert_rule::Model) -> Self {
        Self {
            id: AlertRuleId(m.id),
            name: m.name,
            metric: m.metric,
            target: m.target,
            threshold: m.threshold,
            for_secs: m.for_secs,
            channel: m.channel,
            destination: m.destination,
            enabled: m.enabled,
            created_at: m.created_at,
        }
    }
}

/// A firing or cleared alert.
#[derive(Debug, Clone)]
pub struct Incident {
    pub id: IncidentId,
    pub rule_id: AlertRuleId,
    pub status: IncidentStatus,
    pub summary: String,
    pub value: f64,
    pub opened_at: DateTime<Utc>,
    pub resolved_at: Option<DateTime<Utc>>,
}

impl From<incident::Model> for Incident {
    fn from(m: incident::Model) -> Self {
        Self {
            id: IncidentId(m.id),
            rule_id: AlertRuleId(m.rule_id),
            status: IncidentStatus::from_stored(&m.status),
            summary: m.summary,
            value: m.value,
            opened_at: m.opened_at,
            resolved_at: m.resolved_at,
        }
    }
}

/// An entry of an incident's timeline.
#[derive(Debug, Clone)]
pub struct IncidentEvent {
    pub id: IncidentEventId,
    pub incident_id: IncidentId,
    pub kind: String,
    pub detail: String,
    pub created_at: DateTime<Utc>,
}

impl From<incident_event::Model> for IncidentEvent {
    fn from(m: incident_event::Model) -> Self {
        Self {
            id: IncidentEventId(m.id),
            incident_id: IncidentId(m.incident_id),
            kind: m.kind,
            detail: m.detail,
            created_at: m.created_at,
        }
    }
}
