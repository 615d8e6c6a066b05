//! sea-orm-migration DDL for both backends. A landed migration is never edited.

use sea_orm_migration::prelude::*;

mod m20261125_000001_core;
mod m20261125_000002_audit_search;
mod m20261125_000003_realtime_client_secrets;
mod m20261125_000004_realtime_sessions;
mod m20261125_000005_usage_events;
mod m20261125_000006_realtime_items_turns;
mod m20261125_000007_voice_profiles;
mod m20261125_000008_webhooks;
mod m20261125_000009_session_filters;
mod m20261125_000010_portal_sessions;
mod m20261125_000011_alerts;
mod m20261125_000012_audit_archives;
mod m20261125_000013_usage_shipping;
mod m20261126_000014_realtime_liveness;
mod m20261126_000101_totp_last_step;
mod m20261126_000300_stt_settings;
mod m20261127_000015_leader_leases;
mod m20261128_000200_personas;
mod m20261129_000400_custom_voices;
mod m20261130_000500_billing;
mod m20261201_000600_payments;
mod m20261202_000700_ovos;
mod m20261203_000800_skill_settings;
mod m20261204_000900_event_outbox;

/// PostgreSQL only: row-level security on a tenant-owned table (ENABLE + FORCE and the policy
/// that admits the transaction's tenant, or a platform transaction).
pub(crate) async fn tenant_rls(m: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    if m.get_database_backend() != sea_orm::DbBackend::Postgres {
        return Ok(());
    }
    let rule = "tenant_id = NULLIF(current_setting('app.tenant_id', true), '')::uuid \
                OR current_setting('app.platform', true) = 'on'";
    m.get_connection()
        .execute_unprepared(&format!(
            "ALTER TABLE {table} ENABLE ROW LEVEL SECURITY;
             ALTER TABLE {table} FORCE ROW LEVEL SECURITY;
             CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule});"
        ))
        .await?;
    Ok(())
}

/// All migrations in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261125_000001_core::Migration),
            Box::new(m20261125_000002_audit_search::Migration),
            Box::new(m20261125_000003_realtime_client_secrets::Migration),
            Box::new(m20261125_000004_realtime_sessions::Migration),
            Box::new(m20261125_000005_usage_events::Migration),
            Box::new(m20261125_000006_realtime_items_turns::Migration),
            Box::new(m20261125_000007_voice_profiles::Migration),
            Box::new(m20261125_000008_webhooks::Migration),
            Box::new(m20261125_000009_session_filters::Migration),
            Box::new(m20261125_000010_portal_sessions::Migration),
            Box::new(m20261125_000011_alerts::Migration),
            Box::new(m20261125_000012_audit_archives::Migration),
            Box::new(m20261125_000013_usage_shipping::Migration),
            Box::new(m20261126_000014_realtime_liveness::Migration),
            Box::new(m20261126_000101_totp_last_step::Migration),
            Box::new(m20261127_000015_leader_leases::Migration),
            Box::new(m20261128_000200_personas::Migration),
            Box::new(m20261126_000300_stt_settings::Migration),
            Box::new(m20261129_000400_custom_voices::Migration),
            Box::new(m20261130_000500_billing::Migration),
            Box::new(m20261201_000600_payments::Migration),
            Box::new(m20261202_000700_ovos::Migration),
            Box::new(m20261203_000800_skill_settings::Migration),
            Box::new(m20261204_000900_event_outbox::Migration),
        ]
    }
}
