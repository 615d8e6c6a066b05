//! Skill settings (O2): the values the platform gave a skill's settings (the fields of its
//! `settingsmeta.json`). ovos-core keeps one settings file per skill for every tenant, so
//! this is a platform table; the service pushes each change to ovos-core over the bus. Also
//! the STT stage's error on a turn record.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("ovos_skill_settings")
                .col(string("skill_id").primary_key())
                // A JSON object: field name -> value.
                .col(text("settings"))
                .col(timestamp_with_time_zone("updated_at"))
                .col(string("updated_by"))
                .to_owned(),
        )
        .await?;
        // Why the turn's speech could not be transcribed (the STT stage's error breakdown).
        m.alter_table(
            Table::alter()
                .table("realtime_turns")
                .add_column(text_null("stt_error"))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table("realtime_turns")
                .drop_column("stt_error")
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table("ovos_skill_settings").to_owned())
            .await
    }
}
