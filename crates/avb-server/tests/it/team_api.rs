//! `/api/v1` for team changes and webhooks: role change, removal, invitation revoke, endpoints
//! with a secret shown once, test sends against a real local receiver, the delivery log.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, both_backends, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::json;

async fn team_and_webhooks(db: Db) {
    let app = spawn_app_with(db, |c| c.webhooks.allow_private_urls = true).await;
    let (tenant, owner) = app.tenant_with_owner("Api Team").await;
    app.create_user(Some(tenant), "developer", "dev@api-team.test")
        .await;
    let dev = app.login("dev@api-team.test").await;
    let (_, members) = app.get("/api/v1/members", &owner).await;
    let dev_id = members["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["email"] == "dev@api-team.test")
        .unwrap()["user_id"]
        .as_str()
        .unwrap()
        .to_string();

    // Role change: validated, forbidden to the developer, audited.
    let path = format!("/api/v1/members/{dev_id}");
    let (s, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"role": "emperor"})),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, _) = app
        .call(
            Method::PATCH,
            &path,
            Some(&dev),
            Some(json!({"role": "tenant_admin"})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = app
        .call(
            Method::PATCH,
            &path,
            Some(&owner),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!((s, body["role"].as_str()), (StatusCode::OK, Some("viewer")));

    // Invitation revoke: once.
    let (_, inv) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "x@api-team.test", "role": "viewer"}),
        )
        .await;
    let revoke = format!("/api/v1/invitations/{}/revoke", inv["id"].as_str().unwrap());
    let (s, body) = app.post(&revoke, &owner, json!({})).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (StatusCode::OK, Some("revoked")),
        "{body}"
    );
    let (s, _) = app.post(&revoke, &owner, json!({})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Removal ends the member's access.
    let (s, _) = app.call(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get("/api/v1/me", &dev).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (s, _) = app.call(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Webhooks: a receiver that answers 204.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/in", listener.local_addr().unwrap());
    let receiver = axum::Router::new().route(
        "/in",
        axum::routing::post(|| async { StatusCode::NO_CONTENT }),
    );
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });
    let (s, body) = app
        .post(
            "/api/v1/webhooks",
            &owner,
            json!({"url": url, "events": []}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, created) = app
        .post(
            "/api/v1/webhooks",
            &owner,
            json!({"url": url, "events": ["session.closed"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = created["id"].as_str().unwrap();
    let (_, list) = app.get("/api/v1/webhooks", &owner).await;
    let first = &list["data"][0];
    assert!(first.get("secret").is_none() && first["events"][0] == "session.closed");
    assert_eq!(
        (list["has_more"].as_bool(), &list["next_cursor"]),
        (Some(false), &serde_json::Value::Null),
        "{list}"
    );
    // The endpoint list pages like every other list.
    let (s, second) = app
        .post(
            "/api/v1/webhooks",
            &owner,
            json!({"url": url, "events": ["api_key.revoked"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    let (s, page1) = app.get("/api/v1/webhooks?limit=1", &owner).await;
    assert_eq!(s, StatusCode::OK, "{page1}");
    assert_eq!(page1["data"].as_array().unwrap().len(), 1);
    assert_eq!(page1["data"][0]["id"], second["id"], "newest first");
    assert_eq!(page1["has_more"], true);
    let cursor = page1["next_cursor"].as_str().unwrap();
    let (_, page2) = app
        .get(&format!("/api/v1/webhooks?limit=1&cursor={cursor}"), &owner)
        .await;
    assert_eq!(page2["data"][0]["id"], id, "{page2}");
    assert_eq!(page2["has_more"], false);
    let (s, bad) = app.get("/api/v1/webhooks?limit=0", &owner).await;
    assert_eq!(
        (s, bad["errors"][0]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("limit"))
    );
    let second_id = second["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{second_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, sent) = app
        .post(&format!("/api/v1/webhooks/{id}/test"), &owner, json!({}))
        .await;
    assert_eq!(
        (s, sent["status_code"].as_u64()),
        (StatusCode::OK, Some(204)),
        "{sent}"
    );
    let (_, log) = app
        .get(&format!("/api/v1/webhooks/{id}/deliveries"), &owner)
        .await;
    assert_eq!(log["data"][0]["status"], "delivered");
    assert_eq!(log["data"][0]["event_type"], "webhook.test");
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/webhooks/{id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // The OpenAPI document lists the new operations.
    let (_, doc) = app.get("/api/v1/openapi.json", &owner).await;
    for p in [
        "/api/v1/members/{user_id}",
        "/api/v1/invitations/{id}/revoke",
        "/api/v1/webhooks/{id}/deliveries",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p}");
    }
}

both_backends!(team_and_webhook_api, team_and_webhooks);

/// Webhook targets are resolved, then checked: a name resolving to loopback is refused when the
/// endpoint is added, and when an accepted name points at loopback by the time of sending (a
/// DNS rebind, here a row changed underneath) nothing connects and the answer is the same as
/// for a name that does not resolve at all (no oracle for probing internal services).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_targets_are_resolved_then_checked() {
    let app = spawn_app_with(Db::Sqlite, |c| c.webhooks.allow_private_urls = false).await;
    let (_, owner) = app.tenant_with_owner("Rebind Co").await;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    for url in [
        format!("https://{host}/in"),
        "https://[::127.0.0.1]/in".to_string(),
        "https://[64:ff9b::a9fe:a9fe]/latest/meta-data".to_string(),
        "https://0.1.2.3/in".to_string(),
        "https://239.1.1.1/in".to_string(),
    ] {
        let (s, body) = app
            .post(
                "/api/v1/webhooks",
                &owner,
                json!({"url": url, "events": ["session.closed"]}),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
    }

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let mut results = Vec::new();
    for (name, later) in [
        ("rebind", format!("http://localhost:{port}/in")),
        ("nowhere", "https://nowhere.invalid/in".to_string()),
    ] {
        let (s, created) = app
            .post(
                "/api/v1/webhooks",
                &owner,
                json!({"url": format!("https://{name}.example.test/in"), "events": ["session.closed"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().unwrap();
        let changed = app
            .raw_sql(&format!(
                "UPDATE webhook_endpoints SET url = '{later}' WHERE url = 'https://{name}.example.test/in'"
            ))
            .await
            .unwrap();
        assert_eq!(changed, 1);
        let (s, sent) = app
            .post(&format!("/api/v1/webhooks/{id}/test"), &owner, json!({}))
            .await;
        assert_eq!(s, StatusCode::OK, "{sent}");
        assert!(sent["status_code"].is_null(), "{sent}");
        results.push(sent["error"].clone());
    }
    assert_eq!(
        results[0], results[1],
        "the same answer for both: {results:?}"
    );
    assert_eq!(
        connections.load(std::sync::atomic::Ordering::SeqCst),
        0,
        "nothing may connect to loopback"
    );
}

/// Finding 13: invitation addresses are checked against a real address grammar: markup, quotes
/// and angle brackets are refused with a field error, nothing is stored or mailed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_refuse_addresses_outside_the_grammar() {
    let app = avb_testkit::spawn_app(Db::Sqlite).await;
    let (_, owner) = app.tenant_with_owner("Grammar").await;
    for bad in [
        "\"><script>alert(1)</script>@example.test",
        "<img src=x>@example.test",
        "a\"b@example.test",
        "a@exa mple.test",
        "a@[127.0.0.1]",
    ] {
        let (s, p) = app
            .post(
                "/api/v1/invitations",
                &owner,
                json!({"email": bad, "role": "viewer"}),
            )
            .await;
        assert_eq!(
            (s, p["errors"][0]["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("email")),
            "{bad}: {p}"
        );
    }
    let (_, list) = app.get("/api/v1/invitations", &owner).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0, "{list}");
    let (s, _) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "o'brien+ops@mail.example.test", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
}
