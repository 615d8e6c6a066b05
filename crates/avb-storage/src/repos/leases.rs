//! Leader leases (platform queries): a replica holds a named lease until it expires; whoever
//! writes first after that takes it over.

use crate::entities::leader_lease::{ActiveModel, Column, Entity};
use crate::error::StorageResult;
use crate::store::Tx;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

/// Takes or renews lease `name` for `holder` until `expires_at`, in one conditional write: it
/// succeeds when nobody holds the lease, `holder` already does, or the holder's lease ran out
/// before `now`. Returns whether `holder` holds it now.
pub async fn acquire(
    tx: &Tx,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> StorageResult<bool> {
    let taken = Entity::insert(ActiveModel {
        name: Set(name.to_string()),
        holder: Set(holder.to_string()),
        expires_at: Set(expires_at),
    })
    .on_conflict(
        OnConflict::column(Column::Name)
            .update_columns([Column::Holder, Column::ExpiresAt])
            .action_and_where(
                Expr::col((Entity, Column::Holder))
                    .eq(holder)
                    .or(Expr::col((Entity, Column::ExpiresAt)).lt(now)),
            )
            .to_owned(),
    )
    .exec_without_returning(tx.conn())
    .await?;
    Ok(taken == 1)
}

/// Gives up lease `name` if `holder` holds it (another replica may take it at once).
pub async fn release(tx: &Tx, name: &str, holder: &str) -> StorageResult<()> {
    Entity::delete_many()
        .filter(Column::Name.eq(name))
        .filter(Column::Holder.eq(holder))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// The current holder of lease `name`, if its lease has not run out at `now`.
pub async fn holder(tx: &Tx, name: &str, now: DateTime<Utc>) -> StorageResult<Option<String>> {
    Ok(Entity::find_by_id(name.to_string())
        .filter(Column::ExpiresAt.gte(now))
        .one(tx.conn())
        .await?
        .map(|l| l.holder))
}
