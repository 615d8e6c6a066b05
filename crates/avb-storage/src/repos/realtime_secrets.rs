//! Ephemeral client secrets for /v1/realtime (stored hashed).

use crate::entities::realtime_client_secret::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::{TenantTx, Tx};
use avb_domain::{ApiKeyId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// Stores a secret for the transaction's tenant.
pub async fn insert(
    tx: &TenantTx,
    api_key: Option<ApiKeyId>,
    user: Option<UserId>,
    secret_hash: String,
    dialect: &str,
    session: serde_json::Value,
    expires_at: DateTime<Utc>,
) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Ok(ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        api_key_id: Set(api_key.map(|k| k.as_uuid())),
        user_id: Set(user.map(|u| u.as_uuid())),
        secret_hash: Set(secret_hash),
        dialect: Set(dialect.to_string()),
        session: Set(session),
        expires_at: Set(expires_at),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// Finds an unexpired secret by hash (platform look-up at connect time).
pub async fn find_live(tx: &Tx, secret_hash: &str) -> StorageResult<Option<Model>> {
    let mut q = Entity::find()
        .filter(Column::SecretHash.eq(secret_hash))
        .filter(Column::ExpiresAt.gt(Utc::now()));
    if let Some(t) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    Ok(q.one(tx.conn()).await?)
}

/// Uses up secret `id` (single use): true for exactly one caller.
pub async fn consume(tx: &Tx, id: uuid::Uuid) -> StorageResult<bool> {
    let r = Entity::delete_many()
        .filter(Column::Id.eq(id))
        .exec(tx.conn())
        .await?;
    Ok(r.rows_affected == 1)
}
