//! Custom voices (B13): a tenant's voices made from an uploaded sample, by a stock-voice blend
//! fitted locally or by a remote cloning engine, and the samples waiting for their job (kept
//! apart so lists never read audio; a sample is deleted once its job ends).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("custom_voices")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                // stock_blend | remote_clone
                .col(string("method"))
                // queued | making | ready | failed
                .col(string("status"))
                .col(double("progress"))
                .col(text("stage"))
                .col(text("error"))
                // What the TTS engine is sent as `voice` once ready.
                .col(string_null("engine_voice"))
                .col(double_null("similarity"))
                .col(string_null("best_stock_voice"))
                .col(double_null("best_stock_similarity"))
                // The engine's final report (JSON), for the detail view.
                .col(text("report"))
                .col(double("sample_seconds"))
                .col(double("sample_level_dbfs"))
                .col(double("sample_snr_db"))
                .col(integer("attempts"))
                // A job holds the voice until then; a lapsed lease is taken over.
                .col(timestamp_with_time_zone_null("lease_until"))
                .col(string("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(timestamp_with_time_zone_null("finished_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("custom_voices", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("custom_voices_tenant_name")
                .table("custom_voices")
                .col("tenant_id")
                .col("name")
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("custom_voices_status")
                .table("custom_voices")
                .col("status")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "custom_voices").await?;

        m.create_table(
            Table::create()
                .table("custom_voice_samples")
                .col(pk_uuid("voice_id"))
                .col(uuid("tenant_id"))
                // The sample as a 16-bit PCM mono WAV.
                .col(blob("wav"))
                .foreign_key(
                    ForeignKey::create()
                        .from("custom_voice_samples", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "custom_voice_samples").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("custom_voice_samples").to_owned())
            .await?;
        m.drop_table(Table::drop().table("custom_voices").to_owned())
            .await
    }
}
