//! The SaaS admin portal in process (asserting on HTML): overview, tenants (search, detail,
//! suspend ending keys and live sessions, reactivate), read-only impersonation with audited page
//! views, users (search, disable, enable, password reset, failed sign-ins), the cross-tenant
//! audit log (filters, entry, CSV/JSON export, verification) and monitoring from a real
//! Prometheus registry.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field, link};
use avb_testkit::{Db, spawn_app, ws};
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saas_admin_tenants_suspension_and_read_only_impersonation() {
    let app = spawn_app(Db::Postgres).await;
    app.create_user(None, "saas_admin", "root@platform.test")
        .await;
    let (tenant, owner) = app.tenant_with_owner("Acme Voice").await;
    let (_, other_owner) = app.tenant_with_owner("Zeta Calls").await;
    let _ = other_owner;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "prod", "scopes": ["realtime", "usage"]}),
        )
        .await;
    let secret = key["secret"].as_str().unwrap().to_string();
    let browser = Browser::new(&app);
    let admin = browser.session("root@platform.test").await;

    // The admin lands on the platform overview with the admin navigation.
    let res = browser.get("/dashboard", &admin).await;
    assert_eq!(res.headers()["location"], "/admin");
    let html = browser.page("/admin", &admin).await;
    for l in [
        "/admin/tenants",
        "/admin/users",
        "/admin/audit",
        "/admin/monitoring",
    ] {
        assert!(html.contains(&format!("href=\"{l}\"")), "{l}");
    }
    assert!(
        html.contains("No paid subscriptions yet (local billing).") && html.contains("every 30s")
    );
    let health = browser.page("/admin/monitoring/health", &admin).await;
    assert!(
        health.contains("Database") && health.contains("badge-active\">up"),
        "{health}"
    );

    // A tenant member cannot open any of it.
    let owner_email = {
        let (_, me) = app.get("/api/v1/me", &owner).await;
        me["email"].as_str().unwrap().to_string()
    };
    let member = browser.session(&owner_email).await;
    let res = browser.get("/admin/tenants", &member).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("<code>platform:tenants</code>")
    );

    // Search as you type: the table fragment filters.
    let table = browser.page("/admin/tenants/table?q=acme", &admin).await;
    assert!(table.contains("Acme Voice") && !table.contains("Zeta Calls"));
    let html = browser.page("/admin/tenants", &admin).await;
    assert!(html.contains("hx-get=\"/admin/tenants/table\"") && html.contains("Zeta Calls"));
    let detail = link(&table, "/admin/tenants/");
    let page = browser.page(&detail, &admin).await;
    assert!(
        page.contains("prod")
            && page.contains(&owner_email)
            && page.contains("Usage, last 30 days")
    );

    // Suspend: confirmation, keys refused, the live session ends.
    assert_eq!(app.get("/api/v1/usage", &secret).await.0, StatusCode::OK);
    let mut live = ws::open_session(&app, &secret).await;
    let confirm = browser.page(&format!("{detail}/suspend"), &admin).await;
    assert!(confirm.contains("live voice sessions end"));
    let csrf = field(&confirm, "csrf");
    let to = browser
        .submit(
            &format!("{detail}/suspend"),
            &admin,
            &[("csrf", &csrf), ("reason", "unpaid")],
        )
        .await;
    assert_eq!(to, format!("{detail}?done=suspended"));
    let (s, body) = app.get("/api/v1/usage", &secret).await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("tenant_suspended"))
    );
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match futures::StreamExt::next(&mut live).await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_)))
                | None
                | Some(Err(_)) => break,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the live session was ended");
    let csrf = field(
        &browser.page(&format!("{detail}/reactivate"), &admin).await,
        "csrf",
    );
    browser
        .submit(&format!("{detail}/reactivate"), &admin, &[("csrf", &csrf)])
        .await;
    assert_eq!(
        app.get("/api/v1/usage", &secret).await.0,
        StatusCode::OK,
        "keys restored"
    );

    // Impersonation: read-only, banner, audited page views, no mutation.
    let to = browser
        .submit(&format!("{detail}/impersonate"), &admin, &[("csrf", &csrf)])
        .await;
    assert_eq!(to, "/dashboard");
    let html = browser.page("/dashboard", &admin).await;
    assert!(html.contains("Viewing <strong>Acme Voice</strong>") && html.contains("read-only"));
    let projects = browser.page("/projects", &admin).await;
    assert!(
        !projects.contains("Create project"),
        "no create form while impersonating"
    );
    let res = browser
        .post(
            "/projects",
            &admin,
            &[
                ("name", "sneaky"),
                ("environment", "production"),
                ("csrf", &field(&projects, "csrf")),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (_, list) = app.get("/api/v1/projects", &owner).await;
    assert!(!list.to_string().contains("sneaky"), "nothing was created");
    let settings = browser.get("/settings", &admin).await;
    assert_eq!(settings.status(), StatusCode::FORBIDDEN);
    let (_, audit) = app
        .get(
            "/api/v1/audit?action=admin.impersonation.view&limit=50",
            &owner,
        )
        .await;
    let paths = audit.to_string();
    assert!(
        paths.contains("/dashboard") && paths.contains("/projects"),
        "{paths}"
    );
    let csrf = field(&html, "csrf");
    let to = browser
        .submit("/admin/impersonation/stop", &admin, &[("csrf", &csrf)])
        .await;
    assert_eq!(to, format!("/admin/tenants/{}", tenant));
    assert_eq!(
        browser.get("/dashboard", &admin).await.headers()["location"],
        "/admin"
    );
    // Signing out works while viewing a tenant too.
    browser
        .submit(&format!("{detail}/impersonate"), &admin, &[("csrf", &csrf)])
        .await;
    assert_eq!(
        browser.submit("/logout", &admin, &[("csrf", &csrf)]).await,
        "/login"
    );
    assert_eq!(
        browser.get("/dashboard", &admin).await.headers()["location"],
        "/login?expired=1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saas_admin_users_audit_and_monitoring() {
    let app = spawn_app(Db::Sqlite).await;
    // A real Prometheus recorder for this test process, read by this app, as `avb serve` does.
    let metrics = crate::support::prometheus();
    app.ctx.monitor.set_metrics_source(move || metrics.render());
    app.create_user(None, "saas_admin", "root@platform.test")
        .await;
    let tenant = app.create_tenant("Users Co").await;
    app.create_user(Some(tenant), "developer", "dev@users.test")
        .await;
    let dev = app.login("dev@users.test").await;
    // A failed sign-in to find later.
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/token",
            json!({"email": "dev@users.test", "password": "wrong-password-1"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let browser = Browser::new(&app);
    let admin = browser.session("root@platform.test").await;

    // Users: search, detail, disable (token refused), enable, password reset mail.
    let table = browser
        .page("/admin/users/table?q=dev%40users", &admin)
        .await;
    assert!(
        table.contains("dev@users.test")
            && table.contains("Users Co (developer)")
            && !table.contains("root@")
    );
    let detail = link(&table, "/admin/users/");
    let page = browser.page(&detail, &admin).await;
    assert!(page.contains("refused (bad_password)") && page.contains("Users Co"));
    let csrf = field(
        &browser.page(&format!("{detail}/disable"), &admin).await,
        "csrf",
    );
    let to = browser
        .submit(&format!("{detail}/disable"), &admin, &[("csrf", &csrf)])
        .await;
    assert!(to.ends_with("done=user_disabled"));
    assert_eq!(
        app.get("/api/v1/me", &dev).await.0,
        StatusCode::UNAUTHORIZED
    );
    browser
        .submit(&format!("{detail}/enable"), &admin, &[("csrf", &csrf)])
        .await;
    assert_eq!(
        app.post_anon(
            "/api/v1/auth/token",
            json!({"email": "dev@users.test", "password": avb_testkit::PASSWORD})
        )
        .await
        .0,
        StatusCode::OK
    );
    browser
        .submit(
            &format!("{detail}/password-reset"),
            &admin,
            &[("csrf", &csrf)],
        )
        .await;
    let tx = app.ctx.store.platform_tx(false).await.unwrap();
    let mails = avb_storage::repos::mail::list(
        &tx,
        Some("dev@users.test"),
        avb_storage::PageRequest {
            limit: 10,
            after: None,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert!(
        mails.items.iter().any(|m| m.body.contains("reset")),
        "reset mail queued"
    );
    let failed = browser.page("/admin/users/failed-logins", &admin).await;
    assert!(failed.contains("dev@users.test") && failed.contains("bad_password"));

    // Audit across tenants: filter, entry detail, exports, verification.
    let html = browser
        .page("/admin/audit?action=admin.user.disable", &admin)
        .await;
    assert!(html.contains("admin.user.disable") && !html.contains("admin.user.enable"));
    let entry = link(&html, "/admin/audit/0");
    let page = browser.page(&entry, &admin).await;
    assert!(
        page.contains("sessions_ended") && page.contains("Payload") && page.contains("IP address")
    );
    let csv = browser
        .get(
            "/admin/audit/export?format=csv&action=admin.user.enable",
            &admin,
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.starts_with("id,created_at") && csv.contains("admin.user.enable"));
    let jsn: serde_json::Value = browser
        .get("/admin/audit/export?format=json&q=dev%40users.test", &admin)
        .await
        .json()
        .await
        .unwrap();
    assert!(!jsn.as_array().unwrap().is_empty());
    let bad = browser.get("/admin/audit?from=someday", &admin).await;
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        browser
            .page("/admin/audit/verify", &admin)
            .await
            .contains("every hash chain is intact")
    );

    // A voice turn that fails (no LLM engine configured) counts as an `llm` stage failure.
    let rt_key = app.realtime_key(&["realtime"]).await;
    let mut socket = ws::open_session(&app, &rt_key).await;
    ws::send(
        &mut socket,
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "hello"}]}}),
    )
    .await;
    ws::send(&mut socket, json!({"type": "response.create"})).await;
    ws::until(&mut socket, "response.done").await;

    // Monitoring: routes and their latency from the registry.
    for _ in 0..5 {
        app.get("/api/v1/projects", &app.login("dev@users.test").await)
            .await;
    }
    let html = browser.page("/admin/monitoring", &admin).await;
    assert!(
        html.contains("GET /api/v1/projects") && html.contains("p99 ms"),
        "{html}"
    );
    // Quantiles come from real histogram buckets, not left blank.
    let row = html.split("GET /api/v1/projects").nth(1).unwrap();
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(!row.contains('—'), "latency figures present: {row}");
    assert!(html.contains("Work queue: in process"));
    let failures = html.split("Voice pipeline failures").nth(1).unwrap();
    assert!(failures.contains("<code>llm</code>"), "{failures}");
}

/// A stand-in engine that answers `GET /v1/models` while it runs.
async fn engine_on(addr: std::net::SocketAddr) -> tokio::task::JoinHandle<()> {
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let app = axum::Router::new().route(
        "/v1/models",
        axum::routing::get(|| async { axum::Json(json!({"data": []})) }),
    );
    tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_rule_opens_and_resolves_an_incident_with_a_timeline() {
    // The engine's address, known before the app starts.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let engine_addr = probe.local_addr().unwrap();
    drop(probe);
    let engine = engine_on(engine_addr).await;
    let app = avb_testkit::spawn_app_with(Db::Sqlite, |c| {
        c.engines.llm_url = Some(format!("http://{engine_addr}/v1"));
        c.webhooks.allow_private_urls = true;
    })
    .await;
    app.create_user(None, "saas_admin", "root@platform.test")
        .await;
    // Where notifications go.
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<serde_json::Value>::new()));
    let s2 = seen.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(v): axum::Json<serde_json::Value>| {
            let s = s2.clone();
            async move {
                s.lock().unwrap().push(v);
                StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let browser = Browser::new(&app);
    let admin = browser.session("root@platform.test").await;
    let html = browser.page("/admin/monitoring/alerts", &admin).await;
    assert!(html.contains("No incidents.") && html.contains("No rules yet."));
    let csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/admin/monitoring/alerts",
            &admin,
            &[
                ("name", "LLM down"),
                ("metric", "service_down"),
                ("target", "LLM worker"),
                ("threshold", ""),
                ("for_secs", "0"),
                ("channel", "email"),
                ("destination", "not-mail"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("destination:"));
    browser
        .submit(
            "/admin/monitoring/alerts",
            &admin,
            &[
                ("name", "LLM down"),
                ("metric", "service_down"),
                ("target", "LLM worker"),
                ("threshold", ""),
                ("for_secs", "0"),
                ("channel", "webhook"),
                ("destination", &hook),
                ("csrf", &csrf),
            ],
        )
        .await;

    // Up: nothing happens. Down: an incident opens and the webhook hears it.
    let eval = || avb_core::services::alerts::evaluate(&app.ctx);
    assert_eq!(eval().await.unwrap(), 0);
    engine.abort();
    let _ = engine.await;
    assert_eq!(eval().await.unwrap(), 1);
    assert_eq!(eval().await.unwrap(), 0, "one incident, not one per check");
    let html = browser.page("/admin/monitoring/alerts", &admin).await;
    assert!(
        html.contains("badge-error\">open")
            && html.contains("LLM down: service_down on LLM worker")
    );
    let health = browser.page("/admin/monitoring/health", &admin).await;
    assert!(health.contains("Critical:") && health.contains("LLM worker"));
    let incident = link(&html, "/admin/monitoring/incidents/");
    let overview = browser.page("/admin", &admin).await;
    assert!(
        overview.contains("1 open incident:") && overview.contains(&incident),
        "{overview}"
    );
    // Back up: resolved, with the whole story on the timeline.
    let engine = engine_on(engine_addr).await;
    assert_eq!(eval().await.unwrap(), 1);
    let page = browser.page(&incident, &admin).await;
    assert!(page.contains("badge-closed\">resolved"), "{page}");
    for kind in ["opened", "notified", "resolved"] {
        assert!(
            page.contains(&format!("<span class=\"role\">{kind}</span>")),
            "{kind}"
        );
    }
    let got = seen.lock().unwrap().clone();
    let kinds: Vec<&str> = got.iter().map(|v| v["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["incident.opened", "incident.resolved"]);
    engine.abort();

    // Recent logs, filtered by level and component.
    app.ctx.monitor.logs.push(avb_core::monitoring::LogLine {
        at: chrono::Utc::now(),
        level: "ERROR".into(),
        target: "avb_gateway::session".into(),
        message: "stt stage failed: engine_unavailable".into(),
    });
    app.ctx.monitor.logs.push(avb_core::monitoring::LogLine {
        at: chrono::Utc::now(),
        level: "INFO".into(),
        target: "avb_api::server".into(),
        message: "listening".into(),
    });
    let html = browser
        .page(
            "/admin/monitoring/logs?level=error&service=avb_gateway",
            &admin,
        )
        .await;
    assert!(html.contains("engine_unavailable") && !html.contains(">listening<"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_rows_past_retention_move_to_verifiable_archives() {
    let app =
        avb_testkit::spawn_app_with(Db::Postgres, |c| c.audit.retention_days = Some(30)).await;
    app.create_user(None, "saas_admin", "root@platform.test")
        .await;
    let (_, owner) = app.tenant_with_owner("Archive Co").await;
    for i in 0..3 {
        app.post(
            "/api/v1/projects",
            &owner,
            json!({"name": format!("p{i}"), "environment": "staging"}),
        )
        .await;
    }
    let operator = avb_core::Scope::local_operator(None);
    let (before, breaks) = avb_core::services::audit::verify(&app.ctx, &operator, None)
        .await
        .unwrap();
    assert!(before > 3 && breaks.is_empty());
    // Everything so far is "older than 0 days".
    let made = avb_core::services::audit::archive_older_than(&app.ctx, &operator, 0)
        .await
        .unwrap();
    let archived: i64 = made.iter().map(|a| a.rows).sum();
    assert!(
        made.len() >= 2,
        "one archive per chain (tenant and platform)"
    );
    assert_eq!(archived as u64, before, "every row went to an archive");
    for a in &made {
        assert!(std::path::Path::new(&a.file).exists(), "{}", a.file);
        assert_eq!(
            avb_core::services::audit::verify_archive(&app.ctx, &operator, a.id)
                .await
                .unwrap(),
            a.rows as u64
        );
    }
    // New rows continue the chains from the archives' last hashes.
    app.post(
        "/api/v1/projects",
        &owner,
        json!({"name": "after", "environment": "staging"}),
    )
    .await;
    let (after, breaks) = avb_core::services::audit::verify(&app.ctx, &operator, None)
        .await
        .unwrap();
    assert!(after >= 1 && breaks.is_empty(), "{breaks:?}");

    // The portal shows retention, the archives, and verifies them.
    let browser = Browser::new(&app);
    let admin = browser.session("root@platform.test").await;
    let html = browser.page("/admin/audit", &admin).await;
    assert!(html.contains("rows older than 30 days move to compressed archives daily"));
    let verify = link(&html, "/admin/audit/archives/");
    assert!(
        browser
            .page(&verify, &admin)
            .await
            .contains("Archive verified")
    );
    // A tampered file is caught.
    let a = &made[0];
    let mut bytes = std::fs::read(&a.file).unwrap();
    let last = bytes.len() - 10;
    bytes[last] ^= 0xff;
    std::fs::write(&a.file, bytes).unwrap();
    let err = avb_core::services::audit::verify_archive(&app.ctx, &operator, a.id)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("SHA-256"), "{err}");
}
