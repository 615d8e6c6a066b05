//! The one app: every route (portal pages, `/api/v1`, the gateway's REST routes and WebSocket
//! upgrade) gets the request id, the HTTP metrics, the body limit and the security headers;
//! unknown paths answer in the language of their prefix.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, spawn_app};
use reqwest::StatusCode;
use serde_json::Value;

/// A request id on every answer (the client's, or a fresh one), and every route in the HTTP
/// latency metric under its matched path: portal pages and the gateway's REST routes too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_has_a_request_id_and_latency_metric() {
    let metrics = crate::support::prometheus();
    let app = spawn_app(Db::Sqlite).await;
    let http = reqwest::Client::new();
    let answers = [
        http.get(format!("{}/login", app.base)),
        http.post(format!("{}/v1/realtime/client_secrets", app.base)),
        http.get(format!("{}/v1/realtime", app.base)),
        http.get(format!("{}/api/v1/openapi.json", app.base)),
    ];
    for req in answers {
        let res = req.send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "{} {id}", res.url());
        assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    }
    // The client's own id is kept.
    let res = http
        .get(format!("{}/login", app.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let res = http
        .post(format!("{}/v1/realtime/client_secrets", app.base))
        .header("x-request-id", "trace-me-43")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["x-request-id"], "trace-me-43");

    let text = metrics.render();
    for route in ["/login", "/v1/realtime/client_secrets", "/v1/realtime"] {
        let label = format!("route=\"{route}\"");
        assert!(
            text.lines().any(|l| {
                l.starts_with("avb_http_request_duration_seconds") && l.contains(&label)
            }),
            "{route} missing from the latency metric:\n{text}"
        );
    }
}

/// An unknown path: the portal's HTML page for browsers, problem+json under `/api`, the
/// OpenAI error envelope under `/v1` (what Realtime SDKs parse).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_answer_per_prefix() {
    let app = spawn_app(Db::Sqlite).await;
    let http = reqwest::Client::new();

    for path in ["/nothing-here", "/dashboard/nothing/here"] {
        let res = http
            .get(format!("{}{path}", app.base))
            .header("accept", "text/html")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let h = res.headers();
        assert!(h["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(
            h["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("frame-ancestors 'none'")
        );
        assert!(h.get("x-request-id").is_some());
        let html = res.text().await.unwrap();
        assert!(
            html.contains("Page not found") && html.contains("href=\"/\""),
            "{html}"
        );
    }

    for path in [
        "/api",
        "/api/nothing",
        "/api/v1/nothing-here",
        "/api/v1/projects/x/y",
    ] {
        let res = http
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["code"], "not_found", "{path}: {p}");
    }

    for path in ["/v1", "/v1/models", "/v1/realtime/nothing"] {
        let res = http
            .post(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(h_json(&res), "{path}");
        let e: Value = res.json().await.unwrap();
        assert_eq!(
            (e["error"]["type"].as_str(), e["error"]["code"].as_str()),
            (Some("invalid_request_error"), Some("not_found")),
            "{path}: {e}"
        );
    }
}

fn h_json(res: &reqwest::Response) -> bool {
    res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json")
}

/// The body limit holds on portal forms too, not only on `/api/v1` and the gateway.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_body_limit_holds_on_portal_forms() {
    let app = spawn_app(Db::Sqlite).await;
    let big = "x".repeat(app.ctx.config.server.body_limit_bytes + 1);
    let res = reqwest::Client::new()
        .post(format!("{}/login", app.base))
        .form(&[("email", big.as_str()), ("password", "p"), ("csrf", "c")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}
