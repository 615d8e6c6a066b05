//! `custom_voice_samples` table: the sample a queued or running custom-voice job reads.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_voice_samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub voice_id: Uuid,
    pub tenant_id: Uuid,
    /// 16-bit PCM mono WAV.
    pub wav: Vec<u8>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
