//! Metering: the gateway appends ledger rows per turn; tenants read totals.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::{Actor, Scope};
use crate::services::projects::tenant_of;
use avb_domain::{Permission, SessionId, ValidationError};
use avb_storage::TenantTx;
pub use avb_storage::repos::usage::DailyTotal;
use avb_storage::repos::usage::{self as repo, UsageEntry};
use chrono::{DateTime, Datelike, Utc};
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
    session: Option<SessionId>,
    fact: &str,
    quantities: &[(&str, f64)],
) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::RealtimeConnect)?;
    let api_key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(id.as_uuid()),
        _ => None,
    };
    let project = scope.actor().project().map(|p| p.as_uuid());
    let session = session.map(|s| s.as_uuid());
    let now = Utc::now();
    let entries: Vec<UsageEntry> = quantities
        .iter()
        .filter(|(_, q)| *q > 0.0)
        .map(|(metric, quantity)| UsageEntry {
            project,
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
    let recorded: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .map(|e| (e.metric.clone(), serde_json::json!(e.quantity)))
        .collect();
    crate::services::events::record(
        &tx,
        "usage.recorded",
        serde_json::json!({"fact": fact, "session_id": session, "api_key_id": api_key, "quantities": recorded}),
    )
    .await?;
    let requests: f64 = entries
        .iter()
        .filter(|e| e.metric == "requests")
        .map(|e| e.quantity)
        .sum();
    if requests > 0.0 {
        check_threshold(ctx, &tx, requests).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Raises `usage.threshold_reached` (webhook, and mail when an address is set) when this
/// month's requests just crossed the tenant's threshold.
async fn check_threshold(ctx: &AppContext, tx: &TenantTx, added: f64) -> CoreResult<()> {
    let Some(settings) = avb_storage::repos::tenant_settings::get(tx).await? else {
        return Ok(());
    };
    let Some(threshold) = settings.usage_threshold_requests else {
        return Ok(());
    };
    let now = Utc::now();
    let month_start = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let total = repo::totals(tx, month_start, now + chrono::Duration::seconds(1))
        .await?
        .get("requests")
        .copied()
        .unwrap_or(0.0);
    let threshold_f = threshold as f64;
    if total >= threshold_f && total - added < threshold_f {
        let data = serde_json::json!({
            "metric": "requests",
            "threshold": threshold,
            "total": total,
            "period_start": month_start,
        });
        crate::services::webhooks::emit(tx, "usage.threshold_reached", data).await?;
        if !settings.notify_email.is_empty() {
            let body = format!(
                "Your AgentVoiceBox usage reached {total} requests this month (threshold {threshold}).\n"
            );
            ctx.mailer
                .queue(tx, &settings.notify_email, "Usage threshold reached", &body)
                .await?;
        }
    }
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

/// Totals per UTC day and metric in `[from, to)`, optionally of one project (requires
/// `usage:view`). Days without usage are absent.
pub async fn daily(
    ctx: &AppContext,
    scope: &Scope,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    project: Option<Uuid>,
) -> CoreResult<Vec<DailyTotal>> {
    let tenant = tenant_of(scope, Permission::UsageView)?;
    ctx.policy
        .authorize(scope, Permission::UsageView, Some(tenant))?;
    if from >= to {
        return Err(ValidationError::new("from", "must be before to").into());
    }
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = repo::daily(&tx, from, to, project).await?;
    tx.commit().await?;
    Ok(rows)
}
