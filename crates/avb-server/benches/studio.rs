//! The voice studio's figures on the real local engines (a load tool, not a timed test):
//!
//! ```sh
//! scripts/engines.sh up
//! cargo bench -p avb-server --bench studio -- [previews=10]
//! ```
//!
//! 1. Preview latency: `POST /api/v1/voices/preview` to the first audio byte after the WAV
//!    header and to the last byte, at 1.0x (Kokoro renders it) and at 0.6x (Kokoro renders 1.0x
//!    and the platform time-stretches the utterance, so the first byte waits for all of it).
//! 2. Save to use: `PUT /api/v1/voice-profile` with a new voice, then a Realtime session opened
//!    at once; reports whether `session.created` already carries the voice and the time between.
#![allow(clippy::unwrap_used)]

use avb_testkit::speech::LocalEngines;
use avb_testkit::{Db, spawn_app_with};
use futures::StreamExt;
use serde_json::json;
use std::time::Instant;

fn pct(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

fn engines() -> LocalEngines {
    LocalEngines::from_env().unwrap_or(LocalEngines {
        llm_url: "http://127.0.0.1:8081/v1".into(),
        stt_url: "http://127.0.0.1:8082/v1".into(),
        tts_url: "http://127.0.0.1:8083/v1".into(),
        tts_engine: "kokoro".into(),
        voice_fit_url: None,
    })
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let previews: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(10);
    let engines = engines();
    let app = spawn_app_with(Db::Sqlite, move |c| engines.configure(c)).await;
    let (_, owner) = app.tenant_with_owner("Studio Bench").await;
    let client = reqwest::Client::new();
    let url = format!("http://{}/api/v1/voices/preview", app.addr);

    println!(
        "preview of \"Hello! I'm Heart. How can I help you today?\" (af_heart), {previews} runs each"
    );
    for speed in [1.0, 0.6] {
        let (mut first, mut total) = (Vec::new(), Vec::new());
        // One warm-up run, not counted.
        for i in 0..=previews {
            let started = Instant::now();
            let res = client
                .post(&url)
                .bearer_auth(&owner)
                .json(&json!({"voice": "af_heart", "speed": speed}))
                .send()
                .await
                .unwrap();
            assert!(
                res.status().is_success(),
                "preview answered {}",
                res.status()
            );
            let mut body = res.bytes_stream();
            let mut seen = 0usize;
            let mut first_audio = None;
            while let Some(chunk) = body.next().await {
                seen += chunk.unwrap().len();
                if seen > 44 && first_audio.is_none() {
                    first_audio = Some(started.elapsed().as_secs_f64() * 1000.0);
                }
            }
            if i > 0 {
                first.push(first_audio.unwrap());
                total.push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }
        println!(
            "  {speed:.1}x: first audio byte p50 {:.0} ms, p95 {:.0} ms; whole preview p50 {:.0} ms",
            pct(&mut first, 0.5),
            pct(&mut first, 0.95),
            pct(&mut total, 0.5)
        );
    }

    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "bench", "scopes": ["realtime"]}),
        )
        .await;
    let key = key["secret"].as_str().unwrap().to_string();
    let mut gaps = Vec::new();
    let mut applied = 0;
    for voice in ["bm_george", "af_sarah", "am_onyx", "bf_emma"] {
        let saved = client
            .put(format!("http://{}/api/v1/voice-profile", app.addr))
            .bearer_auth(&owner)
            .json(&json!({"voice": voice}))
            .send()
            .await
            .unwrap();
        assert!(saved.status().is_success());
        let at = Instant::now();
        let (mut ws, _) =
            avb_testkit::ws::connect(&app, &[("authorization", &format!("Bearer {key}"))])
                .await
                .unwrap();
        let created = avb_testkit::ws::recv(&mut ws).await;
        gaps.push(at.elapsed().as_secs_f64() * 1000.0);
        if created["session"]["audio"]["output"]["voice"] == voice {
            applied += 1;
        }
    }
    println!(
        "save -> next session: {applied}/{} sessions opened right after the save used the new voice; \
         connect to session.created p50 {:.0} ms",
        gaps.len(),
        pct(&mut gaps, 0.5)
    );
}
