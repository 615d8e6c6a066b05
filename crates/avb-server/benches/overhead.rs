//! Gateway overhead per voice turn, and idle memory per session (a load tool, not a timed test):
//!
//! ```sh
//! cargo bench -p avb-server --bench overhead -- 1 50 200     # concurrent audio sessions
//! cargo bench -p avb-server --bench overhead -- --turns=5 --burst 200  # all turns end at once
//! cargo bench -p avb-server --bench overhead -- --idle=10000 # idle sessions, server RSS
//! ```
//!
//! The server (the platform and its engine stand-ins) runs as a child process pinned to core 0
//! with `taskset`; the load generator pins itself to core 1, so clients do not take the
//! server's CPU (`NO_PIN=1` runs both unpinned). N sessions each talk for `--turns` turns (5):
//! 0.9 s of synthetic voice then silence as 20 ms frames in real time, with server VAD (300 ms
//! of silence), the next turn once the answer is done. Session starts are spread over one
//! turn's length, as independent callers' turns are; `--burst` starts them all within one
//! frame, so that every turn ends at nearly the same moment (the worst case).
//!
//! The stand-ins (STT 100 ms, LLM first token 50 ms, TTS first byte 50 ms) stamp when each of
//! them started and answered into what they return (the transcript, the LLM's text, the first
//! PCM samples), so the client learns the engine time of each turn. Since the gateway
//! transcribes and answers during the silence, only the engine time after `speech_stopped` is on
//! the critical path:
//!
//! overhead = (`speech_stopped` -> first audio delta) - engine time after `speech_stopped`
//!
//! which is what the gateway itself adds: VAD, buffering, WAV encoding, queueing, HTTP hops,
//! chunking, JSON and base64 (and releasing held events).
#![allow(clippy::unwrap_used)]

use avb_testkit::ws::pcm_b64;
use avb_testkit::{Db, spawn_app_with};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::BufRead;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const STT_MS: u64 = 100;
const LLM_FIRST_MS: u64 = 50;
const TTS_FIRST_MS: u64 = 50;

/// Microseconds since the epoch: one clock for both processes.
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// The two numbers after `tag` in the stamp word of `text` (`"stt:1:2:llm:3:4 ..."`, one
/// word at the start, so that no chunking splits it): `stamps(text, "llm")` -> `[3, 4]`.
fn stamps(text: &str, tag: &str) -> Vec<u64> {
    let word = text.split_whitespace().next().unwrap_or("");
    let parts: Vec<&str> = word.split(':').collect();
    parts
        .iter()
        .position(|p| *p == tag)
        .map(|i| {
            parts[i + 1..]
                .iter()
                .take(2)
                .filter_map(|w| w.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

async fn engines() -> String {
    use axum::response::IntoResponse;
    async fn stt() -> axum::Json<Value> {
        let start = now_us();
        tokio::time::sleep(Duration::from_millis(STT_MS)).await;
        axum::Json(json!({"text": format!("stt:{start}:{} what is the weather like", now_us())}))
    }
    async fn chat(axum::Json(body): axum::Json<Value>) -> axum::response::Response {
        let start = now_us();
        let heard = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        let stt = stamps(&heard, "stt");
        let stream = futures::stream::iter(0..3).then(move |i| {
            let stt = stt.clone();
            async move {
                let chunk = |t: String| {
                    format!(
                        "data: {}\n\n",
                        json!({"choices": [{"index": 0, "delta": {"content": t}}]})
                    )
                };
                Ok::<_, std::io::Error>(match i {
                    0 => {
                        tokio::time::sleep(Duration::from_millis(LLM_FIRST_MS)).await;
                        let (a, b) = (stt.first().unwrap_or(&0), stt.get(1).unwrap_or(&0));
                        chunk(format!(
                            "stt:{a}:{b}:llm:{start}:{} is sunny today.",
                            now_us()
                        ))
                    }
                    1 => chunk(" Enjoy the afternoon outside.".into()),
                    _ => "data: [DONE]\n\n".to_string(),
                })
            }
        });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    }
    async fn speech(axum::Json(body): axum::Json<Value>) -> axum::response::Response {
        let start = now_us();
        let text = body["input"].as_str().unwrap_or("").to_string();
        tokio::time::sleep(Duration::from_millis(TTS_FIRST_MS)).await;
        // The first 64 bytes carry the turn's stamps: STT, LLM and TTS start and answer.
        let mut s = stamps(&text, "stt");
        s.resize(2, 0);
        let mut llm = stamps(&text, "llm");
        llm.resize(2, 0);
        s.extend(llm);
        s.extend([start, now_us(), 0, 0]);
        let mut pcm: Vec<u8> = s.iter().flat_map(|v| v.to_le_bytes()).collect();
        pcm.extend((32..2400i16).flat_map(|i| (i % 100).to_le_bytes()));
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

/// One turn as the client saw it (ms).
struct Turn {
    /// `speech_stopped` -> first audio delta.
    to_audio: f64,
    /// Engine time after `speech_stopped`.
    engine: f64,
}

/// The engine time of `[start, end]` intervals (µs) that lies after `from`.
fn engine_after(intervals: &[(u64, u64)], from: u64) -> f64 {
    intervals
        .iter()
        .map(|&(s, e)| e.saturating_sub(s.max(from)))
        .sum::<u64>() as f64
        / 1000.0
}

async fn open(url: &str, key: &str) -> Option<avb_testkit::ws::Ws> {
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {key}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.ok()?;
    ws.next().await?.ok()?;
    Some(ws)
}

/// The turn a first audio delta's stamps describe (its first 64 PCM bytes carry the STT, LLM
/// and TTS start and answer times), measured from `stopped` (`speech_stopped`, µs) to `at`.
fn stamped_turn(pcm: &[u8], at: u64, stopped: u64) -> Option<Turn> {
    let s: Vec<u64> = pcm[..48]
        .chunks(8)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap()))
        .collect();
    let intervals = [(s[0], s[1]), (s[2], s[3]), (s[4], s[5])];
    if intervals.iter().any(|&(a, b)| a == 0 || b < a) {
        eprintln!("unreadable engine stamps: {s:?}");
        return None;
    }
    Some(Turn {
        to_audio: at.saturating_sub(stopped) as f64 / 1000.0,
        engine: engine_after(&intervals, stopped),
    })
}

/// Reads one turn's events until its `response.done`: the turn, if its first audio came.
async fn read_turn(stream: &mut futures::stream::SplitStream<avb_testkit::ws::Ws>) -> Option<Turn> {
    let mut stopped = None;
    let mut first_audio: Option<(u64, Vec<u8>)> = None;
    let mut turn = None;
    loop {
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(30), stream.next()).await
        else {
            return None;
        };
        let Message::Text(t) = msg else { continue };
        let v: Value = serde_json::from_str(t.as_str()).ok()?;
        match v["type"].as_str() {
            Some("input_audio_buffer.speech_stopped") => stopped = Some(now_us()),
            Some("response.output_audio.delta") if turn.is_none() => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(v["delta"].as_str()?)
                    .ok()?;
                let (at, pcm) = first_audio.get_or_insert_with(|| (now_us(), Vec::new()));
                pcm.extend(bytes);
                if pcm.len() >= 64 {
                    turn = Some(stamped_turn(pcm, *at, stopped?)?);
                }
            }
            Some("response.done") => return turn,
            Some("error") => return None,
            _ => {}
        }
    }
}

/// One session: `turns` turns, each streaming `audio` as frames in real time and reading
/// until its answer is done. Returns the turns measured and how many failed.
async fn session_turns(
    url: String,
    key: String,
    audio: std::sync::Arc<Vec<i16>>,
    turns: usize,
) -> (Vec<Turn>, usize) {
    let Some(ws) = open(&url, &key).await else {
        return (Vec::new(), turns);
    };
    let (mut sink, mut stream) = ws.split();
    let update = json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}});
    if sink
        .send(Message::Text(update.to_string().into()))
        .await
        .is_err()
    {
        return (Vec::new(), turns);
    }
    let mut measured = Vec::new();
    for done in 0..turns {
        let frames = audio.clone();
        // The frames go out from a task (which hands the sink back) while the events are read.
        let sender = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            for frame in frames.chunks(480) {
                tick.tick().await;
                let ev = json!({"type": "input_audio_buffer.append", "audio": pcm_b64(frame)});
                sink.send(Message::Text(ev.to_string().into())).await.ok()?;
            }
            Some(sink)
        });
        let turn = read_turn(&mut stream).await;
        let Some(back) = sender.await.ok().flatten() else {
            return (measured, turns - done);
        };
        sink = back;
        match turn {
            Some(t) => measured.push(t),
            None => return (measured, turns - done),
        }
    }
    (measured, 0)
}

/// Resident memory of process `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Lets process `pid` open as many files as the hard limit allows.
fn raise_nofile(pid: u32) {
    let _ = std::process::Command::new("prlimit")
        .args(["--pid", &pid.to_string(), "--nofile=20000:20000"])
        .status();
}

/// How the sessions' turns line up in time.
#[derive(Clone, Copy)]
struct Load {
    /// Turns per session.
    turns: usize,
    /// All sessions start within one 20 ms frame, so every turn ends at nearly the same
    /// moment (the worst case); otherwise starts spread over one turn's length, as
    /// independent callers' turns are.
    burst: bool,
}

async fn audio_sessions(ws_url: &str, key: &str, sizes: &[usize], load: Load) {
    let mut audio = vec![0i16; 4800];
    audio.extend(avb_voice::vad::synthetic_voice(900, 24_000));
    audio.extend(vec![0i16; 24 * 800]);
    let audio = std::sync::Arc::new(audio);
    println!(
        "engine stand-ins: STT {STT_MS} ms, LLM first token {LLM_FIRST_MS} ms, TTS first byte {TTS_FIRST_MS} ms"
    );
    // Starts spread over one frame (so sessions do not tick in lockstep) or one turn.
    let spread_us = if load.burst {
        20_000
    } else {
        audio.len() as u64 * 1_000_000 / 24_000
    };
    println!(
        "{} turns per session, starts spread over {} ms{}",
        load.turns,
        spread_us / 1000,
        if load.burst {
            " (burst: every session's turn ends at nearly the same moment)"
        } else {
            ""
        }
    );
    for &n in sizes {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let (u, k, a) = (ws_url.to_string(), key.to_string(), audio.clone());
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_micros(i as u64 * spread_us / n as u64))
                        .await;
                    session_turns(u, k, a, load.turns).await
                })
            })
            .collect();
        let (mut overheads, mut to_audio, mut engine) = (Vec::new(), Vec::new(), Vec::new());
        let mut failed = 0;
        for t in tasks {
            let (turns, lost) = t.await.unwrap_or((Vec::new(), load.turns));
            failed += lost;
            for t in turns {
                overheads.push(t.to_audio - t.engine);
                to_audio.push(t.to_audio);
                engine.push(t.engine);
            }
        }
        if overheads.is_empty() {
            println!("{n} sessions: all {failed} failed");
            continue;
        }
        for v in [&mut overheads, &mut to_audio, &mut engine] {
            v.sort_by(|a, b| a.total_cmp(b));
        }
        println!(
            "{n:>4} sessions, {} turns: overhead p50 {:.1} ms, p99 {:.1} ms (max {:.1}); speech_stopped -> first audio p50 {:.1} ms, p99 {:.1}; engine time after speech_stopped p50 {:.1} ms; failed {failed}",
            overheads.len(),
            pct(&overheads, 0.5),
            pct(&overheads, 0.99),
            overheads[overheads.len() - 1],
            pct(&to_audio, 0.5),
            pct(&to_audio, 0.99),
            pct(&engine, 0.5),
        );
    }
}

async fn idle_sessions(ws_url: &str, key: &str, n: usize, server: u32) {
    let before = rss_kib(server);
    let mut open_ones = Vec::with_capacity(n);
    let mut failed = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(200) {
        let batch: Vec<_> = chunk
            .iter()
            .map(|_| {
                let (u, k) = (ws_url.to_string(), key.to_string());
                tokio::spawn(async move { open(&u, &k).await })
            })
            .collect();
        for b in batch {
            match b.await.ok().flatten() {
                Some(ws) => open_ones.push(ws),
                None => failed += 1,
            }
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(server);
    let per = (after.saturating_sub(before)) as f64 / open_ones.len().max(1) as f64;
    println!(
        "{} idle sessions open ({failed} failed): server RSS {before} KiB -> {after} KiB, {per:.1} KiB per session",
        open_ones.len()
    );
}

/// The server role: the platform with the engine stand-ins; prints its address and a key.
fn serve() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let url = engines().await;
        let app = spawn_app_with(Db::Sqlite, move |c| {
            c.engines.stt_url = Some(url.clone());
            c.engines.llm_url = Some(url.clone());
            c.engines.tts_url = Some(url);
            c.realtime.requests_per_minute = 1_000_000;
        })
        .await;
        let key = app.realtime_key(&["realtime"]).await;
        println!("ready {} {key}", app.addr);
        std::future::pending::<()>().await;
    });
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--serve") {
        return serve();
    }
    let idle: Option<usize> = args
        .iter()
        .find_map(|a| a.strip_prefix("--idle="))
        .and_then(|n| n.parse().ok());
    let mut sizes: Vec<usize> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if sizes.is_empty() && idle.is_none() {
        sizes = vec![1, 50, 200];
    }
    let pin = std::env::var("NO_PIN").is_err();
    let exe = std::env::current_exe().unwrap();
    let mut cmd = if pin {
        let mut c = std::process::Command::new("taskset");
        c.args(["-c", "0"]).arg(&exe);
        c
    } else {
        std::process::Command::new(&exe)
    };
    let mut child = cmd
        .arg("--serve")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let server = child.id();
    raise_nofile(server);
    raise_nofile(std::process::id());
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let mut words = line.split_whitespace().skip(1);
    let (addr, key) = (words.next().unwrap(), words.next().unwrap());
    if pin {
        // Before the runtime starts, so its threads inherit core 1.
        let _ = std::process::Command::new("taskset")
            .args(["-a", "-p", "-c", "1", &std::process::id().to_string()])
            .stdout(std::process::Stdio::null())
            .status();
    }
    println!(
        "server pid {server} {}; load generator {}",
        if pin { "on core 0" } else { "unpinned" },
        if pin { "on core 1" } else { "unpinned" }
    );
    let ws_url = format!("ws://{addr}/v1/realtime?model=bench");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        if let Some(n) = idle {
            idle_sessions(&ws_url, key, n, server).await;
        }
        let load = Load {
            turns: args
                .iter()
                .find_map(|a| a.strip_prefix("--turns="))
                .and_then(|n| n.parse().ok())
                .unwrap_or(5),
            burst: args.iter().any(|a| a == "--burst"),
        };
        audio_sessions(&ws_url, key, &sizes, load).await;
    });
    let _ = child.kill();
    let _ = child.wait();
}
