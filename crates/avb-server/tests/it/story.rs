//! The story: one scenario driven through the HTTP API on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, PASSWORD, TestApp, both_backends, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn setup_admin(app: &TestApp) -> String {
    let token = avb_core::identity::local::setup_token_if_needed(&app.ctx)
        .await
        .unwrap()
        .expect("setup token");
    // The setup form is served, then the first admin is created through it.
    let page = app
        .client
        .get(format!("{}/setup?token={token}", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("Create the first administrator")
    );
    let res = app
        .client
        .post(format!("{}/setup", app.base))
        .form(&[
            ("token", token.as_str()),
            ("email", "root@example.com"),
            ("name", "Root"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // The token works once; afterwards no new token is offered.
    let again = app
        .client
        .post(format!("{}/setup", app.base))
        .form(&[
            ("token", token.as_str()),
            ("email", "evil@example.com"),
            ("name", "Evil"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CONFLICT);
    assert!(
        avb_core::identity::local::setup_token_if_needed(&app.ctx)
            .await
            .unwrap()
            .is_none()
    );
    app.login("root@example.com").await
}

async fn story(db: Db) {
    let app = spawn_app(db).await;
    let admin = setup_admin(&app).await;

    // SaaS admin creates a tenant through the API, on a plan on offer.
    let (s, refused) = app
        .post(
            "/api/v1/admin/tenants",
            &admin,
            json!({"name": "Acme Voice", "billing_email": "Billing@Acme.io", "plan": "pro"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(
        refused
            .to_string()
            .contains("'pro' is not a plan on offer; choose one of: free"),
        "{refused}"
    );
    let (s, tenant) = app
        .post(
            "/api/v1/admin/tenants",
            &admin,
            json!({"name": "Acme Voice", "billing_email": "Billing@Acme.io", "plan": "free"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tenant}");
    assert_eq!(tenant["billing_email"], "billing@acme.io");
    let tenant_id: avb_domain::TenantId = tenant["id"].as_str().unwrap().parse().unwrap();
    let (s, list) = app.get("/api/v1/admin/tenants?q=acme", &admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);

    // An owner joins and signs in.
    app.create_user(Some(tenant_id), "tenant_owner", "owner@acme.io")
        .await;
    let tokens = app.login_full("owner@acme.io").await;
    assert_eq!(tokens["token_type"], "Bearer");
    let owner = tokens["access_token"].as_str().unwrap().to_string();
    let (s, me) = app.get("/api/v1/me", &owner).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me["role"], "tenant_owner");
    assert_eq!(me["tenant"]["name"], "Acme Voice");
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("api_keys:manage"))
    );

    // Projects.
    let (s, p) = app
        .post(
            "/api/v1/projects",
            &owner,
            json!({"name": "Support bot", "environment": "production"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let pid = p["id"].as_str().unwrap().to_string();
    let (s, p2) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/projects/{pid}"),
            Some(&owner),
            Some(json!({"environment": "staging"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p2["environment"], "staging");
    assert_eq!(p2["name"], "Support bot");

    // Keys: create (secret once), use it, list without secrets, rotate, revoke.
    let (s, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "prod", "project_id": pid, "scopes": ["realtime", "usage"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let secret = key["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with(&format!("avb_live_{}_", key["prefix"].as_str().unwrap())));
    let (s, me_key) = app.get("/api/v1/me", &secret).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(me_key["actor_type"], "api_key");
    // A key with realtime/usage scopes cannot manage projects.
    let (s, problem) = app
        .post(
            "/api/v1/projects",
            &secret,
            json!({"name": "x", "environment": "staging"}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("projects:manage")
    );
    let (_, keys) = app.get("/api/v1/api-keys", &owner).await;
    let listed = &keys["data"][0];
    assert!(listed.get("secret").is_none());
    assert!(!keys.to_string().contains(&secret));
    let kid = key["id"].as_str().unwrap().to_string();
    let (_, p3) = app.get(&format!("/api/v1/projects/{pid}"), &owner).await;
    assert_eq!(p3["key_count"], 1);

    let (s, rotated) = app
        .post(&format!("/api/v1/api-keys/{kid}/rotate"), &owner, json!({}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_string();
    let (_, old) = app.get(&format!("/api/v1/api-keys/{kid}"), &owner).await;
    assert_eq!(old["status"], "expiring");
    assert_eq!(
        app.get("/api/v1/me", &secret).await.0,
        StatusCode::OK,
        "old key works in its grace period"
    );
    assert_eq!(app.get("/api/v1/me", &new_secret).await.0, StatusCode::OK);
    let (s, _) = app
        .post(&format!("/api/v1/api-keys/{kid}/revoke"), &owner, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", &secret).await.0,
        StatusCode::UNAUTHORIZED,
        "revoked at once"
    );
    let (s, _) = app
        .post(&format!("/api/v1/api-keys/{kid}/revoke"), &owner, json!({}))
        .await;
    assert_eq!(s, StatusCode::CONFLICT);

    // Rename and re-scope the new key; detach it from the project.
    let new_id = rotated["id"].as_str().unwrap();
    let (s, patched) = app
        .call(
            Method::PATCH,
            &format!("/api/v1/api-keys/{new_id}"),
            Some(&owner),
            Some(json!({"name": "prod v2", "scopes": ["sessions"], "project_id": null})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{patched}");
    assert_eq!(patched["scopes"], json!(["sessions"]));
    assert!(patched["project_id"].is_null());

    // Team: invite, accept through the mailed token, list members.
    let (s, inv) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "dev@acme.io", "role": "developer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    let (s, _) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": "dev@acme.io", "role": "developer"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "no duplicate pending invitation");
    let outbox = avb_core::services::users::outbox(
        &app.ctx,
        &avb_core::Scope::local_operator(None),
        Some("dev@acme.io"),
        avb_core::PageRequest::default(),
    )
    .await
    .unwrap();
    let body = &outbox.items[0].body;
    let token = body
        .lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap()
        .to_string();
    let (s, accepted) = app
        .post_anon(
            "/api/v1/invitations/accept",
            json!({"token": token, "name": "Dev", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{accepted}");
    let dev = app.login("dev@acme.io").await;
    let (_, members) = app.get("/api/v1/members", &dev).await;
    assert_eq!(members["data"].as_array().unwrap().len(), 2);
    let (_, invs) = app.get("/api/v1/invitations?status=accepted", &owner).await;
    assert_eq!(invs["data"][0]["email"], "dev@acme.io");
    // Developers cannot read the audit log or invite.
    assert_eq!(
        app.get("/api/v1/audit", &dev).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(
            "/api/v1/invitations",
            &dev,
            json!({"email": "x@acme.io", "role": "viewer"})
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );

    // Audit: every mutation above is there, filterable and exportable.
    let (s, audit) = app.get("/api/v1/audit?limit=200", &owner).await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    for a in [
        "tenant.create",
        "user.create",
        "project.create",
        "project.update",
        "api_key.create",
        "api_key.rotate",
        "api_key.revoke",
        "api_key.update",
        "invitation.create",
        "invitation.accept",
    ] {
        assert!(actions.contains(&a), "missing {a} in {actions:?}");
    }
    let (_, only) = app.get("/api/v1/audit?action=api_key.revoke", &owner).await;
    assert_eq!(only["data"].as_array().unwrap().len(), 1);
    let (_, text) = app.get("/api/v1/audit?q=dev%40acme.io", &owner).await;
    let found: Vec<&str> = text["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert!(
        found.contains(&"invitation.create") && found.contains(&"invitation.accept"),
        "{found:?}"
    );
    assert!(!found.contains(&"project.create"), "{found:?}");
    let (_, prefix) = app.get("/api/v1/audit?q=PROD%20v2", &owner).await;
    let found: Vec<&str> = prefix["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        found,
        vec!["api_key.update"],
        "case-insensitive word search"
    );
    let (_, nothing) = app.get("/api/v1/audit?q=zzzznothing", &owner).await;
    assert!(nothing["data"].as_array().unwrap().is_empty());
    let (_, typed) = app
        .get(
            "/api/v1/audit?resource_type=project&from=2000-01-01T00:00:00Z",
            &owner,
        )
        .await;
    assert!(
        typed["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["resource_type"] == "project")
    );
    let (_, none) = app
        .get("/api/v1/audit?to=2000-01-01T00:00:00Z", &owner)
        .await;
    assert!(none["data"].as_array().unwrap().is_empty());
    let csv = app
        .client
        .get(format!("{}/api/v1/audit/export?format=csv", app.base))
        .bearer_auth(&owner)
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("id,created_at,seq,"));
    assert_eq!(csv.lines().count(), actions.len() + 1);
    let (s, json_export) = app
        .get(
            "/api/v1/audit/export?format=json&action=project.create",
            &owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(json_export.as_array().unwrap().len(), 1);

    // Pagination walks every row exactly once.
    let mut seen = 0;
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/audit?limit=3&cursor={c}"),
            None => "/api/v1/audit?limit=3".to_string(),
        };
        let (_, page) = app.get(&path, &owner).await;
        seen += page["data"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen, actions.len());

    // Suspension disables keys and logins; reactivation restores them.
    let (s, _) = app
        .post(
            &format!("/api/v1/admin/tenants/{tenant_id}/suspend"),
            &admin,
            json!({"reason": "unpaid"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = app.get("/api/v1/me", &new_secret).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
    assert_eq!(p["code"], "tenant_suspended");
    assert_eq!(
        app.get("/api/v1/projects", &owner).await.0,
        StatusCode::FORBIDDEN
    );
    let (_, k) = app
        .get(&format!("/api/v1/admin/tenants/{tenant_id}"), &admin)
        .await;
    assert_eq!(k["status"], "suspended");
    let (s, _) = app
        .post(
            &format!("/api/v1/admin/tenants/{tenant_id}/reactivate"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(app.get("/api/v1/me", &new_secret).await.0, StatusCode::OK);
    assert_eq!(app.get("/api/v1/projects", &owner).await.0, StatusCode::OK);
    let (_, seen) = app
        .get("/api/v1/audit?action=admin.tenant.view", &owner)
        .await;
    assert_eq!(
        seen["data"][0]["actor_label"], "root@example.com",
        "platform reads show in the tenant's log"
    );

    // Deleting the project can revoke its keys.
    let (_, k2) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "p-key", "project_id": pid}),
        )
        .await;
    let k2_secret = k2["secret"].as_str().unwrap().to_string();
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/projects/{pid}?revoke_keys=true"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert_eq!(
        app.get(&format!("/api/v1/projects/{pid}"), &owner).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.get("/api/v1/me", &k2_secret).await.0,
        StatusCode::UNAUTHORIZED
    );

    // The chain verifies, and tampering is detected.
    let scope = avb_core::Scope::local_operator(None);
    let (rows, breaks) = avb_core::services::audit::verify(&app.ctx, &scope, None)
        .await
        .unwrap();
    assert!(rows > 10);
    assert!(breaks.is_empty(), "{breaks:?}");
    let changed = app
        .raw_sql(
            "UPDATE audit_events SET actor_label = 'someone else' WHERE action = 'api_key.revoke'",
        )
        .await
        .unwrap();
    assert_eq!(changed, 1);
    let (_, breaks) = avb_core::services::audit::verify(&app.ctx, &scope, None)
        .await
        .unwrap();
    assert_eq!(breaks.len(), 1, "{breaks:?}");

    // Logout ends the session.
    let (s, _) = app.post("/api/v1/auth/logout", &owner, json!({})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = app.get("/api/v1/me", &owner).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
    let _: Value = p;
}

both_backends!(full_story, story);
