//! The portal's playground (`/voice/playground`): the page renders for those who may talk, its
//! secret endpoint is CSRF-checked and mints a single-use `ek_` for the signed-in user (and the
//! chosen project) that opens a recorded Realtime session; viewers get an explanation; the
//! page's script and audio worklet are served as JavaScript.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field};
use avb_testkit::{Db, both_backends, spawn_app};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `src` of the asset whose name starts with `prefix` (e.g. `/assets/playground-`).
fn asset(html: &str, prefix: &str) -> String {
    let start = html
        .find(prefix)
        .unwrap_or_else(|| panic!("no {prefix} in the page"));
    let rest = &html[start..];
    rest[..rest.find('"').unwrap()].to_string()
}

both_backends!(
    playground_mints_a_user_secret_that_opens_a_recorded_session,
    scenario
);
async fn scenario(db: Db) {
    let app = spawn_app(db).await;
    let tenant = app.create_tenant("Playground Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@playground.test")
        .await;
    let viewer = app
        .create_user(Some(tenant), "viewer", "viewer@playground.test")
        .await;
    let token = app.login(&owner).await;
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "Front desk", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap().to_string();

    // A published persona is offered with its published version; a draft is not.
    let (_, ava) = app
        .post(
            "/api/v1/personas",
            &token,
            json!({"name": "Ava", "instructions": "You are Ava.", "voice": "af_heart", "speed": 1.2}),
        )
        .await;
    let ava_id = ava["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .post(
            &format!("/api/v1/personas/{ava_id}/publish"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    app.post(
        "/api/v1/personas",
        &token,
        json!({"name": "Draft Dan", "voice": "am_onyx"}),
    )
    .await;

    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let html = browser.page("/voice/playground", &cookie).await;
    assert!(
        html.contains(&format!(
            "<option value=\"{ava_id}\" data-instructions=\"You are Ava.\" data-voice=\"af_heart\" data-speed=\"1.2\">Ava · version 1</option>"
        )),
        "{html}"
    );
    assert!(!html.contains("Draft Dan"));
    for needle in [
        "Start talking",
        "id=\"transcript\"",
        "aria-live=\"polite\"",
        "role=\"alert\"",
        "Front desk",
        "href=\"/voice/playground\"",
        "Latency per turn",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    assert!(!html.contains("<script>"), "no inline script");
    let csrf = field(&html, "csrf");

    // The page's script and the worklet it loads are same-origin JavaScript.
    let script = asset(&html, "/assets/playground-");
    assert!(!script.contains("worklet"));
    let worklet = asset(&html, "/assets/playground-worklet-");
    for (path, needle) in [
        (&script, "openai-insecure-api-key."),
        (&worklet, "registerProcessor"),
    ] {
        let res = browser.get(path, &cookie).await;
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        assert_eq!(
            res.headers()["content-type"],
            "text/javascript; charset=utf-8",
            "{path}"
        );
        assert!(res.text().await.unwrap().contains(needle), "{path}");
    }
    // Other pages do not load the playground's script.
    let other = browser.page("/voice", &cookie).await;
    assert!(!other.contains("/assets/playground-"));

    // The secret endpoint needs the session's CSRF token.
    let res = browser
        .post("/voice/playground/secret", &cookie, &[("project", "")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = browser
        .post(
            "/voice/playground/secret",
            &cookie,
            &[("project", ""), ("csrf", "forged")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Another tenant's (or no) project is refused.
    let res = browser
        .post(
            "/voice/playground/secret",
            &cookie,
            &[
                ("project", &uuid::Uuid::now_v7().to_string()),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // With it: an ek_ secret for this user and project.
    let res = browser
        .post(
            "/voice/playground/secret",
            &cookie,
            &[("project", &pid), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: Value = res.json().await.unwrap();
    let ek = body["value"].as_str().unwrap().to_string();
    assert!(ek.starts_with("ek_"), "{body}");
    assert!(body["expires_at"].as_i64().unwrap() > chrono::Utc::now().timestamp());

    // It opens a GA session as the browser does (subprotocols), once.
    let protocols = format!("realtime, openai-insecure-api-key.{ek}");
    let (mut ws, chosen) =
        avb_testkit::ws::connect(&app, &[("sec-websocket-protocol", &protocols)])
            .await
            .unwrap();
    assert_eq!(chosen.as_deref(), Some("realtime"));
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(created["type"], "session.created", "{created}");
    assert_eq!(
        created["session"]["type"], "realtime",
        "GA dialect: {created}"
    );
    let realtime_id = created["session"]["id"].as_str().unwrap().to_string();
    assert!(
        avb_testkit::ws::connect(&app, &[("sec-websocket-protocol", &protocols)])
            .await
            .is_err(),
        "a secret opens one session"
    );

    // The session is recorded in the tenant, under the chosen project.
    let (_, listed) = app.get("/api/v1/sessions", &token).await;
    let record = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["realtime_id"] == realtime_id.as_str())
        .unwrap_or_else(|| panic!("no record of {realtime_id}: {listed}"))
        .clone();
    assert_eq!(record["project_id"], pid.as_str(), "{record}");
    let id = record["id"].as_str().unwrap();
    // The playground's link leads to it.
    let res = browser
        .get(
            &format!("/voice/playground/sessions/{realtime_id}"),
            &cookie,
        )
        .await;
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(res.headers()["location"], format!("/sessions/{id}"));
    // The minting is audited as the user's, naming the project.
    let (_, audit) = app
        .get("/api/v1/audit?action=realtime.client_secret.create", &token)
        .await;
    let rows = audit["data"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{audit}");
    let row = rows[0].to_string();
    assert!(
        row.contains("owner@playground.test") && row.contains(&pid),
        "{row}"
    );
    drop(ws);

    // Without a project: the session is the tenant's.
    let res = browser
        .post(
            "/voice/playground/secret",
            &cookie,
            &[("project", ""), ("csrf", &csrf)],
        )
        .await;
    let body: Value = res.json().await.unwrap();
    let ek = body["value"].as_str().unwrap();
    let (mut ws, _) = avb_testkit::ws::connect(&app, &[("authorization", &format!("Bearer {ek}"))])
        .await
        .unwrap();
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(created["type"], "session.created", "{created}");

    // A viewer lacks realtime:connect: the page explains, the endpoint refuses.
    let viewer_cookie = browser.session(&viewer).await;
    let res = browser.get("/voice/playground", &viewer_cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("realtime:connect"), "no explanation");
    assert!(!html.contains("Start talking"));
    assert!(!html.contains("/assets/playground-"));
    let viewer_csrf = field(&browser.page("/voice", &viewer_cookie).await, "csrf");
    let res = browser
        .post(
            "/voice/playground/secret",
            &viewer_cookie,
            &[("project", ""), ("csrf", &viewer_csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    // Its navigation shows the entry disabled, naming the permission.
    assert!(html.contains("title=\"Needs the realtime:connect permission\""));
}
