//! Gateway overhead per voice turn (a load tool, not a timed test):
//!
//! ```sh
//! cargo bench -p avb-server --bench overhead -- 1 50 200
//! ```
//!
//! Engines are stand-ins with fixed latency (STT 100 ms, LLM first token 50 ms, TTS first byte
//! 50 ms), so the engine time on the path from `speech_stopped` to the first audio delta is a
//! known 200 ms. N sessions each stream 0.9 s of synthetic voice then silence as 20 ms frames in
//! real time with server VAD (300 ms silence); overhead = (speech_stopped -> first audio) - 200
//! ms: VAD, buffering, WAV encoding, queueing, HTTP hops, chunking, resampling, JSON and base64 on
//! both ends. Clients share the two cores with the server.
#![allow(clippy::unwrap_used)]

use avb_testkit::ws::pcm_b64;
use avb_testkit::{Db, spawn_app_with};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const STT_MS: u64 = 100;
const LLM_FIRST_MS: u64 = 50;
const TTS_FIRST_MS: u64 = 50;
const ENGINE_MS: f64 = (STT_MS + LLM_FIRST_MS + TTS_FIRST_MS) as f64;

async fn engines() -> String {
    use axum::response::IntoResponse;
    async fn stt() -> axum::Json<Value> {
        tokio::time::sleep(Duration::from_millis(STT_MS)).await;
        axum::Json(json!({"text": "what is the weather like"}))
    }
    async fn chat() -> axum::response::Response {
        let chunk = |t: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": t}}]})
            )
        };
        let parts = vec![
            chunk("It is sunny and warm today."),
            chunk(" Enjoy the afternoon outside."),
            "data: [DONE]\n\n".to_string(),
        ];
        let stream =
            futures::stream::iter(parts.into_iter().enumerate()).then(|(i, p)| async move {
                if i == 0 {
                    tokio::time::sleep(Duration::from_millis(LLM_FIRST_MS)).await;
                }
                Ok::<_, std::io::Error>(p)
            });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    }
    async fn speech() -> axum::response::Response {
        tokio::time::sleep(Duration::from_millis(TTS_FIRST_MS)).await;
        let pcm: Vec<u8> = (0..2400i16).flat_map(|i| (i % 100).to_le_bytes()).collect();
        pcm.into_response()
    }
    let router = axum::Router::new()
        .route("/v1/audio/transcriptions", axum::routing::post(stt))
        .route("/v1/chat/completions", axum::routing::post(chat))
        .route("/v1/audio/speech", axum::routing::post(speech));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    // Like real engine servers (uvicorn, llama.cpp), answer without Nagle delays.
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// One session's turn: streams frames in real time, returns speech_stopped -> first audio (ms).
async fn turn(url: String, key: String, audio: std::sync::Arc<Vec<i16>>) -> Option<f64> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req).await.ok()?;
    let (mut sink, mut stream) = ws.split();
    stream.next().await?.ok()?;
    let update = json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}});
    sink.send(Message::Text(update.to_string().into()))
        .await
        .ok()?;
    let sender = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        for frame in audio.chunks(480) {
            tick.tick().await;
            let ev = json!({"type": "input_audio_buffer.append", "audio": pcm_b64(frame)});
            if sink
                .send(Message::Text(ev.to_string().into()))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut stopped = None;
    let result = loop {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(30), stream.next()).await
        else {
            break None;
        };
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(t.as_str()).ok()?;
        match v["type"].as_str() {
            Some("input_audio_buffer.speech_stopped") => stopped = Some(Instant::now()),
            Some("response.output_audio.delta") => {
                break stopped.map(|s| s.elapsed().as_secs_f64() * 1000.0);
            }
            Some("error") => break None,
            _ => {}
        }
    };
    sender.abort();
    result
}

#[tokio::main]
async fn main() {
    let mut sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if sizes.is_empty() {
        sizes = vec![1, 50, 200];
    }
    let url = engines().await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.stt_url = Some(url.clone());
        c.engines.llm_url = Some(url.clone());
        c.engines.tts_url = Some(url);
        c.realtime.requests_per_minute = 1_000_000;
    })
    .await;
    let key = app.realtime_key(&["realtime"]).await;
    let ws_url = format!("ws://{}/v1/realtime?model=bench", app.addr);
    let mut audio = vec![0i16; 4800];
    audio.extend(avb_voice::vad::synthetic_voice(900, 24_000));
    audio.extend(vec![0i16; 24 * 800]);
    let audio = std::sync::Arc::new(audio);
    println!(
        "engine time on the measured path: {ENGINE_MS} ms (STT {STT_MS} + LLM {LLM_FIRST_MS} + TTS {TTS_FIRST_MS})"
    );
    for n in sizes {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (u, k, a) = (ws_url.clone(), key.clone(), audio.clone());
                tokio::spawn(async move {
                    // Spread the starts over one frame so sessions do not tick in lockstep.
                    tokio::time::sleep(Duration::from_micros((i as u64 * 20_000) / n as u64)).await;
                    turn(u, k, a).await
                })
            })
            .collect();
        let mut overheads = Vec::new();
        let mut failed = 0;
        for t in tasks {
            match t.await.ok().flatten() {
                Some(ms) => overheads.push(ms - ENGINE_MS),
                None => failed += 1,
            }
        }
        overheads.sort_by(|a, b| a.total_cmp(b));
        if overheads.is_empty() {
            println!("{n} sessions: all {failed} failed");
            continue;
        }
        println!(
            "{n:>4} concurrent sessions: overhead p50 {:.1} ms, p99 {:.1} ms (max {:.1}); failed {failed}",
            pct(&overheads, 0.5),
            pct(&overheads, 0.99),
            overheads[overheads.len() - 1]
        );
    }
}
