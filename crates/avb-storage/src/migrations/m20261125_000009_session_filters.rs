//! Indexes for the filtered session lists of the portal (status, project, API key), each ending
//! in the id so that a filtered page is an index range scan in id order.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

const INDEXES: &[(&str, &str)] = &[
    ("realtime_sessions_status", "status"),
    ("realtime_sessions_project", "project_id"),
    ("realtime_sessions_key", "api_key_id"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, col) in INDEXES {
            m.create_index(
                Index::create()
                    .name(*name)
                    .table("realtime_sessions")
                    .col("tenant_id")
                    .col(*col)
                    .col("id")
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for (name, _) in INDEXES {
            m.drop_index(
                Index::drop()
                    .name(*name)
                    .table("realtime_sessions")
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }
}
