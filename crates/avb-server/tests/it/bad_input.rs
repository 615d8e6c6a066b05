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

/// Oversized bodies answer in the route's own error format: problem+json on `/api/v1` (also
/// on the suspend route, which reads its optional body raw) and the OpenAI error envelope on
/// the gateway's REST routes, never axum's plain text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_answer_problem_json_and_the_openai_envelope() {
    let app = spawn_app_with(Db::Sqlite, |c| c.server.body_limit_bytes = 4096).await;
    let (tenant, _) = app.tenant_with_owner("Too Big").await;
    let admin = app.create_user(None, "", "root@too-big.test").await;
    let admin = app.login(&admin).await;
    let big = format!("{{\"reason\": \"{}\"}}", "x".repeat(8192));
    for path in [
        format!("/api/v1/admin/tenants/{tenant}/suspend"),
        "/api/v1/projects".to_string(),
    ] {
        let (s, ct, p) = raw(
            &app,
            reqwest::Method::POST,
            &path,
            &admin,
            &big,
            "application/json",
        )
        .await;
        assert_eq!(
            (s, ct.as_str(), p["code"].as_str()),
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                "application/problem+json",
                Some("payload_too_large")
            ),
            "{path}: {p}"
        );
    }
    // The tenant was not suspended by the refused request.
    let (_, t) = app
        .get(&format!("/api/v1/admin/tenants/{tenant}"), &admin)
        .await;
    assert_eq!(t["status"], "active", "{t}");

    // The gateway's REST routes, under the same `server.body_limit_bytes`.
    let key = app.realtime_key(&["realtime"]).await;
    let huge = format!("{{\"instructions\": \"{}\"}}", "x".repeat(8192));
    for path in ["/v1/realtime/client_secrets", "/v1/realtime/sessions"] {
        let (s, ct, e) = raw(
            &app,
            reqwest::Method::POST,
            path,
            &key,
            &huge,
            "application/json",
        )
        .await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {e}");
        assert!(ct.starts_with("application/json"), "{path}: {ct}");
        assert_eq!(
            (
                e["error"]["type"].as_str(),
                e["error"]["code"].as_str(),
                e["error"]["message"].is_string()
            ),
            (
                Some("invalid_request_error"),
                Some("request_too_large"),
                true
            ),
            "{path}: {e}"
        );
    }
}

/// Runs SQL on a test app's database, outside the app.
async fn sql(url: &str, statement: &str) {
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(url).await.unwrap();
    db.execute_unprepared(statement).await.unwrap();
    db.close().await.unwrap();
}

/// `/readyz` is not ready against a database that lacks this binary's migrations (tables
/// missing, or an older schema), on both backends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_checks_the_schema_version() {
    for db in [Db::Sqlite, Db::Postgres] {
        let app = spawn_app(db).await;
        let (s, ready) = app.call(reqwest::Method::GET, "/readyz", None, None).await;
        assert_eq!(s, StatusCode::OK, "{db:?}: {ready}");
        assert_eq!(ready["checks"]["schema"]["status"], "current", "{ready}");
        let expected = ready["checks"]["schema"]["expected"].as_u64().unwrap();
        assert!(expected >= 13, "{ready}");

        // The newest migration is not applied: the schema is behind this binary.
        sql(
            &app.database_url,
            "DELETE FROM seaql_migrations WHERE version = (SELECT MAX(version) FROM seaql_migrations)",
        )
        .await;
        let (s, ready) = app.call(reqwest::Method::GET, "/readyz", None, None).await;
        assert_eq!(
            (s, ready["status"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("not_ready")),
            "{db:?}: {ready}"
        );
        assert_eq!(ready["checks"]["schema"]["status"], "behind", "{ready}");
        assert_eq!(ready["checks"]["database"]["status"], "up", "{ready}");

        // An empty database (no migration table at all) answers pings but is not ready.
        sql(&app.database_url, "DROP TABLE seaql_migrations").await;
        let (s, ready) = app.call(reqwest::Method::GET, "/readyz", None, None).await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{db:?}: {ready}");
        assert_eq!(ready["checks"]["schema"]["status"], "missing", "{ready}");
        assert_eq!(ready["checks"]["schema"]["applied"], 0, "{ready}");
    }
}

/// While PostgreSQL refuses connections the API answers 503 problem+json with `Retry-After`
/// (not 500), `/readyz` says not ready, and everything works again once it is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_answers_503_with_retry_after() {
    let app = spawn_app(Db::Postgres).await;
    let (_, owner) = app.tenant_with_owner("Outage").await;
    let (s, _) = app.get("/api/v1/projects", &owner).await;
    assert_eq!(s, StatusCode::OK);
    // A key not used yet, so not cached: the realtime handshake must reach the database.
    let key = app.realtime_key(&["realtime"]).await;
    let name = app.database_url.rsplit('/').next().unwrap().to_string();
    let admin = format!("{}/postgres", avb_testkit::postgres_server_url());
    sql(
        &admin,
        &format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ),
    )
    .await;

    for (method, path) in [
        (reqwest::Method::GET, "/api/v1/projects"),
        (reqwest::Method::GET, "/api/v1/me"),
        (reqwest::Method::POST, "/api/v1/projects"),
    ] {
        let mut req = app
            .client
            .request(method.clone(), format!("{}{path}", app.base))
            .bearer_auth(&owner);
        if method == reqwest::Method::POST {
            req = req.json(&json!({"name": "Down", "environment": "production"}));
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let retry = res
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        let p: Value = res.json().await.unwrap();
        assert_eq!(
            (status, ct.as_str(), p["code"].as_str()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "application/problem+json",
                Some("unavailable")
            ),
            "{method} {path}: {p}"
        );
        let secs: u64 = retry.expect("Retry-After").parse().unwrap();
        assert!(secs > 0);
    }
    let refused = avb_testkit::ws::connect(&app, &[("authorization", &format!("Bearer {key}"))])
        .await
        .err();
    assert_eq!(
        refused,
        Some(503),
        "the realtime handshake during the outage"
    );
    let (s, ready) = app.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{ready}");
    assert_eq!(ready["checks"]["database"]["status"], "down", "{ready}");

    sql(
        &admin,
        &format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"),
    )
    .await;
    let (s, body) = app.get("/api/v1/projects", &owner).await;
    assert_eq!(s, StatusCode::OK, "back after the outage: {body}");
}

/// A path id that is not a UUID is a 400 problem naming it on every route, as the OpenAPI
/// document says (team routes answered axum's plain text).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn path_ids_that_do_not_parse_are_problems() {
    let app = spawn_app(Db::Sqlite).await;
    let (_, owner) = app.tenant_with_owner("Path Ids").await;
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/v1/members/null,null"),
        (reqwest::Method::PATCH, "/api/v1/members/null,null"),
        (
            reqwest::Method::POST,
            "/api/v1/invitations/null,null/revoke",
        ),
        (reqwest::Method::GET, "/api/v1/webhooks/x/deliveries"),
        (reqwest::Method::DELETE, "/api/v1/webhooks/x"),
    ] {
        let (s, ct, p) = raw(
            &app,
            method.clone(),
            path,
            &owner,
            "{\"role\": \"viewer\"}",
            "application/json",
        )
        .await;
        assert_eq!(
            (s, ct.as_str(), p["code"].as_str()),
            (
                StatusCode::BAD_REQUEST,
                "application/problem+json",
                Some("invalid_request")
            ),
            "{method} {path}: {p}"
        );
    }
}
