//! `ovos_skill_settings` table: the platform's values for one skill's settings.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "ovos_skill_settings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub skill_id: String,
    /// A JSON object: field name -> value.
    pub settings: String,
    pub updated_at: DateTimeUtc,
    /// Who saved them (the audit actor).
    pub updated_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
