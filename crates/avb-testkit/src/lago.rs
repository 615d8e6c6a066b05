//! A stand-in for Lago's REST API (Lago cannot run here), built from its documented API
//! (spec/integrations.md A.2-A.6): Bearer auth, root-wrapped bodies, and every body checked
//! for the documented required fields and enums (an unknown `charge_model`, a charge on an
//! unknown metric, overlapping graduated ranges, a subscription for an unknown customer or
//! plan: refused as Lago refuses them). Upgrades apply at once and downgrades wait as
//! `next_plan_code`; voids, payment retries and credit notes follow Lago's rules; checkout links
//! need a customer linked to a payment provider; JWT webhooks are signed with a test RSA key
//! whose public half `GET /webhooks/public_key` serves. An optional delay per request stands
//! for a slow Lago.
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The API key the stand-in accepts.
pub const KEY: &str = "lago-api-key";

/// What the stand-in holds.
#[derive(Default)]
pub struct Lago {
    pub metrics: HashMap<String, Value>,
    pub plans: HashMap<String, Value>,
    pub customers: HashMap<String, Value>,
    pub subscriptions: HashMap<String, Value>,
    /// Invoices by lago_id: status and payment_status, as the tests seed them.
    pub invoices: HashMap<String, Value>,
    pub retries: Vec<String>,
    /// Credit notes made, as Lago returned them.
    pub credit_notes: Vec<Value>,
    /// (method, path) of every accepted write.
    pub writes: Vec<(String, String)>,
}

/// The stand-in's shared state.
pub type S = Arc<Mutex<Lago>>;

/// The RSA key pair the stand-in signs JWT webhooks with (made for the tests with openssl).
const WEBHOOK_PRIVATE_PEM: &str = include_str!("lago_keys/webhook_private.pem");
/// Its public half, served base64-encoded by `GET /webhooks/public_key` as Lago does.
pub const WEBHOOK_PUBLIC_PEM: &str = include_str!("lago_keys/webhook_public.pem");

/// A JWT-signed webhook signature as Lago makes it: RS256 over `{data: <raw body>, iss: <Lago's
/// API URL>}`, no expiry.
pub fn jwt_signature(issuer: &str, body: &[u8]) -> String {
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(WEBHOOK_PRIVATE_PEM.as_bytes()).unwrap();
    let claims = json!({"data": String::from_utf8_lossy(body), "iss": issuer});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

/// The fees of a seeded invoice: its own `fees`, else one subscription fee of its total.
fn fees_of(id: &str, inv: &Value) -> Vec<Value> {
    inv["fees"].as_array().cloned().unwrap_or_else(|| {
        vec![json!({"lago_id": format!("fee_{id}"), "amount_cents": inv["total_amount_cents"].as_i64().unwrap_or(0)})]
    })
}

/// What earlier credit notes took from a fee.
fn credited(st: &Lago, fee_id: &Value) -> i64 {
    st.credit_notes
        .iter()
        .flat_map(|c| c["items"].as_array().cloned().unwrap_or_default())
        .filter(|i| &i["fee_id"] == fee_id)
        .map(|i| i["amount_cents"].as_i64().unwrap_or(0))
        .sum()
}

/// `POST /credit_notes` as Lago validates it: a known invoice that is finalized, a documented
/// reason, items naming the invoice's fees with positive amounts none above what the fee has
/// left, and credit plus refund equal to the items' sum.
fn credit_note_errors(st: &Lago, cn: &Value) -> Result<(), Response> {
    const REASONS: &[&str] = &[
        "duplicated_charge",
        "product_unsatisfactory",
        "order_change",
        "order_cancellation",
        "fraudulent_charge",
        "other",
    ];
    let Some(invoice_id) = cn["invoice_id"].as_str() else {
        return Err(unprocessable(json!({"invoice_id": ["value_is_mandatory"]})));
    };
    let Some(inv) = st.invoices.get(invoice_id) else {
        return Err(not_found("invoice_not_found"));
    };
    if inv["status"] != "finalized" {
        return Err(unprocessable(json!({"invoice": ["invalid_status"]})));
    }
    if let Some(r) = cn.get("reason")
        && !r.as_str().is_some_and(|r| REASONS.contains(&r))
    {
        return Err(unprocessable(json!({"reason": ["value_is_invalid"]})));
    }
    let Some(items) = cn["items"].as_array().filter(|i| !i.is_empty()) else {
        return Err(unprocessable(json!({"items": ["value_is_mandatory"]})));
    };
    let fees = fees_of(invoice_id, inv);
    let mut sum = 0;
    for item in items {
        let (Some(fee_id), Some(amount)) = (item["fee_id"].as_str(), item["amount_cents"].as_i64())
        else {
            return Err(unprocessable(json!({"items": ["value_is_mandatory"]})));
        };
        let Some(fee) = fees.iter().find(|f| f["lago_id"] == fee_id) else {
            return Err(not_found("fee_not_found"));
        };
        if amount <= 0
            || amount > fee["amount_cents"].as_i64().unwrap_or(0) - credited(st, &json!(fee_id))
        {
            return Err(unprocessable(
                json!({"amount_cents": ["higher_than_remaining_fee_amount"]}),
            ));
        }
        sum += amount;
    }
    let credit = cn["credit_amount_cents"].as_i64().unwrap_or(0);
    let refund = cn["refund_amount_cents"].as_i64().unwrap_or(0);
    if credit < 0 || refund < 0 || credit + refund != sum {
        return Err(unprocessable(json!({"base": ["invalid_amount"]})));
    }
    Ok(())
}

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

/// Starts the stand-in; answers after `delay` (a slow Lago). Returns its base URL and state.
pub async fn spawn_lago(delay: std::time::Duration) -> (String, S) {
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
            "/api/v1/webhooks/public_key",
            get(|h: HeaderMap| async move {
                use base64::Engine;
                if !authorized(&h) { return unauthorized(); }
                base64::engine::general_purpose::STANDARD.encode(WEBHOOK_PUBLIC_PEM).into_response()
            }),
        )
        .route(
            "/api/v1/customers/{id}/checkout_url",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                let st = s.lock().unwrap();
                let Some(c) = st.customers.get(&id) else { return not_found("customer_not_found") };
                let Some(provider) = c["billing_configuration"]["payment_provider"].as_str() else {
                    return unprocessable(json!({"base": ["no_linked_payment_provider"]}));
                };
                axum::Json(json!({"customer": {"external_customer_id": id, "payment_provider": provider,
                    "checkout_url": format!("https://checkout.{provider}.example/setup/{id}")}})).into_response()
            }),
        )
        .route(
            "/api/v1/invoices/{id}",
            get(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                let st = s.lock().unwrap();
                let Some(inv) = st.invoices.get(&id) else { return not_found("invoice_not_found") };
                let mut inv = inv.clone();
                inv["lago_id"] = json!(id);
                // Each fee with what is left to credit on it, as Lago's fee model computes it.
                let fees: Vec<Value> = fees_of(&id, &inv).into_iter().map(|mut f| {
                    let fee_id = f["lago_id"].clone();
                    f["creditable_amount_cents"] = json!(f["amount_cents"].as_i64().unwrap_or(0) - credited(&st, &fee_id));
                    f
                }).collect();
                inv["fees"] = json!(fees);
                axum::Json(json!({"invoice": inv})).into_response()
            }),
        )
        .route(
            "/api/v1/invoices/{id}/download",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::extract::Path(id): axum::extract::Path<String>| async move {
                if !authorized(&h) { return unauthorized(); }
                let st = s.lock().unwrap();
                let Some(inv) = st.invoices.get(&id) else { return not_found("invoice_not_found") };
                // Lago renders the PDF asynchronously: `file_url` is empty until it is ready.
                let mut inv = inv.clone();
                inv["lago_id"] = json!(id);
                if inv["file_url"].is_null() { inv["file_url"] = json!(""); }
                axum::Json(json!({"invoice": inv})).into_response()
            }),
        )
        .route(
            "/api/v1/credit_notes",
            post(|axum::extract::State(s): axum::extract::State<S>, h: HeaderMap, axum::Json(b): axum::Json<Value>| async move {
                if !authorized(&h) { return unauthorized(); }
                let mut st = s.lock().unwrap();
                let cn = &b["credit_note"];
                if let Err(r) = credit_note_errors(&st, cn) { return r; }
                let mut saved = cn.clone();
                saved["lago_id"] = json!(uuid::Uuid::now_v7().to_string());
                saved["credit_status"] = json!("available");
                saved["balance_amount_cents"] = cn["credit_amount_cents"].clone();
                st.credit_notes.push(saved.clone());
                st.writes.push(("POST".into(), "/credit_notes".into()));
                axum::Json(json!({"credit_note": saved})).into_response()
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
        .layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| async move {
            tokio::time::sleep(delay).await;
            next.run(req).await
        }))
        .with_state(s);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}
