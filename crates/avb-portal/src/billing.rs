//! `/billing` (requires `billing:view`; plan changes require `billing:manage`): the tenant's
//! plan, billing period, amount due so far and next billing date; usage against each limit
//! (warned at 80%); the plans on offer with what a change means (an upgrade applies now,
//! prorated; a downgrade waits for the period end, cancellable); invoice history with PDFs; and
//! how payments are handled. Plan changes ask for confirmation first.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::invoices::{self, InvoiceView};
use avb_core::services::stripe;
use avb_core::services::subscriptions::{self, BillingOverview, PlanOption};
use avb_domain::Permission;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

const PAGE_SIZE: u64 = 12;

/// A plan on offer as the page shows it.
pub struct OptionRow {
    pub o: PlanOption,
    pub price: String,
    pub limits: Vec<String>,
}

/// An invoice row.
pub struct InvoiceRow {
    pub i: InvoiceView,
    pub period: String,
    pub issued: String,
}

#[derive(Template)]
#[template(path = "billing/show.html")]
struct BillingPage {
    chrome: Chrome,
    can_manage: bool,
    b: BillingOverview,
    price: String,
    period: String,
    next_billing: String,
    options: Vec<OptionRow>,
    invoices: Vec<InvoiceRow>,
    next: Option<String>,
    error: Option<String>,
    /// Lago links customers to a payment provider, so a checkout link can be offered.
    lago_checkout: bool,
}

#[derive(Template)]
#[template(path = "billing/confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    plan_code: String,
    plan_name: String,
    price: String,
    upgrade: bool,
    effective: String,
}

/// `?after=&done=`.
#[derive(Debug, Default, Deserialize)]
pub struct BillingQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

/// A plan's fee per interval, e.g. `USD 39.00 / month`.
pub(crate) fn price(terms: &avb_domain::pricing::PlanTerms) -> String {
    let interval = match terms.interval {
        avb_domain::pricing::Interval::Monthly => "month",
        avb_domain::pricing::Interval::Yearly => "year",
    };
    let minor = avb_domain::pricing::round_to_minor(terms.amount, &terms.currency);
    format!("{} / {interval}", invoices::money(minor, &terms.currency))
}

fn limit_lines(l: &avb_domain::pricing::PlanLimits) -> Vec<String> {
    let show = |v: Option<u64>, what: &str| match v {
        Some(n) => format!("{n} {what}"),
        None => format!("Unlimited {what}"),
    };
    vec![
        show(l.seats, "seats"),
        show(l.concurrent_sessions, "concurrent sessions"),
        show(l.requests_per_minute, "responses per minute"),
        show(l.tokens_per_minute, "LLM tokens per minute"),
        show(l.monthly_audio_minutes, "audio minutes per month"),
    ]
}

fn day(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    q: &BillingQuery,
    error: Option<String>,
) -> Result<Response, PageError> {
    let b = subscriptions::overview(&state.ctx, &v.scope).await?;
    let listed = invoices::list(
        &state.ctx,
        &v.scope,
        avb_core::PageRequest {
            limit: PAGE_SIZE,
            after: q.after.parse().ok(),
        },
    )
    .await?;
    let options = b
        .options
        .iter()
        .cloned()
        .map(|o| OptionRow {
            price: price(&o.plan.terms),
            limits: limit_lines(&o.plan.terms.limits),
            o,
        })
        .collect();
    let page = BillingPage {
        lago_checkout: state.ctx.config.lago.payment_provider.is_some(),
        chrome: v.chrome("/billing", Some(&q.done)),
        can_manage: v.scope.has(Permission::BillingManage),
        price: price(&b.terms),
        period: format!("{} to {}", day(b.period_start), day(b.period_end)),
        next_billing: day(b.next_billing_date),
        options,
        invoices: listed
            .items
            .into_iter()
            .map(|i| InvoiceRow {
                period: format!("{} to {}", day(i.period_start), day(i.period_end)),
                issued: day(i.issued_at),
                i,
            })
            .collect(),
        next: listed.next.map(|id| format!("/billing?after={id}")),
        error,
        b,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(&page, status))
}

/// `GET /billing` (requires `billing:view`).
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::BillingView>,
    Query(q): Query<BillingQuery>,
) -> Result<Response, PageError> {
    page(&state, &v, &q, None).await
}

/// `?plan=` of the confirmation.
#[derive(Debug, Deserialize)]
pub struct PlanQuery {
    plan: String,
}

/// `GET /billing/change?plan=<code>` (requires `billing:manage`): what the change means, and
/// the button that makes it.
pub async fn confirm(
    State(state): State<PortalState>,
    v: Require<perm::BillingManage>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, PageError> {
    let b = subscriptions::overview(&state.ctx, &v.scope).await?;
    let Some(o) = b
        .options
        .iter()
        .find(|o| o.plan.code == q.plan && o.change != "current")
    else {
        return Err(PageError::NotFound("plan"));
    };
    let upgrade = o.change == "upgrade";
    let page = ConfirmPage {
        chrome: v.chrome("/billing", None),
        plan_code: o.plan.code.clone(),
        plan_name: o.plan.terms.name.clone(),
        price: price(&o.plan.terms),
        upgrade,
        effective: day(b.period_end),
    };
    Ok(render(&page, StatusCode::OK))
}

/// The change form.
#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    plan: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ChangeForm);

/// `POST /billing/change` (requires `billing:manage`).
pub async fn change(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<ChangeForm>,
) -> Result<Response, PageError> {
    match subscriptions::change_plan(&state.ctx, &v.scope, &f.plan).await {
        Ok(out) => {
            let code = match out.result.as_str() {
                "upgraded" => "plan_upgraded",
                "scheduled" => "plan_scheduled",
                _ => "plan_unchanged",
            };
            Ok(Redirect::to(&format!("/billing?done={code}")).into_response())
        }
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            page(&state, &v, &BillingQuery::default(), Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /billing/cancel-change` (requires `billing:manage`): cancels a scheduled downgrade.
pub async fn cancel_change(
    State(state): State<PortalState>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    subscriptions::cancel_pending(&state.ctx, &v.scope).await?;
    Ok(Redirect::to("/billing?done=plan_change_cancelled").into_response())
}

/// `GET /billing/invoices/{id}.pdf` (requires `billing:view`): the invoice as a PDF: Lago's own
/// for a Lago invoice (a redirect to its file), else rendered here.
pub async fn pdf(
    State(state): State<PortalState>,
    v: Require<perm::BillingView>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = id
        .trim_end_matches(".pdf")
        .parse()
        .map_err(|_| PageError::NotFound("invoice"))?;
    if let Some(url) = invoices::provider_pdf_url(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("invoice"))?
    {
        return Ok(Redirect::to(&url).into_response());
    }
    let (name, bytes) = invoices::pdf(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("invoice"))?;
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

#[derive(Template)]
#[template(path = "billing/payment_methods.html")]
struct PaymentMethodsPage {
    chrome: Chrome,
    setup: stripe::PaymentSetup,
    return_url: &'static str,
    error: Option<String>,
}

/// `?setup_intent=&redirect_status=` (Stripe's return after confirming a card) and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct PaymentMethodsQuery {
    #[serde(default)]
    setup_intent: String,
    #[serde(default)]
    redirect_status: String,
    #[serde(default)]
    done: String,
}

/// `GET /billing/payment-methods` (requires `billing:manage`). With Lago: to Lago's hosted
/// customer portal. With Stripe: the saved cards and Stripe Elements to add one (the only page
/// whose CSP admits Stripe's origins); Stripe returns here with the SetupIntent, which is
/// checked and its card made the default. Card details never reach this platform.
pub async fn payment_methods(
    State(state): State<PortalState>,
    v: Require<perm::BillingManage>,
    Query(q): Query<PaymentMethodsQuery>,
) -> Result<Response, PageError> {
    let ctx = &state.ctx;
    match avb_core::services::billing_provider::payments(ctx) {
        "lago" => {
            let url = subscriptions::payment_portal(ctx, &v.scope).await?;
            Ok(Redirect::to(&url).into_response())
        }
        "stripe" => {
            let mut error = None;
            if q.redirect_status == "failed" {
                error = Some("Stripe could not confirm the card; nothing was saved.".to_string());
            } else if !q.setup_intent.is_empty() {
                match stripe::card_added(ctx, &v.scope, &q.setup_intent).await {
                    Ok(_) => {
                        return Ok(
                            Redirect::to("/billing/payment-methods?done=card_saved").into_response()
                        );
                    }
                    Err(CoreError::Conflict(m)) => error = Some(m),
                    Err(e) => return Err(e.into()),
                }
            }
            let setup = stripe::setup(ctx, &v.scope).await?;
            let done = (!q.done.is_empty()).then_some(q.done.as_str());
            let page = PaymentMethodsPage {
                chrome: v.chrome("/billing", done),
                setup,
                return_url: "/billing/payment-methods",
                error,
            };
            let mut res = render(&page, StatusCode::OK);
            if let Ok(csp) = header::HeaderValue::from_str(&stripe_csp(ctx)) {
                res.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp);
            }
            Ok(res)
        }
        _ => Err(CoreError::Conflict(
            "payments on this platform are recorded by the operator; there are no payment methods to manage".into(),
        )
        .into()),
    }
}

/// The portal's strict CSP plus Stripe's origins, for the payment page only: Stripe.js and its
/// frames from the script origin, its API calls to the API origin.
fn stripe_csp(ctx: &avb_core::AppContext) -> String {
    let js = stripe::js_origin(ctx).unwrap_or_default();
    let api = reqwest_origin(&ctx.config.stripe.api_url);
    format!(
        "default-src 'self'; script-src 'self' {js}; frame-src {js} https://hooks.stripe.com; \
         connect-src 'self' {api}; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    )
}

fn reqwest_origin(url: &str) -> String {
    url.parse::<axum::http::Uri>()
        .ok()
        .and_then(|u| Some(format!("{}://{}", u.scheme_str()?, u.authority()?)))
        .unwrap_or_default()
}

/// `GET /billing/payment-methods/checkout` (requires `billing:manage`; Lago with a payment
/// provider): to the provider's checkout page, where a payment method is added.
pub async fn payment_checkout(
    State(state): State<PortalState>,
    v: Require<perm::BillingManage>,
) -> Result<Response, PageError> {
    let tenant = v.scope.tenant().ok_or(PageError::NotFound("tenant"))?;
    let url = avb_core::services::lago_sync::checkout_url(&state.ctx, tenant).await?;
    Ok(Redirect::to(&url).into_response())
}

/// `POST /billing/payment-methods/{id}/remove` (requires `billing:manage`): removes a saved
/// Stripe card.
pub async fn remove_card(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    stripe::remove_card(&state.ctx, &v.scope, &id)
        .await
        .map_err(PageError::or_not_found("card"))?;
    Ok(Redirect::to("/billing/payment-methods?done=card_removed").into_response())
}
