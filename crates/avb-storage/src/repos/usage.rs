//! The usage ledger.

use crate::entities::usage_event::{ActiveModel, Column, Entity};
use crate::error::StorageResult;
use crate::store::{TenantTx, Tx};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use std::collections::BTreeMap;
use uuid::Uuid;

/// One metered quantity.
#[derive(Debug, Clone)]
pub struct UsageEntry {
    pub project: Option<Uuid>,
    pub api_key: Option<Uuid>,
    pub session: Option<Uuid>,
    pub metric: String,
    pub quantity: f64,
    /// Unique per billable fact; a repeated key is ignored.
    pub idempotency_key: String,
    pub occurred_at: DateTime<Utc>,
}

/// Appends entries for the transaction's tenant; entries whose key already exists are skipped.
pub async fn append(tx: &TenantTx, entries: &[UsageEntry]) -> StorageResult<()> {
    let tenant = tx.tenant_id();
    for e in entries {
        let row = ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant.as_uuid()),
            project_id: Set(e.project),
            api_key_id: Set(e.api_key),
            session_id: Set(e.session),
            metric: Set(e.metric.clone()),
            quantity: Set(e.quantity),
            idempotency_key: Set(e.idempotency_key.clone()),
            occurred_at: Set(e.occurred_at),
            shipped_at: Set(None),
        };
        Entity::insert(row)
            .on_conflict_do_nothing_on([Column::IdempotencyKey])
            .exec(tx.conn())
            .await?;
    }
    Ok(())
}

/// Totals per metric for the tenant in `[from, to)`.
pub async fn totals(
    tx: &TenantTx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StorageResult<BTreeMap<String, f64>> {
    let tenant = tx.tenant_id();
    let rows: Vec<(String, Option<f64>)> = Entity::find()
        .select_only()
        .column(Column::Metric)
        .column_as(Expr::col(Column::Quantity).sum(), "total")
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::OccurredAt.gte(from))
        .filter(Column::OccurredAt.lt(to))
        .group_by(Column::Metric)
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|(m, t)| (m, t.unwrap_or(0.0)))
        .collect())
}

/// One day's total of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct DailyTotal {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub metric: String,
    pub total: f64,
}

/// Totals per UTC day and metric for the tenant in `[from, to)`, optionally one project's.
pub async fn daily(
    tx: &TenantTx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    project: Option<Uuid>,
) -> StorageResult<Vec<DailyTotal>> {
    let tenant = tx.tenant_id();
    // The UTC day of a row: PostgreSQL stores timestamptz, SQLite an ISO-8601 text.
    let day = match tx.backend() {
        crate::store::Backend::Postgres => {
            Expr::cust("to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')")
        }
        crate::store::Backend::Sqlite => Expr::cust("substr(occurred_at, 1, 10)"),
    };
    let mut q = Entity::find()
        .select_only()
        .column_as(day.clone(), "day")
        .column(Column::Metric)
        .column_as(Expr::col(Column::Quantity).sum(), "total")
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::OccurredAt.gte(from))
        .filter(Column::OccurredAt.lt(to));
    if let Some(p) = project {
        q = q.filter(Column::ProjectId.eq(p));
    }
    let rows: Vec<(String, String, Option<f64>)> = q
        .group_by(day)
        .group_by(Column::Metric)
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|(day, metric, total)| DailyTotal {
            day,
            metric,
            total: total.unwrap_or(0.0),
        })
        .collect())
}

/// Totals per tenant and metric in `[from, to)` across every tenant (platform transaction).
pub async fn by_tenant(
    tx: &Tx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> StorageResult<Vec<(Uuid, String, f64)>> {
    let rows: Vec<(Uuid, String, Option<f64>)> = Entity::find()
        .select_only()
        .column(Column::TenantId)
        .column(Column::Metric)
        .column_as(Expr::col(Column::Quantity).sum(), "total")
        .filter(Column::OccurredAt.gte(from))
        .filter(Column::OccurredAt.lt(to))
        .group_by(Column::TenantId)
        .group_by(Column::Metric)
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|(t, m, v)| (t, m, v.unwrap_or(0.0)))
        .collect())
}

/// Totals per metric of one realtime session of the transaction's tenant.
pub async fn session_totals(tx: &TenantTx, session: Uuid) -> StorageResult<BTreeMap<String, f64>> {
    let rows: Vec<(String, Option<f64>)> = Entity::find()
        .select_only()
        .column(Column::Metric)
        .column_as(Expr::col(Column::Quantity).sum(), "total")
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::SessionId.eq(session))
        .group_by(Column::Metric)
        .into_tuple()
        .all(tx.conn())
        .await?;
    Ok(rows
        .into_iter()
        .map(|(m, t)| (m, t.unwrap_or(0.0)))
        .collect())
}

pub use crate::entities::usage_event::Model as UsageRow;

/// Rows not yet accepted by billing, oldest first, across tenants (platform transaction).
pub async fn unshipped(tx: &Tx, limit: u64) -> StorageResult<Vec<UsageRow>> {
    use sea_orm::QueryOrder;
    Ok(Entity::find()
        .filter(Column::ShippedAt.is_null())
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// Marks rows as accepted by billing.
pub async fn mark_shipped(tx: &Tx, ids: &[Uuid]) -> StorageResult<u64> {
    Ok(Entity::update_many()
        .col_expr(Column::ShippedAt, Expr::value(Some(Utc::now())))
        .filter(Column::Id.is_in(ids.iter().copied()))
        .exec(tx.conn())
        .await?
        .rows_affected)
}
