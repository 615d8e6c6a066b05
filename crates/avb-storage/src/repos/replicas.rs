//! Replica heartbeats and the sessions of replicas that stopped beating (platform queries).

use crate::entities::realtime_session::{Column as S, Entity as Sessions};
use crate::entities::replica::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::Tx;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set};
use uuid::Uuid;

/// Records that replica `id` is alive now (first call: registers it).
pub async fn beat(tx: &Tx, id: &str, now: DateTime<Utc>) -> StorageResult<()> {
    Entity::insert(ActiveModel {
        id: Set(id.to_string()),
        started_at: Set(now),
        heartbeat_at: Set(now),
    })
    .on_conflict(
        OnConflict::column(Column::Id)
            .update_column(Column::HeartbeatAt)
            .to_owned(),
    )
    .exec_without_returning(tx.conn())
    .await?;
    Ok(())
}

/// Replicas whose last heartbeat is older than `before`.
pub async fn stale(tx: &Tx, before: DateTime<Utc>) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::HeartbeatAt.lt(before))
        .all(tx.conn())
        .await?)
}

/// One replica, if it is registered.
pub async fn get(tx: &Tx, id: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find_by_id(id.to_string()).one(tx.conn()).await?)
}

/// Closes the live sessions held by `replica` with reason `lost`, ended at `ended_at` (its last
/// heartbeat), and forgets the replica; returns the sessions closed as (tenant, session).
pub async fn close_sessions_of(
    tx: &Tx,
    replica: &str,
    ended_at: DateTime<Utc>,
) -> StorageResult<Vec<(Uuid, Uuid)>> {
    let lost: Vec<(Uuid, Uuid)> = Sessions::find()
        .select_only()
        .column(S::TenantId)
        .column(S::Id)
        .filter(S::Status.eq("active"))
        .filter(S::ReplicaId.eq(replica))
        .into_tuple()
        .all(tx.conn())
        .await?;
    if !lost.is_empty() {
        Sessions::update_many()
            .col_expr(S::Status, Expr::value("closed"))
            .col_expr(S::EndedAt, Expr::value(Some(ended_at)))
            .col_expr(S::CloseReason, Expr::value("lost"))
            .filter(S::Status.eq("active"))
            .filter(S::ReplicaId.eq(replica))
            .exec(tx.conn())
            .await?;
    }
    Entity::delete_by_id(replica.to_string())
        .exec(tx.conn())
        .await?;
    Ok(lost)
}

/// Live sessions recorded as held by `replica`, with when they started: (tenant, id, start).
pub async fn live_sessions_of(
    tx: &Tx,
    replica: &str,
) -> StorageResult<Vec<(Uuid, Uuid, DateTime<Utc>)>> {
    Ok(Sessions::find()
        .select_only()
        .column(S::TenantId)
        .column(S::Id)
        .column(S::StartedAt)
        .filter(S::Status.eq("active"))
        .filter(S::ReplicaId.eq(replica))
        .into_tuple()
        .all(tx.conn())
        .await?)
}
