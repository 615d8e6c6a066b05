//! Audio turns on the real local CPU engines started by `scripts/engines.sh up` (faster-whisper
//! tiny.en, SmolLM2-135M on llama.cpp, Kokoro-82M): speech made with espeak-ng goes in through
//! server VAD, and the answer's audio is transcribed back with the same STT engine.
//!
//! `scripts/test.sh` starts the engines and exports `LOCAL_LLM_URL`, `LOCAL_STT_URL` and
//! `LOCAL_TTS_URL`; without them these tests say so and pass vacuously (e.g. a bare
//! `cargo nextest run` on a machine without the engines).
#![allow(clippy::unwrap_used)]

use avb_testkit::speech::{LocalEngines, espeak};
use avb_testkit::ws::{Ws, open_session, pcm_from_b64, send, stream_audio, until_within};
use avb_testkit::{Db, TestApp, spawn_app_with};
use avb_voice::SpeechToText;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;

/// Real engines on two shared cores, beside other tests: allow for slow turns.
const ENGINE_WAIT: Duration = Duration::from_secs(90);

async fn engines_app() -> Option<(TestApp, LocalEngines)> {
    let Some(engines) = LocalEngines::from_env() else {
        eprintln!("LOCAL_*_URL not set: local engines not running, nothing tested");
        return None;
    };
    let cfg = engines.clone();
    let app = spawn_app_with(Db::Sqlite, move |c| cfg.configure(c)).await;
    Some((app, engines))
}

/// Lower-case words of three letters or more.
fn words(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 3)
        .map(str::to_lowercase)
        .collect()
}

fn first<'a>(events: &'a [Value], kind: &str) -> &'a Value {
    events
        .iter()
        .find(|e| e["type"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in {:?}", avb_testkit::ws::types(events)))
}

/// Streams `text` as speech with silence around it and waits for the answer.
async fn spoken_turn(ws: &mut Ws, text: &str) -> Vec<Value> {
    let mut audio = vec![0i16; 12_000];
    audio.extend(espeak(text).unwrap());
    audio.extend(vec![0i16; 36_000]);
    stream_audio(ws, &audio).await;
    until_within(ws, "response.done", ENGINE_WAIT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spoken_question_is_transcribed_answered_and_spoken() {
    let Some((app, engines)) = engines_app().await else {
        return;
    };
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {
        "type": "realtime",
        "instructions": "You are a helpful assistant. Answer in one short sentence.",
        "max_output_tokens": 40,
        "audio": {"input": {"transcription": {"model": "tiny.en"},
                            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}},
                  "output": {"voice": "af_heart"}}
    }}))
    .await;
    let events = spoken_turn(&mut ws, "What is the capital of France?").await;

    let heard = first(
        &events,
        "conversation.item.input_audio_transcription.completed",
    )["transcript"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(
        heard.contains("capital") && heard.contains("france"),
        "faster-whisper heard {heard:?}"
    );
    let said = first(&events, "response.output_audio_transcript.done")["transcript"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!said.trim().is_empty(), "the LLM answered");
    let audio: Vec<i16> = events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .flat_map(|e| pcm_from_b64(e["delta"].as_str().unwrap()))
        .collect();
    assert!(
        audio.len() > 24_000 / 2,
        "at least half a second of speech, got {} samples",
        audio.len()
    );
    let done = events.last().unwrap();
    assert_eq!(done["response"]["status"], "completed", "{done}");

    // Transcribe the answer's audio back: Kokoro said what the transcript says.
    let stt = avb_voice::OpenAiTranscriber::new(
        &engines.stt_url,
        None,
        "tiny.en",
        Duration::from_secs(60),
    )
    .unwrap();
    let back = stt
        .transcribe(
            avb_voice::audio::wav(&audio, 24_000),
            avb_voice::TranscribeOptions {
                language: Some("en".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .text;
    let expected = words(&said);
    let got = words(&back);
    let matched = expected.intersection(&got).count();
    assert!(
        matched * 2 >= expected.len(),
        "answer {said:?} came back as {back:?} ({matched} of {} words)",
        expected.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speaking_over_the_answer_interrupts_it() {
    let Some((app, _engines)) = engines_app().await else {
        return;
    };
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {
        "type": "realtime",
        "instructions": "Tell a long story with many sentences.",
        "max_output_tokens": 200,
        "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}
    }}))
    .await;
    let mut audio = vec![0i16; 12_000];
    audio.extend(espeak("Tell me a long story about a dragon.").unwrap());
    audio.extend(vec![0i16; 12_000]);
    stream_audio(&mut ws, &audio).await;
    // Wait for the first audio of the answer, then talk over it.
    until_within(&mut ws, "response.output_audio.delta", ENGINE_WAIT).await;
    let mut interruption = espeak("Stop, stop please.").unwrap();
    interruption.extend(vec![0i16; 24_000]);
    stream_audio(&mut ws, &interruption).await;
    let events = until_within(&mut ws, "response.done", ENGINE_WAIT).await;
    let done = events.last().unwrap();
    assert_eq!(
        done["response"]["status"], "cancelled",
        "speech over the answer cancels it: {done}"
    );
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "input_audio_buffer.speech_started"),
        "the interruption was heard"
    );
}

/// The official Python SDK (GA) streams espeak-ng speech; the turn runs on the local engines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_audio_turn_on_local_engines() {
    let Some((app, _engines)) = engines_app().await else {
        return;
    };
    let key = app.realtime_key(&["realtime"]).await;
    let speech = espeak("How many days are in a week?").unwrap();
    let dir = tempfile_dir();
    let pcm_path = dir.join("question.pcm");
    std::fs::write(
        &pcm_path,
        speech
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
    .unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/python_realtime.py"
    );
    let base = app.base.clone();
    let pcm = pcm_path.to_string_lossy().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &base, &key, "audio", &pcm])
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        out.status.success(),
        "python SDK failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_slice(&out.stdout).unwrap();
    let heard = result["heard"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        heard.contains("days") && heard.contains("week"),
        "heard {heard:?}"
    );
    assert_eq!(result["status"], "completed", "{result}");
    // Every event of a voice turn (VAD, transcription, audio deltas, content parts) as the
    // SDK's own GA models describe it.
    assert_eq!(
        result["invalid"],
        json!([]),
        "events the SDK's models refuse"
    );
    assert!(!result["said"].as_str().unwrap_or_default().is_empty());
    assert!(
        result["audio_bytes"].as_u64().unwrap_or(0) > 24_000,
        "{result}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("avb-sdk-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The voice studio on the real Kokoro engine: its 54 voices make the catalogue, and a preview
/// below the engine's own speed range (fastkokoro renders 1.0-2.0) comes back stretched to
/// about the right length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voice_catalogue_and_preview_on_kokoro() {
    let Some((app, engines)) = engines_app().await else {
        return;
    };
    if engines.tts_engine != "kokoro" {
        return;
    }
    let (_, owner) = app.tenant_with_owner("Kokoro Studio").await;
    let (_, list) = app.get("/api/v1/voices", &owner).await;
    let voices = list["voices"].as_array().unwrap();
    assert_eq!(voices.len(), 54, "{list}");
    let heart = voices.iter().find(|v| v["id"] == "af_heart").unwrap();
    assert_eq!(
        (&heart["accent"], &heart["gender"]),
        (&json!("American English"), &json!("female"))
    );
    let client = reqwest::Client::new();
    let mut lengths = Vec::new();
    for speed in [1.0, 0.6] {
        let started = std::time::Instant::now();
        let res = client
            .post(format!("http://{}/api/v1/voices/preview", app.addr))
            .bearer_auth(&owner)
            .json(&json!({"voice": "af_heart", "speed": speed, "text": "The capital of France is Paris."}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        let wav = res.bytes().await.unwrap();
        eprintln!(
            "preview at {speed}x: {} bytes in {:?}",
            wav.len(),
            started.elapsed()
        );
        lengths.push((wav.len() - 44) as f64);
    }
    let ratio = lengths[1] / lengths[0];
    assert!(
        (1.5..1.85).contains(&ratio),
        "0.6x should be ~1.67x longer, got {ratio}"
    );
}
