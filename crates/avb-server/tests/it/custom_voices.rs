//! Custom voices: a sample is checked (nothing stored when it fails), a job makes the voice
//! (here by the ElevenLabs-compatible cloning stand-in, which paid APIs cannot run here; the
//! local stock-voice blend runs against the real voice lab and Kokoro), and the voice is then
//! previewed, made the default, spoken in a Realtime session, renamed and deleted.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field};
use avb_testkit::clone_api::spawn_clone_api;
use avb_testkit::{Db, TestApp, both_backends, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// About 13 s of espeak-ng speech as a 24 kHz WAV.
fn spoken_sample() -> Vec<u8> {
    let pcm = avb_testkit::speech::espeak(
        "Good morning. This is a recording of my voice for a custom voice. I read a few \
         sentences slowly and clearly in a quiet room, so that the voice sounds natural. \
         Thank you for listening to this sample of my voice.",
    )
    .unwrap();
    avb_voice::audio::wav(&pcm, 24_000)
}

async fn upload(
    app: &TestApp,
    token: &str,
    bytes: Vec<u8>,
    name: &str,
    method: &str,
) -> (StatusCode, Value) {
    let form = reqwest::multipart::Form::new()
        .text("name", name.to_string())
        .text("method", method.to_string())
        .part(
            "file",
            reqwest::multipart::Part::bytes(bytes).file_name("sample.wav"),
        );
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/custom-voices", app.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// Waits until the voice's job has ended (`limit` at most); returns the voice.
async fn until_done(app: &TestApp, token: &str, id: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let (_, v) = app.get(&format!("/api/v1/custom-voices/{id}"), token).await;
        if v["status"] == "ready" || v["status"] == "failed" {
            return v;
        }
        assert!(Instant::now() < deadline, "job did not end: {v}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

both_backends!(
    cloned_voices_are_checked_made_spoken_and_deleted,
    clone_scenario
);
async fn clone_scenario(db: Db) {
    let api = spawn_clone_api("xi-test-key").await;
    let (tts, _) = crate::voice_studio::kokoro_like().await;
    let llm = crate::realtime::llm_double().await;
    let clone_url = api.url().to_string();
    let app = spawn_app_with(db, move |c| {
        c.engines.tts_url = Some(tts);
        c.engines.tts_model = "kokoro".into();
        (c.engines.tts_speed_min, c.engines.tts_speed_max) = (1.0, 2.0);
        c.engines.llm_url = Some(llm);
        c.engines.clone_url = Some(clone_url);
        c.engines.clone_api_key = Some(avb_core::Secret::new("xi-test-key"));
    })
    .await;
    let tenant = app.create_tenant("Clone Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@clone.test")
        .await;
    let developer = app
        .create_user(Some(tenant), "developer", "dev@clone.test")
        .await;
    let other_tenant = app.create_tenant("Other Co").await;
    let other = app
        .create_user(Some(other_tenant), "tenant_owner", "owner@other.test")
        .await;
    let token = app.login(&owner).await;
    let dev_token = app.login(&developer).await;
    let other_token = app.login(&other).await;

    // What this server offers, truthfully: no voice lab here, a cloning service.
    let (_, methods) = app.get("/api/v1/custom-voices/methods", &token).await;
    let methods = methods["methods"].as_array().unwrap().clone();
    assert_eq!(methods[0]["method"], "stock_blend");
    assert_eq!(methods[0]["available"], false);
    assert!(
        methods[0]["reason"]
            .as_str()
            .unwrap()
            .contains("voice_fit_url")
    );
    assert_eq!(methods[1]["available"], true);

    // Bad samples and options are refused with the field and what to do; nothing is stored.
    let sample = spoken_sample();
    let short = avb_voice::audio::wav(&vec![3000i16; 24_000 * 3], 24_000);
    for (bytes, name, method, field_name, needle) in [
        (
            b"just text".to_vec(),
            "A",
            "remote_clone",
            "file",
            "neither WAV nor MP3",
        ),
        (short, "A", "remote_clone", "file", "10 s to 5 min"),
        (sample.clone(), "", "remote_clone", "name", "is required"),
        (
            sample.clone(),
            "A",
            "stock_blend",
            "method",
            "voice_fit_url",
        ),
        (
            sample.clone(),
            "A",
            "psychic",
            "method",
            "stock_blend or remote_clone",
        ),
    ] {
        let (status, body) = upload(&app, &token, bytes, name, method).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err = &body["errors"][0];
        assert_eq!(err["field"], field_name, "{body}");
        assert!(
            err["message"].as_str().unwrap().contains(needle),
            "{needle}: {body}"
        );
    }
    let (status, _) = upload(&app, &dev_token, sample.clone(), "Dev", "remote_clone").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a developer cannot make voices"
    );
    let (_, listed) = app.get("/api/v1/custom-voices", &token).await;
    assert_eq!(listed["data"].as_array().unwrap().len(), 0, "{listed}");
    assert!(api.voices().is_empty());

    // A good sample is queued and made by the job.
    let (status, queued) = upload(&app, &token, sample.clone(), "Founder", "remote_clone").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("cv_"), "{queued}");
    assert!(
        (12.0..16.0).contains(&queued["sample_seconds"].as_f64().unwrap()),
        "{queued}"
    );
    let (status, _) = upload(&app, &token, sample.clone(), "Founder", "remote_clone").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "names are unique");
    let voice = until_done(&app, &token, &id, Duration::from_secs(20)).await;
    assert_eq!(voice["status"], "ready", "{voice}");
    assert_eq!(voice["method_label"], "Voice clone (remote service)");
    let held = api.voices();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0].name, "Founder");
    assert!(held[0].bytes > 500_000, "the sample was sent: {held:?}");

    // Another tenant cannot see, preview or use it.
    let (status, _) = app
        .get(&format!("/api/v1/custom-voices/{id}"), &other_token)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/voice-profile",
            Some(&other_token),
            Some(json!({"voice": id})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    // A preview speaks typed text in the clone.
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/voices/preview", app.base))
        .bearer_auth(&token)
        .json(&json!({"voice": id, "text": "Testing my own voice."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let wav = res.bytes().await.unwrap();
    assert!(
        wav.len() > 44 + 24_000,
        "audio came back: {} bytes",
        wav.len()
    );
    let calls = api.speech_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].voice_id, held[0].voice_id);
    assert_eq!(calls[0].text, "Testing my own voice.");

    // Made the default, the next Realtime session speaks with it.
    let res = app
        .call(
            reqwest::Method::POST,
            &format!("/api/v1/custom-voices/{id}/default"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(res.0, StatusCode::NO_CONTENT, "{}", res.1);
    let (_, profile) = app.get("/api/v1/voice-profile", &token).await;
    assert_eq!(profile["voice"], id.as_str());
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let (mut ws, _) = avb_testkit::ws::connect(
        &app,
        &[(
            "authorization",
            &format!("Bearer {}", key["secret"].as_str().unwrap()),
        )],
    )
    .await
    .unwrap();
    let created = avb_testkit::ws::recv(&mut ws).await;
    assert_eq!(created["session"]["audio"]["output"]["voice"], id.as_str());
    avb_testkit::ws::send(
        &mut ws,
        json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}),
    )
    .await;
    avb_testkit::ws::send(&mut ws, json!({"type": "response.create"})).await;
    let events = avb_testkit::ws::until(&mut ws, "response.done").await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "response.output_audio.delta"),
        "{events:?}"
    );
    let calls = api.speech_calls();
    assert!(
        calls[1..]
            .iter()
            .all(|c| c.voice_id == held[0].voice_id && c.output_format == "pcm_24000"),
        "{calls:?}"
    );
    assert!(
        calls.len() >= 2,
        "the session spoke with the clone: {calls:?}"
    );

    // In use: deleting is refused with where; renaming works; a developer reads only.
    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/custom-voices/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("the tenant's default voice"),
        "{body}"
    );
    let (status, renamed) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/custom-voices/{id}"),
            Some(&token),
            Some(json!({"name": "Founder (2026)"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(renamed["name"], "Founder (2026)");
    let (status, _) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/custom-voices/{id}"),
            Some(&dev_token),
            Some(json!({"name": "Mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get(&format!("/api/v1/custom-voices/{id}"), &dev_token)
        .await;
    assert_eq!(status, StatusCode::OK);

    // Back on a stock voice, the clone can go; the cloning service forgets it too.
    let (status, _) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/voice-profile",
            Some(&token),
            Some(json!({"voice": "af_heart"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/custom-voices/{id}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(api.voices().is_empty(), "{:?}", api.voices());
    let (_, audit) = app
        .get("/api/v1/audit?resource_type=custom_voice", &token)
        .await;
    let actions: Vec<&str> = audit["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    for a in [
        "custom_voice.create",
        "custom_voice.ready",
        "custom_voice.rename",
        "custom_voice.delete",
    ] {
        assert!(actions.contains(&a), "{a} missing from {actions:?}");
    }
}

both_backends!(custom_voice_pages_upload_and_show_the_job, pages_scenario);
async fn pages_scenario(db: Db) {
    let api = spawn_clone_api("xi-page-key").await;
    let (tts, _) = crate::voice_studio::kokoro_like().await;
    let clone_url = api.url().to_string();
    let app = spawn_app_with(db, move |c| {
        c.engines.tts_url = Some(tts);
        c.engines.clone_url = Some(clone_url);
        c.engines.clone_api_key = Some(avb_core::Secret::new("xi-page-key"));
    })
    .await;
    let tenant = app.create_tenant("Pages Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@pages.test")
        .await;
    let viewer = app
        .create_user(Some(tenant), "viewer", "viewer@pages.test")
        .await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let html = browser.page("/voice/custom", &cookie).await;
    for needle in [
        "Custom voices",
        "Closest stock-voice blend",
        "It is not a clone of the speaker",
        "Not available on this server: no voice lab is configured",
        "No custom voices yet",
        "enctype=\"multipart/form-data\"",
    ] {
        assert!(html.contains(needle), "missing {needle}");
    }
    let csrf = field(&html, "csrf");
    let post = |bytes: Vec<u8>, name: &str, csrf: &str| {
        let form = reqwest::multipart::Form::new()
            .text("csrf", csrf.to_string())
            .text("name", name.to_string())
            .text("method", "remote_clone")
            .part(
                "file",
                reqwest::multipart::Part::bytes(bytes).file_name("me.wav"),
            );
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
            .post(format!("{}/voice/custom", app.base))
            .header("cookie", cookie.clone())
            .multipart(form)
            .send()
    };
    // A refused sample is said inline, with the name kept.
    let res = post(b"RIFFnope".to_vec(), "Me", &csrf).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("role=\"alert\"") && text.contains("Upload a WAV"),
        "{text}"
    );
    assert!(text.contains("value=\"Me\""));
    // Without the CSRF token nothing happens.
    let res = post(spoken_sample(), "Me", "forged").await.unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = post(spoken_sample(), "Me", &csrf).await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/voice/custom?done=custom_voice_queued"
    );
    let html = browser
        .page("/voice/custom?done=custom_voice_queued", &cookie)
        .await;
    assert!(html.contains("The voice is being made"));
    let (_, listed) = app
        .get("/api/v1/custom-voices", &app.login(&owner).await)
        .await;
    let id = listed["data"][0]["id"].as_str().unwrap().to_string();
    // The table polls itself until the job ends, then stops polling.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let table = browser.page("/voice/custom/table", &cookie).await;
        if table.contains("data-status=\"ready\"") {
            assert!(!table.contains("hx-trigger"), "{table}");
            break;
        }
        assert!(table.contains("hx-trigger=\"every 2s"), "{table}");
        assert!(Instant::now() < deadline, "{table}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its page: preview of typed text, rename, default, delete (with confirmation).
    let html = browser
        .page(&format!("/voice/custom/{id}?text=Hello%20there"), &cookie)
        .await;
    assert!(
        html.contains(&format!(
            "src=\"/voice/preview?voice={id}&#38;text=Hello%20there\""
        )),
        "{html}"
    );
    assert!(html.contains("data-confirm=\"Delete the voice"));
    let audio = browser
        .get(
            &format!("/voice/preview?voice={id}&text=Hello%20there"),
            &cookie,
        )
        .await;
    assert_eq!(audio.status(), StatusCode::OK);
    assert!(audio.bytes().await.unwrap().len() > 1000);
    let at = browser
        .submit(
            &format!("/voice/custom/{id}/default"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(at, format!("/voice/custom/{id}?done=custom_voice_default"));
    // The voice page lists it among the voices, chosen.
    let html = browser.page("/voice", &cookie).await;
    assert!(
        html.contains(&format!("value=\"{id}\" id=\"v-{id}\" checked")),
        "{html}"
    );
    assert!(html.contains("Custom: Voice clone (remote service)"));
    // Deleting it while it is the default says why, inline.
    let res = browser
        .post(
            &format!("/voice/custom/{id}/delete"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    let text = res.text().await.unwrap();
    assert!(
        text.contains("is in use by") && text.contains("s default voice"),
        "{text}"
    );
    // A viewer sees the pages without forms.
    let vcookie = browser.session(&viewer).await;
    let html = browser.page("/voice/custom", &vcookie).await;
    assert!(html.contains("Read-only") && !html.contains("Upload and make the voice"));
    let html = browser.page(&format!("/voice/custom/{id}"), &vcookie).await;
    assert!(!html.contains("Delete voice") && html.contains("Hear it"));
}

/// The local method on the real engines: the voice lab fits a blend of Kokoro's stock voices
/// to espeak-ng speech, and Kokoro speaks the blend. Skipped unless the voice lab runs
/// (`scripts/engines.sh up` starts it with Kokoro).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_blend_voices_are_fitted_and_spoken_by_the_local_engines() {
    let Some(engines) = avb_testkit::speech::LocalEngines::from_env() else {
        eprintln!("local engines not running; skipped");
        return;
    };
    if engines.voice_fit_url.is_none() || engines.tts_engine != "kokoro" {
        eprintln!("voice lab not running; skipped");
        return;
    }
    let app = spawn_app_with(Db::Sqlite, move |c| {
        engines.configure(c);
        c.engines.voice_fit_budget_secs = 10;
    })
    .await;
    let tenant = app.create_tenant("Blend Co").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@blend.test")
        .await;
    let token = app.login(&owner).await;
    let started = Instant::now();
    let (status, queued) = upload(&app, &token, spoken_sample(), "Robot", "stock_blend").await;
    assert_eq!(status, StatusCode::ACCEPTED, "{queued}");
    let id = queued["id"].as_str().unwrap().to_string();
    let voice = until_done(&app, &token, &id, Duration::from_secs(300)).await;
    eprintln!(
        "stock blend made in {:.0} s: similarity {} (best single {} {}), blend {}",
        started.elapsed().as_secs_f64(),
        voice["similarity"],
        voice["best_stock_voice"],
        voice["best_stock_similarity"],
        voice["blend"]
    );
    assert_eq!(voice["status"], "ready", "{voice}");
    let similarity = voice["similarity"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&similarity), "{voice}");
    assert!(voice["best_stock_voice"].as_str().unwrap().contains('_'));
    let parts = voice["blend"].as_array().unwrap();
    assert!(!parts.is_empty(), "{voice}");
    let total: f64 = parts.iter().map(|p| p["weight"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 0.05, "{voice}");
    // Kokoro speaks the blend.
    let res = reqwest::Client::new()
        .post(format!("{}/api/v1/voices/preview", app.base))
        .bearer_auth(&token)
        .json(&json!({"voice": id, "text": "This voice is a blend of stock voices."}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let wav = res.bytes().await.unwrap();
    let seconds = (wav.len() - 44) as f64 / 48_000.0;
    assert!(seconds > 1.0, "{seconds} s of audio");
}
