//! Usage shipped to Lago: unshipped ledger rows go in batches of up to 100 to
//! `POST /api/v1/events/batch`, each event keyed by our idempotency key (`transaction_id`) with its
//! own timestamp, so a retried batch never double-bills; rows are marked shipped only after Lago
//! accepts the batch.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use avb_storage::repos::usage::{self, UsageRow};
use std::time::Duration;

/// Lago's batch limit.
const BATCH: u64 = 100;

/// The Lago event of one ledger row.
pub fn event(row: &UsageRow, subscription_prefix: &str) -> serde_json::Value {
    let ts = row.occurred_at.timestamp() as f64
        + f64::from(row.occurred_at.timestamp_subsec_micros()) / 1_000_000.0;
    serde_json::json!({
        "transaction_id": row.idempotency_key,
        "external_subscription_id": format!("{subscription_prefix}{}", row.tenant_id),
        "code": row.metric,
        "timestamp": ts,
        "properties": {
            "value": row.quantity,
            "project_id": row.project_id,
            "api_key_id": row.api_key_id,
            "session_id": row.session_id,
        },
    })
}

/// Ships every unshipped row (batch by batch); returns how many Lago accepted. `Ok(0)` when Lago
/// is not configured.
pub async fn ship_usage(ctx: &AppContext) -> CoreResult<u64> {
    let cfg = &ctx.config.lago;
    let (Some(url), Some(key)) = (&cfg.api_url, &cfg.api_key) else {
        return Ok(0);
    };
    let endpoint = format!("{}/api/v1/events/batch", url.trim_end_matches('/'));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .build()
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let mut shipped = 0;
    loop {
        let tx = ctx.store.platform_tx(false).await?;
        let rows = usage::unshipped(&tx, BATCH).await?;
        tx.commit().await?;
        if rows.is_empty() {
            break;
        }
        let body = serde_json::json!({
            "events": rows.iter().map(|r| event(r, &cfg.subscription_prefix)).collect::<Vec<_>>(),
        });
        let res = client
            .post(&endpoint)
            .bearer_auth(key.expose())
            .json(&body)
            .send()
            .await
            .map_err(|e| CoreError::Internal(format!("Lago unreachable: {e}")))?;
        let status = res.status();
        if !status.is_success() {
            let detail: String = res
                .text()
                .await
                .unwrap_or_default()
                .chars()
                .take(300)
                .collect();
            return Err(CoreError::Internal(format!(
                "Lago refused a batch of {} events with HTTP {}: {detail}",
                rows.len(),
                status.as_u16()
            )));
        }
        let ids: Vec<uuid::Uuid> = rows.iter().map(|r| r.id).collect();
        let tx = ctx.store.platform_tx(true).await?;
        shipped += usage::mark_shipped(&tx, &ids).await?;
        tx.commit().await?;
        if (rows.len() as u64) < BATCH {
            break;
        }
    }
    Ok(shipped)
}

/// Revenue this calendar month (UTC) from Lago: the total of finalized invoices issued since the
/// 1st, per currency, in cents. `Ok(None)` when Lago is not configured.
pub async fn revenue_this_month(ctx: &AppContext) -> CoreResult<Option<Vec<(String, i64)>>> {
    use chrono::Datelike;
    let cfg = &ctx.config.lago;
    let (Some(url), Some(key)) = (&cfg.api_url, &cfg.api_key) else {
        return Ok(None);
    };
    let today = chrono::Utc::now().date_naive();
    let first = today.with_day(1).unwrap_or(today);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let mut totals: std::collections::BTreeMap<String, i64> = Default::default();
    let mut page = 1u32;
    // At most 50 pages of 100 invoices per look.
    while page <= 50 {
        let res = client
            .get(format!("{}/api/v1/invoices", url.trim_end_matches('/')))
            .bearer_auth(key.expose())
            .query(&[
                ("statuses[]", "finalized".to_string()),
                ("issuing_date_from", first.to_string()),
                ("per_page", "100".to_string()),
                ("page", page.to_string()),
            ])
            .send()
            .await
            .map_err(|e| CoreError::Internal(format!("Lago unreachable: {e}")))?;
        if !res.status().is_success() {
            return Err(CoreError::Internal(format!(
                "Lago answered HTTP {} to the invoice list",
                res.status().as_u16()
            )));
        }
        let body: serde_json::Value = res
            .json()
            .await
            .map_err(|e| CoreError::Internal(format!("Lago invoice list: {e}")))?;
        for inv in body["invoices"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            let cents = inv["total_amount_cents"].as_i64().unwrap_or(0);
            let currency = inv["currency"].as_str().unwrap_or("?").to_string();
            *totals.entry(currency).or_default() += cents;
        }
        match body["meta"]["next_page"].as_u64() {
            Some(n) if n > u64::from(page) => page = n as u32,
            _ => break,
        }
    }
    Ok(Some(totals.into_iter().collect()))
}
