//! Billing (A3, A4, B6): plans with immutable versions (platform tables), a subscription per
//! tenant with a pending plan change, invoices with their lines and payment status, credits,
//! numbering counters, and the Lago webhook keys already processed (deduplication).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("plans")
                .col(pk_uuid("id"))
                .col(string_uniq("code"))
                .col(string("name"))
                // active | deprecated
                .col(string("status"))
                .col(integer("current_version"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .to_owned(),
        )
        .await?;
        // Immutable: an edit adds a version; subscriptions keep the version they started on.
        m.create_table(
            Table::create()
                .table("plan_versions")
                .col(pk_uuid("id"))
                .col(uuid("plan_id"))
                .col(integer("version"))
                // The plan's terms as JSON (avb_domain::pricing::PlanTerms).
                .col(text("terms"))
                .col(string("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("plan_versions", "plan_id")
                        .to("plans", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("plan_versions_plan_version")
                .table("plan_versions")
                .col("plan_id")
                .col("version")
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("subscriptions")
                .col(pk_uuid("id"))
                .col(uuid_uniq("tenant_id"))
                .col(uuid("plan_id"))
                .col(integer("plan_version"))
                // active | terminated
                .col(string("status"))
                .col(timestamp_with_time_zone("period_start"))
                .col(timestamp_with_time_zone("period_end"))
                // A downgrade waiting for the period end.
                .col(uuid_null("pending_plan_id"))
                .col(timestamp_with_time_zone("created_at"))
                .col(timestamp_with_time_zone("updated_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("subscriptions", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "subscriptions").await?;

        m.create_table(
            Table::create()
                .table("invoices")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string_uniq("number"))
                // period | proration
                .col(string("kind"))
                // finalized | voided
                .col(string("status"))
                // pending | paid | failed
                .col(string("payment_status"))
                .col(string("currency"))
                .col(timestamp_with_time_zone("period_start"))
                .col(timestamp_with_time_zone("period_end"))
                .col(string("plan_code"))
                // JSON array of avb_domain::pricing::InvoiceLine.
                .col(text("lines"))
                .col(big_integer("subtotal_minor"))
                .col(big_integer("credits_minor"))
                .col(big_integer("total_minor"))
                .col(timestamp_with_time_zone("issued_at"))
                .col(timestamp_with_time_zone_null("paid_at"))
                .col(timestamp_with_time_zone_null("voided_at"))
                .col(text("note"))
                // local | lago
                .col(string("provider"))
                .col(string_null("external_id"))
                .foreign_key(
                    ForeignKey::create()
                        .from("invoices", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("invoices_tenant_period")
                .table("invoices")
                .col("tenant_id")
                .col("kind")
                .col("period_start")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "invoices").await?;

        m.create_table(
            Table::create()
                .table("credits")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(string("currency"))
                .col(big_integer("amount_minor"))
                .col(big_integer("remaining_minor"))
                .col(text("reason"))
                .col(string("created_by"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("credits", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "credits").await?;

        m.create_table(
            Table::create()
                .table("billing_counters")
                .col(string("name").primary_key())
                .col(big_integer("value"))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table("lago_webhooks")
                .col(string("unique_key").primary_key())
                .col(string("webhook_type"))
                .col(timestamp_with_time_zone("received_at"))
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "lago_webhooks",
            "billing_counters",
            "credits",
            "invoices",
            "subscriptions",
            "plan_versions",
            "plans",
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
