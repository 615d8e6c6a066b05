//! `subscriptions` table: a tenant's plan (the version it started on), its billing period and
//! a downgrade waiting for the period end.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub plan_id: Uuid,
    pub plan_version: i32,
    /// `active` or `terminated`.
    pub status: String,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    /// A plan to switch to at `period_end`.
    pub pending_plan_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
