//! Payment attempts against invoices and the tenant's customer at a payment provider.

use crate::entities::payment::{ActiveModel, Column, Entity, Model};
use crate::entities::payment_account;
use crate::error::StorageResult;
use crate::store::{PlatformTx, TenantTx};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use uuid::Uuid;

/// A payment attempt to record.
#[derive(Debug, Clone)]
pub struct NewPayment<'a> {
    pub invoice_id: Uuid,
    pub provider: &'a str,
    pub status: &'a str,
    pub amount_minor: i64,
    pub currency: &'a str,
    pub reference: Option<&'a str>,
    pub error: &'a str,
}

/// Records a payment attempt in the transaction's tenant.
pub async fn insert(tx: &TenantTx, p: NewPayment<'_>) -> StorageResult<Model> {
    Ok(ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        invoice_id: Set(p.invoice_id),
        provider: Set(p.provider.to_string()),
        status: Set(p.status.to_string()),
        amount_minor: Set(p.amount_minor),
        currency: Set(p.currency.to_string()),
        reference: Set(p.reference.map(str::to_string)),
        error: Set(p.error.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// The attempts against one invoice of the transaction's tenant, oldest first.
pub async fn for_invoice(tx: &TenantTx, invoice: Uuid) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::InvoiceId.eq(invoice))
        .order_by_asc(Column::Id)
        .all(tx.conn())
        .await?)
}

/// Every attempt across tenants made in `[from, to)` (platform transaction), oldest first.
pub async fn between(
    tx: &PlatformTx,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> StorageResult<Vec<Model>> {
    let mut q = Entity::find();
    if let Some(from) = from {
        q = q.filter(Column::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        q = q.filter(Column::CreatedAt.lt(to));
    }
    Ok(q.order_by_asc(Column::Id).all(tx.conn()).await?)
}

/// The tenant's customer id at `provider`, if one was made.
pub async fn account(tx: &TenantTx, provider: &str) -> StorageResult<Option<String>> {
    Ok(
        payment_account::Entity::find_by_id(tx.tenant_id().as_uuid())
            .filter(payment_account::Column::Provider.eq(provider))
            .one(tx.conn())
            .await?
            .map(|a| a.customer_id),
    )
}

/// Remembers the tenant's customer id at `provider`.
pub async fn set_account(tx: &TenantTx, provider: &str, customer_id: &str) -> StorageResult<()> {
    payment_account::ActiveModel {
        tenant_id: Set(tx.tenant_id().as_uuid()),
        provider: Set(provider.to_string()),
        customer_id: Set(customer_id.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?;
    Ok(())
}

/// The tenant owning a provider's customer id (platform transaction; for provider webhooks).
pub async fn tenant_of_account(
    tx: &PlatformTx,
    provider: &str,
    customer_id: &str,
) -> StorageResult<Option<Uuid>> {
    Ok(payment_account::Entity::find()
        .filter(payment_account::Column::Provider.eq(provider))
        .filter(payment_account::Column::CustomerId.eq(customer_id))
        .one(tx.conn())
        .await?
        .map(|a| a.tenant_id))
}
