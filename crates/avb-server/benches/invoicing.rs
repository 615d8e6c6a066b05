//! Invoicing on the local ledger at scale (a load tool, not a timed test):
//!
//! ```sh
//! cargo bench --profile dev -p avb-server --bench invoicing -- [tenants=1000] [db=sqlite|postgres]
//! ```
//!
//! Seeds `tenants` tenants on a plan with a fee and usage charges (standard and graduated),
//! each with a month of usage (one row per day for three metrics), moves every subscription's
//! period into the past, then times the billing job closing all the periods: one invoice per
//! tenant, computed from the ledger, numbered and stored, with the next period started.
#![allow(clippy::unwrap_used)]

use avb_storage::repos::subscriptions;
use avb_storage::repos::usage::{UsageEntry, append};
use avb_testkit::{Db, spawn_app};
use chrono::{Duration, Utc};
use std::time::Instant;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |key: &str| {
        std::env::args().find_map(|a| a.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    let n: usize = arg("tenants").and_then(|v| v.parse().ok()).unwrap_or(1000);
    let db = match arg("db").as_deref() {
        Some("postgres") => Db::Postgres,
        _ => Db::Sqlite,
    };
    let app = spawn_app(db).await;
    let op = avb_core::Scope::local_operator(None);
    let terms = serde_json::from_value(serde_json::json!({
        "code": "metered", "name": "Metered", "currency": "USD", "interval": "monthly", "amount": "49",
        "charges": [
            {"metric": "audio_minutes_input", "charge_model": "standard", "amount": "0.012"},
            {"metric": "audio_minutes_output", "charge_model": "standard", "amount": "0.024"},
            {"metric": "llm_tokens_output", "charge_model": "graduated", "graduated_ranges": [
                {"from_value": 0, "to_value": 100000, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 100001, "to_value": null, "per_unit_amount": "0.000002", "flat_amount": "0"}]}
        ]
    }))
    .unwrap();
    let plan = avb_core::services::plans::create(&app.ctx, &op, terms)
        .await
        .unwrap();
    let start = Utc::now() - Duration::days(31);
    let end = Utc::now() - Duration::seconds(1);
    let seeded = Instant::now();
    for i in 0..n {
        let tenant = app.create_tenant(&format!("Bench {i}")).await;
        avb_core::services::subscriptions::ensure(&app.ctx, tenant)
            .await
            .unwrap();
        let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
        subscriptions::roll(&tx, plan.id, plan.version, start, end)
            .await
            .unwrap();
        let mut rows = Vec::with_capacity(90);
        for day in 0..30 {
            for (m, q) in [
                ("audio_minutes_input", 37.5),
                ("audio_minutes_output", 21.25),
                ("llm_tokens_output", 8_000.0),
            ] {
                rows.push(UsageEntry {
                    project: None,
                    api_key: None,
                    session: None,
                    metric: m.into(),
                    quantity: q,
                    idempotency_key: format!("bench-{i}-{day}-{m}"),
                    occurred_at: start + Duration::days(day) + Duration::hours(1),
                });
            }
        }
        append(&tx, &rows).await.unwrap();
        tx.commit().await.unwrap();
    }
    println!(
        "seeded {n} tenants x 90 usage rows in {:.1} s ({db:?})",
        seeded.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let made = avb_core::services::invoices::close_due_periods(&app.ctx, Utc::now())
        .await
        .unwrap();
    let secs = t.elapsed().as_secs_f64();
    println!(
        "invoiced {made} periods in {secs:.2} s ({:.1} ms per invoice)",
        secs * 1000.0 / made.max(1) as f64
    );
    // Each tenant's invoice, by hand: 49.00 + 1,125 min x 0.012 = 13.50 + 637.5 min x 0.024 =
    // 15.30 + (240,000 - 100,000) tokens x 0.000002 = 0.28 -> 78.08.
    let tx = app.ctx.store.platform_tx(false).await.unwrap();
    let page = avb_storage::repos::invoices::list_all(
        &tx,
        &Default::default(),
        avb_storage::PageRequest {
            limit: 5,
            after: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let totals: Vec<i64> = page.items.iter().map(|i| i.total_minor).collect();
    println!("sample totals (minor units): {totals:?} (expected 7808 each)");
    assert!(totals.iter().all(|t| *t == 7808));
}
