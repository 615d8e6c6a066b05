//! Billing on Lago: metrics, plans, customers and subscriptions pushed to a stand-in built from
//! Lago's documented API (spec/integrations.md A.2-A.5; Lago cannot run here) that refuses any
//! body missing a documented required field or using an unknown enum value; reconciling twice
//! changes nothing; an upgrade and a downgrade land as Lago's plan change; HMAC-signed webhooks
//! mirror invoices once each.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, both_backends, spawn_app_with};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

const KEY: &str = "lago-api-key";
const HMAC: &str = "lago-hmac-token";

#[derive(Default)]
struct Lago {
    metrics: HashMap<String, Value>,
    plans: HashMap<String, Value>,
    customers: HashMap<String, Value>,
    subscriptions: HashMap<String, Value>,
    /// Invoices by lago_id: status and payment_status, as the tests seed them.
    invoices: HashMap<String, Value>,
    retries: Vec<String>,
    /// (method, path) of every accepted write.
    writes: Vec<(String, String)>,
}

type S = Arc<Mutex<Lago>>;

fn unprocessable(details: Value) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        axum::Json(json!({"status": 422, "error": "Unprocessable Entity", "code": "validation_errors", "error_details": details})),
    )
        .into_response()
}

fn not_found(code: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"status": 404, "error": "Not Found", "code": code})),
    )
        .into_response()
}

fn authorized(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {KEY}"))
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"status": 401, "error": "Unauthorized"})),
    )
        .into_response()
}

/// A billable metric body: name, code, aggregation_type from the enum, field_name for sum_agg.
fn metric_errors(m: &Value) -> Option<Value> {
    const AGG: &[&str] = &[
        "count_agg",
        "sum_agg",
        "max_agg",
        "unique_count_agg",
        "weighted_sum_agg",
        "latest_agg",
    ];
    if !m["name"].is_string() || !m["code"].is_string() {
        return Some(json!({"name": ["value_is_mandatory"]}));
    }
    let agg = m["aggregation_type"].as_str().unwrap_or_default();
    if !AGG.contains(&agg) {
        return Some(json!({"aggregation_type": ["value_is_invalid"]}));
    }
    if agg == "sum_agg" && !m["field_name"].is_string() {
        return Some(json!({"field_name": ["value_is_mandatory"]}));
    }
    None
}

/// A plan body per A.4: required fields, interval and charge_model enums, known metric ids,
/// properties per model, graduated ranges contiguous from 0 with an open last one.
fn plan_errors(p: &Value, metric_ids: &[String]) -> Option<Value> {
    const INTERVALS: &[&str] = &["weekly", "monthly", "quarterly", "semiannual", "yearly"];
    const MODELS: &[&str] = &[
        "standard",
        "graduated",
        "graduated_percentage",
        "package",
        "percentage",
        "volume",
        "dynamic",
    ];
    for f in ["name", "code", "amount_currency"] {
        if !p[f].is_string() {
            return Some(json!({f: ["value_is_mandatory"]}));
        }
    }
    if !INTERVALS.contains(&p["interval"].as_str().unwrap_or_default()) {
        return Some(json!({"interval": ["value_is_invalid"]}));
    }
    if p["amount_cents"].as_i64().is_none_or(|c| c < 0) {
        return Some(json!({"amount_cents": ["value_is_invalid"]}));
    }
    if !p["pay_in_advance"].is_boolean() {
        return Some(json!({"pay_in_advance": ["value_is_mandatory"]}));
    }
    for c in p["charges"].as_array().cloned().unwrap_or_default() {
        if !metric_ids.contains(
            &c["billable_metric_id"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        ) {
            return Some(json!({"billable_metric_id": ["billable_metric_not_found"]}));
        }
        let model = c["charge_model"].as_str().unwrap_or_default();
        if !MODELS.contains(&model) {
            return Some(json!({"charge_model": ["value_is_invalid"]}));
        }
        let props = &c["properties"];
        let ok = match model {
            "standard" => props["amount"].is_string(),
            "package" => {
                props["amount"].is_string()
                    && props["package_size"].as_u64().is_some_and(|n| n > 0)
                    && props["free_units"].is_u64()
            }
            "graduated" => {
                let ranges = props["graduated_ranges"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut next = 0;
                let mut ok = !ranges.is_empty();
                for (i, r) in ranges.iter().enumerate() {
                    ok &= r["from_value"].as_u64() == Some(next)
                        && r["per_unit_amount"].is_string()
                        && r["flat_amount"].is_string();
                    match r["to_value"].as_u64() {
                        Some(to) => next = to + 1,
                        None => ok &= i == ranges.len() - 1,
                    }
                }
                ok && ranges.last().is_some_and(|r| r["to_value"].is_null())
            }
            _ => true,
        };
        if !ok {
            return Some(json!({"properties": ["invalid_properties"]}));
        }
    }
    None
}

async fn lago() -> (String, S) {
    let state: S = Arc::default();
    let s = state.clone();
    let app = axum::Router::new()
        .route(
            "/api/v1/billable_metrics",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let m = &b["billable_metric"];
                if let Some(e) = metric_errors(m) { return unprocessable(e); }
                let mut st = s.lock().unwrap();
                let code = m["code"].as_str().unwrap().to_string();
                if st.metrics.contains_key(&code) { return unprocessable(json!({"code": ["value_already_exist"]})); }
                let mut saved = m.clone();
                saved["lago_id"] = json!(uuid::Uuid::now_v7().to_string());
                st.metrics.insert(code.clone(), saved.clone());
                st.writes.push(("POST".into(), format!("/billable_metrics/{code}")));
                axum::Json(json!({"billable_metric": saved})).into_response()
            }),
        )
        .route(
            "/api/v1/billable_metrics/{code}",
            get(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(code): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                match s.lock().unwrap().metrics.get(&code) {
                    Some(m) => axum::Json(json!({"billable_metric": m})).into_response(),
                    None => not_found("billable_metric_not_found"),
                }
            })
            .put(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(code): axum::extract::Path<String>, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let m = &b["billable_metric"];
                if let Some(e) = metric_errors(m) { return unprocessable(e); }
                let mut st = s.lock().unwrap();
                let Some(old) = st.metrics.get(&code).cloned() else { return not_found("billable_metric_not_found") };
                let mut saved = m.clone();
                saved["lago_id"] = old["lago_id"].clone();
                st.metrics.insert(code.clone(), saved.clone());
                st.writes.push(("PUT".into(), format!("/billable_metrics/{code}")));
                axum::Json(json!({"billable_metric": saved})).into_response()
            }),
        )
        .route(
            "/api/v1/plans",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let mut st = s.lock().unwrap();
                let ids: Vec<String> = st.metrics.values().map(|m| m["lago_id"].as_str().unwrap().to_string()).collect();
                if let Some(e) = plan_errors(&b["plan"], &ids) { return unprocessable(e); }
                let code = b["plan"]["code"].as_str().unwrap().to_string();
                if st.plans.contains_key(&code) { return unprocessable(json!({"code": ["value_already_exist"]})); }
                st.plans.insert(code.clone(), b["plan"].clone());
                st.writes.push(("POST".into(), format!("/plans/{code}")));
                axum::Json(json!({"plan": b["plan"]})).into_response()
            }),
        )
        .route(
            "/api/v1/plans/{code}",
            get(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(code): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                match s.lock().unwrap().plans.get(&code) {
                    Some(p) => axum::Json(json!({"plan": p})).into_response(),
                    None => not_found("plan_not_found"),
                }
            })
            .put(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(code): axum::extract::Path<String>, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let mut st = s.lock().unwrap();
                if !st.plans.contains_key(&code) { return not_found("plan_not_found"); }
                let ids: Vec<String> = st.metrics.values().map(|m| m["lago_id"].as_str().unwrap().to_string()).collect();
                if let Some(e) = plan_errors(&b["plan"], &ids) { return unprocessable(e); }
                st.plans.insert(code.clone(), b["plan"].clone());
                st.writes.push(("PUT".into(), format!("/plans/{code}")));
                axum::Json(json!({"plan": b["plan"]})).into_response()
            }),
        )
        .route(
            "/api/v1/customers",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let c = &b["customer"];
                let Some(id) = c["external_id"].as_str() else { return unprocessable(json!({"external_id": ["value_is_mandatory"]})) };
                let mut st = s.lock().unwrap();
                st.customers.insert(id.to_string(), c.clone());
                axum::Json(json!({"customer": c})).into_response()
            }),
        )
        .route(
            "/api/v1/subscriptions",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let sub = &b["subscription"];
                for f in ["external_customer_id", "plan_code", "external_id"] {
                    if !sub[f].is_string() { return unprocessable(json!({f: ["value_is_mandatory"]})); }
                }
                let mut st = s.lock().unwrap();
                if !st.customers.contains_key(sub["external_customer_id"].as_str().unwrap()) { return not_found("customer_not_found"); }
                let code = sub["plan_code"].as_str().unwrap().to_string();
                let Some(plan) = st.plans.get(&code).cloned() else { return not_found("plan_not_found") };
                let ext = sub["external_id"].as_str().unwrap().to_string();
                let saved = match st.subscriptions.get(&ext).cloned() {
                    // Same external id: a plan change. A lower fee waits for the period end.
                    Some(mut old) => {
                        let old_fee = st.plans[old["plan_code"].as_str().unwrap()]["amount_cents"].as_i64().unwrap();
                        if plan["amount_cents"].as_i64().unwrap() >= old_fee {
                            old["plan_code"] = json!(code);
                            old["next_plan_code"] = Value::Null;
                        } else {
                            old["next_plan_code"] = json!(code);
                        }
                        old
                    }
                    None => json!({"external_id": ext, "external_customer_id": sub["external_customer_id"], "plan_code": code, "status": "active", "next_plan_code": null}),
                };
                st.subscriptions.insert(ext.clone(), saved.clone());
                st.writes.push(("POST".into(), format!("/subscriptions/{ext}")));
                axum::Json(json!({"subscription": saved})).into_response()
            }),
        )
        .route(
            "/api/v1/subscriptions/{id}",
            get(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                match s.lock().unwrap().subscriptions.get(&id) {
                    Some(v) => axum::Json(json!({"subscription": v})).into_response(),
                    None => not_found("subscription_not_found"),
                }
            }),
        )
        .route(
            "/api/v1/customers/{id}/portal_url",
            get(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                if !s.lock().unwrap().customers.contains_key(&id) { return not_found("customer_not_found"); }
                axum::Json(json!({"customer": {"portal_url": format!("https://lago.example/customer-portal/{id}")}})).into_response()
            }),
        )
        .route(
            "/api/v1/invoices/{id}/void",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                let mut st = s.lock().unwrap();
                let Some(inv) = st.invoices.get_mut(&id) else { return not_found("invoice_not_found") };
                // Lago: only finalized invoices that are not paid can be voided without a body.
                if inv["status"] != "finalized" || inv["payment_status"] == "succeeded" {
                    return (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({"status": 405, "error": "Method Not Allowed", "code": "not_voidable"}))).into_response();
                }
                inv["status"] = json!("voided");
                axum::Json(json!({"invoice": inv.clone()})).into_response()
            }),
        )
        .route(
            "/api/v1/invoices/{id}/retry_payment",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                let mut st = s.lock().unwrap();
                let Some(inv) = st.invoices.get(&id).cloned() else { return not_found("invoice_not_found") };
                if inv["payment_status"] == "succeeded" {
                    return (StatusCode::METHOD_NOT_ALLOWED, axum::Json(json!({"status": 405, "error": "Method Not Allowed", "code": "invalid_status"}))).into_response();
                }
                st.retries.push(id);
                axum::Json(json!({"invoice": inv})).into_response()
            }),
        )
        .with_state(s);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

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
    let (url, lago) = lago().await;
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
