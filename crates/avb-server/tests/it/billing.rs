//! Billing on the local ledger: plans with versions, a subscription per tenant, invoices
//! computed from recorded usage (checked against hand calculations), an upgrade prorated on day
//! 10 of 30, a downgrade at the period end, credits, voids, payments, revenue, PDFs, limits
//! from the plan, and bad input refused with nothing changed.
#![allow(clippy::unwrap_used)]

use avb_storage::repos::usage::{UsageEntry, append};
use avb_testkit::{Db, TestApp, both_backends, spawn_app};
use chrono::{Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A plan's terms as the API takes them.
fn plan(code: &str, fee: &str, charges: Value, seats: Option<u64>) -> Value {
    json!({
        "code": code,
        "name": format!("Plan {code}"),
        "description": "",
        "currency": "USD",
        "interval": "monthly",
        "amount": fee,
        "charges": charges,
        "features": ["Voice agents"],
        "limits": {"seats": seats, "concurrent_sessions": null, "requests_per_minute": null,
                   "tokens_per_minute": null, "monthly_audio_minutes": 1000},
    })
}

async fn call(
    app: &TestApp,
    m: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(m, path, Some(token), body).await
}

/// Seeds usage for `tenant` at `at`.
async fn seed_usage(
    app: &TestApp,
    tenant: avb_domain::TenantId,
    rows: &[(&str, f64)],
    at: chrono::DateTime<Utc>,
    tag: &str,
) {
    let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
    let entries: Vec<UsageEntry> = rows
        .iter()
        .enumerate()
        .map(|(i, (metric, q))| UsageEntry {
            project: None,
            api_key: None,
            session: None,
            metric: metric.to_string(),
            quantity: *q,
            idempotency_key: format!("{tag}-{i}"),
            occurred_at: at,
        })
        .collect();
    append(&tx, &entries).await.unwrap();
    tx.commit().await.unwrap();
}

/// Moves the tenant's billing period to `start..end` (as if time had passed).
async fn set_period(
    app: &TestApp,
    tenant: avb_domain::TenantId,
    start: chrono::DateTime<Utc>,
    end: chrono::DateTime<Utc>,
) {
    use avb_storage::repos::subscriptions;
    avb_core::services::subscriptions::ensure(&app.ctx, tenant)
        .await
        .unwrap();
    let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
    let s = subscriptions::current(&tx).await.unwrap().unwrap();
    subscriptions::roll(&tx, s.plan_id, s.plan_version, start, end)
        .await
        .unwrap();
    if let Some(p) = s.pending_plan_id {
        subscriptions::set_pending(&tx, Some(p)).await.unwrap();
    }
    tx.commit().await.unwrap();
}

both_backends!(local_billing_from_plans_to_paid_invoices, scenario);
async fn scenario(db: Db) {
    let app = spawn_app(db).await;
    let admin_email = app
        .create_user(None, "saas_admin", "root@billing.test")
        .await;
    let admin = app.login(&admin_email).await;
    let tenant = app.create_tenant("Billed Co").await;
    let owner_email = app
        .create_user(Some(tenant), "tenant_owner", "owner@billed.test")
        .await;
    let owner = app.login(&owner_email).await;
    let dev = app
        .login(
            &app.create_user(Some(tenant), "developer", "dev@billed.test")
                .await,
        )
        .await;

    // A fresh install has the free plan made from the configuration.
    let (s, plans) = app.get("/api/v1/admin/plans", &admin).await;
    assert_eq!(s, StatusCode::OK, "{plans}");
    assert_eq!(plans[0]["code"], "free", "{plans}");

    // Bad plans are refused with the field, and nothing is stored.
    for (body, field) in [
        (plan("neg", "-1", json!([]), None), "amount"),
        (
            {
                let mut p = plan("cur", "10", json!([]), None);
                p["currency"] = json!("XYZ");
                p
            },
            "currency",
        ),
        (
            plan(
                "tiers",
                "10",
                json!([{"metric": "llm_tokens_output", "charge_model": "graduated", "graduated_ranges": [
                    {"from_value": 0, "to_value": 100, "per_unit_amount": "0", "flat_amount": "0"},
                    {"from_value": 50, "to_value": null, "per_unit_amount": "0.01", "flat_amount": "0"}]}]),
                None,
            ),
            "charges[0]",
        ),
        (
            plan(
                "neg-price",
                "10",
                json!([{"metric": "api_requests", "charge_model": "standard", "amount": "-0.5"}]),
                None,
            ),
            "charges[0]",
        ),
    ] {
        let (s, b) = call(
            &app,
            Method::POST,
            "/api/v1/admin/plans",
            &admin,
            Some(body),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
        let f = b["errors"][0]["field"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(f.starts_with(field), "{field}: {b}");
    }
    let (_, plans) = app.get("/api/v1/admin/plans", &admin).await;
    assert_eq!(plans.as_array().unwrap().len(), 1);
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/admin/plans",
        &owner,
        Some(plan("x", "1", json!([]), None)),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "tenants cannot make plans");

    // Starter: 20.00 a month, 0.05 per audio input minute, graduated output tokens.
    let charges = json!([
        {"metric": "audio_minutes_input", "charge_model": "standard", "amount": "0.05"},
        {"metric": "llm_tokens_output", "charge_model": "graduated", "graduated_ranges": [
            {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
            {"from_value": 1001, "to_value": null, "per_unit_amount": "0.001", "flat_amount": "1"}]}
    ]);
    let (s, starter) = call(
        &app,
        Method::POST,
        "/api/v1/admin/plans",
        &admin,
        Some(plan("starter", "20", charges, Some(2))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{starter}");
    let (s, pro) = call(
        &app,
        Method::POST,
        "/api/v1/admin/plans",
        &admin,
        Some(plan("pro", "50", json!([]), Some(10))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{pro}");

    // The tenant sees its plan (free), the options, and amounts due.
    let (s, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["plan_code"], "free");
    assert_eq!(b["provider"], "local");
    let options: Vec<(String, String)> = b["options"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["plan"]["code"].as_str().unwrap().to_string(),
                o["change"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        options,
        vec![
            ("free".to_string(), "current".to_string()),
            ("starter".to_string(), "upgrade".to_string()),
            ("pro".to_string(), "upgrade".to_string())
        ]
    );
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &dev,
        Some(json!({"plan_code": "starter"})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "a developer cannot change the plan"
    );

    // Upgrade to starter on day 10 of a 30-day period: 20.00 x 20/30 = 13.33.
    let now = Utc::now();
    set_period(
        &app,
        tenant,
        now - Duration::days(10),
        now + Duration::days(20),
    )
    .await;
    let (s, out) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &owner,
        Some(json!({"plan_code": "starter"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["result"], "upgraded");
    assert_eq!(out["invoice"]["kind"], "proration");
    assert_eq!(out["invoice"]["total_minor"], 1333, "{out}");
    // Then to pro on the same day: (50 - 20) x 20/30 = 20.00.
    let (_, out) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &owner,
        Some(json!({"plan_code": "pro"})),
    )
    .await;
    assert_eq!(out["invoice"]["total_minor"], 2000, "{out}");
    // A downgrade waits for the period end, and can be cancelled.
    let (_, out) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &owner,
        Some(json!({"plan_code": "starter"})),
    )
    .await;
    assert_eq!(out["result"], "scheduled", "{out}");
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(b["plan_code"], "pro");
    assert_eq!(b["pending"]["plan_code"], "starter", "{b}");
    let (s, _) = call(
        &app,
        Method::DELETE,
        "/api/v1/billing/pending-change",
        &owner,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = call(
        &app,
        Method::DELETE,
        "/api/v1/billing/pending-change",
        &owner,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT);
    let (_, out) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &owner,
        Some(json!({"plan_code": "starter"})),
    )
    .await;
    assert_eq!(out["result"], "scheduled");

    // Usage this period: 120.5 input minutes, 3,500 output tokens. On pro (no charges) only
    // the fee: 50.00. The period ends; the job invoices it and the downgrade applies.
    let start = now - Duration::days(10);
    seed_usage(
        &app,
        tenant,
        &[
            ("audio_minutes_input", 120.5),
            ("llm_tokens_output", 3500.0),
        ],
        start + Duration::days(1),
        "p1",
    )
    .await;
    let end = now - Duration::seconds(1);
    set_period(&app, tenant, start, end).await;
    let made = avb_core::services::invoices::close_due_periods(&app.ctx, Utc::now())
        .await
        .unwrap();
    assert_eq!(made, 1);
    let again = avb_core::services::invoices::close_due_periods(&app.ctx, Utc::now())
        .await
        .unwrap();
    assert_eq!(again, 0, "a period is invoiced once");
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(
        b["plan_code"], "starter",
        "the downgrade applied at the period end: {b}"
    );
    assert!(b["pending"].is_null());
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    let invoices = list["data"].as_array().unwrap();
    assert_eq!(invoices.len(), 3, "{list}");
    let period = &invoices[0];
    assert_eq!(period["kind"], "period");
    assert_eq!(period["plan_code"], "pro");
    assert_eq!(period["total_minor"], 5000, "{period}");
    assert!(period["number"].as_str().unwrap().starts_with("AVB-"));

    // Next period on starter: 20.00 + 120.5 x 0.05 (6.025 -> 6.03 rounded per line: 6.03)
    // + tokens: first 1,000 free, 2,500 x 0.001 = 2.50 + flat 1.00 = 3.50. Total 29.53.
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    let p_start: chrono::DateTime<Utc> = b["period_start"].as_str().unwrap().parse().unwrap();
    seed_usage(
        &app,
        tenant,
        &[
            ("audio_minutes_input", 120.5),
            ("llm_tokens_output", 3500.0),
        ],
        p_start,
        "p2",
    )
    .await;
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(b["amount_due_minor"], 2953, "amount due so far: {b}");
    // A credit of 5.00 from the admin lowers the next invoice.
    let (s, c) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/tenants/{}/credits", tenant.as_uuid()),
        &admin,
        Some(json!({"amount_minor": 500, "reason": "Outage on the 3rd"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let p_end: chrono::DateTime<Utc> = b["period_end"].as_str().unwrap().parse().unwrap();
    avb_core::services::invoices::close_due_periods(&app.ctx, p_end + Duration::seconds(1))
        .await
        .unwrap();
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    let inv = &list["data"][0];
    assert_eq!(
        (
            inv["subtotal_minor"].as_i64(),
            inv["credits_minor"].as_i64(),
            inv["total_minor"].as_i64()
        ),
        (Some(2953), Some(500), Some(2453)),
        "{inv}"
    );
    let id = inv["id"].as_str().unwrap().to_string();

    // The PDF renders with the invoice's number and total.
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/invoices/{id}/pdf", app.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "application/pdf");
    let pdf = res.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-1."));
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains(inv["number"].as_str().unwrap()) && text.contains("USD 24.53"));

    // The admin: credit above the invoice refused; payment recorded; a paid invoice cannot be voided.
    let (s, b) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/tenants/{}/credits", tenant.as_uuid()),
        &admin,
        Some(json!({"amount_minor": 99999, "reason": "x", "invoice_id": id})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{id}/payment"),
        &admin,
        Some(json!({"payment_status": "failed", "note": "card declined"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (_, r) = app.get("/api/v1/admin/revenue", &admin).await;
    assert_eq!(r["payment_failures"], 1, "{r}");
    assert_eq!(r["mrr"][0], "USD 20.00", "{r}");
    assert_eq!(r["arr"][0], "USD 240.00", "{r}");
    let (_, failed) = app
        .get("/api/v1/admin/invoices?status=failed", &admin)
        .await;
    assert_eq!(failed["data"].as_array().unwrap().len(), 1, "{failed}");
    call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{id}/payment"),
        &admin,
        Some(json!({"payment_status": "paid"})),
    )
    .await;
    let (s, b) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{id}/void"),
        &admin,
        Some(json!({"reason": "mistake"})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    // An unpaid one is voided; the tenant's webhook and mail follow.
    let pending = list["data"][1]["id"].as_str().unwrap().to_string();
    let (s, b) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/invoices/{pending}/void"),
        &admin,
        Some(json!({"reason": "Billed twice"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "voided");
    let (_, voided) = app
        .get("/api/v1/admin/invoices?status=voided", &admin)
        .await;
    assert_eq!(voided["data"].as_array().unwrap().len(), 1);
    let (_, audit) = app.get("/api/v1/audit?action=invoice.void", &owner).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");

    // Another tenant sees none of it.
    let (_, other) = app.tenant_with_owner("Other Co").await;
    let (s, _) = app.get(&format!("/api/v1/invoices/{id}"), &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list) = app.get("/api/v1/invoices", &other).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    // One session's usage at the plan's prices (charges only): 10 min x 0.05 = 0.50.
    let session = uuid::Uuid::now_v7();
    {
        let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
        append(
            &tx,
            &[UsageEntry {
                project: None,
                api_key: None,
                session: Some(session),
                metric: "audio_minutes_input".into(),
                quantity: 10.0,
                idempotency_key: "session-cost".into(),
                occurred_at: Utc::now(),
            }],
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let cost = avb_core::services::subscriptions::session_cost(
        &app.ctx,
        &avb_core::Scope::local_operator(Some(tenant)),
        session,
    )
    .await
    .unwrap();
    assert_eq!(cost, "USD 0.50");
}

both_backends!(plan_limits_are_enforced_and_edits_keep_subscribers, limits);
async fn limits(db: Db) {
    let app = spawn_app(db).await;
    let admin = app
        .login(
            &app.create_user(None, "saas_admin", "root@limits.test")
                .await,
        )
        .await;
    let (_, tiny) = call(
        &app,
        Method::POST,
        "/api/v1/admin/plans",
        &admin,
        Some(plan("tiny", "5", json!([]), Some(2))),
    )
    .await;
    let (tenant, owner) = app.tenant_with_owner("Limited Co").await;
    let _ = tenant;
    let (s, _) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &owner,
        Some(json!({"plan_code": "tiny"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // Seats come from the plan: the owner plus one invitation fill two.
    let (s, b) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "a@limited.test", "role": "viewer"}),
        )
        .await;
    assert!(s.is_success(), "{b}");
    let (s, b) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "b@limited.test", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, StatusCode::PAYMENT_REQUIRED, "{b}");
    assert!(
        b["detail"].as_str().unwrap().contains("allows 2 members"),
        "{b}"
    );
    // The plan lists its subscriber with this period's usage.
    let (_, detail) = app
        .get(
            &format!("/api/v1/admin/plans/{}", tiny["id"].as_str().unwrap()),
            &admin,
        )
        .await;
    assert_eq!(
        detail["subscribers"][0]["tenant_name"], "Limited Co",
        "{detail}"
    );
    assert_eq!(detail["subscribers"][0]["version"], 1);
    // An edit is a new version for new subscriptions; the tenant keeps version 1.
    let id = tiny["id"].as_str().unwrap();
    let (s, v2) = call(
        &app,
        Method::PUT,
        &format!("/api/v1/admin/plans/{id}"),
        &admin,
        Some(plan("tiny", "7", json!([]), Some(5))),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(
        (b["plan_version"].as_i64(), b["terms"]["amount"].as_str()),
        (Some(1), Some("5")),
        "{b}"
    );
    let (s, b) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "b@limited.test", "role": "viewer"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::PAYMENT_REQUIRED,
        "still two seats on version 1: {b}"
    );
    // Deprecated: not offered, the subscriber keeps it.
    let (s, _) = call(
        &app,
        Method::POST,
        &format!("/api/v1/admin/plans/{id}/deprecate"),
        &admin,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(b["plan_code"], "tiny");
    assert!(
        b["options"]
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["plan"]["code"] != "tiny"),
        "{b}"
    );
    let (_, other) = app.tenant_with_owner("Late Co").await;
    let (s, b) = call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &other,
        Some(json!({"plan_code": "tiny"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
}

both_backends!(billing_pages_for_tenants_and_the_saas_admin, pages);
async fn pages(db: Db) {
    use avb_testkit::browser::{Browser, field};
    let app = spawn_app(db).await;
    let admin_email = app.create_user(None, "saas_admin", "root@pages.test").await;
    let tenant = app.create_tenant("Paged Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@paged.test")
        .await;
    let viewer = app
        .create_user(Some(tenant), "viewer", "viewer@paged.test")
        .await;
    let browser = Browser::new(&app);
    let acookie = browser.session(&admin_email).await;

    // The admin makes a plan from the form; a bad fee is refused inline, nothing stored.
    let html = browser.page("/admin/plans", &acookie).await;
    assert!(html.contains("Free") && html.contains("New plan"), "{html}");
    let csrf = field(&html, "csrf");
    let form = |code: &'static str, fee: &'static str| {
        vec![
            ("csrf", csrf.clone()),
            ("code", code.to_string()),
            ("name", "Team".to_string()),
            ("currency", "EUR".to_string()),
            ("interval", "monthly".to_string()),
            ("amount", fee.to_string()),
            ("features", "Voice agents\nPriority support".to_string()),
            ("seats", "5".to_string()),
            ("monthly_audio_minutes", "2000".to_string()),
            ("price_audio_minutes_input", "0.02".to_string()),
        ]
    };
    let bad = form("team", "-5");
    let pairs: Vec<(&str, &str)> = bad.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let res = browser.post("/admin/plans", &acookie, &pairs).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = res.text().await.unwrap();
    assert!(text.contains("amount: must not be negative"), "{text}");
    let good = form("team", "49.90");
    let pairs: Vec<(&str, &str)> = good.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let to = browser.submit("/admin/plans", &acookie, &pairs).await;
    assert!(to.contains("done=plan_created"), "{to}");
    let html = browser.page(&to, &acookie).await;
    assert!(
        html.contains("EUR 49.90 / month") && html.contains("Version 1"),
        "{html}"
    );

    // The tenant owner sees the plan on offer, confirms an upgrade, and gets the invoice.
    let cookie = browser.session(&owner).await;
    let html = browser.page("/billing", &cookie).await;
    for needle in [
        "Current plan: Free",
        "Amount due so far",
        "Team",
        "EUR 49.90 / month",
        "Upgrade…",
        "No invoices yet",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let html = browser.page("/billing/change?plan=team", &cookie).await;
    assert!(html.contains("applies at once"), "{html}");
    let csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/billing/change",
            &cookie,
            &[("csrf", &csrf), ("plan", "team")],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "another currency is refused inline"
    );
    assert!(res.text().await.unwrap().contains("another currency"));
    // A plan in the tenant's currency goes through.
    let acsrf = field(&browser.page("/admin/plans", &acookie).await, "csrf");
    let usd = [
        ("csrf", acsrf.as_str()),
        ("code", "growth"),
        ("name", "Growth"),
        ("currency", "USD"),
        ("interval", "monthly"),
        ("amount", "30"),
        ("features", "Voice agents"),
        ("seats", "2"),
    ];
    browser.submit("/admin/plans", &acookie, &usd).await;
    let to = browser
        .submit(
            "/billing/change",
            &cookie,
            &[("csrf", &csrf), ("plan", "growth")],
        )
        .await;
    assert_eq!(to, "/billing?done=plan_upgraded");
    let html = browser.page(&to, &cookie).await;
    assert!(
        html.contains("Current plan: Growth") && html.contains("(upgrade)"),
        "{html}"
    );
    // Two members on two seats: warned here and on the dashboard, with the way to more.
    assert!(html.contains("Seats: 2 of 2 used (100%)"), "{html}");
    let dash = browser.page("/dashboard", &cookie).await;
    assert!(
        dash.contains("Seats: 2 of 2 used (100%). Upgrade the plan for more.")
            && dash.contains("Amount due so far")
            && dash.contains("Growth"),
        "{dash}"
    );
    let pdf_link = html
        .split("href=\"/billing/invoices/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let res = browser
        .get(&format!("/billing/invoices/{pdf_link}"), &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.bytes().await.unwrap().starts_with(b"%PDF"));

    // A viewer cannot see billing.
    let vcookie = browser.session(&viewer).await;
    let res = browser.get("/billing", &vcookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The admin's billing page: revenue, the invoice, and a void with a reason.
    let html = browser.page("/admin/billing", &acookie).await;
    assert!(html.contains("MRR") && html.contains("USD 30.00"), "{html}");
    assert!(html.contains("AVB-"), "{html}");
    let invoice_id = pdf_link.trim_end_matches(".pdf").to_string();
    let acsrf = field(&html, "csrf");
    let to = browser
        .submit(
            &format!("/admin/billing/invoices/{invoice_id}/void"),
            &acookie,
            &[("csrf", &acsrf), ("note", "Courtesy upgrade")],
        )
        .await;
    assert_eq!(to, "/admin/billing?done=invoice_voided");
    let html = browser.page("/admin/billing?status=voided", &acookie).await;
    assert!(html.contains("Courtesy upgrade"), "{html}");
    let csv = browser
        .get("/admin/billing/export.csv?status=voided", &acookie)
        .await;
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 2, "{csv}");
    // Onboarding: the admin creates a tenant on a plan and invites its owner.
    let html = browser.page("/admin/tenants/new", &acookie).await;
    let acsrf = field(&html, "csrf");
    assert!(html.contains("Growth (growth)"), "{html}");
    let mut form = vec![
        ("csrf", acsrf.as_str()),
        ("name", "Onboarded Co"),
        ("billing_email", "billing@onboarded.test"),
        ("plan", "growth"),
        ("timezone", "Europe/Berlin"),
        ("owner_email", "not an e-mail"),
    ];
    let res = browser.post("/admin/tenants/new", &acookie, &form).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("owner_email: must be an e-mail address")
    );
    form[5] = ("owner_email", "owner@onboarded.test");
    let to = browser.submit("/admin/tenants/new", &acookie, &form).await;
    assert!(to.ends_with("?done=tenant_created"), "{to}");
    let new_tenant: avb_domain::TenantId = to
        .trim_start_matches("/admin/tenants/")
        .split('?')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let tx = app.ctx.store.tenant_tx(new_tenant, false).await.unwrap();
    assert!(
        avb_storage::repos::invitations::pending_for(&tx, "owner@onboarded.test")
            .await
            .unwrap()
    );
    let sub = avb_storage::repos::subscriptions::current(&tx)
        .await
        .unwrap()
        .unwrap();
    tx.commit().await.unwrap();
    let (_, detail) = app
        .get("/api/v1/admin/plans", &app.login(&admin_email).await)
        .await;
    let growth = detail
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["code"] == "growth")
        .unwrap();
    assert_eq!(sub.plan_id.to_string(), growth["id"].as_str().unwrap());
    // Tenants cannot reach the admin pages.
    let res = browser.get("/admin/billing", &cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realtime_sessions_stop_at_the_plans_concurrency_and_monthly_minutes() {
    let app =
        avb_testkit::spawn_app_with(Db::Sqlite, |c| c.realtime.allowance_check_secs = 1).await;
    let admin = app
        .login(
            &app.create_user(None, "saas_admin", "root@minutes.test")
                .await,
        )
        .await;
    let mut p = plan("pilot", "9", json!([]), None);
    p["limits"]["concurrent_sessions"] = json!(1);
    p["limits"]["monthly_audio_minutes"] = json!(3);
    let (s, b) = call(&app, Method::POST, "/api/v1/admin/plans", &admin, Some(p)).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (tenant, owner) = app.tenant_with_owner("Pilot Co").await;
    call(
        &app,
        Method::POST,
        "/api/v1/billing/plan",
        &owner,
        Some(json!({"plan_code": "pilot"})),
    )
    .await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let auth = format!("Bearer {}", key["secret"].as_str().unwrap());
    let first = avb_testkit::ws::connect(&app, &[("authorization", &auth)]).await;
    assert!(first.is_ok(), "the first session is admitted");
    // Its record is open once `session.created` arrives (the handshake answers before that).
    let mut first = first.unwrap().0;
    assert_eq!(
        avb_testkit::ws::recv(&mut first).await["type"],
        "session.created"
    );
    let second = avb_testkit::ws::connect(&app, &[("authorization", &auth)]).await;
    assert_eq!(
        second.err(),
        Some(429),
        "one concurrent session on this plan"
    );
    drop(first);
    // Once the first has ended, a new one is admitted until the period's minutes are used.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut live = loop {
        match avb_testkit::ws::connect(&app, &[("authorization", &auth)]).await {
            Ok((ws, _)) => break ws,
            Err(code) => {
                assert_eq!(code, 429);
                assert!(
                    std::time::Instant::now() < deadline,
                    "the ended session never freed its slot"
                );
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    seed_usage(
        &app,
        tenant,
        &[("audio_minutes_input", 2.0), ("audio_minutes_output", 1.5)],
        Utc::now() - Duration::seconds(5),
        "minutes",
    )
    .await;
    // The live session ends, saying why, once its next allowance check sees the minutes gone:
    // first as a response of its own (spoken when the session speaks), then as the error.
    let mut before = Vec::new();
    let ended = loop {
        let e = avb_testkit::ws::recv_within(&mut live, std::time::Duration::from_secs(10)).await;
        if (e["type"] == "error" && e["error"]["code"] == "session_expired")
            || e["type"] == "__close"
        {
            break e;
        }
        before.push(e);
    };
    let notice = before
        .iter()
        .find(|e| e["type"] == "response.done")
        .unwrap_or_else(|| panic!("no closing notice before the end: {before:?}"));
    assert_eq!(notice["response"]["status"], "completed", "{notice}");
    assert!(
        notice.to_string().contains(
            "This session is ending: the Plan pilot plan's 3 audio minutes for this period are used up"
        ),
        "{notice}"
    );
    assert_eq!(ended["error"]["code"], "session_expired", "{ended}");
    assert!(
        ended["error"]["message"]
            .as_str()
            .unwrap()
            .contains("audio minutes for this period are used up"),
        "{ended}"
    );
    let refused = avb_testkit::ws::connect(&app, &[("authorization", &auth)]).await;
    assert_eq!(refused.err(), Some(429));
    let why = avb_core::services::subscriptions::admit_session(&app.ctx, tenant)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        why.contains("3 audio minutes for this period are used up"),
        "{why}"
    );
}
