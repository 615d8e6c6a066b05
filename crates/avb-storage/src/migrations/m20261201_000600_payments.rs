//! Payments (B6.6, A3.5): every payment attempt against an invoice (manual, Lago or Stripe),
//! with its outcome and the provider's error, and the tenant's customer at a payment provider
//! (Stripe, when its keys are configured directly).

use sea_orm_migration::{prelude::*, schema::*};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table("payments")
                .col(pk_uuid("id"))
                .col(uuid("tenant_id"))
                .col(uuid("invoice_id"))
                // manual | lago | stripe
                .col(string("provider"))
                // succeeded | failed | pending
                .col(string("status"))
                .col(big_integer("amount_minor"))
                .col(string("currency"))
                // The provider's id (a Stripe PaymentIntent, a Lago invoice).
                .col(string_null("reference"))
                .col(text("error"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("payments", "tenant_id")
                        .to("tenants", "id"),
                )
                .foreign_key(
                    ForeignKey::create()
                        .from("payments", "invoice_id")
                        .to("invoices", "id"),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("payments_created")
                .table("payments")
                .col("created_at")
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "payments").await?;

        m.create_table(
            Table::create()
                .table("payment_accounts")
                .col(uuid("tenant_id").primary_key())
                // stripe
                .col(string("provider"))
                .col(string("customer_id"))
                .col(timestamp_with_time_zone("created_at"))
                .foreign_key(
                    ForeignKey::create()
                        .from("payment_accounts", "tenant_id")
                        .to("tenants", "id"),
                )
                .to_owned(),
        )
        .await?;
        super::tenant_rls(m, "payment_accounts").await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["payment_accounts", "payments"] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
