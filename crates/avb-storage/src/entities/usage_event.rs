//! `usage_events` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "usage_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub project_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub session_id: Option<Uuid>,
    pub metric: String,
    pub quantity: f64,
    #[sea_orm(unique)]
    pub idempotency_key: String,
    pub occurred_at: DateTimeUtc,
    /// When billing (Lago) accepted the row; `None` while it is still to ship.
    pub shipped_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
