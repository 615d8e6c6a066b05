//! `lago_webhooks` table: the `X-Lago-Unique-Key` of every webhook processed, so a retried one
//! changes nothing twice.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "lago_webhooks")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub unique_key: String,
    pub webhook_type: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
