//! `[ovos] bus_url`: the platform's bus relayed to an external OVOS messagebus (the stock
//! `ovos-messagebus` of an existing OVOS install). The in-process clients (voice turns, admin
//! questions, the network role) keep using [`Bus::attach`]; a WebSocket client of the external
//! bus carries every local frame out and every external frame in. Both buses echo a frame to
//! its sender, so each side remembers what it relayed and drops that echo once, and nothing
//! loops. Reconnects with backoff (1 s doubling to 30 s) while the server runs.

use crate::bus::Bus;
use futures::{SinkExt, StreamExt};
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// Frames remembered per direction (their echoes are dropped once).
const REMEMBERED: usize = 4096;

/// Frames relayed one way, whose echo the other side will send back once.
#[derive(Default)]
struct Relayed {
    counts: HashMap<u64, u32>,
    order: VecDeque<u64>,
}

fn digest(frame: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    frame.hash(&mut h);
    h.finish()
}

impl Relayed {
    fn remember(&mut self, frame: &str) {
        let d = digest(frame);
        *self.counts.entry(d).or_default() += 1;
        self.order.push_back(d);
        while self.order.len() > REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.forget(old);
            }
        }
    }

    fn forget(&mut self, d: u64) {
        if let Some(n) = self.counts.get_mut(&d) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&d);
            }
        }
    }

    /// Whether `frame` is the echo of one relayed (consumed if so).
    fn is_echo(&mut self, frame: &str) -> bool {
        let d = digest(frame);
        if self.counts.contains_key(&d) {
            self.forget(d);
            if let Some(i) = self.order.iter().position(|x| *x == d) {
                self.order.remove(i);
            }
            true
        } else {
            false
        }
    }
}

/// Whether `frame` is a bus's `connected` hello.
fn is_hello(frame: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(frame).is_ok_and(|v| v["type"] == "connected")
}

/// `url` without its query (where tokens ride), for display.
pub fn display_url(url: &str) -> String {
    url.split('?').next().unwrap_or(url).to_string()
}

/// Relays `bus` to the external bus at `url` (`ws://host:port/core[?...]`) until `stop`.
pub async fn bridge(bus: Bus, url: String, mut stop: tokio::sync::watch::Receiver<bool>) {
    bus.set_bridged_to(Some(display_url(&url)));
    let mut backoff = Duration::from_secs(1);
    while !*stop.borrow() {
        match relay(&bus, &url, &mut stop).await {
            Ok(()) => return,
            Err(e) => {
                tracing::warn!(bus = %display_url(&url), error = %e, "external OVOS bus unreachable; retrying");
                metrics::counter!("avb_ovos_bridge_reconnects_total").increment(1);
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// One connection's life: relays until it drops (Err) or the server stops (Ok).
async fn relay(
    bus: &Bus,
    url: &str,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let (ws, _) = tokio_tungstenite::connect_async(url)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(bus = %display_url(url), "relaying to the external OVOS bus");
    let (mut sink, mut stream) = ws.split();
    let mut local = bus.attach("avb-bridge");
    let mut outgoing = Relayed::default();
    let mut incoming = Relayed::default();
    loop {
        tokio::select! {
            frame = local.recv() => {
                let Some(frame) = frame else { return Err("dropped by the local bus".into()) };
                if incoming.is_echo(&frame) {
                    continue;
                }
                outgoing.remember(&frame);
                sink.send(Message::text(frame.to_string())).await.map_err(|e| e.to_string())?;
            }
            msg = stream.next() => {
                let text = match msg {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(_))) | None => return Err("the external bus closed".into()),
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => return Err(e.to_string()),
                };
                // The external bus's hello is for the relay itself, not for our clients.
                if outgoing.is_echo(&text) || is_hello(&text) {
                    continue;
                }
                // Not an OVOS message (the stock bus relays anything): not for our clients.
                if crate::frame::Frame::parse(&text).is_err() {
                    continue;
                }
                incoming.remember(&text);
                if local.send(&text).is_err() {
                    incoming.is_echo(&text);
                }
            }
            _ = stop.changed() => {
                let _ = sink.send(Message::Close(None)).await;
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echoes_are_dropped_once() {
        let mut r = Relayed::default();
        r.remember("a");
        r.remember("a");
        assert!(r.is_echo("a"));
        assert!(r.is_echo("a"));
        assert!(!r.is_echo("a"));
        assert!(!r.is_echo("b"));
        assert_eq!(display_url("ws://h:1/core?token=x"), "ws://h:1/core");
    }
}
