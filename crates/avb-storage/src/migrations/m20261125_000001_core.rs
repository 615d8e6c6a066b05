//! Core schema: tenants, identity, projects, API keys, audit; PostgreSQL row-level security.

use sea_orm::DbBackend;
use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Tables that carry `tenant_id` and get row-level security on PostgreSQL.
const TENANT_TABLES: &[&str] = &["memberships", "invitations", "projects", "api_keys"];

fn ts(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone(name)
}

fn ts_null(name: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(name)
}

async fn index(
    m: &SchemaManager<'_>,
    table: &'static str,
    name: &str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut idx = Index::create();
    idx.name(name).table(table);
    for c in cols {
        idx.col(*c);
    }
    if unique {
        idx.unique();
    }
    m.create_index(idx.to_owned()).await
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("tenants")
                .col(pk_uuid("id"))
                .col(string("name"))
                .col(string("billing_email"))
                .col(string("plan"))
                .col(string("status"))
                .col(string("timezone"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;
        index(m, "tenants", "tenants_name", &["name"], false).await?;

        m.create_table(
            Table::create()
                .table("users")
                .col(pk_uuid("id"))
                .col(string_uniq("email"))
                .col(string("name"))
                .col(text_null("password_hash"))
                .col(string_null("totp_secret"))
                .col(boolean("is_saas_admin"))
                .col(string("status"))
                .col(integer("failed_logins"))
                .col(ts_null("locked_until"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("memberships")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("user_id"))
                .col(string("role"))
                .col(ts("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("memberships", "tenant_id")
                        .to("tenants", "id"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from("memberships", "user_id")
                        .to("users", "id"),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "memberships",
            "memberships_tenant_user",
            &["tenant_id", "user_id"],
            true,
        )
        .await?;
        index(m, "memberships", "memberships_user", &["user_id"], false).await?;

        m.create_table(
            Table::create()
                .table("invitations")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("email"))
                .col(string("role"))
                .col(string_uniq("token_hash"))
                .col(uuid_null("invited_by"))
                .col(string("status"))
                .col(ts("expires_at"))
                .col(ts("created_at"))
                .col(ts_null("accepted_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("invitations", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "invitations",
            "invitations_tenant_id",
            &["tenant_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("projects")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("name"))
                .col(string("environment"))
                .col(text("description"))
                .col(ts("created_at"))
                .col(ts("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("projects", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "projects",
            "projects_tenant_id",
            &["tenant_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("api_keys")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid_null("project_id"))
                .col(string("name"))
                .col(string("environment"))
                .col(string_uniq("prefix"))
                .col(string("secret_hash"))
                .col(string("scopes"))
                .col(string("status"))
                .col(ts_null("expires_at"))
                .col(uuid_null("rotated_to"))
                .col(uuid_null("created_by"))
                .col(ts("created_at"))
                .col(ts_null("last_used_at"))
                .col(big_integer("request_count"))
                .col(ts_null("revoked_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("api_keys", "tenant_id")
                        .to("tenants", "id"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from("api_keys", "project_id")
                        .to("projects", "id"),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "api_keys",
            "api_keys_tenant_id",
            &["tenant_id", "id"],
            false,
        )
        .await?;
        index(
            m,
            "api_keys",
            "api_keys_tenant_project",
            &["tenant_id", "project_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("audit_events")
                .col(pk_uuid("id"))
                .col(uuid_null("tenant_id"))
                .col(string("chain"))
                .col(big_integer("seq"))
                .col(string("actor_type"))
                .col(string("actor_id"))
                .col(string("actor_label"))
                .col(string("action"))
                .col(string("resource_type"))
                .col(string("resource_id"))
                .col(string("ip"))
                .col(text("user_agent"))
                .col(json("summary"))
                .col(string("result"))
                .col(text("search_text"))
                .col(ts("created_at"))
                .col(string("prev_hash"))
                .col(string("hash"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "audit_events",
            "audit_events_chain_seq",
            &["chain", "seq"],
            true,
        )
        .await?;
        index(
            m,
            "audit_events",
            "audit_events_tenant_id",
            &["tenant_id", "id"],
            false,
        )
        .await?;

        // The head of each audit chain: appends lock this row, read the last hash, update it.
        m.create_table(
            Table::create()
                .table("audit_chain_heads")
                .col(string("chain").primary_key())
                .col(uuid_null("tenant_id"))
                .col(big_integer("seq"))
                .col(string("hash"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("auth_sessions")
                .col(pk_uuid("id"))
                .col(uuid("user_id"))
                .col(uuid_null("tenant_id"))
                .col(string_uniq("refresh_hash"))
                .col(string("ip"))
                .col(text("user_agent"))
                .col(ts("created_at"))
                .col(ts("last_seen_at"))
                .col(ts("expires_at"))
                .col(ts_null("revoked_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("auth_sessions", "user_id")
                        .to("users", "id"),
                )
                .to_owned(),
        )
        .await?;
        index(
            m,
            "auth_sessions",
            "auth_sessions_user",
            &["user_id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("login_events")
                .col(pk_uuid("id"))
                .col(uuid_null("user_id"))
                .col(string("email"))
                .col(string("ip"))
                .col(text("user_agent"))
                .col(boolean("success"))
                .col(string("reason"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;
        index(
            m,
            "login_events",
            "login_events_user",
            &["user_id", "id"],
            false,
        )
        .await?;

        m.create_table(
            Table::create()
                .table("mail_outbox")
                .col(pk_uuid("id"))
                .col(string("to_address"))
                .col(string("subject"))
                .col(text("body"))
                .col(string("status"))
                .col(integer("attempts"))
                .col(text("last_error"))
                .col(ts("created_at"))
                .col(ts_null("sent_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("one_time_tokens")
                .col(pk_uuid("id"))
                .col(string("purpose"))
                .col(string_uniq("token_hash"))
                .col(uuid_null("user_id"))
                .col(ts("expires_at"))
                .col(ts_null("used_at"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("server_secrets")
                .col(string("name").primary_key())
                .col(text("value"))
                .col(ts("created_at"))
                .to_owned(),
        )
        .await?;

        if m.get_database_backend() == DbBackend::Postgres {
            postgres_row_level_security(m).await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "server_secrets",
            "one_time_tokens",
            "mail_outbox",
            "login_events",
            "auth_sessions",
            "audit_chain_heads",
            "audit_events",
            "api_keys",
            "projects",
            "invitations",
            "memberships",
            "users",
            "tenants",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}

/// The NOLOGIN role every tenant transaction switches to, its grants, and the RLS policies.
async fn postgres_row_level_security(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    // Roles are cluster-wide: several databases (tests, replicas) may race to create it.
    db.execute_unprepared(
        "DO $$ BEGIN
           CREATE ROLE avb_tenant NOLOGIN NOBYPASSRLS;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$;",
    )
    .await?;
    db.execute_unprepared(
        "DO $$ BEGIN
           EXECUTE format('GRANT avb_tenant TO %I', current_user);
         EXCEPTION WHEN OTHERS THEN NULL;
         END $$;",
    )
    .await?;
    db.execute_unprepared(
        "GRANT USAGE ON SCHEMA public TO avb_tenant;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO avb_tenant;
         GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO avb_tenant;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO avb_tenant;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO avb_tenant;",
    )
    .await?;
    let platform = "current_setting('app.platform', true) = 'on'";
    let tenant = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";
    for table in TENANT_TABLES
        .iter()
        .chain(["audit_events", "audit_chain_heads"].iter())
    {
        db.execute_unprepared(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON {table}
               USING (tenant_id = {tenant} OR {platform})
               WITH CHECK (tenant_id = {tenant} OR {platform});"
        ))
        .await?;
    }
    db.execute_unprepared(&format!(
        "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
         ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
         CREATE POLICY tenant_isolation ON tenants
           USING (id = {tenant} OR {platform})
           WITH CHECK (id = {tenant} OR {platform});"
    ))
    .await?;
    Ok(())
}
