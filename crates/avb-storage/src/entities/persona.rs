//! `personas` table: a persona's editable draft and the version sessions use.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "personas")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    pub description: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub language: String,
    /// JSON array of solver names in execution order.
    pub solvers: String,
    /// The version sessions use; none before the first publish.
    pub published_version: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
