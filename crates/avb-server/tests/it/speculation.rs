//! Speculative answers: while the server VAD waits out the silence that ends a turn, the turn
//! is transcribed and answered with the answer's events held; the client sees them only once
//! the turn is committed, and never when speech resumes. Audio goes out as 20 ms frames in
//! real time (the speculation lives in wall-clock time) against engine doubles that log when
//! they are asked.
#![allow(clippy::unwrap_used)]

use avb_testkit::ws::{Ws, open_session, pcm_b64, send};
use avb_testkit::{Db, TestApp, spawn_app_with};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// What the engine doubles were asked, and when.
#[derive(Default)]
struct Asked {
    llm: Vec<(Instant, String)>,
}

type Log = Arc<Mutex<Asked>>;

/// Engine doubles: STT says how many ms of audio it got (`"heard 1 s"`), the LLM answers
/// `"You said heard 1 s."`, TTS streams `tts_chunks` pieces of 100 ms of PCM,
/// `tts_gap_ms` apart.
async fn engines(log: Log, tts_chunks: usize, tts_gap_ms: u64) -> String {
    use axum::response::IntoResponse;
    let stt = |body: axum::body::Bytes| async move {
        let at = body.windows(4).position(|w| w == b"RIFF").unwrap();
        let wav = &body[at..];
        let rate = u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]) as u64;
        let data = u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]) as u64;
        // Whole seconds: the transcript names the speech, not how much silence followed it.
        let seconds = data / (rate * 2);
        axum::Json(json!({"text": format!("heard {seconds} s")}))
    };
    let llm_log = log.clone();
    let llm = move |axum::Json(body): axum::Json<Value>| {
        let log = llm_log.clone();
        async move {
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .and_then(|m| m["content"].as_str())
                .unwrap_or("")
                .to_string();
            log.lock().unwrap().llm.push((Instant::now(), last.clone()));
            let chunk = |delta: Value| {
                format!(
                    "data: {}\n\n",
                    json!({"choices": [{"index": 0, "delta": delta}]})
                )
            };
            let body = [
                chunk(json!({"content": format!("You said {last}.")})),
                format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 4}})
                ),
                "data: [DONE]\n\n".to_string(),
            ]
            .concat();
            ([("content-type", "text/event-stream")], body).into_response()
        }
    };
    let tts = move |axum::Json(_): axum::Json<Value>| async move {
        let pcm: Vec<u8> = (0..2400i16).flat_map(|i| (i * 3).to_le_bytes()).collect();
        let chunks = futures::stream::iter(0..tts_chunks).then(move |i| {
            let pcm = pcm.clone();
            async move {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(tts_gap_ms)).await;
                }
                Ok::<_, std::io::Error>(pcm)
            }
        });
        axum::body::Body::from_stream(chunks).into_response()
    };
    let router = axum::Router::new()
        .route("/v1/audio/transcriptions", axum::routing::post(stt))
        .route("/v1/chat/completions", axum::routing::post(llm))
        .route("/v1/audio/speech", axum::routing::post(tts));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn app(log: Log, tts_chunks: usize, tts_gap_ms: u64, speculate: bool) -> TestApp {
    let url = engines(log, tts_chunks, tts_gap_ms).await;
    spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(url.clone());
        c.engines.stt_url = Some(url.clone());
        c.engines.tts_url = Some(url);
        c.realtime.speculative_responses = speculate;
    })
    .await
}

/// A session with input transcription and server VAD ending turns after 500 ms of silence.
async fn session(app: &TestApp) -> (Ws, String) {
    session_with(
        app,
        json!({"type": "server_vad", "silence_duration_ms": 500}),
    )
    .await
}

async fn session_with(app: &TestApp, turn_detection: Value) -> (Ws, String) {
    let key = app.realtime_key(&["realtime", "sessions"]).await;
    let mut ws = open_session(app, &key).await;
    send(
        &mut ws,
        json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"transcription": {"model": "tiny.en"},
            "turn_detection": turn_detection}}}}),
    )
    .await;
    let updated = next(&mut ws, Duration::from_secs(10)).await.unwrap();
    assert_eq!(updated["type"], "session.updated");
    (ws, key)
}

async fn next(ws: &mut Ws, wait: Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(_))) => continue,
            _ => return None,
        }
    }
}

/// Streams `samples` as 20 ms frames in real time, keeping the events that arrive meanwhile
/// (with when they did).
async fn talk(ws: &mut Ws, samples: &[i16], events: &mut Vec<(Instant, Value)>) {
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    for frame in samples.chunks(480) {
        tick.tick().await;
        let ev = json!({"type": "input_audio_buffer.append", "audio": pcm_b64(frame)});
        ws.send(Message::Text(ev.to_string().into())).await.unwrap();
        while let Some(e) = next(ws, Duration::from_millis(2)).await {
            events.push((Instant::now(), e));
        }
    }
}

/// Reads events until one of type `until`.
async fn read_until(ws: &mut Ws, until: &str, events: &mut Vec<(Instant, Value)>) {
    if events.iter().any(|(_, e)| e["type"] == until) {
        return;
    }
    loop {
        let e = next(ws, Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("no {until} in {:?}", types(events)));
        let done = e["type"] == until;
        events.push((Instant::now(), e));
        if done {
            return;
        }
    }
}

fn types(events: &[(Instant, Value)]) -> Vec<String> {
    events
        .iter()
        .map(|(_, e)| e["type"].as_str().unwrap_or("").to_string())
        .collect()
}

fn voice(ms: u64) -> Vec<i16> {
    avb_voice::vad::synthetic_voice(ms, 24_000)
}

fn silence(ms: usize) -> Vec<i16> {
    vec![0i16; ms * 24]
}

/// The events of the turn from `speech_stopped` to `response.done`, for comparing the order.
fn turn_order(events: &[(Instant, Value)]) -> Vec<String> {
    let t = types(events);
    let from = t
        .iter()
        .position(|x| x == "input_audio_buffer.speech_stopped")
        .unwrap();
    t[from..]
        .iter()
        // Audio deltas and transcript deltas vary in number with chunking.
        .filter(|x| !x.ends_with(".delta"))
        .cloned()
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_answer_starts_during_the_silence_and_is_sent_when_the_turn_ends() {
    let mut orders = Vec::new();
    for speculate in [true, false] {
        let log = Log::default();
        let app = app(log.clone(), 2, 0, speculate).await;
        let (mut ws, _) = session(&app).await;
        let mut events = Vec::new();
        let mut audio = silence(300);
        audio.extend(voice(900));
        audio.extend(silence(1000));
        talk(&mut ws, &audio, &mut events).await;
        read_until(&mut ws, "response.done", &mut events).await;
        let at = |name: &str| {
            events
                .iter()
                .find(|(_, e)| e["type"] == name)
                .unwrap_or_else(|| panic!("{name} missing in {:?}", types(&events)))
                .0
        };
        let asked = log.lock().unwrap().llm.clone();
        assert_eq!(asked.len(), 1, "one answer: {asked:?}");
        assert_eq!(asked[0].1, "heard 1 s", "the whole turn's words");
        // The client reads between its 20 ms frames, so it sees `speech_stopped` a little late.
        let stopped = at("input_audio_buffer.speech_stopped");
        if speculate {
            assert!(
                asked[0].0 + Duration::from_millis(200) < stopped,
                "the LLM was asked while the VAD waited out the 500 ms of silence"
            );
        } else {
            assert!(asked[0].0 + Duration::from_millis(50) > stopped);
        }
        let done = &events.last().unwrap().1["response"];
        assert_eq!(done["status"], "completed", "{done}");
        assert_eq!(
            done["output"][0]["content"][0]["transcript"],
            "You said heard 1 s."
        );
        assert!(
            done["usage"]["total_tokens"].as_u64().unwrap() > 0,
            "{done}"
        );
        orders.push(turn_order(&events));
    }
    assert_eq!(
        orders[0], orders[1],
        "a speculative answer's events are those of a plain one, in the same order"
    );
    assert_eq!(
        &orders[0][..6],
        [
            "input_audio_buffer.speech_stopped",
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed",
            "response.created",
        ]
    );
    assert_eq!(orders[0][6], "rate_limits.updated");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_that_resumes_drops_the_speculative_answer_unseen() {
    let log = Log::default();
    let app = app(log.clone(), 3, 0, true).await;
    let (mut ws, key) = session(&app).await;
    let mut events = Vec::new();
    // A 350 ms pause: the first words are transcribed and answered (held), then speech
    // resumes and the turn goes on.
    let mut audio = silence(300);
    audio.extend(voice(900));
    audio.extend(silence(350));
    audio.extend(voice(600));
    audio.extend(silence(1000));
    talk(&mut ws, &audio, &mut events).await;
    read_until(&mut ws, "response.done", &mut events).await;
    let asked = log.lock().unwrap().llm.clone();
    let words: Vec<&str> = asked.iter().map(|(_, w)| w.as_str()).collect();
    assert_eq!(
        words.first(),
        Some(&"heard 1 s"),
        "the pause was answered speculatively: {words:?}"
    );
    assert_eq!(words.last(), Some(&"heard 2 s"), "{words:?}");
    let t = types(&events);
    assert_eq!(
        t.iter().filter(|x| *x == "response.created").count(),
        1,
        "{t:?}"
    );
    let stopped = t
        .iter()
        .position(|x| x == "input_audio_buffer.speech_stopped")
        .unwrap();
    assert!(
        t[..stopped].iter().all(|x| !x.starts_with("response.")
            && x != "conversation.item.added"
            && x != "conversation.item.input_audio_transcription.completed"),
        "nothing of the dropped answer or its turn reached the client: {t:?}"
    );
    assert_eq!(
        t.iter()
            .filter(|x| *x == "input_audio_buffer.speech_stopped")
            .count(),
        1
    );
    // Nothing of the dropped answer shows anywhere later either.
    let all = serde_json::to_string(&events.iter().map(|(_, e)| e).collect::<Vec<_>>()).unwrap();
    assert!(!all.contains("heard 1 s"), "{all}");
    let done = &events.last().unwrap().1["response"];
    assert_eq!(
        done["output"][0]["content"][0]["transcript"],
        "You said heard 2 s."
    );
    // Only the committed turn's answer is metered and recorded.
    drop(ws);
    let record = wait_closed(&app, &key).await;
    assert_eq!(record["responses"], 1, "{record}");
}

/// The tenant's session record once it is closed.
async fn wait_closed(app: &TestApp, key: &str) -> Value {
    for _ in 0..100 {
        let (_, list) = app.get("/api/v1/sessions?status=closed", key).await;
        if let Some(row) = list["data"].get(0) {
            return row.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the session was not closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn barge_in_during_released_speculative_audio_cancels_it() {
    let log = Log::default();
    // Twenty pieces of 100 ms, 100 ms apart: the answer still speaks when the user does.
    let app = app(log.clone(), 20, 100, true).await;
    let (mut ws, _) = session(&app).await;
    let mut events = Vec::new();
    let mut audio = silence(300);
    audio.extend(voice(900));
    audio.extend(silence(800));
    talk(&mut ws, &audio, &mut events).await;
    read_until(&mut ws, "response.output_audio.delta", &mut events).await;
    let asked = log.lock().unwrap().llm.clone();
    let stopped = events
        .iter()
        .find(|(_, e)| e["type"] == "input_audio_buffer.speech_stopped")
        .unwrap()
        .0;
    assert!(asked[0].0 < stopped, "the answer was speculative");
    let mut more = voice(600);
    more.extend(silence(100));
    talk(&mut ws, &more, &mut events).await;
    read_until(&mut ws, "response.done", &mut events).await;
    let t = types(&events);
    let started = t
        .iter()
        .rposition(|x| x == "input_audio_buffer.speech_started")
        .unwrap();
    let done_at = t.iter().position(|x| x == "response.done").unwrap();
    assert!(started < done_at, "{t:?}");
    let done = &events[done_at].1["response"];
    assert_eq!(done["status"], "cancelled", "{done}");
    assert_eq!(done["status_details"]["reason"], "turn_detected");
    assert_eq!(
        done["output"][0]["status"], "incomplete",
        "what was said before the interruption stays"
    );
    // The interrupted answer can be truncated to what was heard.
    let item = done["output"][0]["id"].as_str().unwrap().to_string();
    send(&mut ws, json!({"type": "conversation.item.truncate", "item_id": item, "content_index": 0, "audio_end_ms": 100})).await;
    let mut rest = Vec::new();
    read_until(&mut ws, "conversation.item.truncated", &mut rest).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn semantic_vad_turns_are_answered_speculatively_too() {
    let log = Log::default();
    let app = app(log.clone(), 2, 0, true).await;
    // Eagerness "high" ends a turn after 300 ms of silence.
    let (mut ws, _) =
        session_with(&app, json!({"type": "semantic_vad", "eagerness": "high"})).await;
    let mut events = Vec::new();
    let mut audio = silence(300);
    audio.extend(voice(900));
    audio.extend(silence(800));
    talk(&mut ws, &audio, &mut events).await;
    read_until(&mut ws, "response.done", &mut events).await;
    let stopped = events
        .iter()
        .find(|(_, e)| e["type"] == "input_audio_buffer.speech_stopped")
        .unwrap()
        .0;
    let asked = log.lock().unwrap().llm.clone();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert!(
        asked[0].0 + Duration::from_millis(100) < stopped,
        "the LLM was asked while the semantic VAD waited out its 300 ms"
    );
    let done = &events.last().unwrap().1["response"];
    assert_eq!(done["status"], "completed", "{done}");
}
