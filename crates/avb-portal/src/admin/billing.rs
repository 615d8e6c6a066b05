//! `/admin/billing`: MRR, ARR, outstanding and payment failures; every invoice across tenants
//! with filters (status, tenant, period); on an invoice, record a payment or a failure, void it
//! (with a reason, after confirmation) or grant its tenant a credit; CSV export of the filtered
//! invoices. Requires `platform:tenants`.

use super::require;
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::invoices::{self, AdminInvoiceQuery, InvoiceView, Revenue};
use avb_domain::{Permission, TenantId};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

const PAGE_SIZE: u64 = 25;

/// `?status=&tenant=&from=&to=&after=&done=` (dates as `YYYY-MM-DD`).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

impl ListQuery {
    fn filter(&self) -> Result<AdminInvoiceQuery, String> {
        let date =
            |field: &str, raw: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
                match raw.trim() {
                    "" => Ok(None),
                    s => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                        .map(|d| Some(d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()))
                        .map_err(|_| format!("{field}: must be a date like 2026-11-01")),
                }
            };
        Ok(AdminInvoiceQuery {
            status: Some(self.status.clone()).filter(|s| !s.is_empty()),
            tenant_id: match self.tenant.trim() {
                "" => None,
                t => Some(
                    t.parse()
                        .map_err(|_| "tenant: must be a tenant id".to_string())?,
                ),
            },
            from: date("from", &self.from)?,
            to: date("to", &self.to)?,
        })
    }

    fn query_string(&self) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("status", &self.status),
            ("tenant", &self.tenant),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                parts.push(format!("{k}={}", crate::sessions::urlencode(v)));
            }
        }
        parts.join("&")
    }
}

#[derive(Template)]
#[template(path = "admin/billing/show.html")]
struct BillingPage {
    chrome: Chrome,
    revenue: Revenue,
    q: ListQuery,
    statuses: &'static [&'static str],
    rows: Vec<InvoiceView>,
    next: Option<String>,
    export: String,
    error: Option<String>,
}

async fn page(
    state: &PortalState,
    v: &crate::extract::Visitor,
    q: ListQuery,
    error: Option<String>,
) -> Result<Response, PageError> {
    require(v, Permission::PlatformTenants)?;
    let revenue = invoices::revenue(&state.ctx, &v.scope).await?;
    let (rows, next, error) = match q.filter() {
        Ok(f) => {
            let listed = invoices::list_all(
                &state.ctx,
                &v.scope,
                &f,
                avb_core::PageRequest {
                    limit: PAGE_SIZE,
                    after: q.after.parse().ok(),
                },
            )
            .await;
            match listed {
                Ok(p) => {
                    let qs = q.query_string();
                    let sep = if qs.is_empty() { "" } else { "&" };
                    (
                        p.items,
                        p.next
                            .map(|id| format!("/admin/billing?{qs}{sep}after={id}")),
                        error,
                    )
                }
                Err(CoreError::Validation(e)) => (
                    Vec::new(),
                    None,
                    Some(format!("{}: {}", e.field, e.message)),
                ),
                Err(e) => return Err(e.into()),
            }
        }
        Err(e) => (Vec::new(), None, Some(e)),
    };
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = BillingPage {
        chrome: v.chrome("/admin/billing", Some(&q.done)),
        revenue,
        export: q.query_string(),
        statuses: &["paid", "pending", "overdue", "failed", "voided"],
        rows,
        next,
        error,
        q,
    };
    Ok(render(&page, status))
}

/// `GET /admin/billing`.
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    page(&state, &v, q, None).await
}

/// `GET /admin/billing/payments.csv?from=&to=`: every payment attempt (manual, Lago or Stripe)
/// made in the period, across tenants, with its outcome and the provider's error.
pub async fn export_payments(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let f = q.filter().map_err(PageError::Invalid)?;
    let rows = avb_core::services::payments::list_all(&state.ctx, &v.scope, f.from, f.to).await?;
    let mut out = String::from(
        "created_at,tenant_id,invoice_id,provider,status,currency,amount_minor,reference,error\n",
    );
    for p in rows
        .iter()
        .filter(|p| f.tenant_id.is_none_or(|t| t == p.tenant_id))
    {
        let fields = [
            p.created_at.to_rfc3339(),
            p.tenant_id.to_string(),
            p.invoice_id.to_string(),
            p.provider.clone(),
            p.status.clone(),
            p.currency.clone(),
            p.amount_minor.to_string(),
            p.reference.clone().unwrap_or_default(),
            p.error.clone(),
        ];
        crate::csv::row(&mut out, &fields);
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"payments.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// `GET /admin/billing/export.csv`: the filtered invoices as CSV (every page).
pub async fn export(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let f = q.filter().map_err(PageError::Invalid)?;
    let mut out = String::from(
        "number,tenant_id,kind,status,payment_status,currency,period_start,period_end,subtotal_minor,credits_minor,total_minor,issued_at,paid_at\n",
    );
    let mut after = None;
    loop {
        let p = invoices::list_all(
            &state.ctx,
            &v.scope,
            &f,
            avb_core::PageRequest { limit: 200, after },
        )
        .await?;
        for i in &p.items {
            out.push_str(&format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                i.number,
                i.tenant_id,
                i.kind,
                i.status,
                i.payment_status,
                i.currency,
                i.period_start.to_rfc3339(),
                i.period_end.to_rfc3339(),
                i.subtotal_minor,
                i.credits_minor,
                i.total_minor,
                i.issued_at.to_rfc3339(),
                i.paid_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ));
        }
        match p.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"invoices.csv\"",
            ),
        ],
        out,
    )
        .into_response())
}

/// An action on one invoice: `paid`, `failed` (with a note), `void` (with a reason) or
/// `credit` (an amount in minor units and a reason).
#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    note: String,
    #[serde(default)]
    amount_minor: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ActionForm);

/// `POST /admin/billing/invoices/{id}/{action}`.
pub async fn act(
    State(state): State<PortalState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(v, f): CsrfForm<ActionForm>,
) -> Result<Response, PageError> {
    require(&v, Permission::PlatformTenants)?;
    let id: Uuid = id.parse().map_err(|_| PageError::NotFound("invoice"))?;
    let ctx = &state.ctx;
    let result = match action.as_str() {
        "paid" | "failed" => invoices::set_payment(ctx, &v.scope, id, &action, &f.note)
            .await
            .map(|_| "invoice_payment"),
        "void" => invoices::void(ctx, &v.scope, id, &f.note)
            .await
            .map(|_| "invoice_voided"),
        "retry" => invoices::retry_payment(ctx, &v.scope, id)
            .await
            .map(|_| "payment_retried"),
        "credit" => {
            let inv = invoices::get(ctx, &v.scope, id).await?;
            match f.amount_minor.trim().parse::<i64>() {
                Ok(amount) => invoices::grant_credit(
                    ctx,
                    &v.scope,
                    TenantId(inv.tenant_id),
                    amount,
                    &f.note,
                    Some(id),
                )
                .await
                .map(|_| "credit_granted"),
                Err(_) => Err(CoreError::Validation(avb_domain::ValidationError::new(
                    "amount_minor",
                    "must be a whole number of cents",
                ))),
            }
        }
        _ => return Err(PageError::NotFound("action")),
    };
    match result {
        Ok(done) => Ok(Redirect::to(&format!("/admin/billing?done={done}")).into_response()),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            page(&state, &v, ListQuery::default(), Some(msg)).await
        }
        Err(CoreError::Conflict(m)) => page(&state, &v, ListQuery::default(), Some(m)).await,
        Err(e) => Err(PageError::or_not_found("invoice")(e)),
    }
}
