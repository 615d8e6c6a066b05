//! Items and turn timings of realtime sessions.

use crate::entities::{realtime_item, realtime_turn};
use crate::error::StorageResult;
use crate::store::TenantTx;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

/// Rows kept per session in a detail view.
const DETAIL_LIMIT: u64 = 500;

/// Stores one conversation item.
pub async fn insert_item(
    tx: &TenantTx,
    session: Uuid,
    item_id: &str,
    kind: &str,
    role: &str,
    text: &str,
) -> StorageResult<()> {
    let tenant = tx.tenant_id();
    realtime_item::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        session_id: Set(session),
        item_id: Set(item_id.to_string()),
        kind: Set(kind.to_string()),
        role: Set(role.to_string()),
        text: Set(text.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?;
    Ok(())
}

/// Timing of one turn, in milliseconds.
#[derive(Debug, Clone, Default)]
pub struct TurnTimes {
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_byte_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    pub voice_to_voice_ms: Option<i64>,
    pub skill_ms: Option<i64>,
    /// Why the turn's speech could not be transcribed.
    pub stt_error: Option<String>,
}

/// Stores one turn's timing.
pub async fn insert_turn(
    tx: &TenantTx,
    session: Uuid,
    response_id: &str,
    status: &str,
    t: &TurnTimes,
) -> StorageResult<()> {
    let tenant = tx.tenant_id();
    realtime_turn::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        session_id: Set(session),
        response_id: Set(response_id.to_string()),
        status: Set(status.to_string()),
        stt_ms: Set(t.stt_ms),
        llm_first_token_ms: Set(t.llm_first_token_ms),
        tts_first_byte_ms: Set(t.tts_first_byte_ms),
        first_audio_ms: Set(t.first_audio_ms),
        voice_to_voice_ms: Set(t.voice_to_voice_ms),
        skill_ms: Set(t.skill_ms),
        stt_error: Set(t.stt_error.clone()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?;
    Ok(())
}

/// The first items and turns of a session, oldest first.
pub async fn for_session(
    tx: &TenantTx,
    session: Uuid,
) -> StorageResult<(Vec<realtime_item::Model>, Vec<realtime_turn::Model>)> {
    let tenant = tx.tenant_id();
    let items = realtime_item::Entity::find()
        .filter(realtime_item::Column::TenantId.eq(tenant.as_uuid()))
        .filter(realtime_item::Column::SessionId.eq(session))
        .order_by_asc(realtime_item::Column::Id)
        .limit(DETAIL_LIMIT)
        .all(tx.conn())
        .await?;
    let turns = realtime_turn::Entity::find()
        .filter(realtime_turn::Column::TenantId.eq(tenant.as_uuid()))
        .filter(realtime_turn::Column::SessionId.eq(session))
        .order_by_asc(realtime_turn::Column::Id)
        .limit(DETAIL_LIMIT)
        .all(tx.conn())
        .await?;
    Ok((items, turns))
}

/// Every tenant's turns recorded in `[from, to)`, newest first, at most `cap` (platform
/// transaction: the pipeline view).
pub async fn turns_between(
    tx: &crate::store::PlatformTx,
    from: chrono::DateTime<Utc>,
    to: chrono::DateTime<Utc>,
    cap: u64,
) -> StorageResult<Vec<realtime_turn::Model>> {
    Ok(realtime_turn::Entity::find()
        .filter(realtime_turn::Column::CreatedAt.gte(from))
        .filter(realtime_turn::Column::CreatedAt.lt(to))
        .order_by_desc(realtime_turn::Column::Id)
        .limit(cap)
        .all(tx.conn())
        .await?)
}
