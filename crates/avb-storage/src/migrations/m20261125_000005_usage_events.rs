//! The usage ledger: append-only, one row per metric per billable event, idempotent.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("usage_events")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("project_id"))
                .col(uuid_null("api_key_id"))
                .col(uuid_null("session_id"))
                .col(string("metric"))
                .col(double("quantity"))
                .col(string_uniq("idempotency_key"))
                .col(timestamp_with_time_zone("occurred_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("usage_events", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("usage_events_tenant_time")
                .table("usage_events")
                .col("tenant_id")
                .col("occurred_at")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "usage_events").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("usage_events").to_owned())
            .await
    }
}
