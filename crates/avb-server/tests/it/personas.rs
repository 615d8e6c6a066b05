//! Personas: the API (validation as problem+json, duplicate names, publish/versions/rollback,
//! defaults, isolation, permissions, delete falling back to the tenant default), Realtime
//! sessions that start from the default persona's published version and record it, and the
//! portal pages and forms.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field};
use avb_testkit::ws::send;
use avb_testkit::{Db, TestApp, both_backends, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn patch(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PATCH, path, Some(token), Some(body)).await
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn create(app: &TestApp, token: &str, body: Value) -> Value {
    let (s, p) = app.post("/api/v1/personas", token, body).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p
}

async fn api_rules(db: Db) {
    let app = spawn_app(db).await;
    let (tenant, owner) = app.tenant_with_owner("Persona Co").await;

    // Bad input: problem+json naming the field, nothing saved.
    for (body, field) in [
        (
            json!({"name": "A", "voice": "af_heart", "speed": 2.5}),
            "speed",
        ),
        (
            json!({"name": "A", "voice": "af_heart", "speed": 0.1}),
            "speed",
        ),
        (
            json!({"name": "A", "voice": "af_heart", "solvers": ["google"]}),
            "solvers",
        ),
        (
            json!({"name": "A", "voice": "af_heart", "solvers": ["wordnet", "wordnet"]}),
            "solvers",
        ),
        (
            json!({"name": "A", "voice": "af_heart", "language": "English!"}),
            "language",
        ),
        (json!({"name": "", "voice": "af_heart"}), "name"),
        (json!({"name": "A"}), "voice"),
        (json!({"name": "A", "voice": "af heart"}), "voice"),
        (json!({"name": "x".repeat(81), "voice": "v"}), "name"),
        (
            json!({"name": "A", "voice": "v", "description": "d".repeat(501)}),
            "description",
        ),
    ] {
        let res = app
            .client
            .post(format!("{}/api/v1/personas", app.base))
            .bearer_auth(&owner)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("application/problem+json"),
            "{body}"
        );
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["errors"][0]["field"], field, "{body} -> {p}");
    }
    let (s, p) = app
        .post(
            "/api/v1/personas",
            &owner,
            json!({"name": "A", "voice": "v", "colour": "red"}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields: {p}");
    let (_, list) = app.get("/api/v1/personas", &owner).await;
    assert_eq!(list["data"], json!([]), "nothing half-saved");

    // Create: a draft with defaults; solvers keep their order.
    let ava = create(
        &app,
        &owner,
        json!({"name": "Ava", "description": "Front desk", "instructions": "You are Ava.",
               "voice": "af_heart", "speed": 1.2, "language": "en-US",
               "solvers": ["wordnet", "wikipedia"]}),
    )
    .await;
    assert_eq!(ava["status"], "draft");
    assert_eq!(ava["solvers"], json!(["wordnet", "wikipedia"]));
    assert!(ava["published_version"].is_null());
    let id = ava["id"].as_str().unwrap().to_string();
    let (s, p) = app
        .post(
            "/api/v1/personas",
            &owner,
            json!({"name": "Ava", "voice": "v"}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "duplicate name: {p}");

    // Publish: version 1, then a draft change and version 2.
    let (s, p) = app
        .post(&format!("/api/v1/personas/{id}/publish"), &owner, json!({}))
        .await;
    assert_eq!(
        (s, p["published_version"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{p}"
    );
    assert_eq!(p["status"], "published");
    let (s, p) = patch(
        &app,
        &format!("/api/v1/personas/{id}"),
        &owner,
        json!({"instructions": "You are Ava, version two."}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["published_version"], 1, "a draft edit does not publish");
    assert_eq!(p["voice"], "af_heart", "absent fields keep their value");
    let (s, p) = patch(
        &app,
        &format!("/api/v1/personas/{id}"),
        &owner,
        json!({"speed": 3}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (_, p) = app
        .post(&format!("/api/v1/personas/{id}/publish"), &owner, json!({}))
        .await;
    assert_eq!(p["published_version"], 2);
    let (_, versions) = app
        .get(&format!("/api/v1/personas/{id}/versions"), &owner)
        .await;
    assert_eq!(versions[0]["version"], 2);
    assert_eq!(versions[0]["current"], true);
    assert_eq!(
        versions[1]["instructions"], "You are Ava.",
        "versions are snapshots"
    );

    // Roll back in one action; an unknown version is refused.
    let path = format!("/api/v1/personas/{id}/rollback");
    let (s, p) = app.post(&path, &owner, json!({"version": 9})).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let (s, p) = app.post(&path, &owner, json!({"version": 1})).await;
    assert_eq!(
        (s, p["published_version"].as_i64()),
        (StatusCode::OK, Some(1))
    );
    let (_, audit) = app
        .get("/api/v1/audit?action=persona.rollback", &owner)
        .await;
    assert_eq!(audit["data"][0]["summary"]["to_version"], 1, "{audit}");

    // Defaults: tenant, then a project; the list shows the badge.
    let (s, d) = put(
        &app,
        "/api/v1/persona-default",
        &owner,
        json!({"persona_id": id}),
    )
    .await;
    assert_eq!(
        (s, d["tenant"].as_str()),
        (StatusCode::OK, Some(id.as_str())),
        "{d}"
    );
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &owner,
            json!({"name": "Sales", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap().to_string();
    let bob = create(&app, &owner, json!({"name": "Bob", "voice": "bm_george"})).await;
    let bob_id = bob["id"].as_str().unwrap().to_string();
    let (s, d) = put(
        &app,
        "/api/v1/persona-default",
        &owner,
        json!({"persona_id": bob_id, "project_id": pid}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["projects"][0]["persona_id"], bob_id.as_str());
    let (s, p) = put(
        &app,
        "/api/v1/persona-default",
        &owner,
        json!({"persona_id": uuid::Uuid::now_v7()}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "unknown persona: {p}");
    let (_, one) = app.get(&format!("/api/v1/personas/{id}"), &owner).await;
    assert_eq!(one["tenant_default"], true);

    // Another tenant sees and uses nothing of it.
    let (_, other) = app.tenant_with_owner("Other Co").await;
    let (s, _) = app.get(&format!("/api/v1/personas/{id}"), &other).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .post(&format!("/api/v1/personas/{id}/publish"), &other, json!({}))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/personas/{id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = put(
        &app,
        "/api/v1/persona-default",
        &other,
        json!({"persona_id": id}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another tenant's persona is unknown"
    );
    let (_, list) = app.get("/api/v1/personas", &other).await;
    assert_eq!(list["data"], json!([]));

    // A developer reads but cannot change.
    app.create_user(Some(tenant), "developer", "dev@persona.test")
        .await;
    let dev = app.login("dev@persona.test").await;
    let (s, list) = app.get("/api/v1/personas", &dev).await;
    assert_eq!(
        (s, list["data"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(2))
    );
    let (s, _) = app
        .post("/api/v1/personas", &dev, json!({"name": "D", "voice": "v"}))
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = patch(
        &app,
        &format!("/api/v1/personas/{id}"),
        &dev,
        json!({"name": "D"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = put(
        &app,
        "/api/v1/persona-default",
        &dev,
        json!({"persona_id": null}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Deleting the project's default clears it there: the project falls back to the tenant's.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/personas/{bob_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, d) = app.get("/api/v1/persona-default", &owner).await;
    assert_eq!(d["projects"], json!([]), "{d}");
    assert_eq!(d["tenant"], id.as_str());
    let (s, _) = app.get(&format!("/api/v1/personas/{bob_id}"), &owner).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, audit) = app.get("/api/v1/audit?action=persona.delete", &owner).await;
    assert_eq!(
        audit["data"][0]["summary"]["defaults_cleared_for_projects"][0],
        pid.as_str(),
        "{audit}"
    );
}

both_backends!(persona_api, api_rules);

async fn sessions_use_the_default(db: Db) {
    let app = spawn_app(db).await;
    let (_, owner) = app.tenant_with_owner("Sessions Co").await;
    let p = create(
        &app,
        &owner,
        json!({"name": "Ava", "instructions": "You are Ava v1.", "voice": "af_heart", "speed": 1.25}),
    )
    .await;
    let id = p["id"].as_str().unwrap().to_string();
    app.post(&format!("/api/v1/personas/{id}/publish"), &owner, json!({}))
        .await;
    patch(
        &app,
        &format!("/api/v1/personas/{id}"),
        &owner,
        json!({"instructions": "You are Ava v2."}),
    )
    .await;
    app.post(&format!("/api/v1/personas/{id}/publish"), &owner, json!({}))
        .await;
    let (s, _) = put(
        &app,
        "/api/v1/persona-default",
        &owner,
        json!({"persona_id": id}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, k) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let secret = k["secret"].as_str().unwrap().to_string();

    let open = |secret: String| {
        let app = &app;
        async move {
            let (mut ws, _) =
                avb_testkit::ws::connect(app, &[("authorization", &format!("Bearer {secret}"))])
                    .await
                    .unwrap();
            let created = avb_testkit::ws::recv(&mut ws).await;
            assert_eq!(created["type"], "session.created", "{created}");
            (ws, created)
        }
    };
    let (mut ws, created) = open(secret.clone()).await;
    assert_eq!(created["session"]["instructions"], "You are Ava v2.");
    assert_eq!(created["session"]["audio"]["output"]["voice"], "af_heart");
    // session.update still overrides per session.
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "instructions": "Per session."}})).await;
    let updated = avb_testkit::ws::until(&mut ws, "session.updated").await;
    assert_eq!(
        updated.last().unwrap()["session"]["instructions"],
        "Per session."
    );
    drop(ws);

    // Roll back: the next session uses version 1.
    app.post(
        &format!("/api/v1/personas/{id}/rollback"),
        &owner,
        json!({"version": 1}),
    )
    .await;
    let (_ws2, created) = open(secret.clone()).await;
    assert_eq!(created["session"]["instructions"], "You are Ava v1.");

    // The records name the persona and version; the usage count follows.
    let (_, list) = app.get("/api/v1/sessions", &owner).await;
    let versions: Vec<(Option<&str>, Option<i64>)> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["persona_id"].as_str(), s["persona_version"].as_i64()))
        .collect();
    assert_eq!(
        versions,
        vec![(Some(id.as_str()), Some(1)), (Some(id.as_str()), Some(2))],
        "{list}"
    );
    let (_, one) = app.get(&format!("/api/v1/personas/{id}"), &owner).await;
    assert_eq!(one["usage_count"], 2);

    // An explicit profile field wins over the persona.
    let (s, _) = put(
        &app,
        "/api/v1/voice-profile",
        &owner,
        json!({"voice": "bm_george"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_ws3, created) = open(secret.clone()).await;
    assert_eq!(created["session"]["audio"]["output"]["voice"], "bm_george");
    assert_eq!(created["session"]["instructions"], "You are Ava v1.");

    // Archived or deleted: sessions start without it.
    app.post(&format!("/api/v1/personas/{id}/archive"), &owner, json!({}))
        .await;
    let (_ws4, created) = open(secret).await;
    assert_ne!(created["session"]["instructions"], "You are Ava v1.");
}

both_backends!(persona_sessions, sessions_use_the_default);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_pages_and_forms() {
    let app = spawn_app(Db::Sqlite).await;
    let tenant = app.create_tenant("Portal Personas").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@personas.test")
        .await;
    let dev = app
        .create_user(Some(tenant), "developer", "dev@personas.test")
        .await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;

    let html = browser.page("/voice/personas", &cookie).await;
    assert!(html.contains("No personas yet.") && html.contains("/voice/personas/new"));
    let form = browser.page("/voice/personas/new", &cookie).await;
    let csrf = field(&form, "csrf");

    // Without the CSRF token: refused.
    let res = browser
        .post(
            "/voice/personas",
            &cookie,
            &[("name", "Ava"), ("voice", "af_heart")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Reordering solvers re-shows the form without saving (keyboard alternative to dragging).
    let base = [
        ("csrf", csrf.as_str()),
        ("name", "Ava"),
        ("description", "Front desk"),
        ("instructions", "You are Ava."),
        ("voice", "af_heart"),
        ("language", "en-US"),
        ("solver_order", "wikipedia,duckduckgo,wolfram_alpha,wordnet"),
        ("solver_wikipedia", "on"),
        ("solver_wordnet", "on"),
    ];
    let mut moved = base.to_vec();
    moved.push(("speed", "1.0"));
    moved.push(("move", "up:wordnet"));
    let res = browser.post("/voice/personas", &cookie, &moved).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("value=\"wikipedia,duckduckgo,wordnet,wolfram_alpha\""),
        "{html}"
    );
    let (_, list) = app.get("/api/v1/personas", &app.login(&owner).await).await;
    assert_eq!(list["data"], json!([]), "moving does not save");

    // A bad speed: inline error, status 422, the input kept.
    let mut bad = base.to_vec();
    bad.push(("speed", "9"));
    let res = browser.post("/voice/personas", &cookie, &bad).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("speed: must be between 0.5 and 2.0") && html.contains("aria-invalid"));
    assert!(html.contains("value=\"Ava\""));

    // Create, publish, set as default, list.
    let mut good = base.to_vec();
    good.push(("speed", "1.1"));
    good[6] = ("solver_order", "wordnet,wikipedia,duckduckgo,wolfram_alpha");
    let to = browser.submit("/voice/personas", &cookie, &good).await;
    assert!(to.ends_with("?done=persona_created"), "{to}");
    let detail_path = to.split('?').next().unwrap().to_string();
    let id = detail_path.rsplit('/').next().unwrap().to_string();
    let html = browser.page(&to, &cookie).await;
    assert!(
        html.contains("Persona created") && html.contains("WordNet → Wikipedia"),
        "{html}"
    );
    let to = browser
        .submit(
            &format!("{detail_path}/publish"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(to.ends_with("done=persona_published"));
    let to = browser
        .submit(
            &format!("{detail_path}/default"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert!(to.ends_with("done=persona_default"));
    let html = browser.page("/voice/personas", &cookie).await;
    assert!(html.contains("Ava") && html.contains("Tenant default") && html.contains("published"));

    // Edit and publish again; roll back after confirming.
    let edit = browser.page(&format!("{detail_path}/edit"), &cookie).await;
    assert!(edit.contains("You are Ava."));
    let mut changed = good.clone();
    changed[4] = ("voice", "bf_emma");
    let to = browser.submit(&detail_path, &cookie, &changed).await;
    assert!(to.ends_with("done=persona_saved"));
    browser
        .submit(
            &format!("{detail_path}/publish"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    let html = browser.page(&detail_path, &cookie).await;
    assert!(html.contains("Roll back to this version"));
    let confirm = browser
        .page(&format!("{detail_path}/rollback?version=1"), &cookie)
        .await;
    assert!(confirm.contains("Roll back to version 1"));
    let to = browser
        .submit(
            &format!("{detail_path}/rollback"),
            &cookie,
            &[("csrf", &csrf), ("version", "1")],
        )
        .await;
    assert!(to.ends_with("done=persona_rolled_back"));
    let token = app.login(&owner).await;
    let (_, p) = app.get(&format!("/api/v1/personas/{id}"), &token).await;
    assert_eq!(p["published_version"], 1);

    // A developer sees the pages read-only.
    let dev_cookie = browser.session(&dev).await;
    let html = browser.page(&detail_path, &dev_cookie).await;
    assert!(!html.contains("Edit draft") && !html.contains("Roll back to this version"));
    let res = browser.get("/voice/personas/new", &dev_cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let dev_csrf = field(&html, "csrf");
    let res = browser
        .post(
            &format!("{detail_path}/publish"),
            &dev_cookie,
            &[("csrf", &dev_csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // The test chat without a configured model says so inline.
    let res = browser
        .post(
            &format!("{detail_path}/chat"),
            &cookie,
            &[("csrf", &csrf), ("message", "hello")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("chat-error") || html.contains("Reply"),
        "{html}"
    );

    // Delete after a confirmation that names the fallback.
    let confirm = browser
        .page(&format!("{detail_path}/delete"), &cookie)
        .await;
    assert!(
        confirm.contains("fall back to the tenant default") && confirm.contains("cannot be undone")
    );
    let to = browser
        .submit(
            &format!("{detail_path}/delete"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(to, "/voice/personas?done=persona_deleted");
    let html = browser.page(&to, &cookie).await;
    assert!(html.contains("No personas yet."));
    let (_, d) = app.get("/api/v1/persona-default", &token).await;
    assert!(d["tenant"].is_null(), "{d}");
}

/// A stand-in OpenAI-compatible chat endpoint: records each body, answers one sentence.
async fn stub_llm() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use axum::response::IntoResponse;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let handler = move |axum::Json(body): axum::Json<Value>| {
        let record = record.clone();
        async move {
            record.lock().unwrap().push(body);
            let sse = format!(
                "data: {}\n\ndata: [DONE]\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": "Hello, I am Ava."}}]})
            );
            ([("content-type", "text/event-stream")], sse).into_response()
        }
    };
    let router = axum::Router::new().route("/v1/chat/completions", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_test_chat_and_project_default() {
    let (url, seen) = stub_llm().await;
    // No server model: the turn can only succeed through the tenant's own endpoint, as a
    // session's would.
    let app = avb_testkit::spawn_app_with(Db::Sqlite, |c| {
        c.engines.llm_url = None;
        c.engines.byok_allow_private_urls = true;
    })
    .await;
    let tenant = app.create_tenant("Chat Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@chat.test")
        .await;
    let token = app.login(&owner).await;
    let (s, v) = put(
        &app,
        "/api/v1/voice-profile",
        &token,
        json!({"llm_provider": "custom", "llm_base_url": url, "llm_model": "tenant-model",
               "llm_api_key": "tenant-key"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let p = create(
        &app,
        &token,
        json!({"name": "Ava", "instructions": "You are Ava the receptionist.", "voice": "af_heart"}),
    )
    .await;
    let id = p["id"].as_str().unwrap().to_string();
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "Lobby", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap().to_string();
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let detail = format!("/voice/personas/{id}");
    let html = browser.page(&detail, &cookie).await;
    let csrf = field(&html, "csrf");

    // One text turn: the reply is shown; the model got the persona's instructions.
    let res = browser
        .post(
            &format!("{detail}/chat"),
            &cookie,
            &[("csrf", &csrf), ("message", "Who are you?")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Hello, I am Ava."), "{html}");
    let body = seen.lock().unwrap()[0].clone();
    assert_eq!(
        body["model"], "tenant-model",
        "the tenant's own model, as in sessions"
    );
    assert_eq!(body["messages"][0]["role"], "system");
    assert_eq!(
        body["messages"][0]["content"],
        "You are Ava the receptionist."
    );
    assert_eq!(body["messages"][1]["content"], "Who are you?");
    // Like every test call: audited and metered (it used to bypass both).
    let (_, audit) = app.get("/api/v1/audit?action=voice.llm_test", &token).await;
    assert_eq!(audit["data"].as_array().map(Vec::len), Some(1), "{audit}");
    let (_, usage) = app.get("/api/v1/usage", &token).await;
    assert!(
        usage["totals"]["requests"].as_f64().unwrap_or(0.0) >= 1.0,
        "{usage}"
    );

    // The same turn over the API, against this persona's instructions.
    let (s, r) = app
        .post(
            &format!("/api/v1/personas/{id}/test"),
            &token,
            json!({"prompt": "And over the API?"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["reply"], "Hello, I am Ava.", "{r}");
    let body = seen.lock().unwrap()[1].clone();
    assert_eq!(
        body["messages"][0]["content"],
        "You are Ava the receptionist."
    );
    assert_eq!(body["messages"][1]["content"], "And over the API?");
    let (s, _) = app
        .post(
            &format!("/api/v1/personas/{}/test", uuid::Uuid::now_v7()),
            &token,
            json!({"prompt": "hi"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The project default, set and cleared from the page.
    let to = browser
        .submit(
            &format!("{detail}/project-default"),
            &cookie,
            &[("csrf", &csrf), ("project_id", &pid), ("op", "set")],
        )
        .await;
    assert!(to.ends_with("done=persona_project_default"), "{to}");
    let (_, d) = app.get("/api/v1/persona-default", &token).await;
    assert_eq!(d["projects"][0]["project_id"], pid.as_str(), "{d}");
    let html = browser.page(&to, &cookie).await;
    assert!(html.contains("Lobby (uses this persona)"));
    browser
        .submit(
            &format!("{detail}/project-default"),
            &cookie,
            &[("csrf", &csrf), ("project_id", &pid), ("op", "clear")],
        )
        .await;
    let (_, d) = app.get("/api/v1/persona-default", &token).await;
    assert_eq!(d["projects"], json!([]), "{d}");
}
