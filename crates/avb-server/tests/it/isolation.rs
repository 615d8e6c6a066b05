//! Tenant isolation: tenant B's credentials with tenant A's ids get 404 (403 on admin routes)
//! and change nothing, on both backends. Also checks PostgreSQL row-level security directly.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, both_backends, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn cross_tenant(db: Db) {
    let app = spawn_app(db).await;
    let (tenant_a, a) = app.tenant_with_owner("Tenant A").await;
    let (_tenant_b, b) = app.tenant_with_owner("Tenant B").await;

    let (_, project) = app
        .post(
            "/api/v1/projects",
            &a,
            json!({"name": "A project", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap().to_string();
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &a,
            json!({"name": "A key", "project_id": pid}),
        )
        .await;
    let kid = key["id"].as_str().unwrap().to_string();
    let a_secret = key["secret"].as_str().unwrap().to_string();
    let (_, b_key) = app
        .post(
            "/api/v1/api-keys",
            &b,
            json!({"name": "B key", "scopes": ["sessions", "usage", "realtime"]}),
        )
        .await;
    let b_secret = b_key["secret"].as_str().unwrap().to_string();

    // Every route that takes an id answers 404 to tenant B, exactly like a missing id.
    let missing = uuid::Uuid::now_v7();
    let id_routes: Vec<(Method, String, Option<serde_json::Value>)> = vec![
        (Method::GET, format!("/api/v1/projects/{pid}"), None),
        (
            Method::PATCH,
            format!("/api/v1/projects/{pid}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/projects/{pid}?revoke_keys=true"),
            None,
        ),
        (Method::GET, format!("/api/v1/api-keys/{kid}"), None),
        (
            Method::PATCH,
            format!("/api/v1/api-keys/{kid}"),
            Some(json!({"name": "pwned"})),
        ),
        (
            Method::POST,
            format!("/api/v1/api-keys/{kid}/rotate"),
            Some(json!({})),
        ),
        (
            Method::POST,
            format!("/api/v1/api-keys/{kid}/revoke"),
            Some(json!({})),
        ),
    ];
    for (method, path, body) in &id_routes {
        let (s, problem) = app.call(method.clone(), path, Some(&b), body.clone()).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
        let missing_path = path
            .replace(&pid, &missing.to_string())
            .replace(&kid, &missing.to_string());
        let (s2, problem2) = app
            .call(method.clone(), &missing_path, Some(&b), body.clone())
            .await;
        assert_eq!(
            (s2, &problem2),
            (s, &problem),
            "another tenant's id must look exactly like a missing one"
        );
    }
    // Creating a key in B that points at A's project is refused without revealing it.
    let (s, p) = app
        .post(
            "/api/v1/api-keys",
            &b,
            json!({"name": "sneaky", "project_id": pid}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

    // Admin routes: 403 for tenant users, whoever owns the id.
    for (method, path) in [
        (Method::GET, "/api/v1/admin/tenants".to_string()),
        (Method::GET, format!("/api/v1/admin/tenants/{tenant_a}")),
        (
            Method::POST,
            format!("/api/v1/admin/tenants/{tenant_a}/suspend"),
        ),
        (
            Method::POST,
            format!("/api/v1/admin/tenants/{tenant_a}/reactivate"),
        ),
    ] {
        let (s, _) = app
            .call(method.clone(), &path, Some(&b), Some(json!({})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path}");
        let (s, _) = app
            .call(method.clone(), &path, Some(&b_secret), Some(json!({})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{method} {path} with an API key");
    }
    let (s, _) = app
        .post(
            "/api/v1/admin/tenants",
            &b,
            json!({"name": "x", "billing_email": "x@x.io"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Lists show only B's own rows.
    let (_, projects) = app.get("/api/v1/projects", &b).await;
    assert!(projects["data"].as_array().unwrap().is_empty());
    let (_, keys) = app.get("/api/v1/api-keys", &b).await;
    assert_eq!(keys["data"].as_array().unwrap().len(), 1);
    let (_, audit) = app.get("/api/v1/audit?limit=200", &b).await;
    assert!(
        audit["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resource_id"] != pid.as_str() && r["resource_id"] != kid.as_str())
    );
    let (_, members) = app.get("/api/v1/members", &b).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 1);

    // Nothing of A's changed.
    let (_, p) = app.get(&format!("/api/v1/projects/{pid}"), &a).await;
    assert_eq!(p["name"], "A project");
    let (_, k) = app.get(&format!("/api/v1/api-keys/{kid}"), &a).await;
    assert_eq!(
        (k["name"].as_str(), k["status"].as_str()),
        (Some("A key"), Some("active"))
    );
    assert_eq!(app.get("/api/v1/me", &a_secret).await.0, StatusCode::OK);
}

both_backends!(cross_tenant_ids_are_invisible, cross_tenant);

/// A webhook endpoint's delivery log is 404 to another tenant and for an id that does not
/// exist, like every other foreign resource (it was `200 []`).
async fn foreign_webhook_deliveries(db: Db) {
    let app = avb_testkit::spawn_app_with(db, |c| c.webhooks.allow_private_urls = true).await;
    let (_, a) = app.tenant_with_owner("Hooks A").await;
    let (_, b) = app.tenant_with_owner("Hooks B").await;
    let (s, hook) = app
        .post(
            "/api/v1/webhooks",
            &a,
            json!({"url": "http://127.0.0.1:9/in", "events": ["session.closed"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{hook}");
    let id = hook["id"].as_str().unwrap();
    let (s, own) = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &a)
        .await;
    assert_eq!(s, StatusCode::OK, "{own}");
    assert!(own["data"].as_array().unwrap().is_empty());
    for (who, path) in [
        (&b, format!("/api/v1/webhooks/{id}/deliveries")),
        (
            &a,
            format!("/api/v1/webhooks/{}/deliveries", uuid::Uuid::now_v7()),
        ),
        (&b, format!("/api/v1/webhooks/{id}/deliveries?limit=5")),
    ] {
        let (s, p) = app.get(&path, who).await;
        assert_eq!(
            (s, p["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}: {p}"
        );
    }
    let (s, p) = app.get("/api/v1/webhooks/not-a-uuid/deliveries", &a).await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("id")),
        "{p}"
    );
    let (_, listed) = app.get("/api/v1/webhooks", &b).await;
    assert!(listed["data"].as_array().unwrap().is_empty(), "{listed}");
}

both_backends!(
    foreign_webhook_deliveries_are_404,
    foreign_webhook_deliveries
);

/// With PostgreSQL, a tenant transaction sees only its tenant's rows even with no filter at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_row_level_security_hides_other_tenants_rows() {
    let app = spawn_app(Db::Postgres).await;
    let (a, a_token) = app.tenant_with_owner("RLS A").await;
    let (b, _) = app.tenant_with_owner("RLS B").await;
    app.post(
        "/api/v1/projects",
        &a_token,
        json!({"name": "only A", "environment": "staging"}),
    )
    .await;
    let visible_to_b = app
        .ctx
        .store
        .unfiltered_count_for_tests(b, "projects")
        .await
        .unwrap();
    let visible_to_a = app
        .ctx
        .store
        .unfiltered_count_for_tests(a, "projects")
        .await
        .unwrap();
    assert_eq!((visible_to_a, visible_to_b), (1, 0));
    let tenants_seen_by_b = app
        .ctx
        .store
        .unfiltered_count_for_tests(b, "tenants")
        .await
        .unwrap();
    assert_eq!(
        tenants_seen_by_b, 1,
        "a tenant sees only its own tenant row"
    );
}
