//! Which billing provider the platform uses, and the hooks that keep it in step: `local` (the
//! embedded default: plans, subscriptions and invoices in our database) or `lago` (when
//! `[lago]` is configured; Lago then also holds the plans, customers and subscriptions, pushed
//! here and repaired by the reconcile job). A provider that is down never blocks a change in
//! our database: the hook logs, and the reconcile job catches up.

use crate::context::AppContext;
use avb_domain::TenantId;
use avb_domain::pricing::PlanTerms;

/// `lago` when Lago is configured, else `local`.
pub fn name(ctx: &AppContext) -> &'static str {
    if ctx.config.lago.api_url.is_some() && ctx.config.lago.api_key.is_some() {
        "lago"
    } else {
        "local"
    }
}

/// How payment methods are managed: `lago` (through Lago's checkout link and portal),
/// `stripe` (Stripe Elements, with `[stripe]` keys) or `manual` (the operator records payments).
pub fn payments(ctx: &AppContext) -> &'static str {
    if name(ctx) == "lago" {
        "lago"
    } else if crate::services::stripe::enabled(ctx) {
        "stripe"
    } else {
        "manual"
    }
}

/// A plan was created or got a new version.
pub async fn plan_saved(ctx: &AppContext, terms: &PlanTerms) {
    if name(ctx) == "lago" {
        tracing::debug!(plan = %terms.code, "plan saved; bringing Lago in step");
        crate::services::lago_sync::nudge(ctx);
    }
}

/// A tenant got its first subscription.
pub async fn tenant_subscribed(ctx: &AppContext, tenant: TenantId, terms: &PlanTerms) {
    if name(ctx) == "lago" {
        tracing::debug!(%tenant, plan = %terms.code, "subscription made; bringing Lago in step");
        crate::services::lago_sync::nudge(ctx);
    }
}

/// A tenant's plan changed now (`now`) or at its period end.
pub async fn plan_changed(ctx: &AppContext, tenant: TenantId, terms: &PlanTerms, now: bool) {
    if name(ctx) == "lago" {
        tracing::debug!(%tenant, plan = %terms.code, now, "plan change; bringing Lago in step");
        crate::services::lago_sync::nudge(ctx);
    }
}
