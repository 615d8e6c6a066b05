//! Payment attempts against invoices (B6.6, A3.5): every recorded outcome, whether the operator
//! entered it, Lago reported it or Stripe charged the card, with the provider's reference and
//! error; listed across tenants for the SaaS admin's payments export.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use avb_domain::Permission;
use avb_storage::entities::invoice::Model as Invoice;
use avb_storage::repos::payments::{self as repo, NewPayment};
use avb_storage::store::TenantTx;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// One payment attempt as the export shows it.
#[derive(Debug, Clone, Serialize)]
pub struct PaymentView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub invoice_id: Uuid,
    /// `manual`, `lago` or `stripe`.
    pub provider: String,
    /// `succeeded`, `failed` or `pending`.
    pub status: String,
    pub amount_minor: i64,
    pub currency: String,
    pub reference: Option<String>,
    pub error: String,
    pub created_at: DateTime<Utc>,
}

/// Records the outcome the invoice now shows (`paid` -> succeeded, `failed` -> failed, else
/// pending) as a payment attempt through `provider`.
pub(crate) async fn record(
    tx: &TenantTx,
    inv: &Invoice,
    provider: &str,
    reference: Option<&str>,
    error: &str,
) -> CoreResult<()> {
    let status = match inv.payment_status.as_str() {
        "paid" => "succeeded",
        "failed" => "failed",
        _ => "pending",
    };
    repo::insert(
        tx,
        NewPayment {
            invoice_id: inv.id,
            provider,
            status,
            amount_minor: inv.total_minor,
            currency: &inv.currency,
            reference,
            error,
        },
    )
    .await?;
    Ok(())
}

/// Every payment attempt across tenants in `[from, to)` (requires `platform:tenants`).
pub async fn list_all(
    ctx: &AppContext,
    scope: &Scope,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> CoreResult<Vec<PaymentView>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let rows = repo::between(&tx, from, to).await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|p| PaymentView {
            id: p.id,
            tenant_id: p.tenant_id,
            invoice_id: p.invoice_id,
            provider: p.provider,
            status: p.status,
            amount_minor: p.amount_minor,
            currency: p.currency,
            reference: p.reference,
            error: p.error,
            created_at: p.created_at,
        })
        .collect())
}
