//! Server-side login sessions; the refresh token is stored hashed.

use crate::entities::auth_session::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::store::Tx;
use avb_domain::{AuthSessionId, TenantId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// Creates a session.
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    tx: &Tx,
    user: UserId,
    tenant: Option<TenantId>,
    refresh_hash: String,
    ip: &str,
    user_agent: &str,
    expires_at: DateTime<Utc>,
) -> StorageResult<Model> {
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(AuthSessionId::new().as_uuid()),
        user_id: Set(user.as_uuid()),
        tenant_id: Set(tenant.map(|t| t.as_uuid())),
        refresh_hash: Set(refresh_hash),
        ip: Set(ip.to_string()),
        user_agent: Set(user_agent.to_string()),
        created_at: Set(now),
        last_seen_at: Set(now),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
    }
    .insert(tx.conn())
    .await?)
}

/// Finds a session by id.
pub async fn get(tx: &Tx, id: AuthSessionId) -> StorageResult<Model> {
    Entity::find_by_id(id.as_uuid())
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Finds a session by refresh-token hash.
pub async fn find_by_refresh(tx: &Tx, refresh_hash: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::RefreshHash.eq(refresh_hash))
        .one(tx.conn())
        .await?)
}

/// Replaces the refresh token (rotation) and extends the session.
pub async fn rotate(
    tx: &Tx,
    s: Model,
    refresh_hash: String,
    expires_at: DateTime<Utc>,
) -> StorageResult<Model> {
    let mut am: ActiveModel = s.into();
    am.refresh_hash = Set(refresh_hash);
    am.last_seen_at = Set(Utc::now());
    am.expires_at = Set(expires_at);
    Ok(am.update(tx.conn()).await?)
}

/// Revokes one session.
pub async fn revoke(tx: &Tx, id: AuthSessionId) -> StorageResult<()> {
    Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(Column::RevokedAt.is_null())
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Revokes every session of a user (password reset, disable).
pub async fn revoke_all_for_user(tx: &Tx, user: UserId) -> StorageResult<u64> {
    let r = Entity::update_many()
        .col_expr(Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(Column::UserId.eq(user.as_uuid()))
        .filter(Column::RevokedAt.is_null())
        .exec(tx.conn())
        .await?;
    Ok(r.rows_affected)
}

/// Revokes every live session of `user` except `keep`; returns the revoked ids.
pub async fn revoke_others(
    tx: &Tx,
    user: UserId,
    keep: AuthSessionId,
) -> StorageResult<Vec<AuthSessionId>> {
    let live = Entity::find()
        .filter(Column::UserId.eq(user.as_uuid()))
        .filter(Column::RevokedAt.is_null())
        .filter(Column::Id.ne(keep.as_uuid()))
        .all(tx.conn())
        .await?;
    let ids: Vec<AuthSessionId> = live.iter().map(|s| AuthSessionId(s.id)).collect();
    if !ids.is_empty() {
        Entity::update_many()
            .col_expr(Column::RevokedAt, Expr::value(Some(Utc::now())))
            .filter(Column::Id.is_in(live.iter().map(|s| s.id)))
            .exec(tx.conn())
            .await?;
    }
    Ok(ids)
}
