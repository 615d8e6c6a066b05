//! Invoices, credits and invoice numbering. Tenant functions take the tenant from the
//! transaction; the platform ones list across tenants for the SaaS admin.

use crate::entities::invoice::{ActiveModel, Column, Entity, Model};
use crate::entities::{billing_counter, credit, lago_webhook};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{PlatformTx, TenantTx, Tx};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

/// An invoice to record (finalised, payment pending).
#[derive(Debug, Clone)]
pub struct NewInvoice {
    pub number: String,
    pub kind: String,
    pub currency: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub plan_code: String,
    pub lines: String,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
    pub provider: String,
    pub external_id: Option<String>,
}

/// Records a finalised invoice in the transaction's tenant; a zero total is paid at once.
pub async fn insert(tx: &TenantTx, n: NewInvoice) -> StorageResult<Model> {
    let now = Utc::now();
    let paid = n.total_minor == 0;
    Ok(ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        number: Set(n.number),
        kind: Set(n.kind),
        status: Set("finalized".into()),
        payment_status: Set(if paid { "paid" } else { "pending" }.into()),
        currency: Set(n.currency),
        period_start: Set(n.period_start),
        period_end: Set(n.period_end),
        plan_code: Set(n.plan_code),
        lines: Set(n.lines),
        subtotal_minor: Set(n.subtotal_minor),
        credits_minor: Set(n.credits_minor),
        total_minor: Set(n.total_minor),
        issued_at: Set(now),
        paid_at: Set(paid.then_some(now)),
        voided_at: Set(None),
        note: Set(String::new()),
        provider: Set(n.provider),
        external_id: Set(n.external_id),
    }
    .insert(tx.conn())
    .await?)
}

/// Whether the tenant already has a `kind` invoice for the period starting at `start`.
pub async fn exists_for_period(
    tx: &TenantTx,
    kind: &str,
    start: DateTime<Utc>,
) -> StorageResult<bool> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Kind.eq(kind))
        .filter(Column::PeriodStart.eq(start))
        .one(tx.conn())
        .await?
        .is_some())
}

/// The tenant's invoices, newest first.
pub async fn list(tx: &TenantTx, page: PageRequest) -> StorageResult<Page<Model>> {
    let q = Entity::find().filter(Column::TenantId.eq(tx.tenant_id().as_uuid()));
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// One invoice of the tenant.
pub async fn get(tx: &TenantTx, id: Uuid) -> StorageResult<Model> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// One invoice of any tenant (platform transaction).
pub async fn get_any(tx: &PlatformTx, id: Uuid) -> StorageResult<Model> {
    Entity::find_by_id(id)
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// The mirrored invoice with Lago's id, if any (platform transaction).
pub async fn find_external(tx: &PlatformTx, external_id: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::ExternalId.eq(external_id))
        .one(tx.conn())
        .await?)
}

/// Filters of the admin's invoice list.
#[derive(Debug, Clone, Default)]
pub struct InvoiceFilter {
    pub tenant: Option<Uuid>,
    /// `paid`, `pending`, `failed` (payment status), `voided` (status) or `overdue` (pending
    /// and issued before `overdue_before`).
    pub status: Option<String>,
    pub overdue_before: Option<DateTime<Utc>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Invoices across tenants (platform transaction), newest first.
pub async fn list_all(
    tx: &PlatformTx,
    f: &InvoiceFilter,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let mut q = Entity::find();
    if let Some(t) = f.tenant {
        q = q.filter(Column::TenantId.eq(t));
    }
    match f.status.as_deref() {
        Some("voided") => q = q.filter(Column::Status.eq("voided")),
        Some("overdue") => {
            q = q
                .filter(Column::Status.eq("finalized"))
                .filter(Column::PaymentStatus.eq("pending"));
            if let Some(before) = f.overdue_before {
                q = q.filter(Column::IssuedAt.lt(before));
            }
        }
        Some(s) => {
            q = q
                .filter(Column::Status.eq("finalized"))
                .filter(Column::PaymentStatus.eq(s.to_string()))
        }
        None => {}
    }
    if let Some(from) = f.from {
        q = q.filter(Column::PeriodEnd.gt(from));
    }
    if let Some(to) = f.to {
        q = q.filter(Column::PeriodStart.lt(to));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Every finalised invoice with pending or failed payment (platform transaction).
pub async fn outstanding(tx: &PlatformTx) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::Status.eq("finalized"))
        .filter(Column::PaymentStatus.is_in(["pending", "failed"]))
        .all(tx.conn())
        .await?)
}

/// Sets the payment status (`paid`, `pending`, `failed`) with a note (a failure's details).
pub async fn set_payment(tx: &Tx, inv: Model, status: &str, note: &str) -> StorageResult<Model> {
    let mut m: ActiveModel = inv.into();
    m.payment_status = Set(status.to_string());
    m.paid_at = Set((status == "paid").then(Utc::now));
    m.note = Set(note.to_string());
    Ok(m.update(tx.conn()).await?)
}

/// Voids an invoice with the reason.
pub async fn void(tx: &Tx, inv: Model, reason: &str) -> StorageResult<Model> {
    let mut m: ActiveModel = inv.into();
    m.status = Set("voided".into());
    m.voided_at = Set(Some(Utc::now()));
    m.note = Set(reason.to_string());
    Ok(m.update(tx.conn()).await?)
}

/// Grants the tenant a credit.
pub async fn insert_credit(
    tx: &TenantTx,
    currency: &str,
    amount_minor: i64,
    reason: &str,
    created_by: &str,
) -> StorageResult<credit::Model> {
    Ok(credit::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        currency: Set(currency.to_string()),
        amount_minor: Set(amount_minor),
        remaining_minor: Set(amount_minor),
        reason: Set(reason.to_string()),
        created_by: Set(created_by.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// The tenant's credits with something left in `currency`, oldest first.
pub async fn open_credits(tx: &TenantTx, currency: &str) -> StorageResult<Vec<credit::Model>> {
    Ok(credit::Entity::find()
        .filter(credit::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(credit::Column::Currency.eq(currency))
        .filter(credit::Column::RemainingMinor.gt(0))
        .order_by_asc(credit::Column::Id)
        .all(tx.conn())
        .await?)
}

/// Takes up to `amount` from the tenant's open credits (oldest first); returns what was taken.
pub async fn consume_credits(tx: &TenantTx, currency: &str, amount: i64) -> StorageResult<i64> {
    let mut left = amount;
    for c in open_credits(tx, currency).await? {
        if left <= 0 {
            break;
        }
        let take = c.remaining_minor.min(left);
        left -= take;
        let mut m: credit::ActiveModel = c.into();
        m.remaining_minor = Set(m.remaining_minor.unwrap() - take);
        m.update(tx.conn()).await?;
    }
    Ok(amount - left)
}

/// The next value of the named sequence (1, 2, ...), safe against concurrent callers.
pub async fn next_number(tx: &Tx, name: &str) -> StorageResult<i64> {
    loop {
        match billing_counter::Entity::find_by_id(name.to_string())
            .one(tx.conn())
            .await?
        {
            None => {
                let inserted = billing_counter::ActiveModel {
                    name: Set(name.to_string()),
                    value: Set(1),
                }
                .insert(tx.conn())
                .await;
                if inserted.is_ok() {
                    return Ok(1);
                }
            }
            Some(c) => {
                let r = billing_counter::Entity::update_many()
                    .col_expr(billing_counter::Column::Value, Expr::value(c.value + 1))
                    .filter(billing_counter::Column::Name.eq(name))
                    .filter(billing_counter::Column::Value.eq(c.value))
                    .exec(tx.conn())
                    .await?;
                if r.rows_affected == 1 {
                    return Ok(c.value + 1);
                }
            }
        }
    }
}

/// Whether a Lago webhook with this unique key was processed.
pub async fn webhook_seen(tx: &PlatformTx, key: &str) -> StorageResult<bool> {
    Ok(lago_webhook::Entity::find_by_id(key.to_string())
        .one(tx.conn())
        .await?
        .is_some())
}

/// Records a Lago webhook's unique key; false when it was processed before.
pub async fn first_webhook(tx: &PlatformTx, key: &str, kind: &str) -> StorageResult<bool> {
    if lago_webhook::Entity::find_by_id(key.to_string())
        .one(tx.conn())
        .await?
        .is_some()
    {
        return Ok(false);
    }
    lago_webhook::ActiveModel {
        unique_key: Set(key.to_string()),
        webhook_type: Set(kind.to_string()),
        received_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?;
    Ok(true)
}
