//! Alert rules evaluated by the server, the incidents they open and resolve, and each
//! incident's timeline (platform tables: they watch the whole deployment).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("alert_rules")
                .col(pk_uuid("id"))
                .col(string("name"))
                // service_down | http_error_rate | http_p99_ms | stage_p99_ms
                .col(string("metric"))
                // A service name, route, or stage; "*" for all.
                .col(string("target"))
                .col(double("threshold"))
                .col(integer("for_secs"))
                // email | webhook
                .col(string("channel"))
                .col(string("destination"))
                .col(boolean("enabled"))
                .col(timestamp_with_time_zone("created_at"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("incidents")
                .col(pk_uuid("id"))
                .col(uuid("rule_id"))
                .col(string("status"))
                .col(string("summary"))
                .col(double("value"))
                .col(timestamp_with_time_zone("opened_at"))
                .col(timestamp_with_time_zone_null("resolved_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("incidents", "rule_id")
                        .to("alert_rules", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("incident_events")
                .col(pk_uuid("id"))
                .col(uuid("incident_id"))
                .col(string("kind"))
                .col(text("detail"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("incident_events", "incident_id")
                        .to("incidents", "id")
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["incident_events", "incidents", "alert_rules"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
