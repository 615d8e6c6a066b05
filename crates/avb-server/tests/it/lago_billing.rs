//! Usage shipped to Lago, against a stand-in of Lago's documented `POST /api/v1/events/batch`
//! (Lago cannot run here): batches keyed by our idempotency keys, Bearer auth, rows marked only
//! after Lago accepts them, a refused batch retried later without loss or duplicates.
#![allow(clippy::unwrap_used)]

use avb_core::{RequestMeta, Scope};
use avb_testkit::{Db, both_backends, spawn_app_with};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// What the stand-in received, and whether it answers 500 next.
#[derive(Default)]
struct Lago {
    batches: Vec<(Option<String>, Value)>,
    fail_next: bool,
}

async fn lago() -> (String, Arc<Mutex<Lago>>) {
    let state = Arc::new(Mutex::new(Lago::default()));
    let s = state.clone();
    let app = axum::Router::new().route(
        "/api/v1/events/batch",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
                let s = s.clone();
                async move {
                    let mut st = s.lock().unwrap();
                    if st.fail_next {
                        st.fail_next = false;
                        return (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"status": 500, "error": "Internal Server Error"})));
                    }
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string());
                    let echo: Vec<Value> = body["events"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|e| json!({"lago_id": uuid::Uuid::now_v7(), "transaction_id": e["transaction_id"]}))
                        .collect();
                    st.batches.push((auth, body));
                    (axum::http::StatusCode::OK, axum::Json(json!({"events": echo})))
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, state)
}

async fn ships(db: Db) {
    let (url, standin) = lago().await;
    let app = spawn_app_with(db, |c| {
        c.lago.api_url = Some(url.clone());
        c.lago.api_key = Some(avb_core::Secret::new("lago-key"));
        c.lago.interval_secs = 3600; // shipped by hand below
    })
    .await;
    let (tenant, owner) = app.tenant_with_owner("Billed Co").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let scope: Scope = avb_core::identity::authenticate_bearer(
        &app.ctx,
        key["secret"].as_str().unwrap(),
        RequestMeta::default(),
    )
    .await
    .unwrap();
    let record = |fact: &'static str| {
        let (ctx, scope) = (app.ctx.clone(), scope.clone());
        async move {
            avb_core::services::usage::record(
                &ctx,
                &scope,
                None,
                fact,
                &[("requests", 1.0), ("audio_minutes_input", 0.5)],
            )
            .await
            .unwrap()
        }
    };
    record("resp_1").await;
    // Lago fails: nothing is marked, nothing lost.
    standin.lock().unwrap().fail_next = true;
    let err = avb_core::services::billing::ship_usage(&app.ctx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    record("resp_2").await;
    assert_eq!(
        avb_core::services::billing::ship_usage(&app.ctx)
            .await
            .unwrap(),
        4
    );
    assert_eq!(
        avb_core::services::billing::ship_usage(&app.ctx)
            .await
            .unwrap(),
        0,
        "shipped once"
    );
    let st = standin.lock().unwrap();
    assert_eq!(st.batches.len(), 1);
    let (auth, body) = &st.batches[0];
    assert_eq!(auth.as_deref(), Some("Bearer lago-key"));
    let events = body["events"].as_array().unwrap();
    assert_eq!(events.len(), 4);
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["transaction_id"].as_str().unwrap())
        .collect();
    for id in [
        "resp_1:requests",
        "resp_1:audio_minutes_input",
        "resp_2:requests",
    ] {
        assert!(ids.contains(&id), "{id} in {ids:?}");
    }
    let e = events
        .iter()
        .find(|e| e["transaction_id"] == "resp_1:audio_minutes_input")
        .unwrap();
    assert_eq!(e["external_subscription_id"], format!("sub_{tenant}"));
    assert_eq!(e["code"], "audio_minutes_input");
    assert_eq!(e["properties"]["value"], 0.5);
    assert!(
        e["timestamp"].as_f64().unwrap() > 1.7e9,
        "a deterministic timestamp is sent"
    );
}

both_backends!(usage_ships_to_lago_once, ships);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_overview_totals_this_months_finalized_lago_invoices() {
    // Two pages of invoices, as Lago's GET /api/v1/invoices returns them.
    let seen = Arc::new(Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let app_lago = axum::Router::new().route(
        "/api/v1/invoices",
        axum::routing::get(move |uri: axum::http::Uri| {
            let s = s2.clone();
            async move {
                let q = uri.query().unwrap_or_default().to_string();
                s.lock().unwrap().push(q.clone());
                let page2 = q.contains("page=2");
                axum::Json(if page2 {
                    json!({"invoices": [{"total_amount_cents": 2345, "currency": "USD", "status": "finalized"}],
                           "meta": {"current_page": 2, "next_page": null, "total_pages": 2, "total_count": 3}})
                } else {
                    json!({"invoices": [{"total_amount_cents": 10000, "currency": "USD", "status": "finalized"},
                                        {"total_amount_cents": 500, "currency": "EUR", "status": "finalized"}],
                           "meta": {"current_page": 1, "next_page": 2, "total_pages": 2, "total_count": 3}})
                })
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app_lago).await.unwrap() });
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.lago.api_url = Some(url.clone());
        c.lago.api_key = Some(avb_core::Secret::new("lago-key"));
        c.lago.interval_secs = 3600;
    })
    .await;
    app.create_user(None, "saas_admin", "root@platform.test")
        .await;
    let browser = avb_testkit::browser::Browser::new(&app);
    let admin = browser.session("root@platform.test").await;
    let html = browser.page("/admin", &admin).await;
    assert!(html.contains("5.00 EUR + 123.45 USD"), "{html}");
    let queries = seen.lock().unwrap().clone();
    assert!(
        queries[0].contains("statuses%5B%5D=finalized")
            && queries[0].contains("issuing_date_from=")
    );
}
