//! Archives of audit rows past the retention period: which prefix of which chain went to which
//! compressed file, and the hash the chain continues from.

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("audit_archives")
                .col(pk_uuid("id"))
                .col(string("chain"))
                .col(uuid_null("tenant_id"))
                .col(big_integer("first_seq"))
                .col(big_integer("last_seq"))
                .col(string("last_hash"))
                .col(big_integer("rows"))
                .col(string("file"))
                .col(string("file_sha256"))
                .col(timestamp_with_time_zone("oldest_at"))
                .col(timestamp_with_time_zone("newest_at"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("audit_archives_chain")
                .table("audit_archives")
                .col("chain")
                .col("last_seq")
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table("audit_archives").to_owned())
            .await
    }
}
