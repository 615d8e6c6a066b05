//! A stand-in for Stripe's API and Stripe.js (Stripe cannot run here), built from Stripe's
//! documented API: Bearer auth with the secret key, form-encoded bodies only (a JSON body is
//! refused as Stripe refuses it), `{"error": {type, code, message}}` errors, ids with Stripe's
//! prefixes. Customers, SetupIntents (confirmed by the browser with the publishable key and the
//! client secret, as Stripe.js does), card PaymentMethods (the test tokens `pm_card_visa` and
//! `pm_card_chargeDeclined`), off-session PaymentIntents with idempotency keys (a declined card
//! answers 402 `card_declined`), and `/v3/` serving a small Stripe.js with the calls the payment
//! page uses (`Stripe()`, `elements().create("payment").mount()`, `confirmSetup()`).
#![allow(clippy::unwrap_used, clippy::result_large_err)]

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The secret key the stand-in accepts.
pub const SECRET_KEY: &str = "sk_test_standin";
/// The publishable key Stripe.js uses.
pub const PUBLISHABLE_KEY: &str = "pk_test_standin";

/// What the stand-in holds.
#[derive(Default)]
pub struct Stripe {
    pub customers: HashMap<String, Value>,
    pub setup_intents: HashMap<String, Value>,
    pub payment_methods: HashMap<String, Value>,
    /// PaymentIntents by id, in creation order in `charges`.
    pub payment_intents: HashMap<String, Value>,
    pub charges: Vec<String>,
    /// Idempotency key -> (status, body) of the first answer.
    idempotent: HashMap<String, (u16, Value)>,
}

/// The stand-in's shared state.
pub type S = Arc<Mutex<Stripe>>;

type Form = HashMap<String, String>;

fn error(status: StatusCode, kind: &str, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"type": kind, "code": code, "message": message}})),
    )
        .into_response()
}

fn invalid(param: &str, message: &str) -> Response {
    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"type": "invalid_request_error", "code": "parameter_invalid", "param": param, "message": message}}))).into_response()
}

fn missing(kind: &str, id: &str) -> Response {
    (StatusCode::NOT_FOUND, axum::Json(json!({"error": {"type": "invalid_request_error", "code": "resource_missing", "message": format!("No such {kind}: '{id}'")}}))).into_response()
}

fn secret_auth(h: &HeaderMap) -> Result<(), Response> {
    if h.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {SECRET_KEY}"))
    {
        Ok(())
    } else {
        Err(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "api_key_invalid",
            "Invalid API Key provided",
        ))
    }
}

/// Stripe takes `application/x-www-form-urlencoded` bodies only.
fn form(h: &HeaderMap, body: &[u8]) -> Result<Form, Response> {
    let ct = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !body.is_empty() && !ct.starts_with("application/x-www-form-urlencoded") {
        return Err(invalid(
            "body",
            "Invalid request: the body must be form-encoded (application/x-www-form-urlencoded)",
        ));
    }
    Ok(form_pairs(body).into_iter().collect())
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body)))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

fn metadata(f: &Form) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in f {
        if let Some(key) = k
            .strip_prefix("metadata[")
            .and_then(|k| k.strip_suffix(']'))
        {
            m.insert(key.to_string(), json!(v));
        }
    }
    Value::Object(m)
}

/// A card PaymentMethod from one of Stripe's test tokens.
fn card_from_token(token: &str) -> Option<Value> {
    let (brand, last4) = match token {
        "pm_card_visa" => ("visa", "4242"),
        "pm_card_mastercard" => ("mastercard", "4444"),
        "pm_card_chargeDeclined" => ("visa", "0002"),
        _ => return None,
    };
    Some(
        json!({"id": id("pm"), "object": "payment_method", "type": "card", "customer": null,
        "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034}}),
    )
}

/// A small Stripe.js: the card field is a plain input (a number starting 4000000000000002 is
/// the declining test card), and `confirmSetup` confirms the SetupIntent with the publishable
/// key and client secret, then returns the browser to `return_url` as Stripe does.
const STRIPE_JS: &str = r#"(function () {
  var API = "__API__";
  window.Stripe = function (pk) {
    var state = {};
    return {
      elements: function (opts) {
        state.clientSecret = opts.clientSecret;
        return { create: function () { return { mount: function (sel) {
          var el = document.querySelector(sel);
          var label = document.createElement("label");
          label.textContent = "Card number";
          label.setAttribute("for", "standin-card");
          var input = document.createElement("input");
          input.id = "standin-card"; input.name = "standin-card"; input.autocomplete = "cc-number";
          el.appendChild(label); el.appendChild(input);
        } }; } };
      },
      confirmSetup: function (args) {
        var number = (document.getElementById("standin-card").value || "").replace(/\s/g, "");
        var token = number.indexOf("4000000000000002") === 0 ? "pm_card_chargeDeclined" : "pm_card_visa";
        var seti = state.clientSecret.split("_secret_")[0];
        var body = new URLSearchParams({ key: pk, client_secret: state.clientSecret, payment_method: token });
        return fetch(API + "/v1/setup_intents/" + seti + "/confirm", { method: "POST", body: body })
          .then(function (r) { return r.json(); })
          .then(function (si) {
            if (si.error) return { error: si.error };
            var u = new URL(args.confirmParams.return_url);
            u.searchParams.set("setup_intent", si.id);
            u.searchParams.set("setup_intent_client_secret", si.client_secret);
            u.searchParams.set("redirect_status", si.status === "succeeded" ? "succeeded" : "failed");
            window.location.assign(u.href);
            return {};
          });
      },
    };
  };
})();
"#;

/// Starts the stand-in. Returns its base URL (API and `/v3/` Stripe.js) and state.
pub async fn spawn_stripe() -> (String, S) {
    let state: S = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let js = STRIPE_JS.replace("__API__", &url);
    let app = axum::Router::new()
        .route(
            "/v3/",
            get(move || async move { ([(header::CONTENT_TYPE, "text/javascript")], js) }),
        )
        .route("/v1/customers", post(create_customer))
        .route(
            "/v1/customers/{id}",
            get(get_customer).post(update_customer),
        )
        .route(
            "/v1/customers/{id}/payment_methods",
            get(list_payment_methods),
        )
        .route("/v1/setup_intents", post(create_setup_intent))
        .route("/v1/setup_intents/{id}", get(get_setup_intent))
        .route(
            "/v1/setup_intents/{id}/confirm",
            post(confirm_setup_intent).options(preflight),
        )
        .route("/v1/payment_methods/{id}/detach", post(detach))
        .route("/v1/payment_intents", post(create_payment_intent))
        .with_state(state.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, state)
}

async fn preflight() -> Response {
    cors(StatusCode::NO_CONTENT.into_response())
}

/// Stripe's API answers browsers from any origin.
fn cors(mut r: Response) -> Response {
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        header::HeaderValue::from_static("*"),
    );
    r
}

async fn create_customer(State(s): State<S>, h: HeaderMap, body: axum::body::Bytes) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    let f = match form(&h, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    if let Some(e) = f.get("email")
        && !e.contains('@')
    {
        return invalid("email", "Invalid email address");
    }
    let c = json!({"id": id("cus"), "object": "customer", "name": f.get("name"), "email": f.get("email"),
        "metadata": metadata(&f), "invoice_settings": {"default_payment_method": null}});
    s.lock()
        .unwrap()
        .customers
        .insert(c["id"].as_str().unwrap().to_string(), c.clone());
    axum::Json(c).into_response()
}

async fn get_customer(State(s): State<S>, h: HeaderMap, Path(cid): Path<String>) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    match s.lock().unwrap().customers.get(&cid) {
        Some(c) => axum::Json(c.clone()).into_response(),
        None => missing("customer", &cid),
    }
}

async fn update_customer(
    State(s): State<S>,
    h: HeaderMap,
    Path(cid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    let f = match form(&h, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut st = s.lock().unwrap();
    if let Some(pm) = f.get("invoice_settings[default_payment_method]")
        && st
            .payment_methods
            .get(pm)
            .is_none_or(|p| p["customer"] != json!(cid))
    {
        return missing("PaymentMethod attached to this customer", pm);
    }
    let Some(c) = st.customers.get_mut(&cid) else {
        return missing("customer", &cid);
    };
    if let Some(pm) = f.get("invoice_settings[default_payment_method]") {
        c["invoice_settings"]["default_payment_method"] = json!(pm);
    }
    axum::Json(c.clone()).into_response()
}

async fn list_payment_methods(
    State(s): State<S>,
    h: HeaderMap,
    Path(cid): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    let st = s.lock().unwrap();
    if !st.customers.contains_key(&cid) {
        return missing("customer", &cid);
    }
    if q.get("type").is_some_and(|k| k != "card") {
        return invalid("type", "Invalid type");
    }
    let mut data: Vec<Value> = st
        .payment_methods
        .values()
        .filter(|p| p["customer"] == json!(cid))
        .cloned()
        .collect();
    data.sort_by_key(|p| p["id"].as_str().unwrap_or_default().to_string());
    axum::Json(json!({"object": "list", "data": data, "has_more": false})).into_response()
}

async fn create_setup_intent(
    State(s): State<S>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    let f = match form(&h, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut st = s.lock().unwrap();
    let Some(cid) = f.get("customer") else {
        return invalid("customer", "Missing required param: customer.");
    };
    if !st.customers.contains_key(cid) {
        return missing("customer", cid);
    }
    if let Some(u) = f.get("usage")
        && !["on_session", "off_session"].contains(&u.as_str())
    {
        return invalid("usage", "Invalid usage");
    }
    if let Some(t) = f.get("payment_method_types[]")
        && t != "card"
    {
        return invalid("payment_method_types", "Invalid payment method type");
    }
    let sid = id("seti");
    let si = json!({"id": sid, "object": "setup_intent", "client_secret": format!("{sid}_secret_{}", uuid::Uuid::new_v4().simple()),
        "customer": cid, "status": "requires_payment_method", "payment_method": null, "usage": f.get("usage").map_or("off_session", |u| u.as_str()),
        "metadata": metadata(&f)});
    st.setup_intents.insert(sid, si.clone());
    axum::Json(si).into_response()
}

async fn get_setup_intent(State(s): State<S>, h: HeaderMap, Path(sid): Path<String>) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    match s.lock().unwrap().setup_intents.get(&sid) {
        Some(si) => axum::Json(si.clone()).into_response(),
        None => missing("setup_intent", &sid),
    }
}

/// What Stripe.js does: confirms with the publishable key and the intent's client secret.
async fn confirm_setup_intent(
    State(s): State<S>,
    h: HeaderMap,
    Path(sid): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let f = match form(&h, &body) {
        Ok(f) => f,
        Err(r) => return cors(r),
    };
    if f.get("key").map(String::as_str) != Some(PUBLISHABLE_KEY) {
        return cors(error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "api_key_invalid",
            "Invalid API Key provided",
        ));
    }
    let mut st = s.lock().unwrap();
    let Some(si) = st.setup_intents.get(&sid).cloned() else {
        return cors(missing("setup_intent", &sid));
    };
    if f.get("client_secret") != si["client_secret"].as_str().map(str::to_string).as_ref() {
        return cors(invalid(
            "client_secret",
            "The client_secret provided does not match the client_secret associated with the SetupIntent.",
        ));
    }
    if si["status"] == "succeeded" {
        return cors(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "setup_intent_unexpected_state",
            "This SetupIntent has already succeeded.",
        ));
    }
    let Some(mut pm) = f.get("payment_method").and_then(|t| card_from_token(t)) else {
        return cors(invalid("payment_method", "Invalid payment method"));
    };
    pm["customer"] = si["customer"].clone();
    let pm_id = pm["id"].as_str().unwrap().to_string();
    st.payment_methods.insert(pm_id.clone(), pm);
    let si = st.setup_intents.get_mut(&sid).unwrap();
    si["status"] = json!("succeeded");
    si["payment_method"] = json!(pm_id);
    cors(axum::Json(si.clone()).into_response())
}

async fn detach(State(s): State<S>, h: HeaderMap, Path(pm): Path<String>) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    let mut st = s.lock().unwrap();
    let Some(p) = st.payment_methods.get_mut(&pm) else {
        return missing("payment_method", &pm);
    };
    if p["customer"].is_null() {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "payment_method_unexpected_state",
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        );
    }
    let cid = p["customer"].as_str().unwrap().to_string();
    p["customer"] = Value::Null;
    let p = p.clone();
    if let Some(c) = st.customers.get_mut(&cid)
        && c["invoice_settings"]["default_payment_method"] == json!(pm)
    {
        c["invoice_settings"]["default_payment_method"] = Value::Null;
    }
    axum::Json(p).into_response()
}

async fn create_payment_intent(
    State(s): State<S>,
    h: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if let Err(r) = secret_auth(&h) {
        return r;
    }
    let f = match form(&h, &body) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let key = h
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut st = s.lock().unwrap();
    if let Some(k) = &key
        && let Some((status, body)) = st.idempotent.get(k)
    {
        return (
            StatusCode::from_u16(*status).unwrap(),
            axum::Json(body.clone()),
        )
            .into_response();
    }
    let Some(amount) = f
        .get("amount")
        .and_then(|a| a.parse::<i64>().ok())
        .filter(|a| *a >= 1)
    else {
        return invalid(
            "amount",
            "Invalid integer: amount must be a positive integer in the currency's smallest unit",
        );
    };
    let Some(currency) = f
        .get("currency")
        .filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_lowercase()))
    else {
        return invalid(
            "currency",
            "Invalid currency: must be a three-letter ISO code in lower case",
        );
    };
    let Some(cid) = f.get("customer") else {
        return invalid("customer", "Missing required param: customer.");
    };
    if !st.customers.contains_key(cid) {
        return missing("customer", cid);
    }
    let Some(pm) = f
        .get("payment_method")
        .and_then(|p| st.payment_methods.get(p))
        .filter(|p| p["customer"] == json!(cid))
        .cloned()
    else {
        return missing(
            "payment_method",
            f.get("payment_method").map_or("", |s| s.as_str()),
        );
    };
    if f.get("confirm").map(String::as_str) != Some("true")
        || f.get("off_session").map(String::as_str) != Some("true")
    {
        return invalid(
            "confirm",
            "This stand-in charges saved cards off-session only: confirm=true and off_session=true",
        );
    }
    let pid = id("pi");
    let declined = pm["card"]["last4"] == "0002";
    let mut pi = json!({"id": pid, "object": "payment_intent", "amount": amount, "currency": currency, "customer": cid,
        "payment_method": pm["id"], "metadata": metadata(&f), "description": f.get("description"),
        "status": if declined { "requires_payment_method" } else { "succeeded" }});
    let (status, answer) = if declined {
        pi["last_payment_error"] = json!({"code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."});
        (
            402,
            json!({"error": {"type": "card_error", "code": "card_declined", "decline_code": "generic_decline",
            "message": "Your card was declined.", "payment_intent": pi}}),
        )
    } else {
        (200, pi.clone())
    };
    st.payment_intents.insert(pid.clone(), pi);
    st.charges.push(pid);
    if let Some(k) = key {
        st.idempotent.insert(k, (status, answer.clone()));
    }
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response()
}
