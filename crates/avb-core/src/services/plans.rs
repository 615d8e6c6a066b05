//! Plans (A4): what tenants can subscribe to. Each plan has immutable versions; an edit adds a
//! version that new subscriptions get, while existing subscriptions keep theirs. A deprecated
//! plan is not offered to new subscriptions; its subscribers keep it. A fresh install gets one
//! plan, `free`, made from the configuration (`[team] max_members`, `[realtime]` budgets), so
//! nothing changes for it until an operator defines plans. Managing plans needs
//! `platform:tenants`; every change is audited. Tenants read the plans on offer and their own.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use avb_domain::pricing::{Currency, Interval, PlanLimits, PlanTerms};
use avb_domain::{Permission, ValidationError};
use avb_storage::entities::plan::Model;
use avb_storage::repos::{audit as audit_repo, plans};
use avb_storage::store::Tx;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use uuid::Uuid;

/// The plan a fresh install starts with.
pub const DEFAULT_PLAN: &str = "free";

/// A plan as pages and the API show it: its current terms.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanView {
    pub id: Uuid,
    pub code: String,
    pub name: String,
    /// `active` or `deprecated`.
    pub status: String,
    /// The version new subscriptions get.
    pub version: i32,
    #[schema(value_type = Object)]
    pub terms: PlanTerms,
    /// Tenants subscribed to it (any version); only for the SaaS admin.
    pub subscribers: Option<u64>,
    pub updated_at: DateTime<Utc>,
}

/// One version of a plan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PlanVersionView {
    pub version: i32,
    #[schema(value_type = Object)]
    pub terms: PlanTerms,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// Reads stored terms (written by this module, so a failure is a corrupt row).
pub(crate) fn parse_terms(json: &str) -> CoreResult<PlanTerms> {
    serde_json::from_str(json).map_err(|e| CoreError::Internal(format!("stored plan terms: {e}")))
}

/// The terms of `plan` at `version`.
pub(crate) async fn terms_at(tx: &Tx, plan: Uuid, version: i32) -> CoreResult<PlanTerms> {
    parse_terms(&plans::version(tx, plan, version).await?.terms)
}

async fn view(tx: &Tx, m: Model, subscribers: Option<u64>) -> CoreResult<PlanView> {
    let terms = terms_at(tx, m.id, m.current_version).await?;
    Ok(PlanView {
        id: m.id,
        code: m.code,
        name: m.name,
        status: m.status,
        version: m.current_version,
        terms,
        subscribers,
        updated_at: m.updated_at,
    })
}

/// A plan made from the configuration for a fresh install: free of charge, with the limits
/// `[team]` and `[realtime]` give plan `code` (their per-plan tables, else their defaults).
fn config_terms(ctx: &AppContext, code: &str) -> PlanTerms {
    let rt = &ctx.config.realtime;
    let (rpm, tpm) = match rt.plans.get(code) {
        Some(p) => (p.requests_per_minute, p.tokens_per_minute),
        None => (rt.requests_per_minute, rt.tokens_per_minute),
    };
    let mut name: String = code.replace(['_', '-'], " ");
    if let Some(first) = name.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    PlanTerms {
        name,
        code: code.into(),
        description: "Made from the server's configuration at the first start.".into(),
        currency: Currency::parse("USD").expect("USD is a currency"),
        interval: Interval::Monthly,
        amount: Decimal::ZERO,
        charges: Vec::new(),
        features: vec!["Realtime voice sessions".into(), "Portal and API".into()],
        limits: PlanLimits {
            seats: Some(ctx.config.team.limit_for(code)),
            concurrent_sessions: None,
            requests_per_minute: Some(rpm),
            tokens_per_minute: Some(tpm),
            monthly_audio_minutes: None,
        },
    }
}

/// Creates the plans of a fresh install when no plan exists yet: `free`, and one per plan the
/// configuration names (`[team.plans]`, `[realtime.plans]`), so limits stay as configured
/// (idempotent; a concurrent creation wins).
pub async fn ensure_default(ctx: &AppContext) -> CoreResult<()> {
    let tx = ctx.store.platform_tx(true).await?;
    if plans::count(&tx).await? > 0 {
        return Ok(());
    }
    let mut codes: std::collections::BTreeSet<String> =
        ctx.config.team.plans.keys().cloned().collect();
    codes.extend(ctx.config.realtime.plans.keys().cloned());
    codes.insert(DEFAULT_PLAN.into());
    for code in codes {
        let terms = config_terms(ctx, &code);
        if terms.validate().is_err() {
            tracing::warn!(plan = %code, "a configured plan code is not a valid plan code; skipped");
            continue;
        }
        let json = terms_json(&terms)?;
        if plans::insert(&tx, &terms.code, &terms.name, &json, "system")
            .await
            .is_err()
        {
            // Another replica made them first.
            return Ok(());
        }
    }
    tx.commit().await?;
    Ok(())
}

/// Every plan with its subscriber count (requires `platform:tenants`).
pub async fn list(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<PlanView>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    ensure_default(ctx).await?;
    let tx = ctx.store.platform_tx(false).await?;
    let counts = plans::subscriber_counts(&tx).await?;
    let mut out = Vec::new();
    for m in plans::all(&tx).await? {
        let n = counts.get(&m.id).copied().unwrap_or(0);
        out.push(view(&tx, m, Some(n)).await?);
    }
    tx.commit().await?;
    Ok(out)
}

/// The plans offered to new subscriptions (any signed-in member may read them).
pub async fn offered(ctx: &AppContext) -> CoreResult<Vec<PlanView>> {
    ensure_default(ctx).await?;
    let tx = ctx.store.platform_tx(false).await?;
    let mut out = Vec::new();
    for m in plans::all(&tx).await? {
        if m.status == "active" {
            out.push(view(&tx, m, None).await?);
        }
    }
    tx.commit().await?;
    out.sort_by_key(|p| p.terms.amount);
    Ok(out)
}

/// One plan with its versions (requires `platform:tenants`).
pub async fn get(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
) -> CoreResult<(PlanView, Vec<PlanVersionView>)> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let m = plans::get(&tx, id).await?;
    let counts = plans::subscriber_counts(&tx).await?;
    let versions = plans::versions(&tx, id)
        .await?
        .into_iter()
        .map(|v| {
            Ok(PlanVersionView {
                version: v.version,
                terms: parse_terms(&v.terms)?,
                created_by: v.created_by,
                created_at: v.created_at,
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    let n = counts.get(&m.id).copied().unwrap_or(0);
    let plan = view(&tx, m, Some(n)).await?;
    tx.commit().await?;
    Ok((plan, versions))
}

fn terms_json(terms: &PlanTerms) -> CoreResult<String> {
    serde_json::to_string(terms).map_err(|e| CoreError::Internal(e.to_string()))
}

/// Creates a plan (requires `platform:tenants`; audited). The terms are validated first:
/// nothing is stored when any field is wrong.
pub async fn create(ctx: &AppContext, scope: &Scope, terms: PlanTerms) -> CoreResult<PlanView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    terms.validate()?;
    ensure_default(ctx).await?;
    let tx = ctx.store.platform_tx(true).await?;
    if plans::find_by_code(&tx, &terms.code).await?.is_some() {
        return Err(ValidationError::new("code", "is already used by another plan").into());
    }
    let m = plans::insert(
        &tx,
        &terms.code,
        &terms.name,
        &terms_json(&terms)?,
        &scope.actor().label(),
    )
    .await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "plan.create",
            "plan",
            m.id,
            serde_json::json!({"code": terms.code, "name": terms.name, "amount": terms.amount.to_string(), "currency": terms.currency.code()}),
        ),
    )
    .await?;
    let v = view(&tx, m, Some(0)).await?;
    tx.commit().await?;
    crate::services::billing_provider::plan_saved(ctx, &v.terms).await;
    Ok(v)
}

/// Saves new terms as the plan's next version (requires `platform:tenants`; audited). The
/// code cannot change; existing subscriptions keep their version.
pub async fn update(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    terms: PlanTerms,
) -> CoreResult<PlanView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    terms.validate()?;
    let tx = ctx.store.platform_tx(true).await?;
    let current = plans::get(&tx, id).await?;
    if terms.code != current.code {
        return Err(
            ValidationError::new("code", "cannot change; create a new plan instead").into(),
        );
    }
    let before = terms_at(&tx, id, current.current_version).await?;
    if before.currency != terms.currency {
        return Err(ValidationError::new(
            "currency",
            "cannot change; subscribers are billed in the plan's currency",
        )
        .into());
    }
    let m = plans::add_version(
        &tx,
        id,
        &terms.name,
        &terms_json(&terms)?,
        &scope.actor().label(),
    )
    .await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "plan.update",
            "plan",
            id,
            serde_json::json!({"code": m.code, "version": m.current_version, "amount": terms.amount.to_string()}),
        ),
    )
    .await?;
    let counts = plans::subscriber_counts(&tx).await?;
    let n = counts.get(&id).copied().unwrap_or(0);
    let v = view(&tx, m, Some(n)).await?;
    tx.commit().await?;
    crate::services::billing_provider::plan_saved(ctx, &v.terms).await;
    Ok(v)
}

/// Deprecates (`false`) or offers again (`true`) a plan (requires `platform:tenants`; audited).
/// Subscribers keep a deprecated plan.
pub async fn set_offered(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    offered: bool,
) -> CoreResult<PlanView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(true).await?;
    let status = if offered { "active" } else { "deprecated" };
    let m = plans::set_status(&tx, id, status).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            if offered {
                "plan.reactivate"
            } else {
                "plan.deprecate"
            },
            "plan",
            id,
            serde_json::json!({"code": m.code}),
        ),
    )
    .await?;
    let counts = plans::subscriber_counts(&tx).await?;
    let n = counts.get(&id).copied().unwrap_or(0);
    let v = view(&tx, m, Some(n)).await?;
    tx.commit().await?;
    Ok(v)
}

/// A tenant on a plan, with its usage this period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SubscriberView {
    pub tenant_id: Uuid,
    pub tenant_name: String,
    /// The plan version it is on.
    pub version: i32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// Usage this period by metric.
    pub usage: std::collections::BTreeMap<String, f64>,
}

/// Most subscribers listed.
pub const MAX_SUBSCRIBERS_LISTED: u64 = 200;

/// The tenants on a plan with their usage this period (requires `platform:tenants`).
pub async fn subscribers(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
) -> CoreResult<Vec<SubscriberView>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    plans::get(&tx, id).await?;
    let subs = avb_storage::repos::subscriptions::of_plan(&tx, id, MAX_SUBSCRIBERS_LISTED).await?;
    tx.commit().await?;
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        let tenant = avb_domain::TenantId(s.tenant_id);
        let tx = ctx.store.tenant_tx(tenant, false).await?;
        let name = avb_storage::repos::tenants::get(&tx, tenant).await?.name;
        let usage = avb_storage::repos::usage::totals(&tx, s.period_start, Utc::now()).await?;
        tx.commit().await?;
        out.push(SubscriberView {
            tenant_id: s.tenant_id,
            tenant_name: name,
            version: s.plan_version,
            period_start: s.period_start,
            period_end: s.period_end,
            usage,
        });
    }
    Ok(out)
}
