//! Server secrets (JWT signing key, API-key HMAC key) shared by every replica.

use crate::entities::server_secret::{ActiveModel, Entity};
use crate::error::{StorageError, StorageResult};
use crate::store::Tx;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, EntityTrait, Set};

/// Returns the secret `name`, creating it with `generate()` the first time.
pub async fn get_or_create(
    tx: &Tx,
    name: &str,
    generate: impl FnOnce() -> String,
) -> StorageResult<String> {
    if let Some(s) = Entity::find_by_id(name.to_string()).one(tx.conn()).await? {
        return Ok(s.value);
    }
    let value = generate();
    let res = ActiveModel {
        name: Set(name.to_string()),
        value: Set(value.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await;
    match res {
        Ok(_) => Ok(value),
        Err(e) => match StorageError::from(e) {
            // Another replica created it first: use theirs.
            StorageError::Conflict(_) => Entity::find_by_id(name.to_string())
                .one(tx.conn())
                .await?
                .map(|s| s.value)
                .ok_or(StorageError::NotFound),
            other => Err(other),
        },
    }
}
