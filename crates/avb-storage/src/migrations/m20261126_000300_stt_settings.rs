//! Speech-to-text settings and tests: `voice_profiles.stt_vad` (VAD turn detection on/off,
//! NULL inherits) and `stt_tests`, one row per test transcription run from the console (its
//! latency and, when a reference text was given, its word error rate).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("voice_profiles")
                .add_column(boolean_null("stt_vad"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("stt_tests")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("model"))
                .col(string_null("language"))
                .col(string("format"))
                .col(double_null("duration_secs"))
                .col(double("latency_ms"))
                .col(double_null("wer"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("stt_tests", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("stt_tests_tenant_created")
                .table("stt_tests")
                .col("tenant_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "stt_tests").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("stt_tests").to_owned())
            .await?;
        m.alter_table(
            Table::alter()
                .table("voice_profiles")
                .drop_column("stt_vad")
                .to_owned(),
        )
        .await
    }
}
