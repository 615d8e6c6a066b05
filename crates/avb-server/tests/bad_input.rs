//! Bad input gets a 4xx problem+json naming the field; nothing half-written stays.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn raw(
    app: &avb_testkit::TestApp,
    method: reqwest::Method,
    path: &str,
    token: &str,
    body: &str,
    ctype: &str,
) -> (StatusCode, String, Value) {
    let res = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(token)
        .header("content-type", ctype)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ct = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (
        status,
        ct,
        serde_json::from_str(&res.text().await.unwrap()).unwrap_or(Value::Null),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_name_the_problem() {
    let app = spawn_app_with(Db::Sqlite, |c| c.server.body_limit_bytes = 4096).await;
    let (_, owner) = app.tenant_with_owner("Bad Input").await;
    let post = reqwest::Method::POST;

    let cases: Vec<(&str, &str, &str, StatusCode, &str)> = vec![
        (
            "/api/v1/projects",
            "{\"name\": \"x\"",
            "application/json",
            StatusCode::BAD_REQUEST,
            "body",
        ),
        (
            "/api/v1/projects",
            "{\"name\": \"x\", \"environment\": \"staging\", \"colour\": 1}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "colour",
        ),
        (
            "/api/v1/projects",
            "{\"name\": 5, \"environment\": \"staging\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "/api/v1/projects",
            "{\"environment\": \"staging\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "/api/v1/projects",
            "{\"name\": \"x\", \"environment\": \"prod\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "environment",
        ),
        (
            "/api/v1/projects",
            "{\"name\": \"   \", \"environment\": \"staging\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "name",
        ),
        (
            "/api/v1/api-keys",
            "{\"name\": \"k\", \"scopes\": [\"admin\"]}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "scopes",
        ),
        (
            "/api/v1/api-keys",
            "{\"name\": \"k\", \"scopes\": []}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "scopes",
        ),
        (
            "/api/v1/api-keys",
            "{\"name\": \"k\", \"environment\": \"prod\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "environment",
        ),
        (
            "/api/v1/api-keys",
            "{\"name\": \"k\", \"project_id\": \"nope\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "project_id",
        ),
        (
            "/api/v1/invitations",
            "{\"email\": \"not-an-email\", \"role\": \"viewer\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "email",
        ),
        (
            "/api/v1/invitations",
            "{\"email\": \"a@b.io\", \"role\": \"saas_admin\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "role",
        ),
        (
            "/api/v1/invitations",
            "{\"email\": \"a@b.io\", \"role\": \"god\"}",
            "application/json",
            StatusCode::UNPROCESSABLE_ENTITY,
            "role",
        ),
    ];
    for (path, body, ctype, status, field) in cases {
        let (s, ct, problem) = raw(&app, post.clone(), path, &owner, body, ctype).await;
        assert_eq!(s, status, "{path} {body}: {problem}");
        assert_eq!(ct, "application/problem+json", "{path} {body}");
        assert_eq!(problem["status"], status.as_u16());
        assert_eq!(
            problem["errors"][0]["field"], field,
            "{path} {body}: {problem}"
        );
    }

    // Wrong content type, oversized body.
    let (s, _, p) = raw(
        &app,
        post.clone(),
        "/api/v1/projects",
        &owner,
        "name=x",
        "text/plain",
    )
    .await;
    assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{p}");
    let huge = json!({"name": "x".repeat(10_000), "environment": "staging"}).to_string();
    let (s, _, p) = raw(
        &app,
        post.clone(),
        "/api/v1/projects",
        &owner,
        &huge,
        "application/json",
    )
    .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{p}");

    // Invalid ids, cursors, limits and dates in the URL.
    for (path, field) in [
        ("/api/v1/projects/not-a-uuid", "id"),
        ("/api/v1/api-keys/123", "id"),
        ("/api/v1/projects?limit=0", "limit"),
        ("/api/v1/projects?limit=500", "limit"),
        ("/api/v1/projects?limit=abc", "limit"),
        ("/api/v1/projects?cursor=%%%", "cursor"),
        ("/api/v1/projects?environment=moon", "environment"),
        ("/api/v1/projects?unknown=1", "unknown"),
        ("/api/v1/audit?from=yesterday", "from"),
        ("/api/v1/audit/export?format=xml", "format"),
        ("/api/v1/api-keys?status=weird", "status"),
    ] {
        let (s, p) = app.get(path, &owner).await;
        assert!(
            s == StatusCode::BAD_REQUEST || s == StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {s} {p}"
        );
        assert_eq!(p["errors"][0]["field"], field, "{path}: {p}");
    }

    // Unknown routes and methods are problems too.
    let (s, p) = app.get("/api/v1/nothing-here", &owner).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, p) = app
        .call(reqwest::Method::PUT, "/api/v1/projects", Some(&owner), None)
        .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );

    // Nothing was written by any of the failed requests.
    let (_, projects) = app.get("/api/v1/projects", &owner).await;
    assert!(projects["data"].as_array().unwrap().is_empty());
    let (_, keys) = app.get("/api/v1/api-keys", &owner).await;
    assert!(keys["data"].as_array().unwrap().is_empty());
    let (_, invs) = app.get("/api/v1/invitations", &owner).await;
    assert!(invs["data"].as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked() {
    let app = spawn_app(Db::Sqlite).await;
    let (s, p) = app
        .call(reqwest::Method::GET, "/api/v1/me", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
    for token in [
        "garbage",
        "avb_live_abcdEFGH_notarealkeyatallbutlongenough",
        "avb_live_short",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig",
    ] {
        let (s, p) = app.get("/api/v1/me", token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{token}: {p}");
        assert_eq!(p["code"], "unauthorized");
    }
    let res = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header("authorization", "Basic Zm9vOmJhcg==")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_lists_every_route() {
    let app = spawn_app(Db::Sqlite).await;
    let (s, doc) = app
        .call(reqwest::Method::GET, "/api/v1/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/me",
        "/api/v1/projects",
        "/api/v1/projects/{id}",
        "/api/v1/api-keys/{id}/rotate",
        "/api/v1/api-keys/{id}/revoke",
        "/api/v1/members",
        "/api/v1/invitations",
        "/api/v1/audit",
        "/api/v1/audit/export",
        "/api/v1/admin/tenants/{id}/suspend",
        "/api/v1/auth/token",
    ] {
        assert!(paths.contains_key(p), "{p} missing from OpenAPI");
    }
    let (s, jwks) = app
        .call(reqwest::Method::GET, "/.well-known/jwks.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    let (s, ready) = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (s, ready["status"].as_str()),
        (StatusCode::OK, Some("ready"))
    );
}
