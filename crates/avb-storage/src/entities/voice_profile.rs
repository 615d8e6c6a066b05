//! `voice_profiles` table: unset columns inherit (project -> tenant -> server config).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "voice_profiles")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Option<Uuid>,
    pub scope_key: String,
    pub voice: Option<String>,
    pub speed: Option<f64>,
    pub stt_model: Option<String>,
    pub stt_language: Option<String>,
    /// VAD turn detection: `Some(false)` starts sessions with `turn_detection: null`.
    pub stt_vad: Option<bool>,
    pub llm_provider: Option<String>,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    /// Sealed with the server's BYOK key (AES-256-GCM); never returned by the API.
    pub llm_api_key_enc: Option<String>,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i32>,
    pub instructions: Option<String>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
