//! The voice studio's voice page and API: the catalogue comes from the TTS engine, previews
//! stream WAV (speeds the engine cannot make are time-stretched), are rate-limited, metered and
//! audited, and a saved voice is the voice of the next Realtime session.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field};
use avb_testkit::{Db, TestApp, both_backends, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Samples of 24 kHz PCM the stand-in engine returns per request (100 ms).
const SAMPLES: usize = 2400;

/// A Kokoro-like TTS engine: three voices, speeds 1.0-2.0 only (like fastkokoro, which answers
/// 422 otherwise), 100 ms of PCM per request. Records each request's voice and speed.
pub(crate) async fn kokoro_like() -> (String, Arc<Mutex<Vec<(String, f64)>>>) {
    use axum::response::IntoResponse;
    let seen: Arc<Mutex<Vec<(String, f64)>>> = Arc::default();
    let log = seen.clone();
    let router = axum::Router::new()
        .route(
            "/v1/audio/voices",
            axum::routing::get(|| async {
                axum::Json(json!({"voices": ["am_onyx", "af_heart", "bm_george"]}))
            }),
        )
        .route(
            "/v1/audio/speech",
            axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
                let log = log.clone();
                async move {
                    let speed = body["speed"].as_f64().unwrap_or(1.0);
                    log.lock()
                        .unwrap()
                        .push((body["voice"].as_str().unwrap_or("").to_string(), speed));
                    if !(1.0..=2.0).contains(&speed) {
                        return (StatusCode::UNPROCESSABLE_ENTITY, "speed must be 1.0-2.0")
                            .into_response();
                    }
                    let pcm: Vec<u8> = (0..SAMPLES)
                        .flat_map(|i| {
                            let x = (i as f32 * 0.06).sin() * 8000.0;
                            (x as i16).to_le_bytes()
                        })
                        .collect();
                    let (a, b) = pcm.split_at(1001);
                    let chunks = vec![Ok::<_, std::io::Error>(a.to_vec()), Ok(b.to_vec())];
                    axum::body::Body::from_stream(futures::stream::iter(chunks)).into_response()
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

async fn studio_app(db: Db) -> (TestApp, Arc<Mutex<Vec<(String, f64)>>>) {
    let (tts, seen) = kokoro_like().await;
    let app = spawn_app_with(db, move |c| {
        c.engines.tts_url = Some(tts);
        c.engines.tts_model = "kokoro".into();
        (c.engines.tts_speed_min, c.engines.tts_speed_max) = (1.0, 2.0);
    })
    .await;
    (app, seen)
}

/// Waits until `check` holds for the JSON at `path` (5 s at most).
async fn eventually(
    app: &TestApp,
    path: &str,
    token: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, body) = app.get(path, token).await;
        if check(&body) {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{path} never matched: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

both_backends!(
    voice_page_previews_and_saves_the_next_sessions_voice,
    voice_page_scenario
);
async fn voice_page_scenario(db: Db) {
    let (app, seen) = studio_app(db).await;
    let tenant = app.create_tenant("Studio Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@studio.test")
        .await;
    let viewer = app
        .create_user(Some(tenant), "viewer", "viewer@studio.test")
        .await;
    let token = app.login(&owner).await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;

    // The catalogue is the engine's, described from Kokoro's names.
    let html = browser.page("/voice", &cookie).await;
    for needle in [
        "Heart",
        "American English",
        "British English",
        "George",
        "src=\"/voice/preview?voice=af_heart&amp;speed=1.00\"",
        "Save voice settings",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let csrf = field(&html, "csrf");

    // A preview at half speed: the engine renders 1.0 and the platform stretches it.
    let res = browser
        .get("/voice/preview?voice=af_heart&speed=0.5", &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "audio/wav");
    let wav = res.bytes().await.unwrap();
    assert_eq!(&wav[..4], b"RIFF");
    // The sample sentence is spoken piece by piece (first audio waits only for the first).
    let requests = seen.lock().unwrap().clone();
    assert!(
        requests.len() >= 2,
        "one request for the whole text: {requests:?}"
    );
    assert!(
        requests.iter().all(|r| *r == ("af_heart".to_string(), 1.0)),
        "{requests:?}"
    );
    let samples = (wav.len() - 44) / 2;
    let expected = requests.len() * SAMPLES * 2;
    assert!(
        (expected * 19 / 20..=expected * 21 / 20).contains(&samples),
        "half speed should double {} samples, got {samples}",
        requests.len() * SAMPLES
    );
    // Bad input is refused before the engine is asked.
    let asked = seen.lock().unwrap().len();
    for q in [
        "voice=nobody",
        "voice=af_heart&speed=3",
        "voice=af_heart&speed=0.2",
    ] {
        let res = browser.get(&format!("/voice/preview?{q}"), &cookie).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{q}");
    }
    assert_eq!(seen.lock().unwrap().len(), asked);

    // Previews are metered as output audio and audited.
    let usage = eventually(&app, "/api/v1/usage", &token, |u| {
        u["totals"]["audio_minutes_output"].as_f64().unwrap_or(0.0) > 0.0
    })
    .await;
    let minutes = usage["totals"]["audio_minutes_output"].as_f64().unwrap();
    let played = requests.len() as f64 * 0.2 / 60.0;
    assert!((minutes - played).abs() < played / 10.0, "{minutes}");
    let (_, audit) = app.get("/api/v1/audit?action=voice.preview", &token).await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");

    // Saving: invalid input is refused inline and nothing is saved.
    for (voice, speed, why) in [
        ("af_heart", "0.3", "speed: must be between 0.5 and 2"),
        ("af_heart", "fast", "speed: must be a number"),
        (
            "nobody",
            "1.0",
            "is not a voice of the configured text-to-speech engine",
        ),
    ] {
        let res = browser
            .post(
                "/voice",
                &cookie,
                &[
                    ("voice", voice),
                    ("speed", speed),
                    ("instructions", ""),
                    ("csrf", &csrf),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(res.text().await.unwrap().contains(why), "{why}");
    }
    let (_, profile) = app.get("/api/v1/voice-profile", &token).await;
    assert_eq!(profile["voice"], Value::Null, "nothing half-saved");

    let saved = browser
        .submit(
            "/voice",
            &cookie,
            &[
                ("voice", "bm_george"),
                ("speed", "1.25"),
                ("instructions", "You are George, a calm concierge."),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(saved, "/voice?done=voice_saved");
    let html = browser.page("/voice", &cookie).await;
    assert!(html.contains("value=\"bm_george\" id=\"v-bm_george\" checked"));
    assert!(html.contains("You are George, a calm concierge."));

    // The next Realtime session uses the saved voice, speed and instructions at once.
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let secret = key["secret"].as_str().unwrap();
    let (mut ws, _) =
        avb_testkit::ws::connect(&app, &[("authorization", &format!("Bearer {secret}"))])
            .await
            .unwrap();
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(created["type"], "session.created");
    assert_eq!(
        created["session"]["audio"]["output"]["voice"], "bm_george",
        "{created}"
    );
    assert_eq!(
        created["session"]["audio"]["output"]["speed"], 1.25,
        "{created}"
    );
    assert_eq!(
        created["session"]["instructions"],
        "You are George, a calm concierge."
    );

    // A project overrides the tenant default for its own keys' sessions.
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "Support line", "environment": "production"}),
        )
        .await;
    let pid = project["id"].as_str().unwrap();
    let html = browser.page("/projects", &cookie).await;
    assert!(html.contains(&format!("/projects/{pid}/voice")));
    let html = browser
        .page(&format!("/projects/{pid}/voice"), &cookie)
        .await;
    assert!(
        html.contains("Voice for project Support line")
            && html.contains("the tenant default (bm_george)")
    );
    let saved = browser
        .submit(
            &format!("/projects/{pid}/voice"),
            &cookie,
            &[
                ("voice", "am_onyx"),
                ("speed", "1.0"),
                ("instructions", ""),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(saved, format!("/projects/{pid}/voice?done=voice_saved"));
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "p", "scopes": ["realtime"], "project_id": pid}),
        )
        .await;
    let secret = key["secret"].as_str().unwrap();
    let (mut ws, _) =
        avb_testkit::ws::connect(&app, &[("authorization", &format!("Bearer {secret}"))])
            .await
            .unwrap();
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(
        created["session"]["audio"]["output"]["voice"], "am_onyx",
        "{created}"
    );
    assert_eq!(
        created["session"]["instructions"], "You are George, a calm concierge.",
        "an empty project field inherits the tenant's"
    );

    // A viewer sees the page read-only and cannot save.
    let viewer_cookie = browser.session(&viewer).await;
    let html = browser.page("/voice", &viewer_cookie).await;
    assert!(html.contains("Read-only") && !html.contains("Save voice settings"));
    let viewer_csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice",
            &viewer_cookie,
            &[
                ("voice", "af_heart"),
                ("speed", "1.0"),
                ("csrf", &viewer_csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voices_api_lists_previews_and_limits() {
    let (app, _) = studio_app(Db::Sqlite).await;
    let (_, owner) = app.tenant_with_owner("Voice Api Co").await;
    let (s, list) = app.get("/api/v1/voices", &owner).await;
    assert_eq!(s, StatusCode::OK);
    let ids: Vec<&str> = list["voices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["af_heart", "am_onyx", "bm_george"],
        "American English first, by name"
    );
    assert_eq!(list["voices"][2]["language"], "en-GB");
    assert_eq!(list["voices"][2]["gender"], "male");
    assert_eq!(list["problem"], Value::Null);

    let client = reqwest::Client::new();
    let preview = |body: Value| {
        client
            .post(format!("http://{}/api/v1/voices/preview", app.addr))
            .bearer_auth(&owner)
            .json(&body)
            .send()
    };
    let res = preview(json!({"voice": "am_onyx", "speed": 1.5, "text": "Hello there."}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "audio/wav");
    assert!(res.bytes().await.unwrap().len() > 44);
    let res = preview(json!({"voice": "am_onyx", "text": "x".repeat(301)}))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = preview(json!({"voice": "am_onyx", "pitch": 2}))
        .await
        .unwrap();
    assert!(res.status().is_client_error());

    // Personas take voices from the same catalogue.
    let (s, p) = app
        .post(
            "/api/v1/personas",
            &owner,
            json!({"name": "Bad voice", "voice": "nobody"}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("voice")),
        "{p}"
    );
    let (s, p) = app
        .post(
            "/api/v1/personas",
            &owner,
            json!({"name": "Onyx", "voice": "am_onyx"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");

    // 30 previews a minute per tenant: the 31st is refused with Retry-After.
    let mut refused = None;
    for _ in 0..40 {
        let res = preview(json!({"voice": "af_heart"})).await.unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(res);
            break;
        }
    }
    let refused = refused.expect("the preview budget never ran out");
    assert!(refused.headers().contains_key("retry-after"));

    // No engine configured: the catalogue says why and previews answer 424 naming the engine.
    let bare = avb_testkit::spawn_app(Db::Sqlite).await;
    let (_, owner) = bare.tenant_with_owner("No Engine Co").await;
    let (_, list) = bare.get("/api/v1/voices", &owner).await;
    assert!(
        list["problem"]
            .as_str()
            .unwrap()
            .contains("no text-to-speech engine is configured"),
        "{list}"
    );
    let res = client
        .post(format!("http://{}/api/v1/voices/preview", bare.addr))
        .bearer_auth(&owner)
        .json(&json!({"voice": "af_heart"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FAILED_DEPENDENCY);
    let problem: Value = res.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("no text-to-speech engine is configured"),
        "{problem}"
    );
}
