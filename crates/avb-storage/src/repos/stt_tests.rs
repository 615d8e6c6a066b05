//! Console test transcriptions of the transaction's tenant.

use crate::entities::stt_test::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::TenantTx;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// What one test measured.
#[derive(Debug, Clone, PartialEq)]
pub struct NewSttTest {
    pub model: String,
    pub language: Option<String>,
    pub format: String,
    pub duration_secs: Option<f64>,
    pub latency_ms: f64,
    pub wer: Option<f64>,
}

/// Records one test for the transaction's tenant.
pub async fn insert(tx: &TenantTx, t: NewSttTest) -> StorageResult<Model> {
    let row = ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        model: Set(t.model),
        language: Set(t.language),
        format: Set(t.format),
        duration_secs: Set(t.duration_secs),
        latency_ms: Set(t.latency_ms),
        wer: Set(t.wer),
        created_at: Set(Utc::now()),
    };
    Ok(row.insert(tx.conn()).await?)
}

/// The tenant's most recent `limit` tests, newest first.
pub async fn recent(tx: &TenantTx, limit: u64) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .order_by_desc(Column::CreatedAt)
        .limit(limit)
        .all(tx.conn())
        .await?)
}
