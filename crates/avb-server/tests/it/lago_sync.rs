//! Billing on Lago: metrics, plans, customers and subscriptions pushed to a stand-in built from
//! Lago's documented API (`avb_testkit::lago`; Lago cannot run here) that refuses any body
//! missing a documented required field or using an unknown enum value; reconciling twice
//! changes nothing; an upgrade and a downgrade land as Lago's plan change; HMAC-signed webhooks
//! mirror invoices once each; retries, voids and the payment portal go through Lago.
#![allow(clippy::unwrap_used)]

use avb_testkit::lago::{KEY, spawn_lago};
use avb_testkit::{Db, both_backends, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

const HMAC: &str = "lago-hmac-token";

async fn webhook(
    app: &avb_testkit::TestApp,
    body: &Value,
    key: &str,
    signature: Option<String>,
) -> (StatusCode, Value) {
    let raw = serde_json::to_vec(body).unwrap();
    let sig = signature.unwrap_or_else(|| avb_core::services::lago_webhooks::sign(HMAC, &raw));
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/lago/webhooks", app.base))
        .header("content-type", "application/json")
        .header("x-lago-signature", sig)
        .header("x-lago-signature-algorithm", "hmac")
        .header("x-lago-unique-key", key)
        .body(raw)
        .send()
        .await
        .unwrap();
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

both_backends!(
    lago_is_kept_in_step_and_its_webhooks_mirror_invoices,
    scenario
);
async fn scenario(db: Db) {
    let (url, lago) = spawn_lago(std::time::Duration::ZERO).await;
    let app = spawn_app_with(db, move |c| {
        c.lago.api_url = Some(url);
        c.lago.api_key = Some(avb_core::Secret::new(KEY));
        c.lago.webhook_hmac_key = Some(avb_core::Secret::new(HMAC));
    })
    .await;
    let admin = app
        .login(&app.create_user(None, "saas_admin", "root@lago.test").await)
        .await;
    for (code, fee) in [("starter", "20"), ("pro", "50")] {
        let body = json!({"code": code, "name": code, "currency": "USD", "interval": "monthly", "amount": fee,
            "charges": [{"metric": "llm_tokens_output", "charge_model": "graduated", "graduated_ranges": [
                {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
                {"from_value": 1001, "to_value": null, "per_unit_amount": "0.001", "flat_amount": "0"}]}]});
        let (s, b) = app.post("/api/v1/admin/plans", &admin, body).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (tenant, owner) = app.tenant_with_owner("Lago Co").await;
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(b["provider"], "lago");

    let r = avb_core::services::lago_sync::reconcile(&app.ctx)
        .await
        .unwrap();
    assert_eq!((r.metrics, r.plans), (5, 3), "{r:?}");
    let sub = format!("sub_{}", tenant.as_uuid());
    {
        let st = lago.lock().unwrap();
        assert_eq!(st.metrics.len(), 5);
        let tokens_id = st.metrics["llm_tokens_output"]["lago_id"].clone();
        assert_eq!(
            st.plans["starter"]["charges"][0]["billable_metric_id"],
            tokens_id
        );
        assert_eq!(st.plans["pro"]["amount_cents"], 5000);
        assert_eq!(
            st.customers[&tenant.as_uuid().to_string()]["name"],
            "Lago Co"
        );
        assert_eq!(st.subscriptions[&sub]["plan_code"], "free");
    }
    // Twice changes nothing: no new plan or subscription is created.
    let writes = lago
        .lock()
        .unwrap()
        .writes
        .iter()
        .filter(|(m, _)| m == "POST")
        .count();
    let again = avb_core::services::lago_sync::reconcile(&app.ctx)
        .await
        .unwrap();
    assert_eq!(again.subscriptions_changed, 0);
    assert_eq!(
        lago.lock()
            .unwrap()
            .writes
            .iter()
            .filter(|(m, _)| m == "POST")
            .count(),
        writes
    );

    // An upgrade applies now in Lago too (Lago prorates; no local invoice); a downgrade is
    // Lago's pending next plan.
    let (_, out) = app
        .post("/api/v1/billing/plan", &owner, json!({"plan_code": "pro"}))
        .await;
    assert_eq!(out["result"], "upgraded");
    assert!(
        out["invoice"].is_null(),
        "Lago invoices the proration: {out}"
    );
    avb_core::services::lago_sync::reconcile(&app.ctx)
        .await
        .unwrap();
    assert_eq!(lago.lock().unwrap().subscriptions[&sub]["plan_code"], "pro");
    let (_, out) = app
        .post(
            "/api/v1/billing/plan",
            &owner,
            json!({"plan_code": "starter"}),
        )
        .await;
    assert_eq!(out["result"], "scheduled");
    avb_core::services::lago_sync::reconcile(&app.ctx)
        .await
        .unwrap();
    {
        let st = lago.lock().unwrap();
        assert_eq!(
            (
                st.subscriptions[&sub]["plan_code"].as_str(),
                st.subscriptions[&sub]["next_plan_code"].as_str()
            ),
            (Some("pro"), Some("starter"))
        );
    }

    // Webhooks: a signed invoice is mirrored once; a retry changes nothing; a failure marks it.
    let invoice = json!({"webhook_type": "invoice.created", "object_type": "invoice", "invoice": {
        "lago_id": "inv_lago_1", "number": "LAGO-2026-001", "status": "finalized", "payment_status": "pending",
        "currency": "USD", "total_amount_cents": 5000, "issuing_date": "2026-11-26",
        "customer": {"external_id": tenant.as_uuid().to_string()}}});
    lago.lock().unwrap().invoices.insert(
        "inv_lago_1".into(),
        json!({"status": "finalized", "payment_status": "pending"}),
    );
    let (s, b) = webhook(&app, &invoice, "uk-1", None).await;
    assert_eq!(
        (s, b["result"].as_str()),
        (StatusCode::OK, Some("applied")),
        "{b}"
    );
    let (s, b) = webhook(&app, &invoice, "uk-1", None).await;
    assert_eq!(
        (s, b["result"].as_str()),
        (StatusCode::OK, Some("duplicate")),
        "{b}"
    );
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    let rows = list["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(
        (
            rows[0]["provider"].as_str(),
            rows[0]["total_minor"].as_i64()
        ),
        (Some("lago"), Some(5000))
    );
    let mut failure = invoice.clone();
    failure["webhook_type"] = json!("invoice.payment_failure");
    let (s, _) = webhook(&app, &failure, "uk-2", None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    assert_eq!(list["data"][0]["payment_status"], "failed", "{list}");
    // The admin asks Lago to collect again; the tenant manages cards in Lago's portal.
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/invoices/{id}/retry-payment"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(lago.lock().unwrap().retries, vec!["inv_lago_1".to_string()]);
    let (s, b) = app.get("/api/v1/billing/payment-portal", &owner).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["url"],
        format!("https://lago.example/customer-portal/{}", tenant.as_uuid())
    );
    // A forged or unsigned webhook is refused, and changes nothing.
    let mut paid = invoice.clone();
    paid["invoice"]["payment_status"] = json!("succeeded");
    let (s, _) = webhook(
        &app,
        &paid,
        "uk-3",
        Some(avb_core::services::lago_webhooks::sign("wrong", b"{}")),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    assert_eq!(list["data"][0]["payment_status"], "failed");
    let (s, _) = webhook(&app, &paid, "uk-4", None).await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    assert_eq!(list["data"][0]["payment_status"], "paid");
    // Voiding a Lago invoice voids it in Lago first; the mirror follows.
    lago.lock().unwrap().invoices.insert(
        "inv_lago_2".into(),
        json!({"status": "finalized", "payment_status": "pending"}),
    );
    let mut second = invoice.clone();
    second["invoice"]["lago_id"] = json!("inv_lago_2");
    second["invoice"]["number"] = json!("LAGO-2026-002");
    webhook(&app, &second, "uk-5", None).await;
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    let id = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["number"] == "LAGO-2026-002")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = app
        .post(
            &format!("/api/v1/admin/invoices/{id}/void"),
            &admin,
            json!({"reason": "Issued by mistake"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "voided");
    assert_eq!(
        lago.lock().unwrap().invoices["inv_lago_2"]["status"],
        "voided"
    );
}

both_backends!(
    lago_jwt_webhooks_checkout_links_and_credit_notes,
    jwt_checkout_credit
);
async fn jwt_checkout_credit(db: Db) {
    use avb_testkit::browser::Browser;
    let (url, lago) = spawn_lago(std::time::Duration::ZERO).await;
    let issuer = url.clone();
    let app = spawn_app_with(db, move |c| {
        c.lago.api_url = Some(url);
        c.lago.api_key = Some(avb_core::Secret::new(KEY));
        c.lago.payment_provider = Some("stripe".into());
        c.lago.payment_provider_code = Some("stripe_eu".into());
    })
    .await;
    let admin_email = app.create_user(None, "saas_admin", "root@jwt.test").await;
    let admin = app.login(&admin_email).await;
    let tenant = app.create_tenant("Jwt Co").await;
    let owner_email = app
        .create_user(Some(tenant), "tenant_owner", "owner@jwt.test")
        .await;
    let owner = app.login(&owner_email).await;
    let (_, b) = app.get("/api/v1/billing", &owner).await;
    assert_eq!(b["payments"], "lago", "{b}");
    avb_core::services::lago_sync::reconcile(&app.ctx)
        .await
        .unwrap();
    // The customer is linked to the payment provider; the tenant gets a checkout link for it.
    let tid = tenant.as_uuid().to_string();
    assert_eq!(
        lago.lock().unwrap().customers[&tid]["billing_configuration"],
        json!({"payment_provider": "stripe", "payment_provider_code": "stripe_eu", "sync_with_provider": true})
    );
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner_email).await;
    let html = browser.page("/billing", &cookie).await;
    assert!(
        html.contains("href=\"/billing/payment-methods/checkout\""),
        "{html}"
    );
    let res = browser
        .get("/billing/payment-methods/checkout", &cookie)
        .await;
    assert_eq!(
        res.headers()["location"],
        format!("https://checkout.stripe.example/setup/{tid}").as_str()
    );

    // A JWT-signed webhook verifies against the key Lago serves; a forged one does not.
    lago.lock().unwrap().invoices.insert(
        "inv_jwt_1".into(),
        json!({"status": "finalized", "payment_status": "pending", "total_amount_cents": 5000,
            "fees": [{"lago_id": "fee_sub", "amount_cents": 3000}, {"lago_id": "fee_usage", "amount_cents": 2000}]}),
    );
    let body = json!({"webhook_type": "invoice.created", "object_type": "invoice", "invoice": {
        "lago_id": "inv_jwt_1", "number": "LAGO-JWT-1", "status": "finalized", "payment_status": "pending",
        "currency": "USD", "total_amount_cents": 5000, "issuing_date": "2026-11-26",
        "customer": {"external_id": tid}}});
    let raw = serde_json::to_vec(&body).unwrap();
    let send = |sig: String, key: &'static str, raw: Vec<u8>| {
        let base = app.base.clone();
        async move {
            let res = reqwest::Client::new()
                .post(format!("{base}/api/v1/lago/webhooks"))
                .header("content-type", "application/json")
                .header("x-lago-signature", sig)
                .header("x-lago-signature-algorithm", "jwt")
                .header("x-lago-unique-key", key)
                .body(raw)
                .send()
                .await
                .unwrap();
            (
                res.status(),
                res.json::<Value>().await.unwrap_or(Value::Null),
            )
        }
    };
    let other_issuer = avb_testkit::lago::jwt_signature("https://elsewhere.example", &raw);
    let (s, _) = send(other_issuer, "jwt-0", raw.clone()).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let mut tampered = body.clone();
    tampered["invoice"]["total_amount_cents"] = json!(1);
    let (s, _) = send(
        avb_testkit::lago::jwt_signature(&issuer, &raw),
        "jwt-1",
        serde_json::to_vec(&tampered).unwrap(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the JWT's data must be the body"
    );
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    let (s, b) = send(
        avb_testkit::lago::jwt_signature(&issuer, &raw),
        "jwt-2",
        raw.clone(),
    )
    .await;
    assert_eq!((s, b["result"].as_str()), (StatusCode::OK, Some("applied")));
    let (_, list) = app.get("/api/v1/invoices", &owner).await;
    let invoice_id = list["data"][0]["id"].as_str().unwrap().to_string();
    // Its PDF: rendered here while Lago still generates its own, then Lago's file.
    let res = browser
        .get(&format!("/billing/invoices/{invoice_id}.pdf"), &cookie)
        .await;
    assert_eq!(res.headers()["content-type"], "application/pdf");
    lago.lock().unwrap().invoices.get_mut("inv_jwt_1").unwrap()["file_url"] =
        json!("https://lago.example/invoices/inv_jwt_1.pdf");
    let res = browser
        .get(&format!("/billing/invoices/{invoice_id}.pdf"), &cookie)
        .await;
    assert_eq!(
        res.headers()["location"],
        "https://lago.example/invoices/inv_jwt_1.pdf"
    );

    // A credit is a Lago credit note spread over the invoice's fees; more than is left is refused.
    let credit = |amount: i64, invoice: Option<&str>| json!({"amount_minor": amount, "reason": "Outage on 24 November", "invoice_id": invoice});
    let path = format!("/api/v1/admin/tenants/{tid}/credits");
    let (s, b) = app.post(&path, &admin, credit(500, None)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let (s, b) = app
        .post(&path, &admin, credit(3500, Some(&invoice_id)))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    {
        let st = lago.lock().unwrap();
        assert_eq!(st.credit_notes.len(), 1);
        assert_eq!(
            st.credit_notes[0]["items"],
            json!([{"fee_id": "fee_sub", "amount_cents": 3000}, {"fee_id": "fee_usage", "amount_cents": 500}])
        );
        assert_eq!(st.credit_notes[0]["credit_amount_cents"], 3500);
    }
    let (s, b) = app
        .post(&path, &admin, credit(2000, Some(&invoice_id)))
        .await;
    assert_eq!(
        s,
        StatusCode::CONFLICT,
        "only 1500 is left on the fees: {b}"
    );
    assert!(b.to_string().contains("Lago refused it"), "{b}");
    assert_eq!(lago.lock().unwrap().credit_notes.len(), 1);
    let (s, _) = app
        .post(&path, &admin, credit(1500, Some(&invoice_id)))
        .await;
    assert_eq!(s, StatusCode::CREATED, "the 1500 left is on the usage fee");
    let st = lago.lock().unwrap();
    assert_eq!(
        st.credit_notes[1]["items"],
        json!([{"fee_id": "fee_usage", "amount_cents": 1500}])
    );
}
