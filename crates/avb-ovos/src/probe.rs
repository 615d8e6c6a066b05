//! The latency probe: a WebSocket client of the bus (as `avb-probe`) that sends a ping every
//! interval and times its own echo through the bus, recording the round trip.

use crate::bus::Bus;
use futures::{SinkExt, StreamExt};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;

/// Probes `addr` (`host:port`) at `route` with the probe's `token` every `every` until `stop`
/// turns true; reconnects after failures.
pub async fn run_probe(
    bus: Bus,
    addr: String,
    route: String,
    token: String,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut nonce = 0u64;
    while !*stop.borrow() {
        if let Err(e) =
            probe_session(&bus, &addr, &route, &token, every, &mut nonce, &mut stop).await
        {
            tracing::debug!(error = %e, "OVOS bus probe reconnects");
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

async fn probe_session(
    bus: &Bus,
    addr: &str,
    route: &str,
    token: &str,
    every: Duration,
    nonce: &mut u64,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<(), String> {
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    let url = format!("ws://{addr}{route}?client_id=avb-probe&token={token}");
    let (ws, _) = tokio_tungstenite::client_async(url, tcp)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sink, mut stream) = ws.split();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return Ok(()),
        }
        *nonce += 1;
        let want = *nonce;
        let ping = crate::frame::message(
            "avb.bus.ping",
            serde_json::json!({"nonce": want}),
            serde_json::json!({"source": "avb-probe"}),
        );
        let sent = Instant::now();
        sink.send(Message::text(ping))
            .await
            .map_err(|e| e.to_string())?;
        let echoed = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(m) = stream.next().await {
                let Ok(Message::Text(t)) = m else { continue };
                let v: serde_json::Value = serde_json::from_str(t.as_str()).unwrap_or_default();
                if v["type"] == "avb.bus.ping" && v["data"]["nonce"] == want {
                    return true;
                }
            }
            false
        })
        .await;
        match echoed {
            Ok(true) => bus.record_probe(sent.elapsed()),
            _ => return Err("the probe's ping did not come back".into()),
        }
    }
}
