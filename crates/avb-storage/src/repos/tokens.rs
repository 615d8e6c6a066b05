//! One-time tokens (setup, password reset), stored hashed, used once.

use crate::entities::one_time_token::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::store::Tx;
use avb_domain::UserId;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// Stores a token hash for `purpose`.
pub async fn insert(
    tx: &Tx,
    purpose: &str,
    token_hash: String,
    user: Option<UserId>,
    expires_at: DateTime<Utc>,
) -> StorageResult<Model> {
    Ok(ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        purpose: Set(purpose.to_string()),
        token_hash: Set(token_hash),
        user_id: Set(user.map(|u| u.as_uuid())),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// Marks an unused, unexpired token of `purpose` as used and returns it.
pub async fn consume(tx: &Tx, purpose: &str, token_hash: &str) -> StorageResult<Model> {
    let now = Utc::now();
    // One conditional write: of two concurrent uses exactly one matches the row.
    let used = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Some(now)))
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(now))
        .exec(tx.conn())
        .await?;
    if used.rows_affected != 1 {
        return Err(StorageError::NotFound);
    }
    find(tx, purpose, token_hash)
        .await?
        .ok_or(StorageError::NotFound)
}

/// Whether an unused, unexpired token of `purpose` exists.
pub async fn any_live(tx: &Tx, purpose: &str) -> StorageResult<bool> {
    Ok(Entity::find()
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UsedAt.is_null())
        .filter(Column::ExpiresAt.gt(Utc::now()))
        .one(tx.conn())
        .await?
        .is_some())
}

/// Marks every unused token of `purpose` belonging to `user` as used (after one of them was, or
/// when the credentials they would reset changed); returns how many were still outstanding.
pub async fn invalidate_for_user(tx: &Tx, purpose: &str, user: UserId) -> StorageResult<u64> {
    use sea_orm::sea_query::Expr;
    let res = Entity::update_many()
        .col_expr(Column::UsedAt, Expr::value(Some(Utc::now())))
        .filter(Column::Purpose.eq(purpose))
        .filter(Column::UserId.eq(user.as_uuid()))
        .filter(Column::UsedAt.is_null())
        .exec(tx.conn())
        .await?;
    Ok(res.rows_affected)
}

/// The token of `purpose` with this hash, used or not (to tell an expired link from a used one).
pub async fn find(tx: &Tx, purpose: &str, token_hash: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::TokenHash.eq(token_hash))
        .filter(Column::Purpose.eq(purpose))
        .one(tx.conn())
        .await?)
}
