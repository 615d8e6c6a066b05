//! A tenant's wake words and the detections in its sessions.

use crate::entities::wake_word::{ActiveModel, Column, Entity};
use crate::entities::wake_word_event;
use crate::error::{StorageError, StorageResult};
use crate::store::TenantTx;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use uuid::Uuid;

pub use crate::entities::wake_word::Model as WakeWord;
pub use crate::entities::wake_word_event::Model as WakeWordEvent;

/// The tenant's wake words, oldest first.
pub async fn list(tx: &TenantTx) -> StorageResult<Vec<WakeWord>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .order_by_asc(Column::Id)
        .all(tx.conn())
        .await?)
}

/// One of the tenant's wake words.
pub async fn get(tx: &TenantTx, id: Uuid) -> StorageResult<WakeWord> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Adds a wake word.
pub async fn insert(
    tx: &TenantTx,
    phrase: &str,
    engine: &str,
    sensitivity: f64,
) -> StorageResult<WakeWord> {
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        phrase: Set(phrase.to_string()),
        engine: Set(engine.to_string()),
        sensitivity: Set(sensitivity),
        enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?)
}

/// Changes a wake word's sensitivity and whether it listens.
pub async fn update(
    tx: &TenantTx,
    id: Uuid,
    sensitivity: f64,
    enabled: bool,
) -> StorageResult<WakeWord> {
    let mut m = get(tx, id).await?.into_active_model();
    m.sensitivity = Set(sensitivity);
    m.enabled = Set(enabled);
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// Deletes a wake word (its events stay, with the phrase).
pub async fn delete(tx: &TenantTx, id: Uuid) -> StorageResult<()> {
    let w = get(tx, id).await?;
    Entity::delete_by_id(w.id).exec(tx.conn()).await?;
    Ok(())
}

/// A detection or missed activation to record.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub session_id: Option<Uuid>,
    pub wake_word_id: Option<Uuid>,
    pub phrase: String,
    pub kind: &'static str,
    pub score: f64,
    pub utterance: String,
}

/// Records an event in the transaction's tenant.
pub async fn insert_event(tx: &TenantTx, e: NewEvent) -> StorageResult<()> {
    wake_word_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        session_id: Set(e.session_id),
        wake_word_id: Set(e.wake_word_id),
        phrase: Set(e.phrase),
        kind: Set(e.kind.to_string()),
        score: Set(e.score),
        utterance: Set(e.utterance),
        marked: Set(String::new()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?;
    Ok(())
}

/// Marks an event (`false_positive`, `correct`, `missed` or `` to clear).
pub async fn mark_event(tx: &TenantTx, id: Uuid, marked: &str) -> StorageResult<()> {
    let e = wake_word_event::Entity::find_by_id(id)
        .filter(wake_word_event::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)?;
    let mut m = e.into_active_model();
    m.marked = Set(marked.to_string());
    m.update(tx.conn()).await?;
    Ok(())
}

/// The tenant's events since `from`, newest first, at most `cap`.
pub async fn events_since(
    tx: &TenantTx,
    from: DateTime<Utc>,
    cap: u64,
) -> StorageResult<Vec<WakeWordEvent>> {
    Ok(wake_word_event::Entity::find()
        .filter(wake_word_event::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(wake_word_event::Column::CreatedAt.gte(from))
        .order_by_desc(wake_word_event::Column::Id)
        .limit(cap)
        .all(tx.conn())
        .await?)
}
