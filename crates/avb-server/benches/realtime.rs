//! Realtime gateway load tool (not a timed test). Run with
//! `cargo bench -p avb-server --bench realtime -- [concurrent_sessions] [idle_sessions]`.
//!
//! Engines are instant in-process doubles (an OpenAI-compatible LLM streaming two sentences and a
//! TTS streaming 100 ms of PCM per sentence), so the turn time is gateway overhead plus two
//! loopback HTTP calls. It reports, for N concurrent sessions each running one audio turn,
//! p50/p99 of response.create -> first audio delta and -> response.done; then the resident memory
//! added per idle session (client sockets live in the same process, so this is an upper bound).
#![allow(clippy::unwrap_used)]

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

async fn doubles() -> String {
    use axum::response::IntoResponse;
    async fn chat() -> axum::response::Response {
        let chunk = |t: &str| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": {"content": t}}]})
            )
        };
        let body = format!(
            "{}{}data: [DONE]\n\n",
            chunk("Hello there, friend."),
            chunk(" How are you today?")
        );
        ([("content-type", "text/event-stream")], body).into_response()
    }
    async fn speech() -> Vec<u8> {
        (0..2400i16).flat_map(|i| i.to_le_bytes()).collect()
    }
    let router = axum::Router::new()
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

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let concurrent = *args.first().unwrap_or(&200) as usize;
    let idle = *args.get(1).unwrap_or(&1000) as usize;
    let engines = doubles().await;
    let app = avb_testkit::spawn_app_with(avb_testkit::Db::Sqlite, move |c| {
        c.engines.llm_url = Some(engines.clone());
        c.engines.tts_url = Some(engines);
    })
    .await;
    let (_, owner) = app.tenant_with_owner("Bench").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "bench", "scopes": ["realtime"]}),
        )
        .await;
    let key = key["secret"].as_str().unwrap().to_string();
    let url = format!("ws://{}/v1/realtime?model=bench", app.addr);

    let connect = |url: String, key: String| async move {
        let mut req = url.into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(4 * 1024);
        tokio_tungstenite::connect_async_with_config(req, Some(config), false)
            .await
            .unwrap()
            .0
    };

    let mut tasks = Vec::new();
    let start = Instant::now();
    for _ in 0..concurrent {
        let (url, key) = (url.clone(), key.clone());
        tasks.push(tokio::spawn(async move {
            let mut ws = connect(url, key).await;
            let _created = ws.next().await;
            let send = |v: Value| Message::Text(v.to_string().into());
            ws.send(send(json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": null}}}}))).await.unwrap();
            ws.send(send(json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}}))).await.unwrap();
            let t0 = Instant::now();
            ws.send(send(json!({"type": "response.create"}))).await.unwrap();
            let mut first_audio = None;
            while let Some(Ok(Message::Text(t))) = ws.next().await {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                match v["type"].as_str() {
                    Some("response.output_audio.delta") if first_audio.is_none() => first_audio = Some(t0.elapsed()),
                    Some("response.done") => return (first_audio.unwrap_or_default(), t0.elapsed(), v["response"]["status"] == "completed"),
                    _ => {}
                }
            }
            (Duration::ZERO, Duration::ZERO, false)
        }));
    }
    let mut first = Vec::new();
    let mut done = Vec::new();
    let mut failed = 0;
    for t in tasks {
        let (a, d, ok) = t.await.unwrap();
        if ok {
            first.push(a);
            done.push(d);
        } else {
            failed += 1;
        }
    }
    first.sort();
    done.sort();
    println!(
        "{concurrent} concurrent audio turns in {:.2}s: response.create -> first audio p50 {:.2} ms, p99 {:.2} ms; -> response.done p50 {:.2} ms, p99 {:.2} ms; failed {failed}",
        start.elapsed().as_secs_f64(),
        pct(&first, 0.5),
        pct(&first, 0.99),
        pct(&done, 0.5),
        pct(&done, 0.99)
    );

    let before = rss_kib();
    let mut sockets = Vec::with_capacity(idle);
    for _ in 0..idle {
        let mut ws = connect(url.clone(), key.clone()).await;
        let _created = ws.next().await;
        sockets.push(ws);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = rss_kib();
    println!(
        "{idle} idle sessions: +{} KiB resident, {:.1} KiB per session (server and client in one process); live on server: {}",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / idle as f64,
        app.ctx.live.count()
    );
}
