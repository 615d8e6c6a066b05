//! Who holds each live realtime session (replica heartbeats, so survivors close the sessions of
//! a replica that died) and which user minted a client secret (so removing or disabling the
//! user stops the secret).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("replicas")
                .col(string("id").primary_key())
                .col(timestamp_with_time_zone("started_at"))
                .col(timestamp_with_time_zone("heartbeat_at"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("realtime_sessions")
                .add_column(string_null("replica_id"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realtime_sessions_live_replica")
                .table("realtime_sessions")
                .col("status")
                .col("replica_id")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("realtime_client_secrets")
                .add_column(uuid_null("user_id"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("realtime_client_secrets")
                .drop_column("user_id")
                .to_owned(),
        )
        .await?;
        m.drop_index(
            Index::drop()
                .name("realtime_sessions_live_replica")
                .table("realtime_sessions")
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("realtime_sessions")
                .drop_column("replica_id")
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table("replicas").to_owned())
            .await
    }
}
