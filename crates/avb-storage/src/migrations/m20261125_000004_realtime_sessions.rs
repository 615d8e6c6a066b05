//! Records of /v1/realtime sessions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("realtime_sessions")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("project_id"))
                .col(uuid_null("api_key_id"))
                .col(string("realtime_id"))
                .col(string("status"))
                .col(string("model"))
                .col(string("dialect"))
                .col(string("client_ip"))
                .col(text("user_agent"))
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone_null("ended_at"))
                .col(string("close_reason"))
                .col(integer("responses"))
                .foreign_key(
                    ForeignKey::create()
                        .from("realtime_sessions", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realtime_sessions_tenant_id")
                .table("realtime_sessions")
                .col("tenant_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "realtime_sessions").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("realtime_sessions").to_owned())
            .await
    }
}
