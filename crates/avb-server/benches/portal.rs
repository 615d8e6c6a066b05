//! Portal page benchmarks (a load tool, not a timed test). Run with
//! `cargo bench -p avb-server --bench portal -- [sqlite|postgres] [sessions] [requests]`.
//!
//! Seeds `sessions` realtime sessions (99% ended) with usage and audit rows in one tenant, signs
//! a browser in, then measures server time to first byte (headers received) of the dashboard,
//! the sessions list (unfiltered, and filtered to the few live ones), a session's detail and the
//! usage page, sequentially and with 8 concurrent browsers; and the bytes a first visit to the
//! dashboard transfers (HTML, stylesheet, scripts, the status fragment).
#![allow(clippy::unwrap_used)]

use avb_storage::repos::realtime_sessions;
use avb_testkit::browser::Browser;
use avb_testkit::{Db, TestApp, spawn_app};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx].as_secs_f64() * 1000.0
}

async fn seed(app: &TestApp, tenant: avb_domain::TenantId, rows: usize) -> Uuid {
    let start = Instant::now();
    let chunk = 5_000;
    let mut done = 0;
    let mut last = Uuid::nil();
    while done < rows {
        let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
        for i in done..(done + chunk).min(rows) {
            last = Uuid::now_v7();
            realtime_sessions::insert(
                &tx,
                realtime_sessions::NewSession {
                    id: last,
                    project: None,
                    api_key: None,
                    realtime_id: &format!("sess_{i:08}"),
                    model: "gpt-realtime",
                    dialect: "ga",
                    client_ip: "203.0.113.7",
                    user_agent: "bench",
                    replica: "bench",
                    persona: None,
                },
            )
            .await
            .unwrap();
            // All but the newest 1% ended.
            if i < rows - (rows / 100).max(1) {
                realtime_sessions::close(&tx, last, "client closed", 3)
                    .await
                    .unwrap();
            }
        }
        tx.commit().await.unwrap();
        done = (done + chunk).min(rows);
    }
    let live = (rows / 100).max(1);
    println!(
        "seeded {rows} sessions ({live} live) in {:.1}s",
        start.elapsed().as_secs_f64()
    );
    last
}

/// Time to first byte of `n` sequential GETs, then of `n` GETs from 8 concurrent browsers.
async fn ttfb(app: &TestApp, cookie: &str, path: &str, n: usize) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = format!("{}{path}", app.base);
    let get = |client: reqwest::Client, url: String, cookie: String| async move {
        let t = Instant::now();
        let res = client
            .get(&url)
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        let first = t.elapsed();
        assert_eq!(res.status(), 200, "{url}");
        let body = res.bytes().await.unwrap();
        (first, t.elapsed(), body.len())
    };
    for _ in 0..20 {
        get(client.clone(), url.clone(), cookie.to_string()).await;
    }
    let mut firsts = Vec::with_capacity(n);
    let mut bytes = 0;
    for _ in 0..n {
        let (f, _, b) = get(client.clone(), url.clone(), cookie.to_string()).await;
        firsts.push(f);
        bytes = b;
    }
    firsts.sort();
    let seq = (percentile(&firsts, 0.5), percentile(&firsts, 0.99));
    let start = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..8 {
        let (client, url, cookie) = (client.clone(), url.clone(), cookie.to_string());
        handles.push(tokio::spawn(async move {
            let mut out = Vec::new();
            for _ in 0..n / 8 {
                out.push(get(client.clone(), url.clone(), cookie.clone()).await.0);
            }
            out
        }));
    }
    let mut conc = Vec::new();
    for h in handles {
        conc.extend(h.await.unwrap());
    }
    let rate = conc.len() as f64 / start.elapsed().as_secs_f64();
    conc.sort();
    println!(
        "{path}: {bytes} B; TTFB sequential p50 {:.2} ms p99 {:.2} ms; 8 concurrent p50 {:.2} ms p99 {:.2} ms ({rate:.0} pages/s)",
        seq.0,
        seq.1,
        percentile(&conc, 0.5),
        percentile(&conc, 0.99)
    );
}

/// Bytes of a first visit to the dashboard: the page, every asset it names, the status fragment.
async fn first_visit_bytes(app: &TestApp, browser: &Browser, cookie: &str) {
    let html = browser.page("/dashboard", cookie).await;
    let mut total = html.len();
    let mut parts = vec![format!("html {}", html.len())];
    for marker in ["href=\"/assets/", "src=\"/assets/"] {
        for rest in html.split(marker).skip(1) {
            let name = rest.split('"').next().unwrap();
            let body = browser
                .get(&format!("/assets/{name}"), cookie)
                .await
                .bytes()
                .await
                .unwrap();
            total += body.len();
            parts.push(format!("{name} {}", body.len()));
        }
    }
    let status = browser.page("/dashboard/status", cookie).await;
    total += status.len();
    parts.push(format!("status fragment {}", status.len()));
    println!(
        "dashboard first visit: {total} B uncompressed ({})",
        parts.join(", ")
    );
    // The same visit as a browser makes it, asking for gzip.
    let client = reqwest::Client::new();
    let mut gz = 0;
    let mut paths = vec!["/dashboard".to_string(), "/dashboard/status".to_string()];
    for marker in ["href=\"/assets/", "src=\"/assets/"] {
        for rest in html.split(marker).skip(1) {
            paths.push(format!("/assets/{}", rest.split('"').next().unwrap()));
        }
    }
    for p in paths {
        let body = client
            .get(format!("{}{p}", app.base))
            .header("cookie", cookie)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        gz += body.len();
    }
    println!("dashboard first visit with gzip: {gz} B on the wire");
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
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(400);
    println!("backend {db:?}, {rows} sessions, {n} requests per page");
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("Bench").await;
    let email = app
        .create_user(Some(tenant), "tenant_owner", "owner@bench.test")
        .await;
    let last = seed(&app, tenant, rows).await;
    if db == Db::Sqlite {
        app.raw_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            .await
            .unwrap();
    } else {
        app.raw_sql("VACUUM ANALYZE").await.unwrap();
    }
    let browser = Browser::new(&app);
    let cookie = browser.session(&email).await;
    first_visit_bytes(&app, &browser, &cookie).await;
    ttfb(&app, &cookie, "/dashboard", n).await;
    ttfb(&app, &cookie, "/sessions", n).await;
    ttfb(&app, &cookie, "/sessions?status=active", n).await;
    ttfb(&app, &cookie, "/sessions?status=closed&from=2020-01-01", n).await;
    ttfb(&app, &cookie, &format!("/sessions/{last}"), n).await;
    ttfb(&app, &cookie, "/sessions?from=2020-01-01&to=2020-01-02", n).await;
    ttfb(&app, &cookie, "/usage?period=90d", n).await;
    // The CSV of every session, once.
    let t = Instant::now();
    let csv = browser
        .get("/sessions/export.csv", &cookie)
        .await
        .bytes()
        .await
        .unwrap();
    println!(
        "/sessions/export.csv: {} rows, {} B in {:.0} ms",
        csv.iter().filter(|b| **b == b'\n').count() - 1,
        csv.len(),
        t.elapsed().as_secs_f64() * 1000.0
    );
}
