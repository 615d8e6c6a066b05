//! `realtime_sessions` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "realtime_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub realtime_id: String,
    pub status: String,
    pub model: String,
    pub dialect: String,
    pub client_ip: String,
    pub user_agent: String,
    pub started_at: DateTimeUtc,
    pub ended_at: Option<DateTimeUtc>,
    pub close_reason: String,
    pub responses: i32,
    pub replica_id: Option<String>,
    /// The persona the session started with, and its published version.
    pub persona_id: Option<Uuid>,
    pub persona_version: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
