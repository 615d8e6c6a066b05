//! The subscription of the transaction's tenant, and (platform transaction) the subscriptions
//! whose period has ended.

use crate::entities::subscription::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::store::{PlatformTx, TenantTx};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

/// The tenant's subscription, if it has one.
pub async fn current(tx: &TenantTx) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?)
}

/// Subscribes the tenant to `plan` at `version` for the period `start..end`.
pub async fn insert(
    tx: &TenantTx,
    plan: Uuid,
    version: i32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StorageResult<Model> {
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        plan_id: Set(plan),
        plan_version: Set(version),
        status: Set("active".into()),
        period_start: Set(start),
        period_end: Set(end),
        pending_plan_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?)
}

async fn current_model(tx: &TenantTx) -> StorageResult<ActiveModel> {
    Ok(current(tx).await?.ok_or(StorageError::NotFound)?.into())
}

/// Moves the tenant to `plan` at `version` now, keeping the period; clears a pending change.
pub async fn switch_plan(tx: &TenantTx, plan: Uuid, version: i32) -> StorageResult<Model> {
    let mut m = current_model(tx).await?;
    m.plan_id = Set(plan);
    m.plan_version = Set(version);
    m.pending_plan_id = Set(None);
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// Schedules (or with `None` cancels) a plan change at the period end.
pub async fn set_pending(tx: &TenantTx, plan: Option<Uuid>) -> StorageResult<Model> {
    let mut m = current_model(tx).await?;
    m.pending_plan_id = Set(plan);
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// Starts the next period (`start..end`), on `plan`/`version` (a pending change, or the same).
pub async fn roll(
    tx: &TenantTx,
    plan: Uuid,
    version: i32,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> StorageResult<Model> {
    let mut m = current_model(tx).await?;
    m.plan_id = Set(plan);
    m.plan_version = Set(version);
    m.pending_plan_id = Set(None);
    m.period_start = Set(start);
    m.period_end = Set(end);
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// Active subscriptions whose period ended by `now`, across tenants.
pub async fn period_ended(tx: &PlatformTx, now: DateTime<Utc>) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::Status.eq("active"))
        .filter(Column::PeriodEnd.lte(now))
        .order_by_asc(Column::PeriodEnd)
        .all(tx.conn())
        .await?)
}

/// Every active subscription across tenants (MRR, plan subscribers).
pub async fn all_active(tx: &PlatformTx) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::Status.eq("active"))
        .all(tx.conn())
        .await?)
}

/// Active subscriptions to `plan` across tenants, oldest first (platform transaction).
pub async fn of_plan(tx: &PlatformTx, plan: Uuid, limit: u64) -> StorageResult<Vec<Model>> {
    use sea_orm::QuerySelect;
    Ok(Entity::find()
        .filter(Column::Status.eq("active"))
        .filter(Column::PlanId.eq(plan))
        .order_by_asc(Column::CreatedAt)
        .limit(limit)
        .all(tx.conn())
        .await?)
}
