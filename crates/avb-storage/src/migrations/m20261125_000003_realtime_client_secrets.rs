//! Ephemeral client secrets (`ek_...`) for /v1/realtime, with the session they configure.

use sea_orm::DbBackend;
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
        if m.get_database_backend() == DbBackend::Postgres {
            m.get_connection()
                .execute_unprepared(
                    "ALTER TABLE realtime_client_secrets ENABLE ROW LEVEL SECURITY;
                     ALTER TABLE realtime_client_secrets FORCE ROW LEVEL SECURITY;
                     CREATE POLICY tenant_isolation ON realtime_client_secrets
                       USING (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
                              OR current_setting('app.platform', true) = 'on')
                       WITH CHECK (tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid
                              OR current_setting('app.platform', true) = 'on');",
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("realtime_client_secrets").to_owned())
            .await
    }
}
