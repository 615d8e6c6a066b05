//! The bus's WebSocket listener: `GET <route>?client_id=&token=` upgrades a known client (any
//! other path is 404, a bad token 401); frames are checked, counted, rate-bounded and relayed.

use crate::bus::Bus;
use crate::frame::{Frame, message};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::serve::ListenerExt;
use futures::{SinkExt, StreamExt};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;
use tokio::net::TcpListener;

/// Serves the bus on `listener` at `route` (OVOS's default is `/core`) until `shutdown`.
pub async fn serve(
    bus: Bus,
    listener: TcpListener,
    route: &str,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    if let Ok(addr) = listener.local_addr() {
        bus.set_address(addr.to_string());
    }
    let app = axum::Router::new()
        .route(route, axum::routing::get(upgrade))
        .with_state(bus);
    // Every hop pays Nagle's delay against delayed ACKs without this (44 ms on the stock bus).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

fn valid_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b':'))
}

async fn upgrade(
    State(bus): State<Bus>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(q): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let client_id = q.get("client_id").map(String::as_str).unwrap_or_default();
    let token = q.get("token").map(String::as_str).unwrap_or_default();
    if !valid_client_id(client_id) || !bus.authorize(client_id, token) {
        tracing::warn!(%peer, client_id, "OVOS bus handshake refused: unknown client or token");
        metrics::counter!("avb_ovos_bus_refused_total").increment(1);
        return (
            StatusCode::UNAUTHORIZED,
            "an OVOS bus client needs ?client_id=<id>&token=<token> as configured in [ovos] bus_tokens",
        )
            .into_response();
    }
    let max = bus.settings().max_frame_bytes;
    let client_id = client_id.to_string();
    ws.max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| run(bus, socket, client_id, peer.to_string()))
}

/// One WebSocket client from hello to goodbye.
async fn run(bus: Bus, socket: WebSocket, client_id: String, peer: String) {
    let (client, mut rx) = bus.register(&client_id, &peer, false);
    let (mut sink, mut stream) = socket.split();
    let hello = message(
        "connected",
        serde_json::json!({}),
        serde_json::json!({"session": {"session_id": "default"}}),
    );
    let writer_client = client.clone();
    let writer = tokio::spawn(async move {
        if sink.send(Message::Text(hello.into())).await.is_err() {
            return;
        }
        loop {
            tokio::select! {
                frame = rx.recv() => match frame {
                    Some(f) => if sink.send(Message::Text(f.as_ref().into())).await.is_err() { return },
                    None => return,
                },
                (code, reason) = writer_client.dropped() => {
                    // What was queued before the drop (a restart notice) still goes out, unless
                    // the client is dropped for not reading.
                    if code != 1008 {
                        while let Ok(f) = rx.try_recv() {
                            if sink.send(Message::Text(f.as_ref().into())).await.is_err() {
                                return;
                            }
                        }
                    }
                    let reason: String = reason.chars().take(120).collect();
                    let _ = sink.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
                    return;
                }
            }
        }
    });
    // A token bucket per client: `max_messages_per_sec` a second, with as much burst.
    let rate = f64::from(bus.settings().max_messages_per_sec.max(1));
    let (mut allowance, mut last) = (rate, Instant::now());
    let mut reason = "closed by the client".to_string();
    loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            _ = client.dropped() => break,
        };
        let text = match msg {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Binary(_))) => {
                bus.kick(
                    &client,
                    1003,
                    "binary frames are not OVOS messages",
                    "invalid_frame",
                );
                break;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Ok(Message::Close(_))) | None => break,
            Some(Err(e)) => {
                let text = e.to_string();
                if text.contains("too long") || text.contains("too big") || text.contains("size") {
                    bus.kick(
                        &client,
                        1009,
                        &format!("frame larger than {} bytes", bus.settings().max_frame_bytes),
                        "too_large",
                    );
                } else {
                    reason = format!("connection error: {text}");
                }
                break;
            }
        };
        let now = Instant::now();
        allowance = (allowance + now.duration_since(last).as_secs_f64() * rate).min(rate);
        last = now;
        if allowance < 1.0 {
            bus.kick(
                &client,
                1008,
                &format!("flood: more than {rate} messages a second"),
                "flood",
            );
            break;
        }
        allowance -= 1.0;
        match Frame::parse(text.as_str()) {
            Ok(frame) => {
                bus.received(&client, text.len());
                bus.publish(&frame);
            }
            Err(why) => {
                bus.kick(
                    &client,
                    1007,
                    &format!("invalid frame: {why}"),
                    "invalid_frame",
                );
                break;
            }
        }
    }
    bus.unregister(&client, &reason);
    // The writer sends the close frame of a dropped client, then ends.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
}
