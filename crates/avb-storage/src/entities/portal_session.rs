//! `portal_sessions` table: signed-in browsers (tokens sealed).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "portal_sessions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub access_token_enc: String,
    pub refresh_token_enc: String,
    pub csrf: String,
    pub idp_id_token_enc: Option<String>,
    pub idp_refresh_token_enc: Option<String>,
    pub impersonating: Option<Uuid>,
    pub created_at: DateTimeUtc,
    pub last_used_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
