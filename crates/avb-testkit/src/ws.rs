//! A Realtime WebSocket client for tests: connect with headers, send and receive JSON events,
//! stream pcm16 audio.

use crate::TestApp;
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A client socket to `/v1/realtime`.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How long [`recv`] waits for one event unless told otherwise.
pub const EVENT_WAIT: Duration = Duration::from_secs(10);

impl TestApp {
    /// Creates a tenant with an owner and returns the secret of a new API key with `scopes`.
    pub async fn realtime_key(&self, scopes: &[&str]) -> String {
        let (_, owner) = self
            .tenant_with_owner(&format!("RT {}", uuid::Uuid::now_v7().simple()))
            .await;
        let (s, key) = self
            .post(
                "/api/v1/api-keys",
                &owner,
                json!({"name": "rt", "scopes": scopes}),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::CREATED, "{key}");
        key["secret"].as_str().expect("secret").to_string()
    }
}

/// Opens `/v1/realtime?model=test-model` with `headers`; `Err(status)` when the handshake is
/// refused. Returns the socket and the subprotocol the server chose.
pub async fn connect(app: &TestApp, headers: &[(&str, &str)]) -> Result<(Ws, Option<String>), u16> {
    let mut req = format!("ws://{}/v1/realtime?model=test-model", app.addr)
        .into_client_request()
        .expect("request");
    for (k, v) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes())
            .expect("header name");
        req.headers_mut()
            .insert(name, v.parse().expect("header value"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, res)) => Ok((
            ws,
            res.headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        )),
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
        Err(e) => panic!("{e}"),
    }
}

/// Connects with `Authorization: Bearer <key>` and consumes `session.created`.
pub async fn open_session(app: &TestApp, key: &str) -> Ws {
    let (mut ws, _) = connect(app, &[("authorization", &format!("Bearer {key}"))])
        .await
        .expect("handshake accepted");
    let created = recv(&mut ws).await;
    assert_eq!(created["type"], "session.created");
    ws
}

/// The next JSON event (a close frame becomes `{"type": "__close", "code": ...}`).
pub async fn recv(ws: &mut Ws) -> Value {
    recv_within(ws, EVENT_WAIT).await
}

/// Like [`recv`], waiting at most `wait`.
pub async fn recv_within(ws: &mut Ws, wait: Duration) -> Value {
    loop {
        let msg = tokio::time::timeout(wait, ws.next())
            .await
            .expect("an event in time")
            .expect("open")
            .expect("a frame");
        match msg {
            Message::Text(t) => return serde_json::from_str(t.as_str()).expect("JSON event"),
            Message::Close(f) => {
                return json!({"type": "__close", "code": f.map(|f| u16::from(f.code))});
            }
            _ => continue,
        }
    }
}

/// Sends one JSON event.
pub async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into()))
        .await
        .expect("sent");
}

/// Receives events until one of type `until`, returning all of them.
pub async fn until(ws: &mut Ws, until: &str) -> Vec<Value> {
    until_within(ws, until, EVENT_WAIT).await
}

/// Like [`until`], waiting at most `wait` for each event.
pub async fn until_within(ws: &mut Ws, until: &str, wait: Duration) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let e = recv_within(ws, wait).await;
        if std::env::var("WS_TRACE").is_ok() {
            eprintln!(
                "<- {}",
                if e["type"] == "error" {
                    e.to_string()
                } else {
                    e["type"].to_string()
                }
            );
        }
        let done = e["type"] == until;
        out.push(e);
        if done {
            return out;
        }
    }
}

/// The `type` of each event.
pub fn types(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["type"].as_str().unwrap_or(""))
        .collect()
}

/// pcm16 little-endian samples, base64 encoded as `input_audio_buffer.append` carries them.
pub fn pcm_b64(samples: &[i16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(
        samples
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect::<Vec<u8>>(),
    )
}

/// Decodes base64 pcm16 audio deltas back to samples.
pub fn pcm_from_b64(b64: &str) -> Vec<i16> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("base64 audio");
    bytes
        .chunks_exact(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// Sends 24 kHz audio in 100 ms appends, as fast as the socket takes them.
pub async fn stream_audio(ws: &mut Ws, samples: &[i16]) {
    for chunk in samples.chunks(2400) {
        send(
            ws,
            json!({"type": "input_audio_buffer.append", "audio": pcm_b64(chunk)}),
        )
        .await;
    }
}
