//! Conversation items and per-turn timing of realtime sessions.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("realtime_items")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("session_id"))
                .col(string("item_id"))
                .col(string("kind"))
                .col(string("role"))
                .col(text("text"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("realtime_items", "session_id")
                        .to("realtime_sessions", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realtime_items_session")
                .table("realtime_items")
                .col("tenant_id")
                .col("session_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("realtime_turns")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("session_id"))
                .col(string("response_id"))
                .col(string("status"))
                .col(big_integer_null("stt_ms"))
                .col(big_integer_null("llm_first_token_ms"))
                .col(big_integer_null("tts_first_byte_ms"))
                .col(big_integer_null("first_audio_ms"))
                .col(big_integer_null("voice_to_voice_ms"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("realtime_turns", "session_id")
                        .to("realtime_sessions", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realtime_turns_session")
                .table("realtime_turns")
                .col("tenant_id")
                .col("session_id")
                .col("id")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "realtime_items").await?;
        super::tenant_rls(m, "realtime_turns").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("realtime_turns").to_owned())
            .await?;
        m.drop_table(Table::drop().table("realtime_items").to_owned())
            .await
    }
}
