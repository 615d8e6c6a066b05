//! Webhooks: tenant endpoints, the durable delivery outbox, and every delivery attempt.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("webhook_endpoints")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("url"))
                .col(string("description"))
                // Comma-separated event types; "*" for all.
                .col(string("events"))
                // The Standard Webhooks signing secret, sealed (AES-256-GCM, tenant as AAD).
                .col(text("secret_enc"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("webhook_endpoints", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_deliveries")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("endpoint_id"))
                .col(string("event_type"))
                .col(text("payload"))
                // pending -> delivered | failed (retries exhausted)
                .col(string("status"))
                .col(integer("attempts"))
                .col(timestamp_with_time_zone("next_attempt_at"))
                .col(integer_null("last_status_code"))
                .col(text("last_error"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone_null("delivered_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("webhook_deliveries", "endpoint_id")
                        .to("webhook_endpoints", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_deliveries_due")
                .table("webhook_deliveries")
                .col("status")
                .col("next_attempt_at")
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_deliveries_endpoint")
                .table("webhook_deliveries")
                .col("tenant_id")
                .col("endpoint_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("webhook_attempts")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("delivery_id"))
                .col(integer("attempt"))
                .col(integer_null("status_code"))
                .col(text("error"))
                .col(big_integer("duration_ms"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("webhook_attempts", "delivery_id")
                        .to("webhook_deliveries", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("webhook_attempts_delivery")
                .table("webhook_attempts")
                .col("delivery_id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("tenant_settings")
                .col(pk_uuid("tenant_id"))
                // Requests per calendar month (UTC) that raise usage.threshold_reached.
                .col(big_integer_null("usage_threshold_requests"))
                .col(string("notify_email"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("tenant_settings", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        for t in [
            "webhook_endpoints",
            "webhook_deliveries",
            "webhook_attempts",
            "tenant_settings",
        ] {
            super::tenant_rls(m, t).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "tenant_settings",
            "webhook_attempts",
            "webhook_deliveries",
            "webhook_endpoints",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
