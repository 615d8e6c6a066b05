//! `stt_tests` table: one row per console test transcription (latency, WER when a reference
//! text was given).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stt_tests")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub model: String,
    pub language: Option<String>,
    pub format: String,
    pub duration_secs: Option<f64>,
    pub latency_ms: f64,
    pub wer: Option<f64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
