//! Personas: a tenant's named assistant configurations (instructions, voice, speed, language,
//! ordered knowledge solvers) with immutable published versions, the tenant's and projects'
//! default persona, and which persona version each realtime session used.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("personas")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                .col(text("description"))
                // draft | published | archived
                .col(string("status"))
                .col(text("instructions"))
                .col(string("voice"))
                .col(double("speed"))
                .col(string("language"))
                // JSON array of solver names, in execution order.
                .col(text("solvers"))
                .col(integer_null("published_version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("personas", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("personas_tenant_name")
                .table("personas")
                .col("tenant_id")
                .col("name")
                .unique()
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "personas").await?;

        // Immutable: rows are only ever inserted (and removed with their persona).
        m.create_table(
            Table::create()
                .table("persona_versions")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("persona_id"))
                .col(integer("version"))
                .col(string("name"))
                .col(text("description"))
                .col(text("instructions"))
                .col(string("voice"))
                .col(double("speed"))
                .col(string("language"))
                .col(text("solvers"))
                .col(timestamp_with_time_zone("created_at"))
                .col(string("created_by"))
                .foreign_key(
                    ForeignKey::create()
                        .from("persona_versions", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("persona_versions_persona_version")
                .table("persona_versions")
                .col("tenant_id")
                .col("persona_id")
                .col("version")
                .unique()
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "persona_versions").await?;

        // The default persona of the tenant (scope_key "tenant") or of one project (its id):
        // project over tenant, like voice_profiles.
        m.create_table(
            Table::create()
                .table("persona_defaults")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("project_id"))
                .col(string("scope_key"))
                .col(uuid("persona_id"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("persona_defaults", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("persona_defaults_scope")
                .table("persona_defaults")
                .col("tenant_id")
                .col("scope_key")
                .unique()
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "persona_defaults").await?;

        m.alter_table(
            Table::alter()
                .table("realtime_sessions")
                .add_column(uuid_null("persona_id"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table("realtime_sessions")
                .add_column(integer_null("persona_version"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("realtime_sessions_persona")
                .table("realtime_sessions")
                .col("tenant_id")
                .col("persona_id")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("realtime_sessions_persona")
                .table("realtime_sessions")
                .to_owned(),
        )
        .await?;
        for col in ["persona_version", "persona_id"] {
            m.alter_table(
                Table::alter()
                    .table("realtime_sessions")
                    .drop_column(col)
                    .to_owned(),
            )
            .await?;
        }
        for t in ["persona_defaults", "persona_versions", "personas"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
