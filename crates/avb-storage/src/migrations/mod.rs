//! sea-orm-migration DDL for both backends. A landed migration is never edited.

use sea_orm_migration::prelude::*;

mod m20261125_000001_core;
mod m20261125_000002_audit_search;
mod m20261125_000003_realtime_client_secrets;
mod m20261125_000004_realtime_sessions;
mod m20261125_000005_usage_events;
mod m20261125_000006_realtime_items_turns;

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
        ]
    }
}
