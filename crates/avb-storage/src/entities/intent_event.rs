//! `intent_events` table: how one user turn was answered (an intent, a fallback skill, the
//! persona's LLM, or a failure), with its utterance, confidence and latency.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "intent_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub session_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub utterance: String,
    pub outcome: String,
    pub intent: Option<String>,
    pub skill: Option<String>,
    pub confidence: Option<f64>,
    pub latency_ms: i64,
    pub error: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
