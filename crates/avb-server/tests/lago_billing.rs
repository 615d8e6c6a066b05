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
