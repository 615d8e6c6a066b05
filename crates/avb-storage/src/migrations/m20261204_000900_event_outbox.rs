//! Platform events' transactional outbox (T4.4): one row per event, written in the same
//! transaction as the change it reports, published to Kafka (when configured) in id order and
//! then marked; the id is the event id consumers deduplicate by.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("event_outbox")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("event_type"))
                // The event's JSON (id, type, tenant_id, created_at, data).
                .col(text("payload"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("published_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("event_outbox", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("event_outbox_published_id")
                .table("event_outbox")
                .col("published_at")
                .col("id")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "event_outbox").await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("event_outbox").to_owned())
            .await
    }
}
