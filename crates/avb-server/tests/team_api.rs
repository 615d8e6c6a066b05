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
    assert!(list[0].get("secret").is_none() && list[0]["events"][0] == "session.closed");
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
