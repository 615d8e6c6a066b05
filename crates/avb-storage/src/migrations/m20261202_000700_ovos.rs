//! OVOS per tenant (O2, O5): whether a tenant's voice turns go through ovos-core first, with
//! which language, whether OVOS fallback skills may answer, and which skills the tenant turned
//! off (applied through the turn's session blacklist, never globally); one intent event per
//! answered turn for the intent analytics; and the Skill stage's time on each turn record.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("ovos_tenant_settings")
                .col(uuid("tenant_id").primary_key())
                .col(boolean("enabled"))
                .col(string("lang"))
                .col(boolean("fallback_skills"))
                // A JSON array of skill ids.
                .col(text("disabled_skills"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("ovos_tenant_settings", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "ovos_tenant_settings").await?;

        m.create_table(
            Table::create()
                .table("intent_events")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("session_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(text("utterance"))
                // intent | fallback | persona | failure
                .col(string("outcome"))
                .col(string_null("intent"))
                .col(string_null("skill"))
                .col(double_null("confidence"))
                .col(big_integer("latency_ms"))
                .col(text("error"))
                .foreign_key(
                    ForeignKey::create()
                        .from("intent_events", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("intent_events_tenant_created")
                .table("intent_events")
                .col("tenant_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "intent_events").await?;

        // Wake words (O4): a tenant's phrases and what detection saw in its sessions.
        m.create_table(
            Table::create()
                .table("wake_words")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("phrase"))
                // openwakeword (built-in model) | pocketsphinx (custom phrase, experimental)
                .col(string("engine"))
                .col(double("sensitivity"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("wake_words", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "wake_words").await?;
        m.create_table(
            Table::create()
                .table("wake_word_events")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("session_id"))
                .col(uuid_null("wake_word_id"))
                .col(string("phrase"))
                // detection | missed
                .col(string("kind"))
                .col(double("score"))
                // The words after it, as transcribed ("" when nothing followed).
                .col(text("utterance"))
                // "" | false_positive | correct | missed
                .col(string("marked"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("wake_word_events", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("wake_word_events_tenant_created")
                .table("wake_word_events")
                .col("tenant_id")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "wake_word_events").await?;

        // The Intent + Skill stage of a turn, for the pipeline view and the waterfall.
        m.alter_table(
            Table::alter()
                .table("realtime_turns")
                .add_column(big_integer_null("skill_ms"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("realtime_turns")
                .drop_column("skill_ms")
                .to_owned(),
        )
        .await?;
        for t in [
            "wake_word_events",
            "wake_words",
            "intent_events",
            "ovos_tenant_settings",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
