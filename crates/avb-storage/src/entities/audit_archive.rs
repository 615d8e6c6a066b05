//! `audit_archives` table.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_archives")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub chain: String,
    pub tenant_id: Option<Uuid>,
    pub first_seq: i64,
    pub last_seq: i64,
    pub last_hash: String,
    pub rows: i64,
    pub file: String,
    pub file_sha256: String,
    pub oldest_at: DateTimeUtc,
    pub newest_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
