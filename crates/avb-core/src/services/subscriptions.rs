//! A tenant's subscription (B6, B1.2): the plan it is on, its billing period, usage against the
//! plan's limits, the amount due so far, and plan changes. An upgrade (a higher fee) applies at
//! once and is invoiced prorated for the rest of the period; a downgrade waits for the period
//! end (pending, cancellable). Viewing needs `billing:view`, changing `billing:manage`; changes
//! are audited. Limits the platform enforces come from here ([`limits`]).

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::plans::{self, PlanView};
use crate::services::projects::tenant_of;
use avb_domain::pricing::{Interval, PlanLimits, PlanTerms};
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::entities::subscription::Model;
use avb_storage::repos::{audit as audit_repo, plans as plan_repo, subscriptions, tenants};
use avb_storage::store::TenantTx;
use chrono::{DateTime, Datelike, Months, TimeZone, Utc};
use serde::Serialize;

/// Share of a limit at which pages warn.
pub const WARN_AT: f64 = 0.8;

/// The end of a period of `interval` that starts at `start`.
pub fn period_end(start: DateTime<Utc>, interval: Interval) -> DateTime<Utc> {
    let months = match interval {
        Interval::Monthly => 1,
        Interval::Yearly => 12,
    };
    start
        .checked_add_months(Months::new(months))
        .unwrap_or(start + chrono::Duration::days(30 * i64::from(months)))
}

/// The first period of a subscription starting now: calendar-aligned (from the first of this
/// month, UTC), so periods match usage months.
fn first_period(interval: Interval) -> (DateTime<Utc>, DateTime<Utc>) {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    (start, period_end(start, interval))
}

/// The tenant's subscription, created on its plan (or the default plan) when it has none.
pub async fn ensure(ctx: &AppContext, tenant: TenantId) -> CoreResult<Model> {
    {
        let tx = ctx.store.tenant_tx(tenant, false).await?;
        let found = subscriptions::current(&tx).await?;
        tx.commit().await?;
        if let Some(s) = found {
            return Ok(s);
        }
    }
    plans::ensure_default(ctx).await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let code = tenants::get(&tx, tenant).await?.plan;
    let plan = match plan_repo::find_by_code(&tx, &code).await? {
        Some(p) => p,
        None => plan_repo::find_by_code(&tx, plans::DEFAULT_PLAN)
            .await?
            .ok_or_else(|| CoreError::Internal("no default plan".into()))?,
    };
    let terms = plans::terms_at(&tx, plan.id, plan.current_version).await?;
    let (start, end) = first_period(terms.interval);
    // A concurrent first read may have made it: that one stands.
    let made = match subscriptions::insert(&tx, plan.id, plan.current_version, start, end).await {
        Ok(s) => {
            tenants::set_plan(&tx, tenant, &plan.code).await?;
            tx.commit().await?;
            s
        }
        Err(_) => {
            drop(tx);
            let tx = ctx.store.tenant_tx(tenant, false).await?;
            let s = subscriptions::current(&tx)
                .await?
                .ok_or(CoreError::NotFound)?;
            tx.commit().await?;
            return Ok(s);
        }
    };
    crate::services::billing_provider::tenant_subscribed(ctx, tenant, &terms).await;
    Ok(made)
}

/// The terms of the tenant's subscription, read inside its transaction.
pub(crate) async fn terms_of(tx: &TenantTx, s: &Model) -> CoreResult<PlanTerms> {
    plans::terms_at(tx, s.plan_id, s.plan_version).await
}

/// The limits of `tenant`'s plan (creating its subscription if needed).
pub async fn limits(ctx: &AppContext, tenant: TenantId) -> CoreResult<PlanLimits> {
    let s = ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let terms = terms_of(&tx, &s).await?;
    tx.commit().await?;
    Ok(terms.limits)
}

/// One limit of the plan and how much of it is used.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LimitUsage {
    /// `seats`, `monthly_audio_minutes`, ...
    pub limit: String,
    pub label: String,
    pub used: f64,
    /// None: unlimited.
    pub max: Option<u64>,
    /// Share used (0-1+), when limited.
    pub share: Option<f64>,
    /// At 80% or more.
    pub warning: bool,
}

/// A plan the tenant may move to, and what moving means.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanOption {
    pub plan: PlanView,
    /// `current`, `upgrade` (applies now, prorated) or `downgrade` (at the period end).
    pub change: String,
}

/// A downgrade waiting for the period end.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PendingChange {
    pub plan_code: String,
    pub plan_name: String,
    pub at: DateTime<Utc>,
}

/// The billing page's facts.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BillingOverview {
    /// `local` or `lago`.
    pub provider: String,
    /// How payment methods are managed: `lago` (Lago's checkout link and portal), `stripe`
    /// (Stripe Elements on this platform's payment page) or `manual` (the operator records
    /// payments).
    pub payments: String,
    pub plan_code: String,
    pub plan_name: String,
    pub plan_version: i32,
    #[schema(value_type = Object)]
    pub terms: PlanTerms,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// When the current period is invoiced.
    pub next_billing_date: DateTime<Utc>,
    pub currency: String,
    /// Fee plus usage charges so far this period, less open credits, in minor units.
    pub amount_due_minor: i64,
    /// The same, formatted (e.g. `USD 12.34`).
    pub amount_due: String,
    pub limits: Vec<LimitUsage>,
    pub pending: Option<PendingChange>,
    pub options: Vec<PlanOption>,
}

/// Usage of the current period in billing metrics (the ledger's `requests` is `api_requests`).
pub(crate) async fn period_usage(
    tx: &TenantTx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> CoreResult<std::collections::BTreeMap<String, rust_decimal::Decimal>> {
    let totals = avb_storage::repos::usage::totals(tx, from, to).await?;
    Ok(totals
        .into_iter()
        .map(|(metric, q)| {
            let metric = if metric == "requests" {
                "api_requests".to_string()
            } else {
                metric
            };
            let q = rust_decimal::Decimal::from_f64_retain(q)
                .unwrap_or_default()
                .round_dp(6);
            (metric, q)
        })
        .collect())
}

fn limit_usage(key: &str, label: &str, used: f64, max: Option<u64>) -> LimitUsage {
    let share = max.map(|m| if m == 0 { 1.0 } else { used / m as f64 });
    LimitUsage {
        limit: key.into(),
        label: label.into(),
        used,
        max,
        share,
        warning: share.is_some_and(|s| s >= WARN_AT),
    }
}

/// The tenant's billing overview (requires `billing:view`).
pub async fn overview(ctx: &AppContext, scope: &Scope) -> CoreResult<BillingOverview> {
    let tenant = tenant_of(scope, Permission::BillingView)?;
    ctx.policy
        .authorize(scope, Permission::BillingView, Some(tenant))?;
    let s = ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let terms = terms_of(&tx, &s).await?;
    let plan = plan_repo::get(&tx, s.plan_id).await?;
    let now = Utc::now();
    let usage = period_usage(&tx, s.period_start, now.min(s.period_end)).await?;
    let credit: i64 = avb_storage::repos::invoices::open_credits(&tx, terms.currency.code())
        .await?
        .iter()
        .map(|c| c.remaining_minor)
        .sum();
    let due =
        avb_domain::pricing::compute_invoice(&terms, &usage, rust_decimal::Decimal::ONE, credit);
    let seats_used = crate::services::members::seats_used(&tx).await? as f64;
    let minutes_used = usage
        .iter()
        .filter(|(m, _)| m.starts_with("audio_minutes"))
        .map(|(_, q)| f64::try_from(*q).unwrap_or(0.0))
        .fold(0.0, |a, b| a + b);
    let pending = match s.pending_plan_id {
        Some(id) => {
            let p = plan_repo::get(&tx, id).await?;
            Some(PendingChange {
                plan_code: p.code,
                plan_name: p.name,
                at: s.period_end,
            })
        }
        None => None,
    };
    tx.commit().await?;
    let l = &terms.limits;
    let limits = vec![
        limit_usage("seats", "Seats", seats_used, l.seats),
        limit_usage(
            "monthly_audio_minutes",
            "Audio minutes this period",
            minutes_used,
            l.monthly_audio_minutes,
        ),
    ];
    let options = plans::offered(ctx)
        .await?
        .into_iter()
        .map(|p| PlanOption {
            change: if p.code == plan.code {
                "current"
            } else if p.terms.amount > terms.amount {
                "upgrade"
            } else {
                "downgrade"
            }
            .into(),
            plan: p,
        })
        .collect();
    Ok(BillingOverview {
        provider: crate::services::billing_provider::name(ctx).into(),
        payments: crate::services::billing_provider::payments(ctx).into(),
        plan_code: plan.code,
        plan_name: terms.name.clone(),
        plan_version: s.plan_version,
        currency: terms.currency.code().into(),
        amount_due: crate::services::invoices::money(due.total_minor, &terms.currency),
        amount_due_minor: due.total_minor,
        terms,
        period_start: s.period_start,
        period_end: s.period_end,
        next_billing_date: s.period_end,
        limits,
        pending,
        options,
    })
}

/// What a plan change did.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChangeOutcome {
    /// `upgraded` (now), `scheduled` (a downgrade at the period end) or `unchanged`.
    pub result: String,
    /// The prorated invoice of an upgrade.
    pub invoice: Option<crate::services::invoices::InvoiceView>,
    /// When a scheduled change applies.
    pub at: Option<DateTime<Utc>>,
}

/// Moves the tenant to the plan `code` (requires `billing:manage`; audited). A higher fee
/// applies now with a prorated invoice; a lower one is scheduled for the period end.
pub async fn change_plan(ctx: &AppContext, scope: &Scope, code: &str) -> CoreResult<ChangeOutcome> {
    let tenant = tenant_of(scope, Permission::BillingManage)?;
    ctx.policy
        .authorize(scope, Permission::BillingManage, Some(tenant))?;
    let s = ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let target = plan_repo::find_by_code(&tx, code)
        .await?
        .filter(|p| p.status == "active")
        .ok_or_else(|| ValidationError::new("plan", "is not a plan on offer"))?;
    let old = terms_of(&tx, &s).await?;
    let new = plans::terms_at(&tx, target.id, target.current_version).await?;
    if target.id == s.plan_id {
        return Ok(ChangeOutcome {
            result: "unchanged".into(),
            invoice: None,
            at: None,
        });
    }
    if new.currency != old.currency {
        return Err(ValidationError::new(
            "plan",
            "is billed in another currency; ask the operator to move the subscription",
        )
        .into());
    }
    let now = Utc::now();
    let outcome = if new.amount > old.amount {
        let prorated =
            avb_domain::pricing::proration(&old, &new, s.period_start, s.period_end, now)?;
        subscriptions::switch_plan(&tx, target.id, target.current_version).await?;
        tenants::set_plan(&tx, tenant, &target.code).await?;
        let invoice = if crate::services::billing_provider::name(ctx) == "local" {
            crate::services::invoices::issue_proration(&tx, &s, &old, &new, prorated, now).await?
        } else {
            // Lago prorates the change itself and invoices it.
            None
        };
        ChangeOutcome {
            result: "upgraded".into(),
            invoice,
            at: None,
        }
    } else {
        subscriptions::set_pending(&tx, Some(target.id)).await?;
        ChangeOutcome {
            result: "scheduled".into(),
            invoice: None,
            at: Some(s.period_end),
        }
    };
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            if outcome.result == "upgraded" {
                "subscription.upgrade"
            } else {
                "subscription.downgrade_scheduled"
            },
            "subscription",
            s.id,
            serde_json::json!({"from": old.code, "to": new.code, "at": outcome.at, "invoice": outcome.invoice.as_ref().map(|i| &i.number)}),
        ),
    )
    .await?;
    tx.commit().await?;
    crate::services::billing_provider::plan_changed(
        ctx,
        tenant,
        &new,
        outcome.result == "upgraded",
    )
    .await;
    let mut outcome = outcome;
    if let Some(inv) = &mut outcome.invoice {
        // A saved card pays the prorated difference at once; the upgrade stands either way.
        match crate::services::stripe::charge_invoice(ctx, tenant, inv.id, 0).await {
            Ok(Some(status)) => inv.payment_status = status,
            Ok(None) => {}
            Err(e) => tracing::warn!(invoice = %inv.number, error = %e, "charging the card failed"),
        }
    }
    Ok(outcome)
}

/// Cancels a scheduled downgrade (requires `billing:manage`; audited).
pub async fn cancel_pending(ctx: &AppContext, scope: &Scope) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::BillingManage)?;
    ctx.policy
        .authorize(scope, Permission::BillingManage, Some(tenant))?;
    let s = ensure(ctx, tenant).await?;
    let Some(pending) = s.pending_plan_id else {
        return Err(CoreError::Conflict("no plan change is scheduled".into()));
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    subscriptions::set_pending(&tx, None).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "subscription.downgrade_cancelled",
            "subscription",
            s.id,
            serde_json::json!({"was": pending}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Whether `tenant` may open one more realtime session under its plan: fewer live sessions
/// than `concurrent_sessions`, and audio minutes of this period below `monthly_audio_minutes`.
/// A refusal says which limit and what to do; an admission returns the plan's limits.
pub async fn admit_session(ctx: &AppContext, tenant: TenantId) -> CoreResult<PlanLimits> {
    let s = ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let terms = terms_of(&tx, &s).await?;
    // Used-up minutes first: that reason holds until the period ends, whatever else closes.
    if let Some(why) = minutes_used_up(&tx, &s, &terms).await? {
        return Err(CoreError::LimitReached(why));
    }
    let l = &terms.limits;
    if let Some(max) = l.concurrent_sessions {
        let live = avb_storage::repos::realtime_sessions::active_ids(&tx)
            .await?
            .len() as u64;
        if live >= max {
            return Err(CoreError::LimitReached(format!(
                "the {} plan allows {max} concurrent sessions and {live} are open; end one or upgrade the plan",
                terms.name
            )));
        }
    }
    tx.commit().await?;
    Ok(terms.limits)
}

/// Why the period's audio minutes are used up, if they are.
async fn minutes_used_up(
    tx: &TenantTx,
    s: &Model,
    terms: &PlanTerms,
) -> CoreResult<Option<String>> {
    let Some(max) = terms.limits.monthly_audio_minutes else {
        return Ok(None);
    };
    let used: f64 = avb_storage::repos::usage::totals(tx, s.period_start, Utc::now())
        .await?
        .iter()
        .filter(|(m, _)| m.starts_with("audio_minutes"))
        .map(|(_, q)| *q)
        .fold(0.0, |a, b| a + b);
    Ok((used >= max as f64).then(|| {
        format!(
            "the {} plan's {max} audio minutes for this period are used up (until {}); upgrade the plan for more",
            terms.name,
            s.period_end.format("%Y-%m-%d")
        )
    }))
}

/// For a live session: why it must end now because the plan's minutes for this period are
/// used up, if they are (checked every few seconds by the gateway).
pub async fn live_allowance_spent(
    ctx: &AppContext,
    tenant: TenantId,
) -> CoreResult<Option<String>> {
    let s = ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let terms = terms_of(&tx, &s).await?;
    let why = minutes_used_up(&tx, &s, &terms).await?;
    tx.commit().await?;
    Ok(why)
}

/// Lago's hosted portal where the tenant manages payment methods (requires `billing:manage`;
/// only with Lago: the local ledger stores no payment methods).
pub async fn payment_portal(ctx: &AppContext, scope: &Scope) -> CoreResult<String> {
    let tenant = tenant_of(scope, Permission::BillingManage)?;
    ctx.policy
        .authorize(scope, Permission::BillingManage, Some(tenant))?;
    crate::services::lago_sync::portal_url(ctx, tenant).await
}

/// What one realtime session's usage costs at the tenant's current plan prices (usage charges
/// only; the fee is per period), formatted; requires `billing:view`.
pub async fn session_cost(
    ctx: &AppContext,
    scope: &Scope,
    session: uuid::Uuid,
) -> CoreResult<String> {
    let tenant = tenant_of(scope, Permission::BillingView)?;
    ctx.policy
        .authorize(scope, Permission::BillingView, Some(tenant))?;
    let s = ensure(ctx, tenant).await?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let terms = terms_of(&tx, &s).await?;
    let used = avb_storage::repos::usage::session_totals(&tx, session).await?;
    tx.commit().await?;
    let mut total = rust_decimal::Decimal::ZERO;
    for c in &terms.charges {
        let metric = if c.metric == "api_requests" {
            "requests"
        } else {
            c.metric.as_str()
        };
        let q = used.get(metric).copied().unwrap_or(0.0);
        let q = rust_decimal::Decimal::from_f64_retain(q)
            .unwrap_or_default()
            .round_dp(6);
        total += avb_domain::pricing::charge_amount(&c.model, q);
    }
    Ok(crate::services::invoices::money(
        avb_domain::pricing::round_to_minor(total, &terms.currency),
        &terms.currency,
    ))
}
