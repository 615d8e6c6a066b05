//! Browser sessions of the web portal, so that a restart or another replica keeps users signed
//! in. Tokens are stored sealed; the key is the SHA-256 of the cookie value.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("portal_sessions")
                .col(string("id").primary_key())
                .col(text("access_token_enc"))
                .col(text("refresh_token_enc"))
                .col(string("csrf"))
                .col(text_null("idp_id_token_enc"))
                .col(text_null("idp_refresh_token_enc"))
                // A SaaS admin viewing this tenant read-only.
                .col(uuid_null("impersonating"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("last_used_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("portal_sessions_last_used")
                .table("portal_sessions")
                .col("last_used_at")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("portal_sessions").to_owned())
            .await
    }
}
