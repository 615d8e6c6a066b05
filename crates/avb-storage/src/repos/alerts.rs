//! Alert rules, incidents and incident timelines (platform rows).

use crate::entities::{alert_rule, incident, incident_event};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::Tx;
use avb_domain::IncidentStatus;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

pub use alert_rule::Model as AlertRule;
pub use incident::Model as Incident;
pub use incident_event::Model as IncidentEvent;

/// Stores a rule (its id is set by the caller).
pub async fn insert_rule(tx: &Tx, rule: AlertRule) -> StorageResult<AlertRule> {
    let am: alert_rule::ActiveModel = rule.into();
    Ok(am.insert(tx.conn()).await?)
}

/// Every rule, newest first.
pub async fn rules(tx: &Tx) -> StorageResult<Vec<AlertRule>> {
    Ok(alert_rule::Entity::find()
        .order_by_desc(alert_rule::Column::Id)
        .all(tx.conn())
        .await?)
}

/// Deletes a rule with its incidents.
pub async fn delete_rule(tx: &Tx, id: Uuid) -> StorageResult<AlertRule> {
    let rule = alert_rule::Entity::find_by_id(id)
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)?;
    let incidents: Vec<Uuid> = incident::Entity::find()
        .filter(incident::Column::RuleId.eq(id))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|i| i.id)
        .collect();
    incident_event::Entity::delete_many()
        .filter(incident_event::Column::IncidentId.is_in(incidents))
        .exec(tx.conn())
        .await?;
    incident::Entity::delete_many()
        .filter(incident::Column::RuleId.eq(id))
        .exec(tx.conn())
        .await?;
    alert_rule::Entity::delete_by_id(id).exec(tx.conn()).await?;
    Ok(rule)
}

/// The open incident of a rule, if any.
pub async fn open_incident(tx: &Tx, rule: Uuid) -> StorageResult<Option<Incident>> {
    Ok(incident::Entity::find()
        .filter(incident::Column::RuleId.eq(rule))
        .filter(incident::Column::Status.eq(IncidentStatus::Open.as_str()))
        .one(tx.conn())
        .await?)
}

/// Opens an incident with its first timeline entry.
pub async fn open(tx: &Tx, rule: Uuid, summary: &str, value: f64) -> StorageResult<Incident> {
    let now = Utc::now();
    let inc = incident::ActiveModel {
        id: Set(Uuid::now_v7()),
        rule_id: Set(rule),
        status: Set(IncidentStatus::Open.as_str().into()),
        summary: Set(summary.to_string()),
        value: Set(value),
        opened_at: Set(now),
        resolved_at: Set(None),
    }
    .insert(tx.conn())
    .await?;
    event(tx, inc.id, "opened", summary).await?;
    Ok(inc)
}

/// Resolves an incident.
pub async fn resolve(tx: &Tx, inc: Incident, detail: &str) -> StorageResult<Incident> {
    let id = inc.id;
    let mut am: incident::ActiveModel = inc.into();
    am.status = Set(IncidentStatus::Resolved.as_str().into());
    am.resolved_at = Set(Some(Utc::now()));
    let inc = am.update(tx.conn()).await?;
    event(tx, id, "resolved", detail).await?;
    Ok(inc)
}

/// Adds a timeline entry.
pub async fn event(tx: &Tx, incident: Uuid, kind: &str, detail: &str) -> StorageResult<()> {
    incident_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        incident_id: Set(incident),
        kind: Set(kind.to_string()),
        detail: Set(detail.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?;
    Ok(())
}

/// Incidents, newest first, optionally only open ones.
pub async fn incidents(
    tx: &Tx,
    open_only: bool,
    page: PageRequest,
) -> StorageResult<Page<Incident>> {
    let mut q = incident::Entity::find();
    if open_only {
        q = q.filter(incident::Column::Status.eq(IncidentStatus::Open.as_str()));
    }
    let rows = paginate(q, incident::Column::Id, page)
        .all(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// One incident with its timeline, oldest entry first.
pub async fn incident(tx: &Tx, id: Uuid) -> StorageResult<(Incident, Vec<IncidentEvent>)> {
    let inc = incident::Entity::find_by_id(id)
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)?;
    let events = incident_event::Entity::find()
        .filter(incident_event::Column::IncidentId.eq(id))
        .order_by_asc(incident_event::Column::Id)
        .all(tx.conn())
        .await?;
    Ok((inc, events))
}
