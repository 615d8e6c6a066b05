//! Invoices on the local ledger (A3, B6): at each period end the job invoices every tenant's
//! subscription fee plus usage charges (from the usage ledger, priced by the plan version the
//! tenant is on), applies open credits, numbers and finalises the invoice, and starts the next
//! period (applying a scheduled downgrade). An upgrade's prorated difference is its own
//! invoice. Invoices render as PDF. The SaaS admin lists invoices across tenants, records
//! payments and failures, voids unpaid invoices (the tenant is told by mail and webhook) and
//! grants credits. Amounts follow from plans and recorded usage only.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use crate::services::subscriptions;
use avb_domain::pricing::{Currency, InvoiceLine, PlanTerms};
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::entities::invoice::Model;
use avb_storage::entities::subscription::Model as Subscription;
use avb_storage::repos::invoices::{self as repo, InvoiceFilter, NewInvoice};
use avb_storage::repos::{
    audit as audit_repo, plans as plan_repo, subscriptions as sub_repo, tenants,
};
use avb_storage::store::TenantTx;
use avb_storage::{Page, PageRequest};
use chrono::{DateTime, Datelike, Duration, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

/// Days after issue at which an unpaid invoice counts as overdue.
pub const OVERDUE_DAYS: i64 = 14;

/// `amount` minor units of `currency`, formatted (`USD 12.34`, `JPY 1200`).
pub fn money(minor: i64, currency: &Currency) -> String {
    let exp = currency.exponent();
    let value = Decimal::new(minor, exp);
    format!("{} {value:.prec$}", currency.code(), prec = exp as usize)
}

/// An invoice as pages and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceView {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub number: String,
    /// `period` or `proration`.
    pub kind: String,
    /// `finalized` or `voided`.
    pub status: String,
    /// `pending`, `paid`, `failed`, or `overdue` (pending for more than 14 days).
    pub payment_status: String,
    pub currency: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub plan_code: String,
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<InvoiceLine>,
    pub subtotal_minor: i64,
    pub credits_minor: i64,
    pub total_minor: i64,
    /// The total, formatted.
    pub total: String,
    pub issued_at: DateTime<Utc>,
    pub paid_at: Option<DateTime<Utc>>,
    pub voided_at: Option<DateTime<Utc>>,
    /// Why it was voided, or a payment failure's details.
    pub note: String,
    /// `local` or `lago`.
    pub provider: String,
}

impl InvoiceView {
    fn from_model(m: Model) -> Self {
        let currency = Currency::parse(&m.currency).ok();
        let overdue = m.status == "finalized"
            && m.payment_status == "pending"
            && m.issued_at < Utc::now() - Duration::days(OVERDUE_DAYS);
        Self {
            total: currency
                .as_ref()
                .map(|c| money(m.total_minor, c))
                .unwrap_or_else(|| format!("{} {}", m.currency, m.total_minor)),
            id: m.id,
            tenant_id: m.tenant_id,
            number: m.number,
            kind: m.kind,
            status: m.status,
            payment_status: if overdue {
                "overdue".into()
            } else {
                m.payment_status
            },
            currency: m.currency,
            period_start: m.period_start,
            period_end: m.period_end,
            plan_code: m.plan_code,
            lines: serde_json::from_str(&m.lines).unwrap_or_default(),
            subtotal_minor: m.subtotal_minor,
            credits_minor: m.credits_minor,
            total_minor: m.total_minor,
            issued_at: m.issued_at,
            paid_at: m.paid_at,
            voided_at: m.voided_at,
            note: m.note,
            provider: m.provider,
        }
    }
}

/// The next invoice number, `AVB-<year>-<000001>`.
async fn next_number(tx: &TenantTx, at: DateTime<Utc>) -> CoreResult<String> {
    let n = repo::next_number(tx, &format!("invoice-{}", at.year())).await?;
    Ok(format!("AVB-{}-{n:06}", at.year()))
}

fn lines_json(lines: &[InvoiceLine]) -> CoreResult<String> {
    serde_json::to_string(lines).map_err(|e| CoreError::Internal(e.to_string()))
}

/// Invoices an upgrade's prorated fee difference (none when it is zero), in the caller's
/// transaction.
pub(crate) async fn issue_proration(
    tx: &TenantTx,
    s: &Subscription,
    old: &PlanTerms,
    new: &PlanTerms,
    prorated_minor: i64,
    at: DateTime<Utc>,
) -> CoreResult<Option<InvoiceView>> {
    if prorated_minor <= 0 {
        return Ok(None);
    }
    let line = InvoiceLine::proration(
        format!(
            "Upgrade from {} to {}, prorated from {} to {}",
            old.name,
            new.name,
            at.format("%Y-%m-%d"),
            s.period_end.format("%Y-%m-%d")
        ),
        prorated_minor,
    );
    let taken = repo::consume_credits(tx, new.currency.code(), prorated_minor).await?;
    let m = repo::insert(
        tx,
        NewInvoice {
            number: next_number(tx, at).await?,
            kind: "proration".into(),
            currency: new.currency.code().into(),
            period_start: at,
            period_end: s.period_end,
            plan_code: new.code.clone(),
            lines: lines_json(&[line])?,
            subtotal_minor: prorated_minor,
            credits_minor: taken,
            total_minor: prorated_minor - taken,
            provider: "local".into(),
            external_id: None,
        },
    )
    .await?;
    Ok(Some(InvoiceView::from_model(m)))
}

/// Invoices one ended period of the tenant's subscription and starts the next (idempotent: a
/// period already invoiced is only rolled over). Returns the invoice made, if any.
async fn close_period(ctx: &AppContext, s: Subscription) -> CoreResult<Option<Model>> {
    let tenant = TenantId(s.tenant_id);
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    // Re-read inside the transaction: another replica may have rolled it meanwhile.
    let Some(s) = sub_repo::current(&tx)
        .await?
        .filter(|c| c.period_end == s.period_end)
    else {
        return Ok(None);
    };
    let terms = subscriptions::terms_of(&tx, &s).await?;
    let mut made = None;
    // With Lago, Lago invoices (mirrored by its webhooks); the period still moves on here.
    let local = crate::services::billing_provider::name(ctx) == "local";
    if local && !repo::exists_for_period(&tx, "period", s.period_start).await? {
        let usage = subscriptions::period_usage(&tx, s.period_start, s.period_end).await?;
        let open: i64 = repo::open_credits(&tx, terms.currency.code())
            .await?
            .iter()
            .map(|c| c.remaining_minor)
            .sum();
        let totals = avb_domain::pricing::compute_invoice(&terms, &usage, Decimal::ONE, open);
        let taken =
            repo::consume_credits(&tx, terms.currency.code(), totals.credits_applied_minor).await?;
        made = Some(
            repo::insert(
                &tx,
                NewInvoice {
                    number: next_number(&tx, s.period_end).await?,
                    kind: "period".into(),
                    currency: terms.currency.code().into(),
                    period_start: s.period_start,
                    period_end: s.period_end,
                    plan_code: terms.code.clone(),
                    lines: lines_json(&totals.lines)?,
                    subtotal_minor: totals.subtotal_minor,
                    credits_minor: taken,
                    total_minor: totals.subtotal_minor - taken,
                    provider: "local".into(),
                    external_id: None,
                },
            )
            .await?,
        );
    }
    // The next period, on the scheduled plan if a downgrade waits.
    let (plan, version) = match s.pending_plan_id {
        Some(p) => (p, plan_repo::get(&tx, p).await?.current_version),
        None => (s.plan_id, s.plan_version),
    };
    let next_terms = crate::services::plans::terms_at(&tx, plan, version).await?;
    let end = subscriptions::period_end(s.period_end, next_terms.interval);
    sub_repo::roll(&tx, plan, version, s.period_end, end).await?;
    if s.pending_plan_id.is_some() {
        tenants::set_plan(&tx, tenant, &next_terms.code).await?;
    }
    if let Some(inv) = &made {
        audit_repo::append(
            &tx,
            system_entry(
                tenant,
                "invoice.finalize",
                inv.id,
                serde_json::json!({"number": inv.number, "total_minor": inv.total_minor, "currency": inv.currency}),
            ),
        )
        .await?;
    }
    tx.commit().await?;
    Ok(made)
}

fn system_entry(
    tenant: TenantId,
    action: &str,
    id: Uuid,
    summary: serde_json::Value,
) -> avb_storage::repos::audit::NewAudit {
    avb_storage::repos::audit::NewAudit {
        tenant: Some(tenant),
        actor_type: "system".into(),
        actor_id: "billing".into(),
        actor_label: "Billing".into(),
        action: action.into(),
        resource_type: "invoice".into(),
        resource_id: id.to_string(),
        ip: String::new(),
        user_agent: String::new(),
        summary,
        result: "success".into(),
    }
}

/// Closes every period that has ended by `now` (the billing job; periods missed while the
/// server was down are caught up one by one). Returns how many invoices were made.
pub async fn close_due_periods(ctx: &AppContext, now: DateTime<Utc>) -> CoreResult<usize> {
    let mut made = 0;
    // A tenant down for several periods needs several passes; each pass rolls one period.
    for _ in 0..24 {
        let tx = ctx.store.platform_tx(false).await?;
        let due = sub_repo::period_ended(&tx, now).await?;
        tx.commit().await?;
        if due.is_empty() {
            break;
        }
        for s in due {
            if let Some(inv) = close_period(ctx, s).await? {
                made += 1;
                // A saved card pays at once; a failure is recorded on the invoice.
                if let Err(e) =
                    crate::services::stripe::charge_invoice(ctx, TenantId(inv.tenant_id), inv.id, 0)
                        .await
                {
                    tracing::warn!(invoice = %inv.number, error = %e, "charging the card failed");
                }
            }
        }
    }
    Ok(made)
}

/// [`close_due_periods`] now (the billing job).
pub async fn close_ended_periods(ctx: &AppContext) -> CoreResult<usize> {
    close_due_periods(ctx, Utc::now()).await
}

/// The tenant's invoices, newest first (requires `billing:view`).
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    page: PageRequest,
) -> CoreResult<Page<InvoiceView>> {
    let tenant = tenant_of(scope, Permission::BillingView)?;
    ctx.policy
        .authorize(scope, Permission::BillingView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = repo::list(&tx, page).await?;
    tx.commit().await?;
    Ok(page.map(InvoiceView::from_model))
}

/// One invoice of the caller's tenant (requires `billing:view`), or of any tenant for the
/// SaaS admin (`platform:tenants`).
pub async fn get(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<InvoiceView> {
    Ok(InvoiceView::from_model(get_model(ctx, scope, id).await?))
}

async fn get_model(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<Model> {
    if scope.is_saas_admin() {
        ctx.policy
            .authorize(scope, Permission::PlatformTenants, None)?;
        let tx = ctx.store.platform_tx(false).await?;
        let m = repo::get_any(&tx, id).await?;
        tx.commit().await?;
        return Ok(m);
    }
    let tenant = tenant_of(scope, Permission::BillingView)?;
    ctx.policy
        .authorize(scope, Permission::BillingView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let m = repo::get(&tx, id).await?;
    tx.commit().await?;
    Ok(m)
}

/// Where Lago keeps its own PDF of a Lago invoice (requires `billing:view` for the tenant's own
/// invoices, as [`pdf`]); `None` for local invoices, while Lago still generates it, or when
/// Lago cannot be reached (the caller then renders the mirror with [`pdf`]).
pub async fn provider_pdf_url(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
) -> CoreResult<Option<String>> {
    let m = get_model(ctx, scope, id).await?;
    let (Some(lago_id), "lago") = (m.external_id.as_deref(), m.provider.as_str()) else {
        return Ok(None);
    };
    match crate::services::lago_sync::invoice_file_url(ctx, lago_id).await {
        Ok(url) => Ok(url),
        Err(e) => {
            tracing::warn!(invoice = %m.number, error = %e, "Lago's PDF is unavailable; rendering the mirror");
            Ok(None)
        }
    }
}

/// The invoice as a PDF (file name, bytes), rendered by the server.
pub async fn pdf(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<(String, Vec<u8>)> {
    let m = get_model(ctx, scope, id).await?;
    let tx = ctx.store.tenant_tx(TenantId(m.tenant_id), false).await?;
    let tenant = tenants::get(&tx, TenantId(m.tenant_id)).await?;
    tx.commit().await?;
    let v = InvoiceView::from_model(m);
    let currency = Currency::parse(&v.currency).map_err(CoreError::Validation)?;
    let fmt = |minor: i64| money(minor, &currency);
    let doc = crate::billing_pdf::InvoiceDocument {
        number: v.number.clone(),
        issued_on: v.issued_at.date_naive(),
        period_start: v.period_start.date_naive(),
        period_end: v.period_end.date_naive(),
        status: if v.status == "voided" {
            "VOID".into()
        } else {
            v.payment_status.to_uppercase()
        },
        seller: ctx.config.billing.seller.clone(),
        buyer_name: tenant.name,
        buyer_email: tenant.billing_email,
        currency: v.currency.clone(),
        lines: v
            .lines
            .iter()
            .map(|l| {
                (
                    l.description.clone(),
                    l.quantity.normalize().to_string(),
                    fmt(l.amount_minor),
                )
            })
            .collect(),
        subtotal: fmt(v.subtotal_minor),
        credits: fmt(v.credits_minor),
        total: fmt(v.total_minor),
    };
    Ok((
        format!("{}.pdf", v.number),
        crate::billing_pdf::render_invoice_pdf(&doc),
    ))
}

/// Filters of the admin's invoice list, as query parameters give them.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::IntoParams)]
pub struct AdminInvoiceQuery {
    /// `paid`, `pending`, `overdue`, `failed` or `voided`.
    pub status: Option<String>,
    pub tenant_id: Option<Uuid>,
    /// Invoices whose period ends after this (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Invoices whose period starts before this.
    pub to: Option<DateTime<Utc>>,
}

const STATUSES: &[&str] = &["paid", "pending", "overdue", "failed", "voided"];

/// Invoices across tenants (requires `platform:tenants`).
pub async fn list_all(
    ctx: &AppContext,
    scope: &Scope,
    q: &AdminInvoiceQuery,
    page: PageRequest,
) -> CoreResult<Page<InvoiceView>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    if let Some(s) = &q.status
        && !STATUSES.contains(&s.as_str())
    {
        return Err(ValidationError::new(
            "status",
            "must be paid, pending, overdue, failed or voided",
        )
        .into());
    }
    let filter = InvoiceFilter {
        tenant: q.tenant_id,
        status: q.status.clone(),
        overdue_before: Some(Utc::now() - Duration::days(OVERDUE_DAYS)),
        from: q.from,
        to: q.to,
    };
    let tx = ctx.store.platform_tx(false).await?;
    let page = repo::list_all(&tx, &filter, page).await?;
    tx.commit().await?;
    Ok(page.map(InvoiceView::from_model))
}

/// Records a payment outcome: `paid`, `failed` (with details) or `pending` again (requires
/// `platform:tenants`; audited). Voided invoices cannot change.
pub async fn set_payment(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    status: &str,
    note: &str,
) -> CoreResult<InvoiceView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    if !["paid", "failed", "pending"].contains(&status) {
        return Err(
            ValidationError::new("payment_status", "must be paid, failed or pending").into(),
        );
    }
    if note.chars().count() > 500 {
        return Err(ValidationError::new("note", "must be at most 500 characters").into());
    }
    let tx = ctx.store.platform_tx(false).await?;
    let tenant = TenantId(repo::get_any(&tx, id).await?.tenant_id);
    tx.commit().await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = repo::get(&tx, id).await?;
    if m.status == "voided" {
        return Err(CoreError::Conflict(format!("{} is void", m.number)));
    }
    let m = repo::set_payment(&tx, m, status, note).await?;
    if status != "pending" {
        crate::services::payments::record(&tx, &m, "manual", None, note).await?;
    }
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "invoice.payment",
            "invoice",
            id,
            serde_json::json!({"number": m.number, "payment_status": status, "note": note}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(InvoiceView::from_model(m))
}

/// Voids an unpaid invoice with a reason (requires `platform:tenants`; audited); the tenant is
/// told by mail and by the `invoice.voided` webhook. A paid invoice is refused: credit it.
pub async fn void(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    reason: &str,
) -> CoreResult<InvoiceView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ValidationError::new("reason", "is required (at most 500 characters)").into());
    }
    let tx = ctx.store.platform_tx(false).await?;
    let m = repo::get_any(&tx, id).await?;
    tx.commit().await?;
    if m.status == "voided" {
        return Err(CoreError::Conflict(format!("{} is already void", m.number)));
    }
    if m.payment_status == "paid" {
        return Err(CoreError::Conflict(format!(
            "{} is paid; grant a credit instead of voiding it",
            m.number
        )));
    }
    // Lago's invoices are voided in Lago first (the source of truth); the mirror follows.
    if m.provider == "lago"
        && let Some(lago_id) = &m.external_id
    {
        crate::services::lago_sync::void_invoice(ctx, lago_id).await?;
    }
    let tenant = TenantId(m.tenant_id);
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = repo::void(&tx, m, reason).await?;
    // Credits it consumed go back to the tenant.
    if m.credits_minor > 0 {
        repo::insert_credit(
            &tx,
            &m.currency,
            m.credits_minor,
            &format!("returned from voided invoice {}", m.number),
            "system",
        )
        .await?;
    }
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "invoice.void",
            "invoice",
            id,
            serde_json::json!({"number": m.number, "reason": reason}),
        ),
    )
    .await?;
    let view = InvoiceView::from_model(m);
    crate::services::webhooks::emit(
        &tx,
        "invoice.voided",
        serde_json::json!({"id": view.id, "number": view.number, "total": view.total, "reason": reason}),
    )
    .await?;
    let t = tenants::get(&tx, tenant).await?;
    ctx.mailer
        .queue(
            &tx,
            &t.billing_email,
            &format!("Invoice {} was voided", view.number),
            &format!(
                "Invoice {} ({}) of {} was voided.\n\nReason: {reason}\n\nNothing is due for it.",
                view.number, view.total, t.name
            ),
        )
        .await?;
    tx.commit().await?;
    Ok(view)
}

/// Collects an invoice's payment again (requires `platform:tenants`; audited): Lago's invoices
/// through Lago, local ones by charging the tenant's saved card when Stripe is configured.
/// Otherwise local invoices are paid as agreed and recorded with [`set_payment`].
pub async fn retry_payment(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<InvoiceView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let m = repo::get_any(&tx, id).await?;
    tx.commit().await?;
    if m.status == "voided" || m.payment_status == "paid" {
        return Err(CoreError::Conflict(format!(
            "{} needs no payment",
            m.number
        )));
    }
    let tenant = TenantId(m.tenant_id);
    match (m.external_id.clone(), m.provider.as_str()) {
        (Some(lago_id), "lago") => {
            crate::services::lago_sync::retry_payment(ctx, &lago_id).await?;
        }
        _ if crate::services::stripe::enabled(ctx) => {
            let tx = ctx.store.tenant_tx(tenant, false).await?;
            let attempt = avb_storage::repos::payments::for_invoice(&tx, id)
                .await?
                .len();
            tx.commit().await?;
            let attempt = u32::try_from(attempt).unwrap_or(u32::MAX);
            if crate::services::stripe::charge_invoice(ctx, tenant, id, attempt)
                .await?
                .is_none()
            {
                return Err(CoreError::Conflict(
                    "the tenant has no card saved with Stripe to charge".into(),
                ));
            }
        }
        _ => {
            return Err(CoreError::Conflict(format!(
                "{} is on the local ledger: record its payment instead",
                m.number
            )));
        }
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "invoice.retry_payment",
            "invoice",
            id,
            serde_json::json!({"number": m.number}),
        ),
    )
    .await?;
    let m = repo::get(&tx, id).await?;
    tx.commit().await?;
    Ok(InvoiceView::from_model(m))
}

/// Grants the tenant a credit (requires `platform:tenants`; audited); it is applied to its
/// next invoices. Given with an invoice, the credit may not exceed that invoice's total.
pub async fn grant_credit(
    ctx: &AppContext,
    scope: &Scope,
    tenant: TenantId,
    amount_minor: i64,
    reason: &str,
    invoice: Option<Uuid>,
) -> CoreResult<i64> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    if amount_minor <= 0 {
        return Err(ValidationError::new("amount_minor", "must be positive").into());
    }
    let reason = reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ValidationError::new("reason", "is required (at most 500 characters)").into());
    }
    if crate::services::billing_provider::name(ctx) == "lago" {
        return lago_credit_note(ctx, scope, tenant, amount_minor, reason, invoice).await;
    }
    let s = subscriptions::ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let currency = subscriptions::terms_of(&tx, &s).await?.currency;
    if let Some(id) = invoice {
        let inv = repo::get(&tx, id).await?;
        credit_within_total(amount_minor, &inv, &currency)?;
    }
    let c = repo::insert_credit(
        &tx,
        currency.code(),
        amount_minor,
        reason,
        &scope.actor().label(),
    )
    .await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "credit.grant",
            "credit",
            c.id,
            serde_json::json!({"amount": money(amount_minor, &currency), "reason": reason, "invoice": invoice}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(c.remaining_minor)
}

/// A credit given with an invoice may not exceed that invoice's total.
fn credit_within_total(amount_minor: i64, inv: &Model, currency: &Currency) -> CoreResult<()> {
    if amount_minor > inv.total_minor {
        return Err(ValidationError::new(
            "amount_minor",
            format!(
                "must not exceed the invoice's total ({})",
                money(inv.total_minor, currency)
            ),
        )
        .into());
    }
    Ok(())
}

/// With Lago, a credit is a Lago credit note on one of the tenant's Lago invoices (Lago puts it
/// on the customer's balance for the next invoices); audited here.
async fn lago_credit_note(
    ctx: &AppContext,
    scope: &Scope,
    tenant: TenantId,
    amount_minor: i64,
    reason: &str,
    invoice: Option<Uuid>,
) -> CoreResult<i64> {
    let Some(id) = invoice else {
        return Err(ValidationError::new(
            "invoice",
            "is required: with Lago a credit is a credit note on one of the tenant's Lago invoices",
        )
        .into());
    };
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let inv = repo::get(&tx, id).await?;
    tx.commit().await?;
    let (Some(lago_id), "lago") = (inv.external_id.clone(), inv.provider.as_str()) else {
        return Err(CoreError::Conflict(format!(
            "{} is not a Lago invoice",
            inv.number
        )));
    };
    let currency = Currency::parse(&inv.currency)
        .map_err(|_| CoreError::Internal(format!("{} has an unknown currency", inv.number)))?;
    credit_within_total(amount_minor, &inv, &currency)?;
    if inv.status == "voided" {
        return Err(CoreError::Conflict(format!("{} is void", inv.number)));
    }
    let note = crate::services::lago_sync::credit_note(ctx, &lago_id, amount_minor, reason).await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "credit.grant",
            "invoice",
            id,
            serde_json::json!({"amount": money(amount_minor, &currency), "reason": reason, "invoice": inv.number, "lago_credit_note": note}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(amount_minor)
}

/// Revenue figures for the SaaS admin.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Revenue {
    /// Monthly recurring revenue per currency (yearly fees / 12), formatted.
    pub mrr: Vec<String>,
    /// Annual recurring revenue per currency, formatted.
    pub arr: Vec<String>,
    /// Unpaid finalised invoices per currency, formatted.
    pub outstanding: Vec<String>,
    pub payment_failures: u64,
    pub active_subscriptions: u64,
}

/// MRR and ARR from active subscriptions' fees (normalised per interval), outstanding totals
/// and payment failures (requires `platform:tenants`).
pub async fn revenue(ctx: &AppContext, scope: &Scope) -> CoreResult<Revenue> {
    use std::collections::BTreeMap;
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let subs = sub_repo::all_active(&tx).await?;
    let mut monthly: BTreeMap<String, (Currency, Decimal)> = BTreeMap::new();
    for s in &subs {
        let t = crate::services::plans::terms_at(&tx, s.plan_id, s.plan_version).await?;
        let per_month = match t.interval {
            avb_domain::pricing::Interval::Monthly => t.amount,
            avb_domain::pricing::Interval::Yearly => t.amount / Decimal::from(12),
        };
        monthly
            .entry(t.currency.code().to_string())
            .or_insert((t.currency.clone(), Decimal::ZERO))
            .1 += per_month;
    }
    let mut outstanding: BTreeMap<String, i64> = BTreeMap::new();
    let mut failures = 0;
    for i in repo::outstanding(&tx).await? {
        *outstanding.entry(i.currency.clone()).or_insert(0) += i.total_minor;
        if i.payment_status == "failed" {
            failures += 1;
        }
    }
    tx.commit().await?;
    let fmt = |(c, v): &(Currency, Decimal), times: i64| {
        money(
            avb_domain::pricing::round_to_minor(*v * Decimal::from(times), c),
            c,
        )
    };
    Ok(Revenue {
        mrr: monthly.values().map(|m| fmt(m, 1)).collect(),
        arr: monthly.values().map(|m| fmt(m, 12)).collect(),
        outstanding: outstanding
            .iter()
            .map(|(c, v)| match Currency::parse(c) {
                Ok(cur) => money(*v, &cur),
                Err(_) => format!("{c} {v}"),
            })
            .collect(),
        payment_failures: failures,
        active_subscriptions: subs.len() as u64,
    })
}
