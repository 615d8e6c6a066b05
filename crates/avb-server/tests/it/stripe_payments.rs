//! Card payments straight through Stripe on the local ledger, against a stand-in built from
//! Stripe's documented API (`avb_testkit::stripe`; Stripe cannot run here): the payment page
//! alone admits Stripe's origins in its CSP; a card saved through a SetupIntent becomes the
//! default; another tenant cannot claim it; an upgrade's prorated invoice is charged to it; a
//! declined card marks the invoice failed with Stripe's reason; the admin's retry makes a new
//! attempt; signed Stripe events settle invoices once; every attempt is in the payments export.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field};
use avb_testkit::stripe::{PUBLISHABLE_KEY, SECRET_KEY, spawn_stripe};
use avb_testkit::{Db, both_backends, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const WHSEC: &str = "whsec_standin";

/// Confirms the page's SetupIntent with `token` as Stripe.js does; returns its id.
async fn confirm_card(stripe_url: &str, html: &str, token: &str) -> String {
    let secret = html
        .split("data-client-secret=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let seti = secret.split("_secret_").next().unwrap().to_string();
    let res = reqwest::Client::new()
        .post(format!("{stripe_url}/v1/setup_intents/{seti}/confirm"))
        .form(&[
            ("key", PUBLISHABLE_KEY),
            ("client_secret", secret.as_str()),
            ("payment_method", token),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    seti
}

async fn event(app: &avb_testkit::TestApp, body: &Value, signature: Option<String>) -> StatusCode {
    let raw = serde_json::to_vec(body).unwrap();
    let now = chrono::Utc::now().timestamp();
    let sig = signature.unwrap_or_else(|| avb_core::services::stripe::sign(WHSEC, &raw, now));
    reqwest::Client::new()
        .post(format!("{}/api/v1/stripe/webhooks", app.base))
        .header("content-type", "application/json")
        .header("stripe-signature", sig)
        .body(raw)
        .send()
        .await
        .unwrap()
        .status()
}

both_backends!(
    cards_are_saved_through_stripe_and_invoices_charged_to_them,
    scenario
);
async fn scenario(db: Db) {
    let (url, stripe) = spawn_stripe().await;
    let stripe_url = url.clone();
    let app = spawn_app_with(db, move |c| {
        c.stripe.secret_key = Some(avb_core::Secret::new(SECRET_KEY));
        c.stripe.publishable_key = Some(PUBLISHABLE_KEY.into());
        c.stripe.webhook_secret = Some(avb_core::Secret::new(WHSEC));
        c.stripe.api_url = url.clone();
        c.stripe.js_url = format!("{url}/v3/");
    })
    .await;
    let admin_email = app.create_user(None, "saas_admin", "root@cards.test").await;
    let admin = app.login(&admin_email).await;
    let body = json!({"code": "growth", "name": "Growth", "currency": "USD", "interval": "monthly", "amount": "30"});
    let (s, b) = app.post("/api/v1/admin/plans", &admin, body).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let tenant = app.create_tenant("Card Co").await;
    let owner_email = app
        .create_user(Some(tenant), "tenant_owner", "owner@cards.test")
        .await;
    let owner = app.login(&owner_email).await;
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(b["payments"], "stripe", "{b}");

    // Only the payment page admits Stripe's origin; it starts with no card.
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner_email).await;
    let res = browser.get("/billing", &cookie).await;
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(!csp.contains(&stripe_url), "{csp}");
    let res = browser.get("/billing/payment-methods", &cookie).await;
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.contains(&format!("script-src 'self' {stripe_url};"))
            && csp.contains(&format!("connect-src 'self' {stripe_url};"))
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    let html = res.text().await.unwrap();
    assert!(
        html.contains("No card is saved yet")
            && html.contains(&format!("<script src=\"{stripe_url}/v3/\">"))
            && html.contains(PUBLISHABLE_KEY),
        "{html}"
    );

    // Stripe.js confirms the card; Stripe returns the browser; the card becomes the default.
    let seti = confirm_card(&stripe_url, &html, "pm_card_visa").await;
    // Another tenant's member cannot claim the intent.
    let other = app.create_tenant("Other Co").await;
    let other_email = app
        .create_user(Some(other), "tenant_owner", "owner@other-cards.test")
        .await;
    let other_cookie = browser.session(&other_email).await;
    let res = browser
        .get(
            &format!("/billing/payment-methods?setup_intent={seti}&redirect_status=succeeded"),
            &other_cookie,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = browser
        .get(
            &format!("/billing/payment-methods?setup_intent={seti}&redirect_status=succeeded"),
            &cookie,
        )
        .await;
    assert_eq!(
        res.headers()["location"],
        "/billing/payment-methods?done=card_saved"
    );
    let html = browser
        .page("/billing/payment-methods?done=card_saved", &cookie)
        .await;
    assert!(
        html.contains("visa ending in 4242") && html.contains("default"),
        "{html}"
    );

    // An upgrade's prorated invoice is charged to the card at once.
    let (s, out) = app
        .post(
            "/api/v1/billing/plan",
            &owner,
            json!({"plan_code": "growth"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{out}");
    assert_eq!(out["invoice"]["payment_status"], "paid", "{out}");
    let total = out["invoice"]["total_minor"].as_i64().unwrap();
    {
        let st = stripe.lock().unwrap();
        assert_eq!(st.charges.len(), 1);
        let pi = &st.payment_intents[&st.charges[0]];
        assert_eq!(
            (pi["amount"].as_i64(), pi["currency"].as_str()),
            (Some(total), Some("usd"))
        );
    }

    // A declining card made the default: the period's invoice fails with Stripe's reason.
    let html = browser.page("/billing/payment-methods", &cookie).await;
    let seti = confirm_card(&stripe_url, &html, "pm_card_chargeDeclined").await;
    browser
        .get(
            &format!("/billing/payment-methods?setup_intent={seti}&redirect_status=succeeded"),
            &cookie,
        )
        .await;
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    let end: chrono::DateTime<chrono::Utc> = b["period_end"].as_str().unwrap().parse().unwrap();
    avb_core::services::invoices::close_due_periods(&app.ctx, end + chrono::Duration::seconds(1))
        .await
        .unwrap();
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    let period = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["kind"] == "period")
        .unwrap()
        .clone();
    assert_eq!(
        (period["payment_status"].as_str(), period["note"].as_str()),
        (Some("failed"), Some("Your card was declined.")),
        "{period}"
    );
    let id = period["id"].as_str().unwrap().to_string();
    // The admin's retry is a new attempt (a new idempotency key), declined again.
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/invoices/{id}/retry-payment"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["payment_status"], "failed");
    assert_eq!(stripe.lock().unwrap().charges.len(), 3);

    // Removing the declining card leaves no default: a retry says so and charges nothing.
    let html = browser.page("/billing/payment-methods", &cookie).await;
    let declined = html
        .split("action=\"/billing/payment-methods/")
        .skip(1)
        .filter_map(|s| s.split('/').next())
        .find(|pm| stripe.lock().unwrap().payment_methods[*pm]["card"]["last4"] == "0002")
        .unwrap()
        .to_string();
    let to = browser
        .submit(
            &format!("/billing/payment-methods/{declined}/remove"),
            &cookie,
            &[("csrf", &field(&html, "csrf"))],
        )
        .await;
    assert_eq!(to, "/billing/payment-methods?done=card_removed");
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/invoices/{id}/retry-payment"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{b}");
    assert_eq!(stripe.lock().unwrap().charges.len(), 3);

    // Stripe's events: forged or stale ones are refused; a payment made at Stripe settles the
    // invoice once.
    let customer_of = |t: avb_domain::TenantId| {
        stripe
            .lock()
            .unwrap()
            .customers
            .values()
            .find(|c| c["metadata"]["tenant_id"] == t.as_uuid().to_string())
            .unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // The tenant comes from our customer record: another tenant's customer settles nothing.
    let foreign = json!({"id": "evt_0", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_foreign", "customer": customer_of(other), "metadata": {"invoice_id": id}}}});
    assert_eq!(event(&app, &foreign, None).await, StatusCode::OK);
    let paid = json!({"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {
        "id": "pi_paid_at_stripe", "customer": customer_of(tenant), "metadata": {"invoice_id": id}}}});
    assert_eq!(
        event(
            &app,
            &paid,
            Some(avb_core::services::stripe::sign("whsec_other", b"{}", 0))
        )
        .await,
        StatusCode::UNAUTHORIZED
    );
    let stale = avb_core::services::stripe::sign(
        WHSEC,
        &serde_json::to_vec(&paid).unwrap(),
        chrono::Utc::now().timestamp() - 3600,
    );
    assert_eq!(
        event(&app, &paid, Some(stale)).await,
        StatusCode::UNAUTHORIZED
    );
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    assert!(list.to_string().contains("\"failed\""));
    assert_eq!(event(&app, &paid, None).await, StatusCode::OK);
    assert_eq!(event(&app, &paid, None).await, StatusCode::OK);
    let (_, inv) = app.get(&format!("/api/v1/invoices/{id}"), &owner).await;
    assert_eq!(inv["payment_status"], "paid", "{inv}");

    // The payments export lists every attempt with its outcome and Stripe's reason.
    let acookie = browser.session(&admin_email).await;
    let csv = browser.page("/admin/billing/payments.csv", &acookie).await;
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "created_at,tenant_id,invoice_id,provider,status,currency,amount_minor,reference,error"
    );
    assert_eq!(lines.len(), 5, "{csv}");
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("\"stripe\",\"failed\"") && l.contains("Your card was declined."))
            .count(),
        2,
        "{csv}"
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l.contains("\"stripe\",\"succeeded\""))
            .count(),
        2,
        "{csv}"
    );
}
