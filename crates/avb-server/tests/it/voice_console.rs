//! The speech-to-text and language-model consoles (B10, B11): ranges, the BYOK SSRF rule, model
//! lists from stand-in OpenAI-compatible engines (and what an unreachable one says), the key
//! shown only as a fingerprint, test transcriptions with their word error rate, bad uploads,
//! streamed test prompts, rate limits, read-only roles and tenant isolation. With
//! `LOCAL_STT_URL` / `LOCAL_LLM_URL` set, one test each runs on the real engines.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field};
use avb_testkit::{Db, TestApp, both_backends, spawn_app_with};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const KEY: &str = "gsk_console_secret_4242";

/// A stand-in OpenAI-compatible engine: `/v1/models` (the LLM list only with the key),
/// `/v1/audio/transcriptions` (a fixed transcript) and streaming `/v1/chat/completions`.
async fn stand_in() -> String {
    use axum::http::HeaderMap;
    use axum::routing::{get, post};
    let app = axum::Router::new()
        .route(
            "/llm/v1/models",
            get(|h: HeaderMap| async move {
                let auth = h
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                if auth == format!("Bearer {KEY}") {
                    (
                        StatusCode::OK,
                        axum::Json(json!({"data": [{"id": "llama-3.1-8b-instant"}, {"id": "mixtral-8x7b"}]})),
                    )
                } else {
                    (
                        StatusCode::UNAUTHORIZED,
                        axum::Json(json!({"error": {"message": "invalid api key"}})),
                    )
                }
            }),
        )
        .route(
            "/llm/v1/chat/completions",
            post(|| async {
                let mut body = String::new();
                for piece in ["Hello", " from", " the", " stand-in"] {
                    body.push_str(&format!(
                        "data: {}\n\n",
                        json!({"choices": [{"delta": {"content": piece}}]})
                    ));
                }
                body.push_str(&format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 4}})
                ));
                body.push_str("data: [DONE]\n\n");
                ([("content-type", "text/event-stream")], body)
            }),
        )
        .route(
            "/stt/v1/models",
            get(|| async {
                axum::Json(json!({"object": "list", "data": [{"id": "tiny.en"}, {"id": "base"}]}))
            }),
        )
        .route(
            "/stt/v1/audio/transcriptions",
            post(|body: axum::body::Body| async move {
                // Read the upload whole, as a real engine does, before answering.
                let _ = axum::body::to_bytes(body, usize::MAX).await;
                axum::Json(json!({"text": " Hello wide word.", "language": "en", "duration": 1.5}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A URL where nothing listens.
fn closed_url() -> String {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = probe.local_addr().unwrap();
    drop(probe);
    format!("http://{addr}/v1")
}

/// A mono 16-bit 16 kHz WAV of `secs` seconds of silence.
fn wav(secs: f64) -> Vec<u8> {
    let samples = vec![0i16; (16_000.0 * secs) as usize];
    avb_voice::audio::wav(&samples, 16_000)
}

async fn upload(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    reference: Option<&str>,
) -> (StatusCode, Value) {
    let mut form = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(name.to_string()),
    );
    if let Some(r) = reference {
        form = form.text("reference", r.to_string());
    }
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/voice/stt-test", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        assert_eq!(ctype, "application/problem+json", "{status} {body}");
    }
    (status, body)
}

async fn portal_upload(
    app: &TestApp,
    cookie: &str,
    csrf: &str,
    bytes: Vec<u8>,
    reference: &str,
) -> (StatusCode, String) {
    let form = reqwest::multipart::Form::new()
        .text("csrf", csrf.to_string())
        .text("reference", reference.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("clip.wav"),
        );
    let res = reqwest::Client::new()
        .post(format!("{}/voice/stt/test", app.base))
        .header("cookie", cookie)
        .multipart(form)
        .send()
        .await
        .unwrap();
    (res.status(), res.text().await.unwrap())
}

async fn put_profile(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        "/api/v1/voice-profile",
        Some(token),
        Some(body),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_languages_and_private_provider_urls_are_refused() {
    let app = spawn_app_with(Db::Sqlite, |c| c.engines.byok_allow_private_urls = false).await;
    let (_, owner) = app.tenant_with_owner("Ranges Co").await;
    for (body, field) in [
        (json!({"max_output_tokens": 100}), "max_output_tokens"),
        (json!({"max_output_tokens": 4097}), "max_output_tokens"),
        (json!({"temperature": 2.5}), "temperature"),
        (json!({"stt_language": "en_US"}), "stt_language"),
        (json!({"stt_language": "klingon-tongue"}), "stt_language"),
    ] {
        let (s, p) = put_profile(&app, &owner, body.clone()).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {p}");
        assert_eq!(p["errors"][0]["field"], field, "{p}");
    }
    let (s, p) = put_profile(
        &app,
        &owner,
        json!({"max_output_tokens": 256, "stt_language": "pt-br", "stt_vad": false}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        (&p["stt_language"], &p["stt_vad"], &p["max_output_tokens"]),
        (&json!("pt-BR"), &json!(false), &json!(256))
    );
    let (s, p) = put_profile(&app, &owner, json!({"stt_language": "AUTO"})).await;
    assert_eq!((s, &p["stt_language"]), (StatusCode::OK, &json!("auto")));

    // The models of a private or plain-http provider are never asked for.
    for url in [
        "https://10.0.0.5/v1",
        "https://127.0.0.1:8081/v1",
        "http://api.example.com/v1",
        "https://169.254.169.254/latest",
    ] {
        let path = format!("/api/v1/voice/llm-models?provider=custom&base_url={url}");
        let (s, p) = app.get(&path, &owner).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{url} -> {p}");
        assert_eq!(p["errors"][0]["field"], "llm_base_url", "{p}");
    }
    let (s, p) = app
        .get("/api/v1/voice/llm-models?provider=acme", &owner)
        .await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("llm_provider"))
    );

    // The portal says the same inline and saves nothing.
    let browser = Browser::new(&app);
    let email = app
        .create_user(
            Some(app.create_tenant("Ranges Portal").await),
            "tenant_owner",
            "owner@ranges-portal.test",
        )
        .await;
    let cookie = browser.session(&email).await;
    let html = browser.page("/voice/llm", &cookie).await;
    let csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice/llm",
            &cookie,
            &[("csrf", &csrf), ("max_output_tokens", "100")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("max_output_tokens: must be between 256 and 4096"),
        "{html}"
    );
    let res = browser
        .post(
            "/voice/llm",
            &cookie,
            &[
                ("csrf", &csrf),
                ("provider", "custom"),
                ("base_url", "https://192.168.1.10/v1"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("private or loopback"));
    let html = browser.page("/voice/llm", &cookie).await;
    assert!(html.contains("Server default"), "nothing half-saved");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provider_models_come_from_its_models_endpoint_with_the_tenant_key() {
    let engine = stand_in().await;
    let app = spawn_app_with(Db::Sqlite, |c| c.engines.byok_allow_private_urls = true).await;
    let tenant = app.create_tenant("Models Co").await;
    let owner_email = app
        .create_user(Some(tenant), "tenant_owner", "owner@models.test")
        .await;
    let dev_email = app
        .create_user(Some(tenant), "developer", "dev@models.test")
        .await;
    let owner = app.login(&owner_email).await;
    let dev = app.login(&dev_email).await;
    let url = format!("{engine}/llm/v1");

    // Without the key the provider refuses: said, nothing invented.
    let (s, p) = app
        .get(
            &format!("/api/v1/voice/llm-models?provider=custom&base_url={url}"),
            &owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(p["models"], json!([]));
    let error = p["error"].as_str().unwrap();
    assert!(
        error.contains("refused to list its models") && error.contains("401"),
        "{p}"
    );

    // Save the provider and its key through the portal; then the list comes with the key.
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner_email).await;
    let html = browser.page("/voice/llm", &cookie).await;
    let csrf = field(&html, "csrf");
    let to = browser
        .submit(
            "/voice/llm",
            &cookie,
            &[
                ("csrf", &csrf),
                ("provider", "custom"),
                ("base_url", &url),
                ("model", "mixtral-8x7b"),
                ("temperature", "0.4"),
                ("max_output_tokens", "512"),
                ("api_key", KEY),
            ],
        )
        .await;
    assert_eq!(to, "/voice/llm?done=settings_saved");
    let (s, p) = app.get("/api/v1/voice/llm-models", &owner).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        p["provider"], "server",
        "no provider asked: the server's engine"
    );
    let (s, p) = app
        .get(
            &format!("/api/v1/voice/llm-models?provider=custom&base_url={url}"),
            &owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["models"], json!(["llama-3.1-8b-instant", "mixtral-8x7b"]));
    let fingerprint = p["key_fingerprint"].as_str().unwrap().to_string();
    assert!(fingerprint.starts_with("sha256:"), "{fingerprint}");
    assert!(!p.to_string().contains(KEY));

    let html = browser.page("/voice/llm", &cookie).await;
    assert!(html.contains("llama-3.1-8b-instant"), "{html}");
    assert!(html.contains(&fingerprint));
    assert!(html.contains("Remove key"));
    assert!(!html.contains(KEY), "the key is never shown");
    let (_, profile) = app.get("/api/v1/voice-profile", &owner).await;
    assert!(!profile.to_string().contains(KEY));
    let (_, audit) = app.get("/api/v1/audit", &owner).await;
    assert!(!audit.to_string().contains(KEY));

    // A model the provider does not list cannot be chosen; nothing is saved.
    let res = browser
        .post(
            "/voice/llm",
            &cookie,
            &[
                ("csrf", &csrf),
                ("provider", "custom"),
                ("base_url", &url),
                ("model", "gpt-imaginary"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("gpt-imaginary is not among the models")
    );
    let (_, profile) = app.get("/api/v1/voice-profile", &owner).await;
    assert_eq!(profile["llm_model"], "mixtral-8x7b");

    // A provider that is down says so.
    let (s, p) = app
        .get(
            &format!(
                "/api/v1/voice/llm-models?provider=ollama&base_url={}",
                closed_url()
            ),
            &owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let error = p["error"].as_str().unwrap();
    assert!(
        error.contains("could not be reached") && error.contains("connection"),
        "{error}"
    );

    // A developer sees the page read-only and cannot save or remove the key.
    let dev_cookie = browser.session(&dev_email).await;
    let html = browser.page("/voice/llm", &dev_cookie).await;
    assert!(html.contains("changing them needs the settings permission"));
    assert!(!html.contains(KEY));
    let dev_csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice/llm",
            &dev_cookie,
            &[("csrf", &dev_csrf), ("max_output_tokens", "300")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = browser
        .post("/voice/llm/key/remove", &dev_cookie, &[("csrf", &dev_csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (s, _) = put_profile(&app, &dev, json!({"max_output_tokens": 300})).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Remove the key.
    let to = browser
        .submit("/voice/llm/key/remove", &cookie, &[("csrf", &csrf)])
        .await;
    assert_eq!(to, "/voice/llm?done=llm_key_removed");
    let html = browser.page("/voice/llm", &cookie).await;
    assert!(html.contains("None stored") && !html.contains(&fingerprint));
    let (_, profile) = app.get("/api/v1/voice-profile", &owner).await;
    assert_eq!(profile["llm_api_key_set"], false);
    assert_eq!(profile["llm_model"], "mixtral-8x7b", "the rest is kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stt_models_settings_and_test_uploads() {
    let engine = stand_in().await;
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.engines.stt_url = Some(format!("{engine}/stt/v1"));
        c.engines.stt_model = "tiny.en".into();
    })
    .await;
    let tenant = app.create_tenant("Whisper Co").await;
    let owner_email = app
        .create_user(Some(tenant), "tenant_owner", "owner@whisper.test")
        .await;
    let dev_email = app
        .create_user(Some(tenant), "developer", "dev@whisper.test")
        .await;
    let owner = app.login(&owner_email).await;

    // Six sizes; what the engine serves can be chosen, the rest says why not.
    let (s, m) = app.get("/api/v1/voice/stt-models", &owner).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["served"], json!(["tiny.en", "base"]));
    let models = m["models"].as_array().unwrap();
    let by_id = |id: &str| models.iter().find(|x| x["id"] == id).unwrap().clone();
    assert_eq!(by_id("tiny.en")["available"], true);
    assert_eq!(by_id("base")["available"], true);
    for size in ["small", "medium", "large-v2", "large-v3"] {
        let x = by_id(size);
        assert_eq!(x["available"], false);
        assert!(x["reason"].as_str().unwrap().contains("does not serve"));
    }

    // A test upload: transcript, language, duration, time taken, WER against the reference.
    let (s, r) = upload(
        &app,
        &owner,
        wav(1.5),
        "clip.wav",
        Some("Hello, wide world!"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["transcript"], "Hello wide word.");
    assert_eq!(r["language"], "en");
    assert_eq!(r["duration_secs"], 1.5);
    assert_eq!(r["format"], "wav");
    assert!(r["elapsed_ms"].as_f64().unwrap() >= 0.0);
    let wer = r["wer"].as_f64().unwrap();
    assert!((wer - 1.0 / 3.0).abs() < 1e-9, "{wer}");

    // Bad uploads, each with a clear message.
    let (s, p) = upload(&app, &owner, b"%PDF-1.4 not audio".to_vec(), "x.pdf", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "file");
    assert!(
        p["detail"].as_str().unwrap().contains("is not audio"),
        "{p}"
    );
    let mut big = wav(0.1);
    big.resize(10 * 1024 * 1024 + 10, 0);
    let (s, p) = upload(&app, &owner, big, "big.wav", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("the limit is 10 MB"),
        "{p}"
    );
    let mut huge = wav(0.1);
    huge.resize(10 * 1024 * 1024 + 400 * 1024, 0);
    let (s, p) = upload(&app, &owner, huge, "huge.wav", None).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("10 MB limit"), "{p}");
    let (s, p) = upload(&app, &owner, wav(301.0), "long.wav", None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("5 minutes"), "{p}");

    // Audited and metered like real calls.
    let (_, audit) = app.get("/api/v1/audit?action=voice.stt_test", &owner).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");

    // The portal: settings, an unserved model refused inline, a test with its WER, figures.
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner_email).await;
    let html = browser.page("/voice/stt", &cookie).await;
    assert!(
        html.contains("large-v3") && html.contains("does not serve"),
        "{html}"
    );
    assert!(html.contains("1 tests") && html.contains("33.3%"), "{html}");
    let csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice/stt",
            &cookie,
            &[("csrf", &csrf), ("model", "large-v3"), ("language", "en")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("does not serve large-v3")
    );
    let to = browser
        .submit(
            "/voice/stt",
            &cookie,
            &[
                ("csrf", &csrf),
                ("model", "base"),
                ("language", "en-us"),
                ("vad", "off"),
            ],
        )
        .await;
    assert_eq!(to, "/voice/stt?done=settings_saved");
    let (_, p) = app.get("/api/v1/voice-profile", &owner).await;
    assert_eq!(
        (&p["stt_model"], &p["stt_language"], &p["stt_vad"]),
        (&json!("base"), &json!("en-US"), &json!(false))
    );
    // The API checks a new model against the engine as the page does; nothing is half-saved.
    let (s, body) = put_profile(
        &app,
        &owner,
        json!({"stt_model": "large-v3", "voice": "af_heart"}),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["field"], "stt_model", "{body}");
    let (_, p) = app.get("/api/v1/voice-profile", &owner).await;
    assert_eq!(p["stt_model"], "base");
    let (s, html) = portal_upload(&app, &cookie, &csrf, wav(1.0), "hello wide word").await;
    assert_eq!(s, StatusCode::OK, "{html}");
    assert!(
        html.contains("Hello wide word.") && html.contains("0.0%"),
        "{html}"
    );
    let (s, html) = portal_upload(&app, &cookie, &csrf, b"hello".to_vec(), "").await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(html.contains("is not audio"), "{html}");

    // A developer may test but not save.
    let dev_cookie = browser.session(&dev_email).await;
    let html = browser.page("/voice/stt", &dev_cookie).await;
    assert!(html.contains("changing them needs the settings permission"));
    let dev_csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice/stt",
            &dev_cookie,
            &[("csrf", &dev_csrf), ("model", "tiny.en")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let (s, _) = portal_upload(&app, &dev_cookie, &dev_csrf, wav(1.0), "").await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engines_that_are_down_are_named_and_the_pages_still_work() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.engines.stt_url = Some(closed_url());
        c.engines.llm_url = Some(closed_url());
    })
    .await;
    let tenant = app.create_tenant("Down Co").await;
    let email = app
        .create_user(Some(tenant), "tenant_owner", "owner@down.test")
        .await;
    let owner = app.login(&email).await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&email).await;
    let html = browser.page("/voice/stt", &cookie).await;
    assert!(
        html.contains("Speech-to-text engine: the speech-to-text engine could not be reached"),
        "{html}"
    );
    let html = browser.page("/voice/llm", &cookie).await;
    assert!(
        html.contains(
            "language model engine could not be reached: llm engine failed: connection failed"
        ),
        "{html}"
    );
    let (s, p) = upload(&app, &owner, wav(1.0), "clip.wav", None).await;
    assert_eq!(s, StatusCode::FAILED_DEPENDENCY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("speech-to-text engine failed"),
        "{p}"
    );
    let (s, p) = app
        .post("/api/v1/voice/llm-test", &owner, json!({"prompt": "Hi"}))
        .await;
    assert_eq!(s, StatusCode::FAILED_DEPENDENCY, "{p}");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("language model engine failed"),
        "{p}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn llm_test_prompts_stream_with_timing_and_are_metered_audited_and_limited() {
    let engine = stand_in().await;
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.engines.llm_url = Some(format!("{engine}/llm/v1"));
        c.engines.llm_api_key = Some(avb_core::Secret::new(KEY));
    })
    .await;
    let tenant = app.create_tenant("Prompt Co").await;
    let email = app
        .create_user(Some(tenant), "tenant_owner", "owner@prompt.test")
        .await;
    let owner = app.login(&email).await;
    let (s, p) = put_profile(&app, &owner, json!({"instructions": "You are Ada."})).await;
    assert_eq!(s, StatusCode::OK, "{p}");

    let (s, r) = app
        .post(
            "/api/v1/voice/llm-test",
            &owner,
            json!({"prompt": "Say hello"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["reply"], "Hello from the stand-in");
    assert_eq!(r["output_tokens"], 4);
    assert_eq!(r["tokens_estimated"], false);
    assert!(r["ttft_ms"].as_f64().is_some() && r["total_ms"].as_f64().is_some());
    let (s, p) = app
        .post("/api/v1/voice/llm-test", &owner, json!({"prompt": "  "}))
        .await;
    assert_eq!(
        (s, &p["errors"][0]["field"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("prompt"))
    );

    // The portal streams server-sent events.
    let browser = Browser::new(&app);
    let cookie = browser.session(&email).await;
    let html = browser.page("/voice/llm", &cookie).await;
    assert!(html.contains("data-stream=\"/voice/llm/test/stream\""));
    let csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice/llm/test/stream",
            &cookie,
            &[("csrf", &csrf), ("prompt", "Say hello")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let body = res.text().await.unwrap();
    assert_eq!(body.matches("event: token").count(), 4, "{body}");
    assert!(
        body.contains("event: done") && body.contains("tokens_per_sec"),
        "{body}"
    );
    // Without script the form answers with the whole reply.
    let res = browser
        .post(
            "/voice/llm/test",
            &cookie,
            &[("csrf", &csrf), ("prompt", "Say hello")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(html.contains("Hello from the stand-in") && html.contains("Time to first token"));

    let (_, audit) = app.get("/api/v1/audit?action=voice.llm_test", &owner).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 3, "{audit}");
    let (s, usage) = app.get("/api/v1/usage", &owner).await;
    assert_eq!(s, StatusCode::OK);
    assert!(usage.to_string().contains("llm_tokens_output"), "{usage}");

    // Rate-limited per tenant.
    let mut limited = None;
    for _ in 0..25 {
        let (s, p) = app
            .post("/api/v1/voice/llm-test", &owner, json!({"prompt": "again"}))
            .await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(p);
            break;
        }
    }
    let p = limited.expect("a 429 within 25 calls");
    assert_eq!(p["code"], "rate_limited");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("test calls per tenant"),
        "{p}"
    );
    // Another tenant is not affected.
    let (_, other) = app.tenant_with_owner("Other Prompt Co").await;
    let (s, _) = app
        .post("/api/v1/voice/llm-test", &other, json!({"prompt": "hi"}))
        .await;
    assert_eq!(s, StatusCode::OK);
}

async fn isolation(db: Db) {
    let engine = stand_in().await;
    let app = spawn_app_with(db, |c| {
        c.engines.stt_url = Some(format!("{engine}/stt/v1"));
        c.engines.byok_allow_private_urls = true;
    })
    .await;
    let (_, a) = app.tenant_with_owner("Iso A").await;
    let (_, b) = app.tenant_with_owner("Iso B").await;
    let (s, _) = put_profile(
        &app,
        &a,
        json!({"llm_provider": "custom", "llm_base_url": format!("{engine}/llm/v1"), "llm_api_key": KEY}),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, r) = upload(&app, &a, wav(1.0), "a.wav", Some("hello wide word")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // B sees none of A's tests, key or models.
    let (_, m) = app.get("/api/v1/voice/stt-models", &b).await;
    assert_eq!(m["stats"]["tests"], 0, "{m}");
    let (_, m) = app.get("/api/v1/voice/stt-models", &a).await;
    assert_eq!(m["stats"]["tests"], 1, "{m}");
    let (_, l) = app
        .get(
            &format!("/api/v1/voice/llm-models?provider=custom&base_url={engine}/llm/v1"),
            &b,
        )
        .await;
    assert!(l["key_fingerprint"].is_null(), "{l}");
    assert_eq!(l["models"], json!([]), "B's call carries no key: {l}");
    let (_, audit) = app.get("/api/v1/audit?action=voice.stt_test", &b).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 0);
}
both_backends!(tenants_are_isolated, isolation);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_stt_engine_transcribes_espeak_speech() {
    let Ok(stt_url) = std::env::var("LOCAL_STT_URL") else {
        return;
    };
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.engines.stt_url = Some(stt_url.clone());
        c.engines.stt_model = "tiny.en".into();
    })
    .await;
    let (_, owner) = app.tenant_with_owner("Real STT Co").await;
    let (s, m) = app.get("/api/v1/voice/stt-models", &owner).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(m["engine"]["reachable"], true, "{m}");
    // espeak-ng's robotic voice: tiny.en gets short plain sentences right.
    let text = "Please call me tomorrow morning.";
    let speech = avb_testkit::speech::espeak(text).unwrap();
    let (s, r) = upload(
        &app,
        &owner,
        avb_voice::audio::wav(&speech, 24_000),
        "speech.wav",
        Some(text),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["language"], "en", "{r}");
    assert!(r["wer"].as_f64().unwrap() <= 0.2, "{r}");
    let (_, m) = app.get("/api/v1/voice/stt-models", &owner).await;
    assert_eq!(m["stats"]["tests"], 1, "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_llm_engine_answers_a_test_prompt() {
    let Ok(llm_url) = std::env::var("LOCAL_LLM_URL") else {
        return;
    };
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.engines.llm_url = Some(llm_url.clone());
        c.engines.llm_model = "smollm2".into();
    })
    .await;
    let (_, owner) = app.tenant_with_owner("Real LLM Co").await;
    let (s, m) = app.get("/api/v1/voice/llm-models", &owner).await;
    assert_eq!(s, StatusCode::OK);
    assert!(!m["models"].as_array().unwrap().is_empty(), "{m}");
    let (s, r) = app
        .post(
            "/api/v1/voice/llm-test",
            &owner,
            json!({"prompt": "Say hello in three words."}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(!r["reply"].as_str().unwrap().is_empty());
    assert!(r["ttft_ms"].as_f64().is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vad_off_starts_sessions_without_turn_detection() {
    let app = avb_testkit::spawn_app(Db::Sqlite).await;
    let (_, owner) = app.tenant_with_owner("Vad Co").await;
    let (s, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "rt", "scopes": ["realtime"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let key = key["secret"].as_str().unwrap().to_string();
    let created = |key: String| {
        let app = &app;
        async move {
            let (mut ws, _) =
                avb_testkit::ws::connect(app, &[("authorization", &format!("Bearer {key}"))])
                    .await
                    .unwrap();
            let created = avb_testkit::ws::recv(&mut ws).await;
            assert_eq!(created["type"], "session.created");
            created["session"]["audio"]["input"]["turn_detection"].clone()
        }
    };
    // Inherited: server VAD.
    assert_eq!(created(key.clone()).await["type"], "server_vad");
    let (s, p) = put_profile(&app, &owner, json!({"stt_vad": false})).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(created(key).await, Value::Null);
}
