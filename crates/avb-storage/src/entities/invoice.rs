//! `invoices` table: a finalised invoice of a tenant, its lines and payment status.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "invoices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub number: String,
    /// `period` (fee and usage of a billing period) or `proration` (an upgrade's difference).
    pub kind: String,
    /// `finalized` or `voided`.
    pub status: String,
    /// `pending`, `paid` or `failed`.
    pub payment_status: String,
    pub currency: String,
    pub period_start: DateTimeUtc,
    pub period_end: DateTimeUtc,
    pub plan_code: String,
    /// JSON array of `avb_domain::pricing::InvoiceLine`.
    pub lines: String,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
    pub issued_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
    /// Why it was voided, or a payment failure's details.
    pub note: String,
    /// `local` or `lago`.
    pub provider: String,
    /// Lago's id, for mirrored invoices.
    pub external_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
