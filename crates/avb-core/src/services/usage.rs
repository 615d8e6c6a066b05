//! Metering: the gateway appends ledger rows per turn; tenants read totals.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::{Actor, Scope};
use crate::services::projects::tenant_of;
use avb_domain::{Permission, ValidationError};
use avb_storage::repos::usage::{self as repo, UsageEntry};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The metrics the platform meters.
pub const METRICS: &[&str] = &[
    "requests",
    "audio_minutes_input",
    "audio_minutes_output",
    "llm_tokens_input",
    "llm_tokens_output",
];

/// Appends `(metric, quantity)` rows for one billable fact identified by `fact` (e.g. a
/// response id); recording the same fact twice adds nothing.
pub async fn record(
    ctx: &AppContext,
    scope: &Scope,
    session: Option<Uuid>,
    fact: &str,
    quantities: &[(&str, f64)],
) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::RealtimeConnect)?;
    let api_key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(id.as_uuid()),
        _ => None,
    };
    let now = Utc::now();
    let entries: Vec<UsageEntry> = quantities
        .iter()
        .filter(|(_, q)| *q > 0.0)
        .map(|(metric, quantity)| UsageEntry {
            project: None,
            api_key,
            session,
            metric: metric.to_string(),
            quantity: *quantity,
            idempotency_key: format!("{fact}:{metric}"),
            occurred_at: now,
        })
        .collect();
    if entries.is_empty() {
        return Ok(());
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    repo::append(&tx, &entries).await?;
    tx.commit().await?;
    Ok(())
}

/// Totals per metric in `[from, to)` (requires `usage:view`); every metric is present.
pub async fn totals(
    ctx: &AppContext,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> CoreResult<BTreeMap<String, f64>> {
    let tenant = tenant_of(scope, Permission::UsageView)?;
    ctx.policy
        .authorize(scope, Permission::UsageView, Some(tenant))?;
    if from >= to {
        return Err(ValidationError::new("from", "must be before to").into());
    }
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let mut out = repo::totals(&tx, from, to).await?;
    tx.commit().await?;
    for m in METRICS {
        out.entry(m.to_string()).or_insert(0.0);
    }
    Ok(out)
}
