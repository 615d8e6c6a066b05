//! Ephemeral client secrets (`ek_...`) for /v1/realtime, with the session they configure.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("realtime_client_secrets")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("api_key_id"))
                .col(string_uniq("secret_hash"))
                .col(string("dialect"))
                .col(json("session"))
                .col(timestamp_with_time_zone("expires_at"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("realtime_client_secrets", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realtime_client_secrets_tenant_id")
                .table("realtime_client_secrets")
                .col("tenant_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "realtime_client_secrets").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("realtime_client_secrets").to_owned())
            .await
    }
}
