//! Voice-to-voice on the real local CPU engines (a load tool, not a timed test):
//!
//! ```sh
//! scripts/engines.sh up
//! cargo bench -p avb-server --bench voice -- [turns=12] [silence_ms=300] [sessions=1]
//! # Piper instead of Kokoro:
//! scripts/engines.sh down; ENGINE_TTS=piper scripts/engines.sh up
//! LOCAL_TTS_ENGINE=piper cargo bench -p avb-server --bench voice
//! ```
//!
//! Each turn opens a session, streams a question spoken by espeak-ng as 20 ms frames in real
//! time (then silence), and times, from the moment the last frame of speech was sent:
//! `speech_stopped` (server VAD), transcription done, first transcript delta (LLM first token)
//! and the first `response.output_audio.delta` (voice to voice). Engines: faster-whisper tiny.en,
//! SmolLM2-135M on llama.cpp, Kokoro-82M int8 or Piper, at `LOCAL_*_URL` or engines.sh's ports.
//!
//! Every question is asked of both, alternately (half a round apart, so that no two consecutive
//! requests share a prompt the LLM server could have cached): a platform that answers
//! speculatively during the final silence (`realtime.speculative_responses`, the default) and one
//! that does not;
//! both are reported, with how many speculations were used and wasted. With `sessions` > 1,
//! each turn is that many sessions talking at once. The per-stage times the platform exports
//! (`avb_realtime_stage_seconds`: STT, LLM first token, TTS first byte) are printed per mode.
//!
//! Real speech instead of espeak-ng (how often speculation is wasted on a human's pauses):
//!
//! ```sh
//! cargo bench -p avb-server --bench voice -- --wav=$(scripts/engines.sh install speech) [runs=3] [silence_ms=550]
//! # a VAD that hears quieter pauses (server_vad threshold, default 0.5):
//! cargo bench -p avb-server --bench voice -- --wav=... --threshold=0.8
//! ```
//!
//! Each run streams the recording once per mode in real time (one session, then 2 s of
//! silence) and reports every turn the VAD ended (`speech_stopped` -> first audio delta) and
//! the counts of early transcriptions and speculative answers, used and wasted.
#![allow(clippy::unwrap_used)]

use avb_testkit::speech::{LocalEngines, espeak};
use avb_testkit::ws::{open_session, pcm_b64, send};
use avb_testkit::{Db, TestApp, spawn_app_with};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const QUESTIONS: &[&str] = &[
    "What is the capital of France?",
    "How many days are in a week?",
    "Name a color of the sky.",
    "What do bees make?",
    "Tell me a fun fact about cats.",
    "What is two plus two?",
];

/// Milliseconds from the end of speech to each milestone of one turn.
#[derive(Default, Debug)]
struct Turn {
    speech_stopped: f64,
    transcribed: f64,
    first_token: f64,
    first_audio: f64,
}

fn pct(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[((values.len() as f64 - 1.0) * p).round() as usize]
}

fn engines() -> LocalEngines {
    LocalEngines::from_env().unwrap_or(LocalEngines {
        llm_url: "http://127.0.0.1:8081/v1".into(),
        stt_url: "http://127.0.0.1:8082/v1".into(),
        tts_url: "http://127.0.0.1:8083/v1".into(),
        tts_engine: std::env::var("LOCAL_TTS_ENGINE").unwrap_or_else(|_| "kokoro".into()),
        voice_fit_url: None,
    })
}

/// A session of a short-answer voice assistant, with server VAD ending a turn after
/// `silence_ms` of silence at `threshold` (0.5 is the API's default).
async fn voice_session(
    app: &TestApp,
    key: &str,
    silence_ms: u64,
    threshold: f64,
) -> avb_testkit::ws::Ws {
    let mut ws = open_session(app, key).await;
    send(
        &mut ws,
        json!({"type": "session.update", "session": {"type": "realtime",
        "instructions": "You are a helpful voice assistant. Answer in one short sentence.",
        "max_output_tokens": 60,
        "audio": {"input": {"transcription": {"model": "tiny.en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": silence_ms,
                "threshold": threshold}}}}}),
    )
    .await;
    ws
}

/// One turn of one session: streams the question in real time, reads until `response.done`.
async fn one_turn(app: Arc<TestApp>, key: String, speech: Arc<Vec<i16>>, silence_ms: u64) -> Turn {
    let ws = voice_session(&app, &key, silence_ms, 0.5).await;
    let mut audio = vec![0i16; 4_800];
    audio.extend(speech.iter());
    let speech_frames = audio.len().div_ceil(480);
    audio.extend(vec![0i16; 24 * 1500]);
    // Frames go out in real time from a task while this loop reads the events.
    let (ended_tx, ended_rx) = tokio::sync::oneshot::channel::<Instant>();
    let (mut sink, mut stream) = futures::StreamExt::split(ws);
    let sender = tokio::spawn(async move {
        use futures::SinkExt;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        let mut ended = Some(ended_tx);
        for (n, frame) in audio.chunks(480).enumerate() {
            tick.tick().await;
            let ev = json!({"type": "input_audio_buffer.append", "audio": pcm_b64(frame)});
            let msg = tokio_tungstenite::tungstenite::Message::Text(ev.to_string().into());
            if sink.send(msg).await.is_err() {
                return;
            }
            if n + 1 == speech_frames
                && let Some(tx) = ended.take()
            {
                let _ = tx.send(Instant::now());
            }
        }
    });
    let ended = ended_rx.await.unwrap();
    let since = |t: Instant| t.saturating_duration_since(ended).as_secs_f64() * 1000.0;
    let mut turn = Turn::default();
    loop {
        let ev = {
            let next = tokio::time::timeout(
                Duration::from_secs(60),
                futures::StreamExt::next(&mut stream),
            )
            .await
            .expect("an event in time")
            .expect("open")
            .unwrap();
            match next {
                tokio_tungstenite::tungstenite::Message::Text(t) => {
                    serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap()
                }
                _ => continue,
            }
        };
        let now = Instant::now();
        match ev["type"].as_str().unwrap_or("") {
            "input_audio_buffer.speech_stopped" => turn.speech_stopped = since(now),
            "conversation.item.input_audio_transcription.completed" => {
                turn.transcribed = since(now)
            }
            "response.output_audio_transcript.delta" if turn.first_token == 0.0 => {
                turn.first_token = since(now)
            }
            "response.output_audio.delta" if turn.first_audio == 0.0 => {
                turn.first_audio = since(now);
            }
            // The answer plays out before the next turn, so that no engine still works on
            // this one then.
            "response.done" => break,
            "error" => panic!("turn failed: {ev}"),
            _ => {}
        }
    }
    sender.abort();
    turn
}

/// What one recording streamed through one session did: each ended turn's
/// `speech_stopped` -> first audio delta (ms; `None` when no audio came before the next turn).
async fn one_recording(
    app: Arc<TestApp>,
    key: String,
    speech: Arc<Vec<i16>>,
    silence_ms: u64,
    threshold: f64,
) -> Vec<Option<f64>> {
    let ws = voice_session(&app, &key, silence_ms, threshold).await;
    let mut audio = vec![0i16; 4_800];
    audio.extend(speech.iter());
    audio.extend(vec![0i16; 24 * 2000]);
    let (mut sink, mut stream) = futures::StreamExt::split(ws);
    let sender = tokio::spawn(async move {
        use futures::SinkExt;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for frame in audio.chunks(480) {
            tick.tick().await;
            let ev = json!({"type": "input_audio_buffer.append", "audio": pcm_b64(frame)});
            let msg = tokio_tungstenite::tungstenite::Message::Text(ev.to_string().into());
            if sink.send(msg).await.is_err() {
                return;
            }
        }
    });
    let mut turns: Vec<Option<f64>> = Vec::new();
    let mut stopped: Option<Instant> = None;
    let mut responding = 0usize;
    let mut last_event = Instant::now();
    loop {
        // Done once the whole recording was sent and no answer is running.
        let Ok(next) = tokio::time::timeout(
            Duration::from_millis(200),
            futures::StreamExt::next(&mut stream),
        )
        .await
        else {
            if sender.is_finished() && responding == 0 {
                break;
            }
            assert!(
                last_event.elapsed() < Duration::from_secs(60),
                "no event in 60 s"
            );
            continue;
        };
        last_event = Instant::now();
        let ev = match next.expect("open").unwrap() {
            tokio_tungstenite::tungstenite::Message::Text(t) => {
                serde_json::from_str::<serde_json::Value>(t.as_str()).unwrap()
            }
            _ => continue,
        };
        match ev["type"].as_str().unwrap_or("") {
            "input_audio_buffer.speech_stopped" => {
                stopped = Some(Instant::now());
                turns.push(None);
            }
            "response.created" => responding += 1,
            "response.output_audio.delta" => {
                if let (Some(t), Some(last)) = (stopped.take(), turns.last_mut()) {
                    *last = Some(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            "response.done" => responding -= 1,
            "error" => panic!("the recording's turn failed: {ev}"),
            _ => {}
        }
    }
    turns
}

/// The `--wav` mode: the recording, `runs` times per mode.
async fn recording_bench(wav: &str, runs: usize, silence_ms: u64, threshold: f64) {
    let bytes = std::fs::read(wav).unwrap_or_else(|e| panic!("{wav}: {e}"));
    let (rate, samples) = avb_testkit::speech::parse_wav(&bytes).unwrap();
    let speech = Arc::new(avb_voice::audio::resample(&samples, rate, 24_000));
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    println!(
        "{wav}: {:.1} s of speech, server VAD silence {silence_ms} ms, threshold {threshold}, {runs} run(s) per mode",
        speech.len() as f64 / 24_000.0
    );
    for speculate in [true, false] {
        let (app, key, _) = bench_app(speculate).await;
        let app = Arc::new(app);
        let mut latencies = Vec::new();
        let (mut turns, mut silent) = (0, 0);
        // One warm-up run that is not counted.
        for run in 0..=runs {
            let result = one_recording(
                app.clone(),
                key.clone(),
                speech.clone(),
                silence_ms,
                threshold,
            )
            .await;
            if run == 0 {
                continue;
            }
            println!("run {run} (speculative {speculate}): {result:?}");
            turns += result.len();
            silent += result.iter().filter(|t| t.is_none()).count();
            latencies.extend(result.into_iter().flatten());
        }
        if !latencies.is_empty() {
            println!(
                "speculative {speculate}: {turns} turns ended by the VAD ({silent} without audio before the next); speech_stopped -> first audio p50 {:.0} ms, p95 {:.0} ms",
                pct(&mut latencies, 0.5),
                pct(&mut latencies, 0.95)
            );
        }
    }
    for line in prometheus.render().lines().filter(|l| {
        l.starts_with("avb_realtime_speculations_total")
            || l.starts_with("avb_realtime_early_transcriptions_total")
    }) {
        println!("  {line}");
    }
    println!("  (counts include the warm-up runs; the plain platform speculates nothing)");
}

/// A platform on the local engines, with speculation on or off, and a Realtime key of a new
/// tenant: (app, key, tenant).
async fn bench_app(speculate: bool) -> (TestApp, String, String) {
    let engines = engines();
    let app = spawn_app_with(Db::Sqlite, move |c| {
        engines.configure(c);
        c.realtime.speculative_responses = speculate;
    })
    .await;
    let (tenant, owner) = app.tenant_with_owner(&format!("Voice {speculate}")).await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "bench", "scopes": ["realtime"]}),
        )
        .await;
    let key = key["secret"].as_str().unwrap().to_string();
    (app, key, tenant.to_string())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    if let Some(wav) = std::env::args().find_map(|a| a.strip_prefix("--wav=").map(str::to_string)) {
        let args: Vec<String> = std::env::args()
            .skip(1)
            .filter(|a| !a.starts_with("--"))
            .collect();
        let runs = args.first().and_then(|a| a.parse().ok()).unwrap_or(3);
        let silence_ms = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(550);
        let threshold = std::env::args()
            .find_map(|a| a.strip_prefix("--threshold=").and_then(|t| t.parse().ok()))
            .unwrap_or(0.5);
        return recording_bench(&wav, runs, silence_ms, threshold).await;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let turns: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(12);
    let silence_ms: u64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let sessions: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let prometheus = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    let mut apps = Vec::new();
    for speculate in [true, false] {
        let (app, key, tenant) = bench_app(speculate).await;
        apps.push((Arc::new(app), key, tenant, Vec::new()));
    }
    let speech: Vec<Arc<Vec<i16>>> = QUESTIONS
        .iter()
        .map(|q| Arc::new(espeak(q).unwrap()))
        .collect();

    // One warm-up round (model loading, caches) that is not counted.
    for n in 0..=(turns * 2 + 1) {
        let (i, (app, key, _, results)) = (n / 2, &mut apps[n % 2]);
        let round: Vec<_> = (0..sessions)
            .map(|s| {
                // The plain platform asks another question than the speculative one just
                // before it: llama.cpp reuses the KV cache of an identical prompt, which would
                // give whichever mode asks second a first token in 24 ms instead of ~95.
                let offset = (n % 2) * speech.len() / 2;
                let question = speech[(i + s + offset) % speech.len()].clone();
                tokio::spawn(one_turn(app.clone(), key.clone(), question, silence_ms))
            })
            .collect();
        for t in round {
            let turn = t.await.unwrap();
            if i > 0 {
                let mode = if n % 2 == 0 { "speculative" } else { "plain" };
                println!("turn {i} ({mode}): {turn:?}");
                results.push(turn);
            }
        }
    }
    let rendered = prometheus.render();
    for (speculate, (_, _, tenant, results)) in [true, false].into_iter().zip(&apps) {
        report(results, turns, silence_ms, sessions, speculate);
        // The platform's own stage summaries for this mode's tenant.
        for line in rendered.lines().filter(|l| {
            l.starts_with("avb_realtime_stage_seconds{")
                && l.contains(&format!("tenant=\"{tenant}\""))
                && (l.contains("quantile=\"0.5\"") || l.contains("quantile=\"0.99\""))
                && ["stt", "llm_first_token", "tts_first_byte"]
                    .iter()
                    .any(|s| l.contains(&format!("stage=\"{s}\"")))
        }) {
            println!("  {}", line.replace(&format!(",tenant=\"{tenant}\""), ""));
        }
    }
    for line in rendered
        .lines()
        .filter(|l| l.starts_with("avb_realtime_speculations_total"))
    {
        println!("  {line}");
    }
}

fn report(results: &[Turn], turns: usize, silence_ms: u64, sessions: usize, speculate: bool) {
    let col = |f: fn(&Turn) -> f64| results.iter().map(f).collect::<Vec<_>>();
    let mode = if speculate {
        "speculative answers"
    } else {
        "no speculation"
    };
    println!(
        "\n{mode}: {turns} rounds of {sessions} concurrent session(s), server VAD silence {silence_ms} ms, times from the end of speech (ms):"
    );
    for (name, mut v) in [
        ("speech_stopped (VAD)", col(|t| t.speech_stopped)),
        ("transcription done", col(|t| t.transcribed)),
        ("LLM first token", col(|t| t.first_token)),
        ("first audio delta (voice to voice)", col(|t| t.first_audio)),
    ] {
        let (p50, p95) = (pct(&mut v, 0.5), pct(&mut v, 0.95));
        println!("  {name:<36} p50 {p50:7.0}  p95 {p95:7.0}");
    }
    let mut pipeline = col(|t| t.first_audio - t.speech_stopped);
    println!(
        "  {:<36} p50 {:7.0}  p95 {:7.0}",
        "speech_stopped -> first audio",
        pct(&mut pipeline, 0.5),
        pct(&mut pipeline, 0.95)
    );
}
