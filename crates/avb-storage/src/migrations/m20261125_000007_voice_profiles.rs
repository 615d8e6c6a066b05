//! Voice profiles: a tenant's default voice/STT/LLM/persona settings and per-project overrides.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("voice_profiles")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("project_id"))
                // "tenant" for the tenant default, else the project id: unique per tenant
                // without relying on NULL semantics in unique indexes.
                .col(string("scope_key"))
                .col(string_null("voice"))
                .col(double_null("speed"))
                .col(string_null("stt_model"))
                .col(string_null("stt_language"))
                .col(string_null("llm_provider"))
                .col(string_null("llm_base_url"))
                .col(string_null("llm_model"))
                .col(text_null("llm_api_key_enc"))
                .col(double_null("temperature"))
                .col(integer_null("max_output_tokens"))
                .col(text_null("instructions"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("voice_profiles", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("voice_profiles_scope")
                .table("voice_profiles")
                .col("tenant_id")
                .col("scope_key")
                .unique()
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "voice_profiles").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("voice_profiles").to_owned())
            .await
    }
}
