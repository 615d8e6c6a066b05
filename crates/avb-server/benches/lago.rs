//! Billing with Lago (a load tool, not a timed test), against the stand-in of Lago's API:
//!
//! ```sh
//! cargo bench --profile dev -p avb-server --bench lago -- [tenants=100] [delay_ms=300]
//! ```
//!
//! 1. Sync: `tenants` tenants subscribed, then one reconciliation (metrics, plans, a customer
//!    and a subscription each) timed with Lago answering at once and after `delay_ms`.
//! 2. The tenant billing page's time to first byte while Lago answers after `delay_ms`: the
//!    page reads our mirror and never waits on Lago.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::Browser;
use avb_testkit::lago::{KEY, spawn_lago};
use avb_testkit::{Db, spawn_app_with};
use std::time::{Duration, Instant};

async fn run(tenants: usize, delay: Duration) {
    let (url, _lago) = spawn_lago(delay).await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.lago.api_url = Some(url);
        c.lago.api_key = Some(avb_core::Secret::new(KEY));
        c.lago.sync_interval_secs = 3600;
    })
    .await;
    let mut owner = String::new();
    for i in 0..tenants {
        let t = app.create_tenant(&format!("Lago bench {i}")).await;
        avb_core::services::subscriptions::ensure(&app.ctx, t)
            .await
            .unwrap();
        if i == 0 {
            owner = app
                .create_user(Some(t), "tenant_owner", "owner@lago-bench.test")
                .await;
        }
    }
    // Hooks nudged Lago in the background while seeding; let them finish first.
    tokio::time::sleep(delay * 4 + Duration::from_millis(200)).await;
    let t = Instant::now();
    let r = avb_core::services::lago_sync::reconcile(&app.ctx)
        .await
        .unwrap();
    println!(
        "Lago {} ms per request: reconciled {tenants} tenants in {:.2} s ({r:?})",
        delay.as_millis(),
        t.elapsed().as_secs_f64()
    );
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let mut ttfb = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let res = browser.get("/billing", &cookie).await;
        assert_eq!(res.status(), 200);
        ttfb.push(t.elapsed().as_secs_f64() * 1000.0);
        res.bytes().await.unwrap();
    }
    ttfb.sort_by(f64::total_cmp);
    println!(
        "  /billing time to first byte with Lago at {} ms: p50 {:.1} ms, max {:.1} ms",
        delay.as_millis(),
        ttfb[ttfb.len() / 2],
        ttfb[ttfb.len() - 1]
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let arg = |key: &str| {
        std::env::args().find_map(|a| a.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    let n: usize = arg("tenants").and_then(|v| v.parse().ok()).unwrap_or(100);
    let delay: u64 = arg("delay_ms").and_then(|v| v.parse().ok()).unwrap_or(300);
    run(n, Duration::ZERO).await;
    run(n, Duration::from_millis(delay)).await;
}
