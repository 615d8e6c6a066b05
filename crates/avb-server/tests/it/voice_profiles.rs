//! Voice profiles: the API (validation, sealed BYOK keys, audit, isolation, permissions) on both
//! backends, and Realtime sessions that start from the tenant's and the project's profile and
//! send their LLM turns to the tenant's own endpoint with its key.
#![allow(clippy::unwrap_used)]

use avb_testkit::ws::{open_session, send, until};
use avb_testkit::{Db, TestApp, both_backends, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A name of this machine that resolves to a loopback address (its host name, from
/// /etc/hosts), which literal-host checks miss.
fn loopback_hostname() -> String {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let resolved: Vec<_> = (name.as_str(), 443).to_socket_addrs().unwrap().collect();
    assert!(
        !resolved.is_empty() && resolved.iter().all(|a| a.ip().is_loopback()),
        "the test needs the host name {name} to resolve to loopback, got {resolved:?}"
    );
    name
}

async fn put(app: &TestApp, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(Method::PUT, path, Some(token), Some(body)).await
}

async fn api_rules(db: Db) {
    let app = spawn_app_with(db, |c| c.engines.byok_allow_private_urls = false).await;
    let (tenant, owner) = app.tenant_with_owner("Voice Co").await;

    // Nothing stored: everything inherits.
    let (s, empty) = app.get("/api/v1/voice-profile", &owner).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        (
            empty["updated_at"].is_null(),
            empty["llm_api_key_set"].as_bool()
        ),
        (true, Some(false))
    );

    // Validation names the field.
    for (body, field) in [
        (json!({"speed": 7}), "speed"),
        (
            json!({"llm_provider": "custom", "llm_base_url": "http://10.0.0.5/v1"}),
            "llm_base_url",
        ),
        (json!({"llm_provider": "custom"}), "llm_base_url"),
        (json!({"llm_api_key": "gsk_x"}), "llm_api_key"),
        (json!({"stt_language": "English"}), "stt_language"),
    ] {
        let (s, p) = put(&app, "/api/v1/voice-profile", &owner, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {p}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    // Private targets in every disguise: IPv6 forms embedding loopback, "this network",
    // benchmarking and multicast ranges, and a name that resolves to loopback.
    let loopback_name = loopback_hostname();
    for url in [
        "https://[::127.0.0.1]/v1".to_string(),
        "https://[64:ff9b::7f00:1]/v1".to_string(),
        "https://0.1.2.3/v1".to_string(),
        "https://198.18.0.1/v1".to_string(),
        "https://224.0.0.1/v1".to_string(),
        format!("https://{loopback_name}/v1"),
    ] {
        let body = json!({"llm_provider": "custom", "llm_base_url": url});
        let (s, p) = put(&app, "/api/v1/voice-profile", &owner, body).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url} -> {p}");
        assert_eq!(p["errors"][0]["field"], "llm_base_url", "{p}");
    }
    let (s, p) = put(
        &app,
        "/api/v1/voice-profile",
        &owner,
        json!({"colour": "blue"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown fields are refused: {p}"
    );

    // A profile with a provider key: the key is sealed, never shown, audited only as "set".
    let (s, view) = put(&app, "/api/v1/voice-profile", &owner, json!({
        "voice": "af_heart", "speed": 1.1, "llm_provider": "groq", "llm_model": "llama-3.1-8b-instant",
        "llm_api_key": "gsk_live_secret_1234", "instructions": "You are Ava."
    })).await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["llm_base_url"], "https://api.groq.com/openai/v1");
    assert_eq!(view["llm_api_key_set"], true);
    assert!(!view.to_string().contains("gsk_live_secret_1234"));
    // (A no-op UPDATE counts the rows that match.)
    let sealed = "UPDATE voice_profiles SET speed = speed WHERE llm_api_key_enc IS NOT NULL";
    assert_eq!(app.raw_sql(sealed).await.unwrap(), 1, "a key is stored");
    let clear = "UPDATE voice_profiles SET speed = speed WHERE llm_api_key_enc LIKE '%gsk_live%'";
    assert_eq!(
        app.raw_sql(clear).await.unwrap(),
        0,
        "the key is not stored in clear"
    );
    let (_, audit) = app
        .get("/api/v1/audit?action=voice_profile.update", &owner)
        .await;
    let entry = &audit["data"][0];
    assert_eq!(entry["summary"]["llm_api_key"], "set", "{entry}");
    assert!(!audit.to_string().contains("gsk_live_secret_1234"));

    // A PUT without the key keeps it; "" removes it.
    let (_, view) = put(
        &app,
        "/api/v1/voice-profile",
        &owner,
        json!({"voice": "am_onyx", "llm_provider": "groq"}),
    )
    .await;
    assert_eq!(
        (
            view["voice"].as_str(),
            view["llm_api_key_set"].as_bool(),
            view["speed"].as_f64()
        ),
        (Some("am_onyx"), Some(true), None)
    );
    let (_, view) = put(
        &app,
        "/api/v1/voice-profile",
        &owner,
        json!({"llm_provider": "groq", "llm_api_key": ""}),
    )
    .await;
    assert_eq!(view["llm_api_key_set"], false);

    // Project overrides: the project must be the tenant's own.
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &owner,
            json!({"name": "Support", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap();
    let path = format!("/api/v1/projects/{pid}/voice-profile");
    let (s, view) = put(&app, &path, &owner, json!({"voice": "bf_emma"})).await;
    assert_eq!(
        (s, view["project_id"].as_str()),
        (StatusCode::OK, Some(pid))
    );
    let (_, other_owner) = app.tenant_with_owner("Other Co").await;
    let (s, _) = app.get(&path, &other_owner).await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "another tenant's project is invisible"
    );
    let (s, _) = put(&app, &path, &other_owner, json!({"voice": "x"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = app.get("/api/v1/voice-profile", &other_owner).await;
    assert_eq!(s, StatusCode::OK);

    // A viewer reads but cannot change.
    app.create_user(Some(tenant), "viewer", "viewer@voice.test")
        .await;
    let viewer = app.login("viewer@voice.test").await;
    let (s, _) = app.get("/api/v1/voice-profile", &viewer).await;
    assert_eq!(s, StatusCode::OK);
    let (s, p) = put(
        &app,
        "/api/v1/voice-profile",
        &viewer,
        json!({"voice": "x"}),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{p}");

    // Delete: back to inheriting; a second delete is 404.
    let (s, _) = app.call(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, _) = app.call(Method::DELETE, &path, Some(&owner), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

both_backends!(voice_profile_api, api_rules);

/// One request to the tenant's endpoint: its `Authorization` header and JSON body.
type SeenRequest = (Option<String>, Value);

/// What the tenant's LLM endpoint received.
#[derive(Default, Clone)]
struct Seen {
    requests: Arc<Mutex<Vec<SeenRequest>>>,
}

/// An OpenAI-compatible endpoint standing in for the tenant's provider (paid APIs cannot run
/// here): records the bearer key and body, answers one sentence.
async fn tenant_llm() -> (String, Seen) {
    use axum::response::IntoResponse;
    let seen = Seen::default();
    let record = seen.clone();
    let handler = move |headers: axum::http::HeaderMap, axum::Json(body): axum::Json<Value>| {
        let record = record.clone();
        async move {
            let key = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            record.requests.lock().unwrap().push((key, body));
            let sse = format!(
                "data: {}\n\ndata: [DONE]\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": "From your own model."}}]})
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
async fn sessions_start_from_the_profile_and_use_the_tenants_own_llm() {
    let (url, seen) = tenant_llm().await;
    // The server's own LLM is unset: a turn can only succeed through the tenant's endpoint.
    let app = spawn_app_with(Db::Sqlite, |c| c.engines.byok_allow_private_urls = true).await;
    let (_, owner) = app.tenant_with_owner("BYOK Co").await;
    let (s, p) = put(
        &app,
        "/api/v1/voice-profile",
        &owner,
        json!({
            "voice": "af_heart", "instructions": "You are Ava from BYOK Co.", "temperature": 0.3,
            "llm_provider": "ollama", "llm_base_url": url, "llm_model": "llama3.2:1b",
            "llm_api_key": "tenant-key-42"
        }),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &owner,
            json!({"name": "Sales", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap().to_string();
    let (s, _) = put(
        &app,
        &format!("/api/v1/projects/{pid}/voice-profile"),
        &owner,
        json!({"voice": "bm_george"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let key = |project: Option<&str>| {
        let app = &app;
        let owner = owner.clone();
        let body = match project {
            Some(p) => json!({"name": "k", "scopes": ["realtime"], "project_id": p}),
            None => json!({"name": "k", "scopes": ["realtime"]}),
        };
        async move {
            let (s, k) = app.post("/api/v1/api-keys", &owner, body).await;
            assert_eq!(s, StatusCode::CREATED, "{k}");
            k["secret"].as_str().unwrap().to_string()
        }
    };

    // A tenant-wide key: the tenant profile.
    let tenant_key = key(None).await;
    let (mut ws, _) =
        avb_testkit::ws::connect(&app, &[("authorization", &format!("Bearer {tenant_key}"))])
            .await
            .unwrap();
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(
        created["session"]["audio"]["output"]["voice"], "af_heart",
        "{created}"
    );
    assert_eq!(
        created["session"]["instructions"],
        "You are Ava from BYOK Co."
    );
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let done = events.last().unwrap();
    assert_eq!(done["response"]["status"], "completed", "{done}");
    assert_eq!(
        done["response"]["output"][0]["content"][0]["text"],
        "From your own model."
    );
    let (auth, body) = seen.requests.lock().unwrap()[0].clone();
    assert_eq!(
        auth.as_deref(),
        Some("Bearer tenant-key-42"),
        "the tenant's own key"
    );
    assert_eq!(body["model"], "llama3.2:1b");
    assert_eq!(body["temperature"], 0.3);
    assert_eq!(body["messages"][0]["content"], "You are Ava from BYOK Co.");

    // A key of the project: the project's voice over the tenant's other settings.
    let project_key = key(Some(&pid)).await;
    let mut ws = open_session_checked(&app, &project_key).await;
    assert_eq!(ws.1["session"]["audio"]["output"]["voice"], "bm_george");
    assert_eq!(ws.1["session"]["instructions"], "You are Ava from BYOK Co.");
    // The session may still override per session.
    send(&mut ws.0, json!({"type": "session.update", "session": {"type": "realtime", "audio": {"output": {"voice": "am_adam"}}}})).await;
    let updated = until(&mut ws.0, "session.updated").await;
    assert_eq!(
        updated.last().unwrap()["session"]["audio"]["output"]["voice"],
        "am_adam"
    );

    // The session record carries the key's project.
    let (_, list) = app
        .get(&format!("/api/v1/sessions?project_id={pid}"), &owner)
        .await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    let _ = open_session(&app, &tenant_key).await;
}

async fn open_session_checked(app: &TestApp, key: &str) -> (avb_testkit::ws::Ws, Value) {
    let (mut ws, _) = avb_testkit::ws::connect(app, &[("authorization", &format!("Bearer {key}"))])
        .await
        .unwrap();
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(created["type"], "session.created");
    (ws, created)
}

/// A tenant endpoint that redirects (307) to another endpoint that would answer: the tenant's
/// client must not follow it (a public host could bounce it to a metadata or internal service).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_llm_redirects_are_not_followed() {
    let (target, seen) = tenant_llm().await;
    let bounce = axum::Router::new().fallback(move || {
        let to = format!("{target}/chat/completions");
        async move { (StatusCode::TEMPORARY_REDIRECT, [("location", to)]) }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, bounce).await });
    let app = spawn_app_with(Db::Sqlite, |c| c.engines.byok_allow_private_urls = true).await;
    let (_, owner) = app.tenant_with_owner("Bounce Co").await;
    let (s, p) = put(
        &app,
        "/api/v1/voice-profile",
        &owner,
        json!({"llm_provider": "custom", "llm_base_url": url, "llm_model": "m"}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (_, k) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let mut ws = open_session(&app, k["secret"].as_str().unwrap()).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}})).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let done = events.last().unwrap();
    assert_ne!(done["response"]["status"], "completed", "{done}");
    assert!(
        seen.requests.lock().unwrap().is_empty(),
        "the redirect target was reached"
    );
}
