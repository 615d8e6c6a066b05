//! `realtime_turns` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "realtime_turns")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub session_id: Uuid,
    pub response_id: String,
    pub status: String,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_byte_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    pub voice_to_voice_ms: Option<i64>,
    /// ovos-core asked (intent and skill words) before the LLM.
    pub skill_ms: Option<i64>,
    /// Why the user's speech could not be transcribed, when it could not.
    pub stt_error: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
