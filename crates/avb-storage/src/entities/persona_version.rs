//! `persona_versions` table: immutable snapshots made by each publish.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "persona_versions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub persona_id: Uuid,
    pub version: i32,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub language: String,
    pub solvers: String,
    pub created_at: DateTimeUtc,
    /// Label of the actor who published it.
    pub created_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
