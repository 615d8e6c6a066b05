//! The platform events' outbox: written in the tenant's transaction, read and marked by the
//! publisher across tenants.

use crate::entities::event_outbox::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::{PlatformTx, TenantTx};
use chrono::{DateTime, Utc};
use sea_orm::{
    ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use crate::entities::event_outbox::Model as OutboxEvent;

/// Adds an event of the transaction's tenant.
pub async fn insert(
    tx: &TenantTx,
    id: Uuid,
    event_type: &str,
    payload: &str,
    created_at: DateTime<Utc>,
) -> StorageResult<()> {
    Entity::insert(ActiveModel {
        id: Set(id),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        event_type: Set(event_type.to_string()),
        payload: Set(payload.to_string()),
        created_at: Set(created_at),
        published_at: Set(None),
    })
    .exec_without_returning(tx.conn())
    .await?;
    Ok(())
}

/// Up to `limit` unpublished events, oldest first.
pub async fn due(tx: &PlatformTx, limit: u64) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::PublishedAt.is_null())
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// Like [`due`], but the rows are claimed for `tx`: on PostgreSQL they stay locked until it
/// ends (`FOR UPDATE SKIP LOCKED`), so a second publisher (a replica that also believes it
/// leads, while leadership moves) skips them instead of publishing them again. SQLite has one
/// writer and one process.
pub async fn claim_due(tx: &PlatformTx, limit: u64) -> StorageResult<Vec<Model>> {
    let mut query = Entity::find()
        .filter(Column::PublishedAt.is_null())
        .order_by_asc(Column::Id)
        .limit(limit);
    if tx.backend() == crate::store::Backend::Postgres {
        query = query.lock_with_behavior(
            sea_orm::sea_query::LockType::Update,
            sea_orm::sea_query::LockBehavior::SkipLocked,
        );
    }
    Ok(query.all(tx.conn()).await?)
}

/// Marks events published.
pub async fn mark_published(tx: &PlatformTx, ids: &[Uuid], at: DateTime<Utc>) -> StorageResult<()> {
    for chunk in ids.chunks(500) {
        Entity::update_many()
            .col_expr(Column::PublishedAt, sea_orm::sea_query::Expr::value(at))
            .filter(Column::Id.is_in(chunk.iter().copied()))
            .exec(tx.conn())
            .await?;
    }
    Ok(())
}

/// Deletes events published before `published_before`, and unpublished ones created before
/// `unpublished_before` when given (without a publisher nothing would ever take them).
pub async fn prune(
    tx: &PlatformTx,
    published_before: DateTime<Utc>,
    unpublished_before: Option<DateTime<Utc>>,
) -> StorageResult<u64> {
    let mut n = Entity::delete_many()
        .filter(Column::PublishedAt.lt(published_before))
        .exec(tx.conn())
        .await?
        .rows_affected;
    if let Some(before) = unpublished_before {
        n += Entity::delete_many()
            .filter(Column::PublishedAt.is_null())
            .filter(Column::CreatedAt.lt(before))
            .exec(tx.conn())
            .await?
            .rows_affected;
    }
    Ok(n)
}

/// How many events wait, and when the oldest was written.
pub async fn lag(tx: &PlatformTx) -> StorageResult<(u64, Option<DateTime<Utc>>)> {
    let waiting = Entity::find()
        .filter(Column::PublishedAt.is_null())
        .count(tx.conn())
        .await?;
    let oldest = Entity::find()
        .filter(Column::PublishedAt.is_null())
        .order_by_asc(Column::Id)
        .one(tx.conn())
        .await?
        .map(|m| m.created_at);
    Ok((waiting, oldest))
}
