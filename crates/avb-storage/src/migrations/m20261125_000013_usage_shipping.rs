//! When each usage row was accepted by the billing system (Lago); unset rows are still to ship.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("usage_events")
                .add_column(timestamp_with_time_zone_null("shipped_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("usage_events_unshipped")
                .table("usage_events")
                .col("shipped_at")
                .col("id")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("usage_events_unshipped")
                .table("usage_events")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("usage_events")
                .drop_column("shipped_at")
                .to_owned(),
        )
        .await
    }
}
