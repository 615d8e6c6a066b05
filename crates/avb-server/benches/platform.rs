//! Platform benchmarks (a load tool, not a timed test). Run with
//! `cargo bench -p avb-server --bench platform -- [sqlite|postgres] [rows] [rate] [seconds]`.
//!
//! 1. API-key verification throughput (cached) and latency, in process.
//! 2. `GET /api/v1/projects` and `GET /api/v1/audit` p50/p99 over HTTP at a fixed request rate
//!    (open loop) with `rows` projects and `rows` audit rows in the tenant.
#![allow(clippy::unwrap_used)]

use avb_core::Scope;
use avb_domain::KeyEnvironment;
use avb_testkit::{Db, TestApp, spawn_app};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn bench_key_verification(app: &TestApp, tenant: avb_domain::TenantId) {
    let scope = Scope::local_operator(Some(tenant));
    let input = avb_core::services::api_keys::NewKeyInput {
        name: "bench".into(),
        project: None,
        scopes: vec!["realtime".into()],
        environment: KeyEnvironment::Live,
    };
    let secret = avb_core::services::api_keys::create(&app.ctx, &scope, input)
        .await
        .unwrap()
        .secret;
    let keys = app.ctx.keys.clone();
    keys.verify(&app.ctx.store, &secret).await.unwrap();
    let n = 200_000;
    let mut lat = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        keys.verify(&app.ctx.store, &secret).await.unwrap();
        lat.push(t.elapsed());
    }
    let total = start.elapsed();
    lat.sort();
    println!(
        "key verification (cached, 1 task): {:.0}/s, p50 {:.4} ms, p99 {:.4} ms",
        n as f64 / total.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99)
    );
    let tasks = 4;
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let (keys, store, secret) = (keys.clone(), app.ctx.store.clone(), secret.clone());
        handles.push(tokio::spawn(async move {
            for _ in 0..n / tasks {
                keys.verify(&store, &secret).await.unwrap();
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    println!(
        "key verification (cached, {tasks} tasks on 2 cores): {:.0}/s",
        n as f64 / start.elapsed().as_secs_f64()
    );
}

async fn load(app: &TestApp, token: &str, path: &str, rate: u64, seconds: u64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let url = format!("{}{}", app.base, path);
    // Warm up.
    for _ in 0..50 {
        client
            .get(&url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
    }
    let total = rate * seconds;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let lat = Arc::new(std::sync::Mutex::new(Vec::with_capacity(total as usize)));
    let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let start = Instant::now();
    let mut handles = Vec::with_capacity(total as usize);
    for i in 0..total {
        // Open loop: request i is due at start + i * interval, whatever happened before.
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (client, url, token, lat, errors) = (
            client.clone(),
            url.clone(),
            token.to_string(),
            lat.clone(),
            errors.clone(),
        );
        handles.push(tokio::spawn(async move {
            let t = Instant::now();
            match client.get(&url).bearer_auth(&token).send().await {
                Ok(r) if r.status().is_success() => {
                    let _ = r.bytes().await;
                    lat.lock().unwrap().push(t.elapsed());
                }
                _ => {
                    errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let elapsed = start.elapsed();
    let mut lat = Arc::try_unwrap(lat).unwrap().into_inner().unwrap();
    lat.sort();
    println!(
        "GET {path}: offered {rate}/s for {seconds}s, achieved {:.0}/s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, errors {}",
        lat.len() as f64 / elapsed.as_secs_f64(),
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        percentile(&lat, 1.0),
        errors.load(std::sync::atomic::Ordering::Relaxed)
    );
}

async fn seed(app: &TestApp, tenant: avb_domain::TenantId, rows: usize) {
    let start = Instant::now();
    let scope = Scope::local_operator(Some(tenant));
    let chunk = 5_000;
    let mut done = 0;
    while done < rows {
        let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
        for i in done..(done + chunk).min(rows) {
            let p =
                avb_storage::repos::projects::insert(&tx, &format!("project {i}"), "staging", "")
                    .await
                    .unwrap();
            let entry = avb_core::audit::entry(
                &scope,
                Some(tenant),
                "project.create",
                "project",
                p.id,
                serde_json::json!({"name": format!("project {i}")}),
            );
            avb_storage::repos::audit::append(&tx, entry).await.unwrap();
        }
        tx.commit().await.unwrap();
        done = (done + chunk).min(rows);
    }
    println!(
        "seeded {rows} projects and {rows} audit rows in {:.1}s",
        start.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let db = match args.first().map(String::as_str) {
        Some("postgres") => Db::Postgres,
        _ => Db::Sqlite,
    };
    let rows: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let rate: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let seconds: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(10);
    println!("backend {db:?}, {rows} rows, {rate} req/s for {seconds} s");
    let app = spawn_app(db).await;
    let (tenant, token) = app.tenant_with_owner("Bench").await;
    bench_key_verification(&app, tenant).await;
    seed(&app, tenant, rows).await;
    // Measure the steady state, not the checkpoint of the seeding's write-ahead log.
    if db == Db::Sqlite {
        app.raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
    } else {
        app.raw_sql("VACUUM ANALYZE").await.unwrap();
    }
    load(&app, &token, "/api/v1/projects", rate, seconds).await;
    load(&app, &token, "/api/v1/audit", rate, seconds).await;
    // Full-text search: a selective term, and a broad one that matches every row.
    load(&app, &token, "/api/v1/audit?q=99999", 20, seconds).await;
    load(&app, &token, "/api/v1/audit?q=project%2099999", 20, seconds).await;
}
