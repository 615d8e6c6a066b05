//! The admin monitoring page reading request figures from a real Prometheus (Debian's
//! `prometheus` package, installed by scripts/test.sh) scraping this process's registry.
//! Skipped with a notice when the binary is missing, unless REQUIRE_PROMETHEUS=1.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::Browser;
use avb_testkit::{Db, spawn_app_with};
use std::process::Stdio;
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monitoring_reads_request_latency_from_prometheus() {
    let binary = ["/usr/bin/prometheus", "/usr/local/bin/prometheus"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(binary) = binary else {
        assert!(
            std::env::var("REQUIRE_PROMETHEUS").as_deref() != Ok("1"),
            "the prometheus binary is missing (apt-get install prometheus)"
        );
        eprintln!("SKIPPED: no prometheus binary (scripts/test.sh installs it)");
        return;
    };
    // This process's registry, served the way `avb serve` serves it.
    let handle = crate::support::prometheus();
    let metrics = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_addr = metrics.local_addr().unwrap();
    let app_metrics = axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || std::future::ready(handle.render())),
    );
    tokio::spawn(async move { axum::serve(metrics, app_metrics).await.unwrap() });

    // A real Prometheus scraping it every second.
    let dir = std::env::temp_dir().join(format!("avb-prom-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: avb\n    static_configs:\n      - targets: ['{metrics_addr}']\n"
        ),
    )
    .unwrap();
    let prom_port = free_port();
    let _prom = tokio::process::Command::new(binary)
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{prom_port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let prom = format!("http://127.0.0.1:{prom_port}");
    let http = reqwest::Client::new();
    let mut ready = false;
    for _ in 0..100 {
        if http
            .get(format!("{prom}/-/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ready, "prometheus started");

    let app = spawn_app_with(Db::Sqlite, |c| {
        c.monitoring.prometheus_url = Some(prom.clone());
        c.monitoring.window_minutes = 5;
    })
    .await;
    app.create_user(None, "saas_admin", "root@platform.test")
        .await;
    let (_, owner) = app.tenant_with_owner("Prom Co").await;
    let browser = Browser::new(&app);
    let admin = browser.session("root@platform.test").await;
    // Traffic, then wait for Prometheus to have scraped it more than once.
    let mut seen = String::new();
    for _ in 0..60 {
        for _ in 0..5 {
            app.get("/api/v1/projects", &owner).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        seen = browser.page("/admin/monitoring", &admin).await;
        if seen.contains("GET /api/v1/projects") {
            break;
        }
    }
    assert!(
        seen.contains("Figures from Prometheus at") && seen.contains("GET /api/v1/projects"),
        "{seen}"
    );
    // Alert rules read the same figures: any request on the route breaches a p99 of 0 ms.
    let operator = avb_core::Scope::local_operator(None);
    avb_core::services::alerts::create_rule(
        &app.ctx,
        &operator,
        avb_core::services::alerts::RuleInput {
            name: "projects slow".into(),
            metric: "http_p99_ms".into(),
            target: "/api/v1/projects".into(),
            threshold: "0".into(),
            for_secs: "0".into(),
            channel: "email".into(),
            destination: "ops@prom.test".into(),
        },
    )
    .await
    .unwrap();
    assert_eq!(
        avb_core::services::alerts::evaluate(&app.ctx)
            .await
            .unwrap(),
        1,
        "an incident opened from Prometheus' figures"
    );
    let _ = std::fs::remove_dir_all(&dir);

    // A Prometheus that cannot be reached is said so, not hidden.
    let broken = spawn_app_with(Db::Sqlite, |c| {
        c.monitoring.prometheus_url = Some(format!("http://127.0.0.1:{}", free_port()));
    })
    .await;
    broken
        .create_user(None, "saas_admin", "root@platform.test")
        .await;
    let b = Browser::new(&broken);
    let cookie = b.session("root@platform.test").await;
    let html = b.page("/admin/monitoring", &cookie).await;
    assert!(
        html.contains("Request and stage figures are unavailable"),
        "{html}"
    );
}
