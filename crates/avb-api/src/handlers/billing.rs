//! Billing: the tenant's plan, usage against its limits, plan changes and invoices (with PDF);
//! for the SaaS admin, plans, invoices across tenants, payments, voids, credits and revenue.

use crate::auth::Auth;
use crate::dto::{ListResponse, page_request};
use crate::error::ApiResult;
use crate::extract::{Json, PathId, Query};
use crate::router::AppState;
use avb_core::services::invoices::{self, AdminInvoiceQuery, InvoiceView, Revenue};
use avb_core::services::plans::{self, PlanVersionView, PlanView};
use avb_core::services::subscriptions::{self, BillingOverview, ChangeOutcome};
use avb_domain::TenantId;
use avb_domain::pricing::PlanTerms;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Paging.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/billing` (requires `billing:view`): plan, period, amount due so far, usage
/// against limits, pending change and the plans on offer.
#[utoipa::path(get, path = "/api/v1/billing", tag = "billing",
    responses((status = 200, body = BillingOverview), (status = 403, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn overview(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<BillingOverview>> {
    Ok(axum::Json(
        subscriptions::overview(&state.ctx, &scope).await?,
    ))
}

/// The plan to move to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePlanRequest {
    /// The code of a plan on offer.
    pub plan_code: String,
}

/// `POST /api/v1/billing/plan` (requires `billing:manage`): an upgrade applies now with a
/// prorated invoice; a downgrade is scheduled for the period end.
#[utoipa::path(post, path = "/api/v1/billing/plan", tag = "billing", request_body = ChangePlanRequest,
    responses((status = 200, body = ChangeOutcome), (status = 422, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn change_plan(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(req): Json<ChangePlanRequest>,
) -> ApiResult<axum::Json<ChangeOutcome>> {
    Ok(axum::Json(
        subscriptions::change_plan(&state.ctx, &scope, &req.plan_code).await?,
    ))
}

/// `DELETE /api/v1/billing/pending-change` (requires `billing:manage`): cancels a scheduled
/// downgrade.
#[utoipa::path(delete, path = "/api/v1/billing/pending-change", tag = "billing",
    responses((status = 204), (status = 409, body = crate::error::Problem, description = "Nothing is scheduled")),
    security(("bearer" = [])))]
pub async fn cancel_pending(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<StatusCode> {
    subscriptions::cancel_pending(&state.ctx, &scope).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/v1/invoices` (requires `billing:view`): the tenant's invoices, newest first.
#[utoipa::path(get, path = "/api/v1/invoices", tag = "billing", params(PageQuery),
    responses((status = 200, body = ListResponse<InvoiceView>)), security(("bearer" = [])))]
pub async fn list_invoices(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<PageQuery>,
) -> ApiResult<axum::Json<ListResponse<InvoiceView>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let page = invoices::list(&state.ctx, &scope, page).await?;
    Ok(axum::Json(ListResponse::from_page(page, |i| i)))
}

/// `GET /api/v1/invoices/{id}` (requires `billing:view`, or `platform:tenants`).
#[utoipa::path(get, path = "/api/v1/invoices/{id}", tag = "billing", params(("id" = Uuid, Path)),
    responses((status = 200, body = InvoiceView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get_invoice(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<InvoiceView>> {
    Ok(axum::Json(invoices::get(&state.ctx, &scope, id).await?))
}

/// `GET /api/v1/invoices/{id}/pdf` (requires `billing:view`, or `platform:tenants`): the
/// invoice as a PDF rendered by the server.
#[utoipa::path(get, path = "/api/v1/invoices/{id}/pdf", tag = "billing", params(("id" = Uuid, Path)),
    responses((status = 200, content_type = "application/pdf", body = Vec<u8>), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn invoice_pdf(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::response::Response> {
    let (name, bytes) = invoices::pdf(&state.ctx, &scope, id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// A plan with its versions.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PlanDetail {
    pub plan: PlanView,
    pub versions: Vec<PlanVersionView>,
    /// Tenants on it (at most 200) with their usage this period.
    pub subscribers: Vec<avb_core::services::plans::SubscriberView>,
}

/// `GET /api/v1/admin/plans` (requires `platform:tenants`): every plan with its subscribers.
#[utoipa::path(get, path = "/api/v1/admin/plans", tag = "admin",
    responses((status = 200, body = Vec<PlanView>), (status = 403, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn list_plans(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<Vec<PlanView>>> {
    Ok(axum::Json(plans::list(&state.ctx, &scope).await?))
}

/// `POST /api/v1/admin/plans` (requires `platform:tenants`): a new plan; every field is
/// validated (prices, tiers, currency, limits) before anything is stored.
#[utoipa::path(post, path = "/api/v1/admin/plans", tag = "admin", request_body(content = Object, description = "The plan's terms: code, name, description, currency, interval, amount, charges, features, limits"),
    responses((status = 201, body = PlanView), (status = 422, body = crate::error::Problem), (status = 403, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn create_plan(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Json(terms): Json<PlanTerms>,
) -> ApiResult<(StatusCode, axum::Json<PlanView>)> {
    let p = plans::create(&state.ctx, &scope, terms).await?;
    Ok((StatusCode::CREATED, axum::Json(p)))
}

/// `GET /api/v1/admin/plans/{id}` (requires `platform:tenants`).
#[utoipa::path(get, path = "/api/v1/admin/plans/{id}", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = PlanDetail), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn get_plan(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<PlanDetail>> {
    let (plan, versions) = plans::get(&state.ctx, &scope, id).await?;
    let subscribers = plans::subscribers(&state.ctx, &scope, id).await?;
    Ok(axum::Json(PlanDetail {
        plan,
        versions,
        subscribers,
    }))
}

/// `PUT /api/v1/admin/plans/{id}` (requires `platform:tenants`): new terms as the next
/// version; existing subscriptions keep theirs.
#[utoipa::path(put, path = "/api/v1/admin/plans/{id}", tag = "admin", params(("id" = Uuid, Path)), request_body(content = Object, description = "The plan's new terms (same code and currency)"),
    responses((status = 200, body = PlanView), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn update_plan(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(terms): Json<PlanTerms>,
) -> ApiResult<axum::Json<PlanView>> {
    Ok(axum::Json(
        plans::update(&state.ctx, &scope, id, terms).await?,
    ))
}

/// `POST /api/v1/admin/plans/{id}/deprecate` (requires `platform:tenants`): no longer offered
/// to new subscriptions; subscribers keep it.
#[utoipa::path(post, path = "/api/v1/admin/plans/{id}/deprecate", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = PlanView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn deprecate_plan(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<PlanView>> {
    Ok(axum::Json(
        plans::set_offered(&state.ctx, &scope, id, false).await?,
    ))
}

/// `POST /api/v1/admin/plans/{id}/reactivate` (requires `platform:tenants`).
#[utoipa::path(post, path = "/api/v1/admin/plans/{id}/reactivate", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = PlanView), (status = 404, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn reactivate_plan(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<PlanView>> {
    Ok(axum::Json(
        plans::set_offered(&state.ctx, &scope, id, true).await?,
    ))
}

/// Filters and paging of the admin's invoice list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AdminInvoicesQuery {
    /// `paid`, `pending`, `overdue`, `failed` or `voided`.
    pub status: Option<String>,
    pub tenant_id: Option<Uuid>,
    pub from: Option<chrono::DateTime<chrono::Utc>>,
    pub to: Option<chrono::DateTime<chrono::Utc>>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/admin/invoices` (requires `platform:tenants`): invoices across tenants.
#[utoipa::path(get, path = "/api/v1/admin/invoices", tag = "admin", params(AdminInvoicesQuery),
    responses((status = 200, body = ListResponse<InvoiceView>), (status = 422, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn admin_invoices(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<AdminInvoicesQuery>,
) -> ApiResult<axum::Json<ListResponse<InvoiceView>>> {
    let page = page_request(q.limit, q.cursor.as_deref())?;
    let filter = AdminInvoiceQuery {
        status: q.status,
        tenant_id: q.tenant_id,
        from: q.from,
        to: q.to,
    };
    let page = invoices::list_all(&state.ctx, &scope, &filter, page).await?;
    Ok(axum::Json(ListResponse::from_page(page, |i| i)))
}

/// Why an invoice is voided.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoidRequest {
    /// 1 to 500 characters; sent to the tenant.
    pub reason: String,
}

/// `POST /api/v1/admin/invoices/{id}/void` (requires `platform:tenants`): voids an unpaid
/// invoice; the tenant gets a mail and an `invoice.voided` webhook.
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/void", tag = "admin", params(("id" = Uuid, Path)), request_body = VoidRequest,
    responses((status = 200, body = InvoiceView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "Paid or already void"), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn void_invoice(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(req): Json<VoidRequest>,
) -> ApiResult<axum::Json<InvoiceView>> {
    Ok(axum::Json(
        invoices::void(&state.ctx, &scope, id, &req.reason).await?,
    ))
}

/// A payment outcome.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    /// `paid`, `failed` or `pending`.
    pub payment_status: String,
    /// A failure's details.
    #[serde(default)]
    pub note: String,
}

/// `POST /api/v1/admin/invoices/{id}/payment` (requires `platform:tenants`): records a payment
/// received, a failed payment (with details) or pending again.
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/payment", tag = "admin", params(("id" = Uuid, Path)), request_body = PaymentRequest,
    responses((status = 200, body = InvoiceView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn record_payment(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(req): Json<PaymentRequest>,
) -> ApiResult<axum::Json<InvoiceView>> {
    Ok(axum::Json(
        invoices::set_payment(&state.ctx, &scope, id, &req.payment_status, &req.note).await?,
    ))
}

/// A credit to grant.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditRequest {
    /// In the plan currency's minor units (cents); positive.
    pub amount_minor: i64,
    /// 1 to 500 characters.
    pub reason: String,
    /// An invoice the credit is for; the credit may not exceed its total.
    #[serde(default)]
    pub invoice_id: Option<Uuid>,
}

/// The credit granted.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct CreditGranted {
    pub remaining_minor: i64,
}

/// `POST /api/v1/admin/tenants/{id}/credits` (requires `platform:tenants`): a credit applied to
/// the tenant's next invoices.
#[utoipa::path(post, path = "/api/v1/admin/tenants/{id}/credits", tag = "admin", params(("id" = Uuid, Path)), request_body = CreditRequest,
    responses((status = 201, body = CreditGranted), (status = 404, body = crate::error::Problem), (status = 422, body = crate::error::Problem)),
    security(("bearer" = [])))]
pub async fn grant_credit(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
    Json(req): Json<CreditRequest>,
) -> ApiResult<(StatusCode, axum::Json<CreditGranted>)> {
    let remaining = invoices::grant_credit(
        &state.ctx,
        &scope,
        TenantId(id),
        req.amount_minor,
        &req.reason,
        req.invoice_id,
    )
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreditGranted {
            remaining_minor: remaining,
        }),
    ))
}

/// `GET /api/v1/admin/revenue` (requires `platform:tenants`): MRR, ARR, outstanding, failures.
#[utoipa::path(get, path = "/api/v1/admin/revenue", tag = "admin",
    responses((status = 200, body = Revenue), (status = 403, body = crate::error::Problem)), security(("bearer" = [])))]
pub async fn revenue(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<Revenue>> {
    Ok(axum::Json(invoices::revenue(&state.ctx, &scope).await?))
}

/// `POST /api/v1/lago/webhooks`: Lago's webhooks (no bearer token: each one is verified by its
/// HMAC or JWT signature and deduplicated on `X-Lago-Unique-Key`); invoices are mirrored.
#[utoipa::path(post, path = "/api/v1/lago/webhooks", tag = "billing", request_body(content = Object, description = "Lago's webhook payload"),
    responses((status = 200, description = "Applied, already seen, or not about invoices"),
        (status = 401, body = crate::error::Problem, description = "Not configured, neither HMAC nor JWT, or a bad signature"),
        (status = 422, body = crate::error::Problem, description = "No unique key, or not an invoice Lago would send")))]
pub async fn lago_webhook(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<serde_json::Value>> {
    use avb_core::services::lago_webhooks::{self, Received};
    let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let r = lago_webhooks::receive(
        &state.ctx,
        h("x-lago-signature-algorithm"),
        h("x-lago-signature"),
        h("x-lago-unique-key"),
        &body,
    )
    .await?;
    let what = match r {
        Received::Applied => "applied",
        Received::Duplicate => "duplicate",
        Received::Ignored => "ignored",
    };
    Ok(axum::Json(serde_json::json!({"result": what})))
}

/// `POST /api/v1/stripe/webhooks`: Stripe's events (no bearer token: each one is verified by
/// its `Stripe-Signature` and deduplicated on the event id); payment outcomes update invoices.
#[utoipa::path(post, path = "/api/v1/stripe/webhooks", tag = "billing", request_body(content = Object, description = "A Stripe event"),
    responses((status = 200, description = "Applied, already seen, or not about invoice payments"),
        (status = 401, body = crate::error::Problem, description = "Not configured or a bad or stale signature"),
        (status = 422, body = crate::error::Problem, description = "Not a Stripe event")))]
pub async fn stripe_webhook(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> ApiResult<axum::Json<serde_json::Value>> {
    use avb_core::services::stripe::{self, Received};
    let sig = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let what = match stripe::receive(&state.ctx, sig, &body).await? {
        Received::Applied => "applied",
        Received::Duplicate => "duplicate",
        Received::Ignored => "ignored",
    };
    Ok(axum::Json(serde_json::json!({"result": what})))
}

/// `POST /api/v1/admin/invoices/{id}/retry-payment` (requires `platform:tenants`): collects the
/// payment again, through Lago or by charging the tenant's saved Stripe card.
#[utoipa::path(post, path = "/api/v1/admin/invoices/{id}/retry-payment", tag = "admin", params(("id" = Uuid, Path)),
    responses((status = 200, body = InvoiceView), (status = 404, body = crate::error::Problem), (status = 409, body = crate::error::Problem, description = "No provider can collect it (a local invoice without a saved card), void or paid")),
    security(("bearer" = [])))]
pub async fn retry_payment(
    State(state): State<AppState>,
    Auth(scope): Auth,
    PathId(id): PathId<Uuid>,
) -> ApiResult<axum::Json<InvoiceView>> {
    Ok(axum::Json(
        invoices::retry_payment(&state.ctx, &scope, id).await?,
    ))
}

/// Where the tenant manages its payment methods.
#[derive(Debug, serde::Serialize, ToSchema)]
pub struct PortalUrl {
    pub url: String,
}

/// `GET /api/v1/billing/payment-portal` (requires `billing:manage`): Lago's hosted customer
/// portal for the tenant's payment methods (card details never reach this platform).
#[utoipa::path(get, path = "/api/v1/billing/payment-portal", tag = "billing",
    responses((status = 200, body = PortalUrl), (status = 409, body = crate::error::Problem, description = "Billing is not on Lago")),
    security(("bearer" = [])))]
pub async fn payment_portal(
    State(state): State<AppState>,
    Auth(scope): Auth,
) -> ApiResult<axum::Json<PortalUrl>> {
    let url = subscriptions::payment_portal(&state.ctx, &scope).await?;
    Ok(axum::Json(PortalUrl { url }))
}
