//! The /v1/realtime gateway over a real WebSocket: handshake and auth, both dialects, session
//! updates, text turns, function calls, cancel, audio buffer rules and session expiry. The LLM is
//! a test double of an OpenAI-compatible streaming server (paid APIs cannot run here).
#![allow(clippy::unwrap_used)]

use avb_testkit::ws::{connect, open_session, recv, send, stream_audio, types, until};
use avb_testkit::{Db, TestApp, spawn_app_with};
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// An OpenAI-compatible `/v1/chat/completions` double: the last user message picks the script
/// (and whether the stream reports its usage).
pub(crate) async fn llm_double() -> String {
    use axum::response::IntoResponse;
    async fn completions(axum::Json(body): axum::Json<Value>) -> axum::response::Response {
        let last = body["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or("")
            .to_string();
        let chunk = |delta: Value| {
            format!(
                "data: {}\n\n",
                json!({"choices": [{"index": 0, "delta": delta}]})
            )
        };
        let mut parts: Vec<(u64, String)> = Vec::new();
        if last.contains("weather") {
            parts.push((0, chunk(json!({"tool_calls": [{"index": 0, "id": "call_42", "function": {"name": "get_weather", "arguments": "{\"city\":"}}]}))));
            parts.push((
                0,
                chunk(
                    json!({"tool_calls": [{"index": 0, "function": {"arguments": "\"Paris\"}"}}]}),
                ),
            ));
        } else if last.contains("joke") {
            parts.push((0, chunk(json!({"content": format!("You said: {last}.")}))));
            parts.push((0, chunk(json!({"content": " Goodbye now."}))));
        } else if last.contains("slow") {
            for i in 0..50 {
                parts.push((100, chunk(json!({"content": format!("w{i} ")}))));
            }
        } else {
            parts.push((0, chunk(json!({"content": "Hello"}))));
            parts.push((0, chunk(json!({"content": " world."}))));
        }
        // Like llama-cpp-python, an "unmetered" turn reports no usage.
        if !last.contains("unmetered") {
            parts.push((
                0,
                format!(
                    "data: {}\n\n",
                    json!({"choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 3}})
                ),
            ));
        }
        parts.push((0, "data: [DONE]\n\n".to_string()));
        let stream = futures::stream::iter(parts).then(|(delay, p)| async move {
            tokio::time::sleep(Duration::from_millis(delay)).await;
            Ok::<_, std::io::Error>(p)
        });
        (
            [("content-type", "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    }
    let router =
        axum::Router::new().route("/v1/chat/completions", axum::routing::post(completions));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

async fn app_with_llm(max_session_secs: u64) -> TestApp {
    let llm = llm_double().await;
    spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.realtime.max_session_secs = max_session_secs;
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshake_checks_credentials_and_echoes_the_subprotocol() {
    let app = app_with_llm(3600).await;
    assert_eq!(connect(&app, &[]).await.err(), Some(401));
    assert_eq!(
        connect(
            &app,
            &[(
                "authorization",
                "Bearer avb_live_nope1234_aaaaaaaaaaaaaaaaaaaaaaaa"
            )]
        )
        .await
        .err(),
        Some(401)
    );
    let usage_only = app.realtime_key(&["usage"]).await;
    assert_eq!(
        connect(&app, &[("authorization", &format!("Bearer {usage_only}"))])
            .await
            .err(),
        Some(403)
    );

    // Browser style: the key rides in a subprotocol and `realtime` is echoed.
    let key = app.realtime_key(&["realtime"]).await;
    let offer = format!("realtime, openai-insecure-api-key.{key}");
    let (mut ws, proto) = connect(&app, &[("sec-websocket-protocol", &offer)])
        .await
        .unwrap();
    assert_eq!(proto.as_deref(), Some("realtime"));
    let first = recv(&mut ws).await;
    assert_eq!(first["type"], "session.created");
    assert_eq!(first["session"]["type"], "realtime");
    assert_eq!(first["session"]["model"], "test-model");
    assert!(first["event_id"].as_str().unwrap().starts_with("event_"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ga_text_turn_in_documented_order() {
    let app = app_with_llm(3600).await;
    let key = app.realtime_key(&["realtime"]).await;
    let (mut ws, _) = connect(&app, &[("authorization", &format!("Bearer {key}"))])
        .await
        .unwrap();
    assert_eq!(recv(&mut ws).await["type"], "session.created");

    // A bad update is an error and changes nothing; the socket stays usable.
    send(
        &mut ws,
        json!({"type": "session.update", "session": {"instructions": "x"}}),
    )
    .await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (
            e["type"].as_str(),
            e["error"]["code"].as_str(),
            e["error"]["param"].as_str()
        ),
        (
            Some("error"),
            Some("missing_required_parameter"),
            Some("session.type")
        )
    );
    send(&mut ws, json!({"type": "session.update", "event_id": "c1", "session": {"type": "realtime", "voice": "echo"}})).await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["event_id"].as_str()),
        (Some("unknown_parameter"), Some("c1"))
    );
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."}})).await;
    let e = recv(&mut ws).await;
    assert_eq!(e["type"], "session.updated");
    assert_eq!(e["session"]["output_modalities"], json!(["text"]));

    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi there"}]}})).await;
    let added = recv(&mut ws).await;
    assert_eq!(added["type"], "conversation.item.added");
    assert_eq!(recv(&mut ws).await["type"], "conversation.item.done");

    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(
        types(&events),
        vec![
            "response.created",
            "rate_limits.updated",
            "response.output_item.added",
            "conversation.item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "conversation.item.done",
            "response.done",
        ]
    );
    let done = events.last().unwrap();
    assert_eq!(done["response"]["status"], "completed");
    assert_eq!(
        done["response"]["output"][0]["content"][0],
        json!({"type": "output_text", "text": "Hello world."})
    );
    assert_eq!(done["response"]["usage"]["total_tokens"], 14);
    let ids: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), events.len(), "every event_id is unique");

    // The assistant item is part of the conversation now.
    let item_id = done["response"]["output"][0]["id"].as_str().unwrap();
    send(
        &mut ws,
        json!({"type": "conversation.item.retrieve", "item_id": item_id}),
    )
    .await;
    let got = recv(&mut ws).await;
    assert_eq!(
        (got["type"].as_str(), got["item"]["role"].as_str()),
        (Some("conversation.item.retrieved"), Some("assistant"))
    );
    send(
        &mut ws,
        json!({"type": "conversation.item.delete", "item_id": item_id}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["type"], "conversation.item.deleted");
    send(
        &mut ws,
        json!({"type": "conversation.item.delete", "item_id": item_id}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["error"]["code"], "item_not_found");
}

/// Sends a user message and asks for a response; the response's events.
async fn text_turn(ws: &mut avb_testkit::ws::Ws, text: &str) -> Vec<Value> {
    send(ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})).await;
    until(ws, "conversation.item.done").await;
    send(ws, json!({"type": "response.create"})).await;
    until(ws, "response.done").await
}

/// `response.done` reports usage also when the engine reports none (llama-cpp-python never
/// does): a token per streamed delta and the prompt estimated from its text. What an engine
/// reports is used as it is. Either way the ledger meters the same numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn usage_is_counted_when_the_engine_reports_none() {
    let app = app_with_llm(3600).await;
    let key = app.realtime_key(&["realtime", "usage"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "instructions": "Be brief."}})).await;
    recv(&mut ws).await;
    let deltas = |events: &[Value], kind: &str| events.iter().filter(|e| e["type"] == kind).count();

    let events = text_turn(&mut ws, "an unmetered hello").await;
    let counted = events.last().unwrap()["response"]["usage"].clone();
    assert_eq!(deltas(&events, "response.output_text.delta"), 2);
    assert_eq!(counted["output_tokens"], 2, "{counted}");
    let input = counted["input_tokens"].as_u64().unwrap();
    assert!(input > 0, "{counted}");
    assert_eq!(counted["total_tokens"].as_u64(), Some(input + 2));
    assert_eq!(
        counted["output_token_details"],
        json!({"text_tokens": 2, "audio_tokens": 0})
    );

    let events = text_turn(&mut ws, "the unmetered weather").await;
    let calls = events.last().unwrap()["response"]["usage"].clone();
    assert_eq!(deltas(&events, "response.function_call_arguments.delta"), 2);
    assert_eq!(calls["output_tokens"], 2, "{calls}");
    assert!(
        calls["input_tokens"].as_u64().unwrap() > input,
        "the prompt grew: {calls}"
    );

    let events = text_turn(&mut ws, "a metered hello").await;
    let reported = &events.last().unwrap()["response"]["usage"];
    assert_eq!(
        (
            reported["input_tokens"].as_u64(),
            reported["output_tokens"].as_u64(),
            reported["total_tokens"].as_u64()
        ),
        (Some(11), Some(3), Some(14))
    );

    let totals = usage_totals(&app, &key, 3.0).await;
    let metered_input = input + calls["input_tokens"].as_u64().unwrap() + 11;
    assert_eq!(
        (
            totals["llm_tokens_input"].as_f64(),
            totals["llm_tokens_output"].as_f64()
        ),
        (Some(metered_input as f64), Some(2.0 + 2.0 + 3.0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn beta_dialect_uses_beta_names() {
    let app = app_with_llm(3600).await;
    let key = app.realtime_key(&["realtime"]).await;
    let (mut ws, _) = connect(
        &app,
        &[
            ("authorization", &format!("Bearer {key}")),
            ("openai-beta", "realtime=v1"),
        ],
    )
    .await
    .unwrap();
    let created = recv(&mut ws).await;
    assert_eq!(created["type"], "session.created");
    assert_eq!(created["session"]["input_audio_format"], "pcm16");
    assert!(created["session"].get("type").is_none());
    assert_eq!(recv(&mut ws).await["type"], "conversation.created");
    send(
        &mut ws,
        json!({"type": "session.update", "session": {"modalities": ["text"], "temperature": 0.7}}),
    )
    .await;
    assert_eq!(
        recv(&mut ws).await["session"]["modalities"],
        json!(["text"])
    );
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hi"}]}})).await;
    assert_eq!(recv(&mut ws).await["type"], "conversation.item.created");
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let t = types(&events);
    assert!(
        t.contains(&"response.text.delta") && t.contains(&"response.text.done"),
        "{t:?}"
    );
    assert!(
        !t.iter()
            .any(|x| x.starts_with("response.output_text") || *x == "conversation.item.done"),
        "{t:?}"
    );
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["content"][0]["type"],
        "text"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_calls_cancel_and_conflicts() {
    let app = app_with_llm(3600).await;
    let key = app.realtime_key(&["realtime", "usage"]).await;
    let mut ws = open_session(&app, &key).await;
    let tool = json!({"type": "function", "name": "get_weather", "description": "Weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}});
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "tools": [tool]}})).await;
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "weather in Paris?"}]}})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let args_done = events
        .iter()
        .find(|e| e["type"] == "response.function_call_arguments.done")
        .unwrap();
    assert_eq!(
        (args_done["name"].as_str(), args_done["call_id"].as_str()),
        (Some("get_weather"), Some("call_42"))
    );
    assert_eq!(args_done["arguments"], "{\"city\":\"Paris\"}");
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "response.function_call_arguments.delta")
            .count(),
        2
    );
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["type"],
        "function_call"
    );

    // The tool result goes back, then a slow answer is cancelled mid-stream.
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "function_call_output", "call_id": "call_42", "output": "{\"temp\":21}"}})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "tell me something slow"}]}})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    until(&mut ws, "response.output_text.delta").await;
    send(
        &mut ws,
        json!({"type": "response.create", "event_id": "dup"}),
    )
    .await;
    let e = until(&mut ws, "error").await;
    assert_eq!(
        e.last().unwrap()["error"]["code"],
        "conversation_already_has_active_response"
    );
    send(&mut ws, json!({"type": "response.cancel"})).await;
    let events = until(&mut ws, "response.done").await;
    let done = events.last().unwrap();
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "client_cancelled"
    );
    assert_eq!(done["response"]["output"][0]["status"], "incomplete");
    // What was produced before the cancel is reported (a token per delta so far).
    let usage = &done["response"]["usage"];
    assert!(usage["output_tokens"].as_u64().unwrap() >= 1, "{usage}");
    assert!(usage["input_tokens"].as_u64().unwrap() > 0, "{usage}");
    send(&mut ws, json!({"type": "response.cancel"})).await;
    assert_eq!(
        until(&mut ws, "error").await.last().unwrap()["error"]["code"],
        "response_cancel_not_active"
    );
    // The cancelled answer is metered with what it made (it was not, before).
    let totals = usage_totals(&app, &key, 2.0).await;
    let output = totals["llm_tokens_output"].as_f64().unwrap();
    assert!(
        output >= 2.0 + usage["output_tokens"].as_f64().unwrap(),
        "{totals}"
    );

    // So is an answer that the client's hang-up cuts off.
    send(&mut ws, json!({"type": "response.create"})).await;
    until(&mut ws, "response.output_text.delta").await;
    drop(ws);
    let totals = usage_totals(&app, &key, 3.0).await;
    assert!(
        totals["llm_tokens_output"].as_f64().unwrap() > output,
        "{totals}"
    );
}

/// The tenant's usage totals once `requests` responses are metered (rows land just after).
async fn usage_totals(app: &TestApp, key: &str, requests: f64) -> Value {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let (s, u) = app.get("/api/v1/usage", key).await;
        assert_eq!(s, reqwest::StatusCode::OK, "{u}");
        if u["totals"]["requests"] == requests {
            return u["totals"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{u}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_buffer_rules_unknown_events_and_expiry() {
    let app = app_with_llm(2).await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    assert_eq!(
        recv(&mut ws).await["error"]["code"],
        "input_audio_buffer_commit_empty"
    );
    send(
        &mut ws,
        json!({"type": "input_audio_buffer.append", "audio": "***"}),
    )
    .await;
    assert_eq!(recv(&mut ws).await["error"]["param"], "audio");
    use base64::Engine as _;
    let audio = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 48_000 / 5]);
    send(
        &mut ws,
        json!({"type": "input_audio_buffer.append", "audio": audio}),
    )
    .await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let committed = recv(&mut ws).await;
    assert_eq!(committed["type"], "input_audio_buffer.committed");
    let added = recv(&mut ws).await;
    assert_eq!(
        (added["type"].as_str(), added["item"]["id"].as_str()),
        (
            Some("conversation.item.added"),
            committed["item_id"].as_str()
        )
    );
    assert_eq!(added["item"]["content"][0]["type"], "input_audio");
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "input_audio_buffer.clear"})).await;
    assert_eq!(recv(&mut ws).await["type"], "input_audio_buffer.cleared");
    send(
        &mut ws,
        json!({"type": "session.explode", "event_id": "x9"}),
    )
    .await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["event_id"].as_str()),
        (Some("unknown_event_type"), Some("x9"))
    );
    ws.send(Message::Text("{not json".into())).await.unwrap();
    assert_eq!(recv(&mut ws).await["error"]["code"], "invalid_json");

    // The session ends at its maximum duration with an error, then close code 1000.
    let e = until(&mut ws, "error").await;
    assert_eq!(e.last().unwrap()["error"]["code"], "session_expired");
    let close = recv(&mut ws).await;
    assert_eq!(
        (close["type"].as_str(), close["code"].as_u64()),
        (Some("__close"), Some(1000))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_engine_fails_the_response_not_the_session() {
    let app = spawn_app_with(Db::Sqlite, |_| {}).await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "error" && e["error"]["code"] == "engine_unavailable")
    );
    assert_eq!(events.last().unwrap()["response"]["status"], "failed");
    send(&mut ws, json!({"type": "input_audio_buffer.clear"})).await;
    assert_eq!(
        recv(&mut ws).await["type"],
        "input_audio_buffer.cleared",
        "the session survives"
    );
}

/// The official Python SDK (installed by scripts/test.sh from tests/sdk/requirements.txt).
async fn python_sdk(app: &TestApp, key: &str, mode: &str) -> Value {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/python_realtime.py"
    );
    let base = app.base.clone();
    let (key, mode) = (key.to_string(), mode.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args([script, &base, &key, &mode])
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
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_python_sdk_text_turns_in_both_dialects() {
    let app = app_with_llm(3600).await;
    let key = app.realtime_key(&["realtime"]).await;
    let ga = python_sdk(&app, &key, "ga").await;
    assert_eq!(ga["session_type"], "realtime");
    assert_eq!(ga["status"], "completed");
    assert_eq!(ga["text"], "Hello world.");
    assert_eq!(ga["typed_delta"], true);
    assert_eq!(
        ga["invalid"],
        json!([]),
        "GA events the SDK's models refuse"
    );
    let beta = python_sdk(&app, &key, "beta").await;
    assert_eq!(
        beta["invalid"],
        json!([]),
        "beta events the SDK's models refuse"
    );
    assert_eq!(beta["status"], "completed", "{beta}");
    assert_eq!(beta["text"], "Hello world.");
    assert!(
        beta["events"]
            .as_array()
            .unwrap()
            .contains(&json!("conversation.item.created"))
    );
}

/// Every server event the gateway sends, in the shapes that matter (the crate's `samples()`),
/// validates against the official SDKs: GA against the Python SDK's
/// `openai.types.realtime.RealtimeServerEvent` and the npm package's TypeScript types, beta
/// against `openai.types.beta.realtime.RealtimeServerEvent`.
#[test]
fn every_server_event_validates_against_the_official_sdks() {
    use avb_realtime::Dialect;
    let samples = avb_realtime::server_events::samples();
    let dir = std::env::temp_dir().join(format!("avb-samples-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |dialect: Dialect, name: &str| {
        let events: Vec<Value> = samples.iter().filter_map(|e| e.render(dialect)).collect();
        let path = dir.join(name);
        std::fs::write(&path, serde_json::to_vec(&events).unwrap()).unwrap();
        (path, events.len() as u64)
    };
    let (ga, ga_count) = write(Dialect::Ga, "ga.json");
    let (beta, beta_count) = write(Dialect::Beta, "beta.json");
    assert_eq!(ga_count, samples.len() as u64, "every event exists in GA");
    let run = |program: &str, args: &[&std::ffi::OsStr]| -> Value {
        let out = std::process::Command::new(program)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{program} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let python = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/python_realtime.py"
    );
    for (dialect, path, count) in [("ga", &ga, ga_count), ("beta", &beta, beta_count)] {
        let r = run(
            "python3",
            &[
                python.as_ref(),
                "validate".as_ref(),
                dialect.as_ref(),
                path.as_os_str(),
            ],
        );
        assert_eq!(
            r["invalid"],
            json!([]),
            "{dialect} events the Python SDK refuses"
        );
        assert_eq!(r["checked"].as_u64(), Some(count), "{dialect}: {r}");
    }
    let checker = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/js/check_types.mjs"
    );
    for (dialect, path, count) in [("ga", &ga, ga_count), ("beta", &beta, beta_count)] {
        let r = run(
            "node",
            &[checker.as_ref(), path.as_os_str(), dialect.as_ref()],
        );
        assert_eq!(
            r["errors"],
            json!([]),
            "{dialect} events the npm SDK's types refuse: {r:#}"
        );
        assert_eq!(r["checked"].as_u64(), Some(count), "{dialect}: {r}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ephemeral_client_secrets_carry_their_session() {
    let app = app_with_llm(3600).await;
    let key = app.realtime_key(&["realtime"]).await;

    // The official SDK mints a GA secret and connects with it.
    let r = python_sdk(&app, &key, "secret").await;
    assert_eq!(
        (r["value_prefix"].as_str(), r["session_type"].as_str()),
        (Some("ek_"), Some("realtime"))
    );
    assert_eq!(r["instructions"], "From the secret.");
    assert_eq!(r["modalities"], json!(["text"]));

    // Beta shape, and a browser-style connect with the secret in a subprotocol.
    let http = reqwest::Client::new();
    let res = http
        .post(format!("{}/v1/realtime/sessions", app.base))
        .bearer_auth(&key)
        .json(&json!({"model": "m", "modalities": ["text"], "instructions": "Beta secret.", "client_secret": {"expires_after": {"anchor": "created_at", "seconds": 120}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let body: Value = res.json().await.unwrap();
    let ek = body["client_secret"]["value"].as_str().unwrap().to_string();
    assert!(ek.starts_with("ek_") && body["client_secret"]["expires_at"].as_i64().is_some());
    let offer = format!("realtime, openai-beta.realtime-v1, openai-insecure-api-key.{ek}");
    let (mut ws, _) = connect(&app, &[("sec-websocket-protocol", &offer)])
        .await
        .unwrap();
    let created = recv(&mut ws).await;
    assert_eq!(
        (
            created["session"]["instructions"].as_str(),
            created["session"]["modalities"].clone()
        ),
        (Some("Beta secret."), json!(["text"]))
    );

    // Bad requests name the parameter; secrets do not open the REST API; keys need the scope.
    for (path, body, param) in [
        (
            "/v1/realtime/client_secrets",
            json!({"session": {"type": "realtime", "voice": "x"}}),
            "session.voice",
        ),
        (
            "/v1/realtime/client_secrets",
            json!({"expires_after": {"seconds": 5}}),
            "expires_after.seconds",
        ),
        (
            "/v1/realtime/sessions",
            json!({"speed": 7}),
            "session.speed",
        ),
    ] {
        let res = http
            .post(format!("{}{path}", app.base))
            .bearer_auth(&key)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            res.status(),
            reqwest::StatusCode::BAD_REQUEST,
            "{path} {body}"
        );
        let e: Value = res.json().await.unwrap();
        assert_eq!(e["error"]["param"], param, "{e}");
    }
    assert_eq!(
        app.get("/api/v1/me", &ek).await.0,
        reqwest::StatusCode::UNAUTHORIZED
    );
    let usage_only = app.realtime_key(&["usage"]).await;
    let res = http
        .post(format!("{}/v1/realtime/client_secrets", app.base))
        .bearer_auth(&usage_only)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), reqwest::StatusCode::FORBIDDEN);
    assert_eq!(
        connect(&app, &[("authorization", "Bearer ek_notarealsecret")])
            .await
            .err(),
        Some(401)
    );
}

/// The official npm `openai` package always uses wss://: serve the app over TLS with a
/// certificate made here, trusted through NODE_EXTRA_CA_CERTS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_js_sdk_over_wss() {
    let app = voice_app().await;
    let key = app.realtime_key(&["realtime"]).await;
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let acceptor = avb_server::listen::tls_acceptor(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let routes = avb_server::app(app.ctx.clone());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(avb_server::listen::serve_tls(
        listener, acceptor, routes, stop_rx,
    ));
    let ca = std::env::temp_dir().join(format!("avb-ca-{}.pem", uuid::Uuid::now_v7().simple()));
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/js/realtime.mjs"
    );
    let base = format!("https://{addr}");
    let ca_path = ca.clone();
    let events = std::env::temp_dir().join(format!(
        "avb-js-events-{}.json",
        uuid::Uuid::now_v7().simple()
    ));
    let events_path = events.to_string_lossy().to_string();
    // The voice turn's speech: 0.2 s of silence, 0.9 s of voice, 0.8 s of silence.
    let mut speech = vec![0i16; 4_800];
    speech.extend(avb_voice::vad::synthetic_voice(900, 24_000));
    speech.extend(vec![0i16; 19_200]);
    let pcm =
        std::env::temp_dir().join(format!("avb-js-pcm-{}.raw", uuid::Uuid::now_v7().simple()));
    std::fs::write(&pcm, avb_voice::audio::pcm16_encode(&speech)).unwrap();
    let pcm_path = pcm.to_string_lossy().to_string();
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("node")
            .args([script, &base, &key, &events_path, &pcm_path])
            .env("NODE_EXTRA_CA_CERTS", &ca_path)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let _ = std::fs::remove_file(&ca);
    assert!(
        out.status.success(),
        "node SDK failed: {} {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    let _ = std::fs::remove_file(&pcm);
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (r["status"].as_str(), r["text"].as_str()),
        (Some("completed"), Some("Hello world."))
    );
    assert_eq!(r["events"][0], "session.created");
    // The voice turn: the VAD found the speech, it was transcribed and answered aloud.
    let voice = &r["voice"];
    assert_eq!(
        (voice["status"].as_str(), voice["heard"].as_str()),
        (Some("completed"), Some("tell me a joke")),
        "{r}"
    );
    assert!(voice["audio_bytes"].as_u64().unwrap() > 0, "{r}");
    assert!(!voice["said"].as_str().unwrap().is_empty(), "{r}");
    for kind in [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
    ] {
        assert!(
            r["events"].as_array().unwrap().iter().any(|e| e == kind),
            "{kind}: {r}"
        );
    }
    // Every event the server sent, checked against the package's own TypeScript types.
    let checker = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/sdk/js/check_types.mjs"
    );
    let checked = std::process::Command::new("node")
        .arg(checker)
        .arg(&events)
        .output()
        .unwrap();
    let _ = std::fs::remove_file(&events);
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
    let checked: Value = serde_json::from_slice(&checked.stdout).unwrap();
    assert!(checked["checked"].as_u64().unwrap() >= 25, "{checked}");
    assert_eq!(checked["errors"], json!([]), "{checked:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_recorded_listed_and_closed_from_the_api() {
    let app = app_with_llm(3600).await;
    let (_, owner) = app.tenant_with_owner("Sessions").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "rt", "scopes": ["realtime", "sessions"]}),
        )
        .await;
    let key = key["secret"].as_str().unwrap().to_string();
    let (mut ws, _) = connect(
        &app,
        &[
            ("authorization", &format!("Bearer {key}")),
            ("user-agent", "story-client/1.0"),
        ],
    )
    .await
    .unwrap();
    let created = recv(&mut ws).await;

    // The live session is listed (a key with the `sessions` scope may read it).
    let (s, list) = app.get("/api/v1/sessions?status=active", &key).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{list}");
    let row = &list["data"][0];
    assert_eq!(
        (row["realtime_id"].as_str(), row["dialect"].as_str()),
        (created["session"]["id"].as_str(), Some("ga"))
    );
    assert_eq!(row["user_agent"], "story-client/1.0");
    let id = row["id"].as_str().unwrap().to_string();

    // Another tenant cannot see or close it; a read-only key cannot close it.
    let (_, other) = app.tenant_with_owner("Other").await;
    assert_eq!(
        app.get(&format!("/api/v1/sessions/{id}"), &other).await.0,
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("/api/v1/sessions/{id}/close"), &other, json!({}))
            .await
            .0,
        reqwest::StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post(&format!("/api/v1/sessions/{id}/close"), &key, json!({}))
            .await
            .0,
        reqwest::StatusCode::FORBIDDEN
    );

    // The owner closes it: the client gets an error event, then close 1000.
    let (s, closed) = app
        .post(&format!("/api/v1/sessions/{id}/close"), &owner, json!({}))
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{closed}");
    assert_eq!(closed["status"], "closed");
    assert!(
        closed["close_reason"]
            .as_str()
            .unwrap()
            .starts_with("closed by ")
    );
    let e = until(&mut ws, "error").await;
    assert_eq!(e.last().unwrap()["error"]["code"], "session_closed");
    let close = recv(&mut ws).await;
    assert_eq!(
        (close["type"].as_str(), close["code"].as_u64()),
        (Some("__close"), Some(1000))
    );
    assert_eq!(
        app.post(&format!("/api/v1/sessions/{id}/close"), &owner, json!({}))
            .await
            .0,
        reqwest::StatusCode::CONFLICT
    );

    // A session the client leaves is recorded as closed too.
    let (mut ws2, _) = connect(&app, &[("authorization", &format!("Bearer {key}"))])
        .await
        .unwrap();
    recv(&mut ws2).await;
    ws2.close(None).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, active) = app.get("/api/v1/sessions?status=active", &owner).await;
        if active["data"].as_array().unwrap().is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the session stays active after the client left"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, all) = app.get("/api/v1/sessions?status=closed", &owner).await;
    let reasons: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["close_reason"].as_str().unwrap())
        .collect();
    assert!(reasons.contains(&"client disconnected"), "{reasons:?}");
    let (s, p) = app.get("/api/v1/sessions?status=weird", &owner).await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (reqwest::StatusCode::BAD_REQUEST, Some("status"))
    );
}

/// Speech engine doubles: an `/audio/transcriptions` server that checks it got a WAV, and an
/// `/audio/speech` server streaming 100 ms of 24 kHz PCM per request in two uneven chunks.
async fn speech_doubles() -> (String, String) {
    use axum::response::IntoResponse;
    async fn transcribe(body: axum::body::Bytes) -> axum::response::Response {
        let text = String::from_utf8_lossy(&body);
        if !text.contains("RIFF") || !text.contains("name=\"model_name\"") {
            return (axum::http::StatusCode::BAD_REQUEST, "expected a wav upload").into_response();
        }
        axum::Json(json!({"text": "tell me a joke"})).into_response()
    }
    async fn speak(axum::Json(body): axum::Json<Value>) -> axum::response::Response {
        assert_eq!(body["response_format"], "pcm");
        let pcm: Vec<u8> = (0..2400i16).flat_map(|i| (i * 3).to_le_bytes()).collect();
        let (a, b) = pcm.split_at(1001);
        let chunks = vec![Ok::<_, std::io::Error>(a.to_vec()), Ok(b.to_vec())];
        axum::body::Body::from_stream(futures::stream::iter(chunks)).into_response()
    }
    let router = axum::Router::new()
        .route("/v1/audio/transcriptions", axum::routing::post(transcribe))
        .route("/v1/audio/speech", axum::routing::post(speak));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url.clone(), url)
}

async fn voice_app() -> TestApp {
    let llm = llm_double().await;
    let (stt, tts) = speech_doubles().await;
    spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.engines.stt_url = Some(stt);
        c.engines.tts_url = Some(tts);
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audio_turn_transcribes_then_speaks_sentence_by_sentence() {
    use base64::Engine as _;
    let app = voice_app().await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"transcription": {"model": "whisper-1"}, "turn_detection": null}}}})).await;
    recv(&mut ws).await;
    let speech = base64::engine::general_purpose::STANDARD.encode(vec![0u8; 48_000 / 4]);
    send(
        &mut ws,
        json!({"type": "input_audio_buffer.append", "audio": speech}),
    )
    .await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let events = until(
        &mut ws,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    assert_eq!(
        types(&events),
        vec![
            "input_audio_buffer.committed",
            "conversation.item.added",
            "conversation.item.done",
            "conversation.item.input_audio_transcription.completed"
        ]
    );
    let done = events.last().unwrap();
    assert_eq!(done["transcript"], "tell me a joke");
    assert_eq!(done["usage"]["seconds"], 0.25);

    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let t = types(&events);
    let audio: Vec<u8> = events
        .iter()
        .filter(|e| e["type"] == "response.output_audio.delta")
        .flat_map(|e| {
            base64::engine::general_purpose::STANDARD
                .decode(e["delta"].as_str().unwrap())
                .unwrap()
        })
        .collect();
    assert_eq!(
        audio.len(),
        2 * 4800,
        "two sentences of 100 ms each at 24 kHz pcm16"
    );
    assert_eq!(
        &audio[..6],
        &[0, 0, 3, 0, 6, 0],
        "samples survive the uneven chunking"
    );
    let pos = |name: &str| {
        t.iter()
            .position(|x| *x == name)
            .unwrap_or_else(|| panic!("{name} missing in {t:?}"))
    };
    assert!(pos("response.content_part.added") < pos("response.output_audio.delta"));
    assert!(pos("response.output_audio.done") < pos("response.output_audio_transcript.done"));
    assert!(pos("response.output_audio_transcript.done") < pos("response.content_part.done"));
    let transcript = events
        .iter()
        .find(|e| e["type"] == "response.output_audio_transcript.done")
        .unwrap();
    assert_eq!(
        transcript["transcript"], "You said: tell me a joke. Goodbye now.",
        "the LLM got the transcript"
    );
    assert!(!t.contains(&"error"), "{t:?}");
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["content"][0]["type"],
        "output_audio"
    );

    // Barge-in bookkeeping: the client heard 100 ms of the 200 ms answer.
    let item_id = events.last().unwrap()["response"]["output"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    send(&mut ws, json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 300})).await;
    assert_eq!(recv(&mut ws).await["error"]["param"], "audio_end_ms");
    send(&mut ws, json!({"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": 100})).await;
    let truncated = recv(&mut ws).await;
    assert_eq!(
        (
            truncated["type"].as_str(),
            truncated["audio_end_ms"].as_u64()
        ),
        (Some("conversation.item.truncated"), Some(100))
    );
    send(
        &mut ws,
        json!({"type": "conversation.item.retrieve", "item_id": item_id}),
    )
    .await;
    let kept = recv(&mut ws).await["item"]["content"][0]["transcript"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        kept, "You said: tell me",
        "the transcript keeps what was heard"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn g711_sessions_get_8khz_audio() {
    use base64::Engine as _;
    let app = voice_app().await;
    let key = app.realtime_key(&["realtime"]).await;
    let (mut ws, _) = connect(
        &app,
        &[
            ("authorization", &format!("Bearer {key}")),
            ("openai-beta", "realtime=v1"),
        ],
    )
    .await
    .unwrap();
    until(&mut ws, "conversation.created").await;
    send(&mut ws, json!({"type": "session.update", "session": {"input_audio_format": "g711_ulaw", "output_audio_format": "g711_ulaw", "turn_detection": null}})).await;
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "input_audio_buffer.append", "audio": base64::engine::general_purpose::STANDARD.encode(vec![0xFFu8; 1600])})).await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    until(&mut ws, "conversation.item.created").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let audio: usize = events
        .iter()
        .filter(|e| e["type"] == "response.audio.delta")
        .map(|e| {
            base64::engine::general_purpose::STANDARD
                .decode(e["delta"].as_str().unwrap())
                .unwrap()
                .len()
        })
        .sum();
    assert_eq!(
        audio,
        2 * 800,
        "100 ms per sentence at 8 kHz, one byte per sample"
    );
    assert!(types(&events).contains(&"response.audio_transcript.done"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_vad_commits_the_turn_and_answers_it() {
    let app = voice_app().await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    let mut audio = vec![0i16; 12_000];
    audio.extend(avb_voice::vad::synthetic_voice(900, 24_000));
    audio.extend(vec![0i16; 24_000]);
    stream_audio(&mut ws, &audio).await;
    let events = until(&mut ws, "response.done").await;
    let t = types(&events);
    let pos = |name: &str| {
        t.iter()
            .position(|x| *x == name)
            .unwrap_or_else(|| panic!("{name} missing in {t:?}"))
    };
    assert!(pos("input_audio_buffer.speech_started") < pos("input_audio_buffer.speech_stopped"));
    assert!(pos("input_audio_buffer.speech_stopped") < pos("input_audio_buffer.committed"));
    assert!(pos("input_audio_buffer.committed") < pos("response.created"));
    let started = &events[pos("input_audio_buffer.speech_started")];
    let committed = &events[pos("input_audio_buffer.committed")];
    assert_eq!(
        started["item_id"], committed["item_id"],
        "the turn's item id is announced at speech start"
    );
    let start_ms = started["audio_start_ms"].as_u64().unwrap();
    assert!((400..=650).contains(&start_ms), "{start_ms}");
    let transcript = events
        .iter()
        .find(|e| e["type"] == "response.output_audio_transcript.done")
        .unwrap();
    assert_eq!(
        transcript["transcript"],
        "You said: tell me a joke. Goodbye now."
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_during_a_response_interrupts_it() {
    let app = voice_app().await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "something slow please"}]}})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    until(&mut ws, "response.output_text.delta").await;
    stream_audio(&mut ws, &avb_voice::vad::synthetic_voice(400, 24_000)).await;
    let events = until(&mut ws, "response.done").await;
    let done = events.last().unwrap();
    assert!(types(&events).contains(&"input_audio_buffer.speech_started"));
    assert_eq!(done["response"]["status"], "cancelled");
    assert_eq!(
        done["response"]["status_details"]["reason"],
        "turn_detected"
    );
    assert_eq!(
        done["response"]["output"][0]["status"], "incomplete",
        "what was said before the interruption stays"
    );
}

/// A flaky engine: the first call answers 503, then it works; a refused request (400) is not retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_engine_failures_are_retried() {
    use axum::response::IntoResponse;
    use std::sync::atomic::{AtomicU32, Ordering};
    let calls = std::sync::Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let broke = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let router = axum::Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let broke = broke.clone();
            async move {
                let last = body["messages"]
                    .as_array()
                    .and_then(|m| m.last())
                    .and_then(|m| m["content"].as_str())
                    .unwrap_or("")
                    .to_string();
                if last.contains("refuse") {
                    return (axum::http::StatusCode::BAD_REQUEST, "bad request").into_response();
                }
                // The first "break" answer is a body that breaks before its first event.
                if last.contains("break") && !broke.swap(true, Ordering::SeqCst) {
                    let broken = futures::stream::iter([Err::<String, _>(std::io::Error::other(
                        "connection lost",
                    ))]);
                    return (
                        [("content-type", "text/event-stream")],
                        axum::body::Body::from_stream(broken),
                    )
                        .into_response();
                }
                if n == 0 {
                    return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "warming up")
                        .into_response();
                }
                let body = format!(
                    "data: {}\n\ndata: [DONE]\n\n",
                    json!({"choices": [{"index": 0, "delta": {"content": "Recovered."}}]})
                );
                ([("content-type", "text/event-stream")], body).into_response()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let llm = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    let app = spawn_app_with(Db::Sqlite, move |c| c.engines.llm_url = Some(llm)).await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(events.last().unwrap()["response"]["status"], "completed");
    assert_eq!(
        events.last().unwrap()["response"]["output"][0]["content"][0]["text"],
        "Recovered."
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one retry after the 503");

    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "please refuse"}]}})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(events.last().unwrap()["response"]["status"], "failed");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "a refusal is not retried");

    // A stream that breaks before its first delta (nothing reached the client) is asked again.
    send(&mut ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "please break"}]}})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    assert_eq!(
        events.last().unwrap()["response"]["status"],
        "completed",
        "{events:?}"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        5,
        "the broken stream was asked again"
    );
    assert!(!types(&events).contains(&"error"), "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_turn_is_metered_once() {
    use base64::Engine as _;
    let app = voice_app().await;
    let (_, owner) = app.tenant_with_owner("Metered").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "m", "scopes": ["realtime", "usage"]}),
        )
        .await;
    let key = key["secret"].as_str().unwrap().to_string();
    let (_, empty) = app.get("/api/v1/usage", &key).await;
    assert_eq!(empty["totals"]["requests"], 0.0);
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {"turn_detection": null}}}})).await;
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "input_audio_buffer.append", "audio": base64::engine::general_purpose::STANDARD.encode(vec![0u8; 48_000 * 3])})).await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    until(&mut ws, "conversation.item.done").await;
    send(&mut ws, json!({"type": "response.create"})).await;
    until(&mut ws, "response.done").await;
    // The ledger row is written right after response.done; poll briefly.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let totals = loop {
        let (s, u) = app.get("/api/v1/usage", &key).await;
        assert_eq!(s, reqwest::StatusCode::OK, "{u}");
        if u["totals"]["requests"] == 1.0 {
            break u["totals"].clone();
        }
        assert!(std::time::Instant::now() < deadline, "{u}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(totals["audio_minutes_input"], 3.0 / 60.0);
    assert_eq!(
        totals["audio_minutes_output"],
        0.2 / 60.0,
        "two 100 ms sentences"
    );
    assert_eq!(
        (
            totals["llm_tokens_input"].as_f64(),
            totals["llm_tokens_output"].as_f64()
        ),
        (Some(11.0), Some(3.0))
    );
    let (s, p) = app
        .get(
            "/api/v1/usage?from=2030-01-01T00:00:00Z&to=2029-01-01T00:00:00Z",
            &key,
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (reqwest::StatusCode::UNPROCESSABLE_ENTITY, Some("from"))
    );
    // The session detail has the conversation and the turn's timing waterfall.
    let (_, list) = app.get("/api/v1/sessions", &owner).await;
    let id = list["data"][0]["id"].as_str().unwrap().to_string();
    let (s, detail) = app.get(&format!("/api/v1/sessions/{id}"), &owner).await;
    assert_eq!(s, reqwest::StatusCode::OK, "{detail}");
    let items: Vec<(&str, &str)> = detail["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["role"].as_str().unwrap(), i["text"].as_str().unwrap()))
        .collect();
    assert_eq!(
        items,
        vec![
            ("user", "tell me a joke"),
            ("assistant", "You said: tell me a joke. Goodbye now.")
        ]
    );
    let turn = &detail["turns"][0];
    assert_eq!(turn["status"], "completed");
    for stage in [
        "stt_ms",
        "llm_first_token_ms",
        "tts_first_byte_ms",
        "first_audio_ms",
        "voice_to_voice_ms",
    ] {
        assert!(turn[stage].as_i64().is_some(), "{stage} missing: {turn}");
    }
    let (_, other) = app.tenant_with_owner("Unmetered").await;
    let (_, theirs) = app.get("/api/v1/usage", &other).await;
    assert_eq!(theirs["totals"]["requests"], 0.0, "usage is per tenant");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_are_reported_and_enforced_per_tenant() {
    let llm = llm_double().await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.realtime.requests_per_minute = 1;
    })
    .await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    recv(&mut ws).await;
    send(&mut ws, json!({"type": "response.create"})).await;
    let events = until(&mut ws, "response.done").await;
    let limits = events
        .iter()
        .find(|e| e["type"] == "rate_limits.updated")
        .unwrap();
    assert_eq!(
        limits["rate_limits"][0],
        json!({"name": "requests", "limit": 1, "remaining": 0, "reset_seconds": limits["rate_limits"][0]["reset_seconds"]})
    );
    assert_eq!(limits["rate_limits"][1]["name"], "tokens");
    send(
        &mut ws,
        json!({"type": "response.create", "event_id": "again"}),
    )
    .await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (e["error"]["code"].as_str(), e["error"]["type"].as_str()),
        (Some("rate_limit_exceeded"), Some("rate_limit_error"))
    );
    assert_eq!(e["error"]["event_id"], "again");
    // Another tenant is not affected.
    let other = app.realtime_key(&["realtime"]).await;
    let (mut ws2, _) = connect(&app, &[("authorization", &format!("Bearer {other}"))])
        .await
        .unwrap();
    recv(&mut ws2).await;
    send(&mut ws2, json!({"type": "response.create"})).await;
    let events = until(&mut ws2, "response.done").await;
    assert_eq!(events.last().unwrap()["response"]["status"], "completed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_budgets_follow_the_tenants_plan() {
    let llm = llm_double().await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.realtime.requests_per_minute = 50;
        c.realtime.plans.insert(
            "free".into(),
            avb_core::config::PlanLimits {
                requests_per_minute: 2,
                tokens_per_minute: 1000,
            },
        );
    })
    .await;
    let limit_seen = |key: String| {
        let app = &app;
        async move {
            let mut ws = open_session(app, &key).await;
            send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
            recv(&mut ws).await;
            send(&mut ws, json!({"type": "response.create"})).await;
            let events = until(&mut ws, "response.done").await;
            let limits = events
                .iter()
                .find(|e| e["type"] == "rate_limits.updated")
                .unwrap()
                .clone();
            (
                limits["rate_limits"][0]["limit"].as_u64(),
                limits["rate_limits"][1]["limit"].as_u64(),
            )
        }
    };
    // New tenants are on "free": its budget.
    let free_key = app.realtime_key(&["realtime"]).await;
    assert_eq!(limit_seen(free_key).await, (Some(2), Some(1000)));
    // A tenant moved to a plan the operator made gets that plan's budget at once; a limit
    // the plan leaves open is reported as a budget no minute can use up.
    let terms = serde_json::from_value(json!({
        "code": "scale", "name": "Scale", "currency": "USD", "interval": "monthly", "amount": "10",
        "limits": {"seats": null, "concurrent_sessions": null, "requests_per_minute": 7,
                   "tokens_per_minute": null, "monthly_audio_minutes": null}
    }))
    .unwrap();
    avb_core::services::plans::create(&app.ctx, &avb_core::Scope::local_operator(None), terms)
        .await
        .unwrap();
    let (_, owner) = app.tenant_with_owner("Scale Co").await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let (s, moved) = app
        .post(
            "/api/v1/billing/plan",
            &owner,
            json!({"plan_code": "scale"}),
        )
        .await;
    assert_eq!(moved["result"], "upgraded", "{s} {moved}");
    assert_eq!(
        limit_seen(key["secret"].as_str().unwrap().to_string()).await,
        (Some(7), Some(1_000_000_000))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_client_secrets_live_there_and_any_replica_redeems_them() {
    let redis = avb_testkit::redis_url();
    let with_redis = {
        let redis = redis.clone();
        move |c: &mut avb_core::config::Config| {
            c.redis.url = Some(avb_core::Secret::new(redis));
        }
    };
    let app = spawn_app_with(Db::Postgres, with_redis.clone()).await;
    let key = app.realtime_key(&["realtime"]).await;
    let minted: Value = app
        .client
        .post(format!("{}/v1/realtime/client_secrets", app.base))
        .bearer_auth(&key)
        .json(&json!({"session": {"type": "realtime", "instructions": "Kept in Redis."}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ek = minted["value"].as_str().unwrap().to_string();
    assert!(ek.starts_with("ek_"), "{minted}");
    // Nothing in the database table: the record (and its expiry) is Redis's.
    let rows = app
        .raw_sql("UPDATE realtime_client_secrets SET dialect = dialect")
        .await
        .unwrap();
    assert_eq!(rows, 0);

    // Another replica of the same deployment hydrates the session from it.
    let replica = avb_testkit::spawn_on(&app.database_url, None, with_redis).await;
    let (mut ws, _) = connect(&replica, &[("authorization", &format!("Bearer {ek}"))])
        .await
        .unwrap();
    let created = recv(&mut ws).await;
    assert_eq!(created["session"]["instructions"], "Kept in Redis.");
    // A made-up secret is refused like any bad key.
    assert_eq!(
        connect(
            &replica,
            &[("authorization", "Bearer ek_not_a_real_secret")]
        )
        .await
        .err(),
        Some(401)
    );
}

/// An `/audio/transcriptions` double that answers with the duration of the WAV it got.
async fn duration_stt(calls: std::sync::Arc<std::sync::atomic::AtomicUsize>) -> String {
    let handler = move |body: axum::body::Bytes| {
        let calls = calls.clone();
        async move {
            calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let at = body.windows(4).position(|w| w == b"RIFF").unwrap();
            let wav = &body[at..];
            let rate = u32::from_le_bytes([wav[24], wav[25], wav[26], wav[27]]) as u64;
            let data = u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]) as u64;
            tokio::time::sleep(Duration::from_millis(50)).await;
            axum::Json(json!({"text": format!("{}", data * 1000 / (rate * 2))}))
        }
    };
    let router =
        axum::Router::new().route("/v1/audio/transcriptions", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_turn_is_transcribed_while_the_vad_waits_out_the_silence() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let stt = duration_stt(calls.clone()).await;
    let app = spawn_app_with(Db::Sqlite, move |c| c.engines.stt_url = Some(stt)).await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"transcription": {"model": "tiny.en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "create_response": false}}}}}))
    .await;
    recv(&mut ws).await;
    // Speech, a 300 ms pause (long enough to start an early transcription, too short to end the
    // turn), more speech, then silence.
    let mut audio = vec![0i16; 12_000];
    audio.extend(avb_voice::vad::synthetic_voice(600, 24_000));
    audio.extend(vec![0i16; 7_200]);
    audio.extend(avb_voice::vad::synthetic_voice(600, 24_000));
    audio.extend(vec![0i16; 24_000]);
    stream_audio(&mut ws, &audio).await;
    let events = until(
        &mut ws,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    let heard_ms: u64 = events.last().unwrap()["transcript"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    // The transcription used covers both bursts of speech but not the whole final silence: it
    // was started while the VAD was still waiting (the committed buffer is ~2.5 s).
    assert!(
        (2_000..2_450).contains(&heard_ms),
        "transcribed {heard_ms} ms"
    );
    assert!(
        calls.load(std::sync::atomic::Ordering::SeqCst) <= 2,
        "at most the abandoned early attempt and the used one"
    );
}

/// Mints a GA client secret with `credential` (an API key or an access token).
async fn mint_secret(app: &TestApp, credential: &str) -> String {
    let minted: Value = app
        .client
        .post(format!("{}/v1/realtime/client_secrets", app.base))
        .bearer_auth(credential)
        .json(&json!({"session": {"type": "realtime", "instructions": "Minted."}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    minted["value"].as_str().unwrap().to_string()
}

/// Waits for the server to end `ws` (the `session_closed` error, then close 1000).
async fn ended_by_server(ws: &mut avb_testkit::ws::Ws) {
    let events = avb_testkit::ws::until_within(ws, "__close", Duration::from_secs(10)).await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "error" && e["error"]["code"] == "session_closed"),
        "{events:?}"
    );
}

/// Secrets open one session, only while their key is active; revoking the key ends the
/// sessions opened with it or its secrets, on another replica too.
async fn secrets_die_with_their_key(app: &TestApp, replica: &TestApp) {
    let (_, owner) = app.tenant_with_owner("Revokers").await;
    let (s, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "rt", "scopes": ["realtime"]}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::CREATED, "{key}");
    let (key_id, secret) = (
        key["id"].as_str().unwrap().to_string(),
        key["secret"].as_str().unwrap().to_string(),
    );

    // Single use: the second connect with the same secret is refused.
    let once = mint_secret(app, &secret).await;
    let bearer = format!("Bearer {once}");
    let (mut first, _) = connect(replica, &[("authorization", &bearer)])
        .await
        .unwrap();
    assert_eq!(recv(&mut first).await["type"], "session.created");
    assert_eq!(
        connect(app, &[("authorization", &bearer)]).await.err(),
        Some(401)
    );

    // Live sessions on both replicas, one by key, one by secret; a secret minted but unused.
    let mut by_key = open_session(replica, &secret).await;
    let later = mint_secret(app, &secret).await;
    let (s, _) = app
        .post(
            &format!("/api/v1/api-keys/{key_id}/revoke"),
            &owner,
            json!({}),
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    ended_by_server(&mut first).await;
    ended_by_server(&mut by_key).await;
    assert_eq!(
        connect(replica, &[("authorization", &format!("Bearer {later}"))])
            .await
            .err(),
        Some(401),
        "a secret minted before the key was revoked must not open a session"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secrets_are_single_use_and_die_with_their_key_sqlite() {
    let llm = llm_double().await;
    let app = spawn_app_with(Db::Sqlite, |c| c.engines.llm_url = Some(llm)).await;
    // Without Redis there is one replica: the same app plays both parts.
    secrets_die_with_their_key(&app, &app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_secrets_are_single_use_and_die_with_their_key_postgres_redis() {
    let redis = avb_testkit::redis_url();
    let with_redis = move |c: &mut avb_core::config::Config| {
        c.redis.url = Some(avb_core::Secret::new(redis));
    };
    let app = spawn_app_with(Db::Postgres, with_redis.clone()).await;
    let replica = avb_testkit::spawn_on(&app.database_url, None, with_redis).await;
    secrets_die_with_their_key(&app, &replica).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_or_disabling_a_user_ends_their_realtime_sessions() {
    let app = app_with_llm(3600).await;
    let (tenant, owner) = app.tenant_with_owner("Team Rt").await;
    let dev = app
        .create_user(Some(tenant), "developer", "dev@team-rt.test")
        .await;
    let token = app.login(&dev).await;
    let (_, me) = app.get("/api/v1/me", &token).await;
    let dev_id = me["actor_id"].as_str().unwrap().to_string();
    let mut ws = open_session(&app, &token).await;
    let ek = mint_secret(&app, &token).await;
    let (mut by_secret, _) = connect(&app, &[("authorization", &format!("Bearer {ek}"))])
        .await
        .unwrap();
    assert_eq!(recv(&mut by_secret).await["type"], "session.created");
    let (s, body) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/members/{dev_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert!(s.is_success(), "{s} {body}");
    ended_by_server(&mut ws).await;
    ended_by_server(&mut by_secret).await;

    // A SaaS admin disabling a user ends their sessions in every tenant.
    let other = app
        .create_user(Some(tenant), "developer", "dev2@team-rt.test")
        .await;
    let token = app.login(&other).await;
    let (_, me) = app.get("/api/v1/me", &token).await;
    let other_id: uuid::Uuid = me["actor_id"].as_str().unwrap().parse().unwrap();
    let ek = mint_secret(&app, &token).await;
    let mut ws = open_session(&app, &token).await;
    avb_core::services::platform::set_user_enabled(
        &app.ctx,
        &avb_core::Scope::local_operator(None),
        avb_domain::UserId(other_id),
        false,
    )
    .await
    .unwrap();
    ended_by_server(&mut ws).await;
    assert_eq!(
        connect(&app, &[("authorization", &format!("Bearer {ek}"))])
            .await
            .err(),
        Some(401),
        "a disabled user's secret must not open a session"
    );
}

/// A session recorded as held by this replica but no longer open here (its close could not be
/// written) is closed as lost by the replica's own sweep.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_closes_sessions_it_no_longer_holds() {
    let app = spawn_app_with(Db::Sqlite, |c| c.realtime.lost_after_secs = 2).await;
    let key = app.realtime_key(&["realtime", "sessions"]).await;
    // A live session of this replica, opened first: the sweep that closes the orphan below has
    // seen it too, older than the grace, and must leave it alone.
    let mut ws = open_session(&app, &key).await;
    let scope = avb_core::identity::authenticate_bearer(&app.ctx, &key, Default::default())
        .await
        .unwrap();
    let id = avb_core::services::sessions::open(&app.ctx, &scope, "sess_orphan", "m", "ga")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, s) = app.get(&format!("/api/v1/sessions/{id}"), &key).await;
        if s["status"] == "closed" {
            assert_eq!(s["close_reason"], "lost", "{s}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "still {s}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (_, list) = app.get("/api/v1/sessions?status=active", &key).await;
    assert_eq!(list["data"].as_array().map(Vec::len), Some(1), "{list}");
    send(
        &mut ws,
        json!({"type": "session.update", "session": {"type": "realtime"}}),
    )
    .await;
    let updated = until(&mut ws, "session.updated").await;
    assert_eq!(updated.last().unwrap()["type"], "session.updated");
}
