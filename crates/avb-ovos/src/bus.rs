//! The bus's state: connected clients with their counters and bounded outbound queues, the
//! records of clients that left, throughput, probe latency, and lifecycle events.

use crate::frame::Frame;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{Notify, broadcast, mpsc};

/// How the bus admits and bounds its clients.
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// Client id -> token; a WebSocket client must present both on the handshake.
    pub tokens: HashMap<String, String>,
    /// Largest frame accepted; a larger one disconnects its sender.
    pub max_frame_bytes: usize,
    /// Frames waiting for one client; a client whose queue is full is dropped.
    pub queue_depth: usize,
    /// Frames one client may send per second (burst of the same); more disconnects it.
    pub max_messages_per_sec: u32,
}

impl Default for BusSettings {
    fn default() -> Self {
        Self {
            tokens: HashMap::new(),
            max_frame_bytes: 1 << 20,
            queue_depth: 1024,
            max_messages_per_sec: 2000,
        }
    }
}

/// A client as the admin page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct ClientView {
    pub client_id: String,
    pub peer: String,
    pub connected_at: DateTime<Utc>,
    pub disconnected_at: Option<DateTime<Utc>>,
    /// Why it left (`closed by the client`, `slow consumer`, ...).
    pub reason: Option<String>,
    pub messages_in: u64,
    pub messages_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub last_seen: DateTime<Utc>,
    /// Frames waiting to be written to it.
    pub queued: usize,
    /// In-process (the gateway), not a WebSocket.
    pub internal: bool,
}

/// A client arrived or left.
#[derive(Debug, Clone)]
pub enum BusEvent {
    Connected {
        client_id: String,
        peer: String,
    },
    Disconnected {
        client_id: String,
        peer: String,
        reason: String,
    },
}

/// The bus at a glance.
#[derive(Debug, Clone, Serialize)]
pub struct BusStatus {
    pub started_at: DateTime<Utc>,
    pub restarts: u64,
    pub clients: Vec<ClientView>,
    pub recent_disconnects: Vec<ClientView>,
    /// Frames received per second over the last five seconds.
    pub messages_per_sec: f64,
    pub messages_total: u64,
    pub deliveries_total: u64,
    /// The longest outbound queue now.
    pub max_queue_depth: usize,
    /// Probe round trips through the bus, in ms: p50, p95, p99 of the last samples.
    pub latency_ms: Option<[f64; 3]>,
    pub probe_samples: usize,
}

pub(crate) struct Client {
    pub id: u64,
    pub client_id: String,
    pub peer: String,
    connected_at: DateTime<Utc>,
    pub internal: bool,
    msgs_in: AtomicU64,
    msgs_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    last_seen_ms: AtomicI64,
    tx: mpsc::Sender<Arc<str>>,
    /// Set when the bus drops the client: close code and reason.
    closing: Mutex<Option<(u16, String)>>,
    closed: Notify,
}

impl Client {
    /// Waits until the bus drops this client; its close code and reason.
    pub async fn dropped(&self) -> (u16, String) {
        loop {
            let notified = self.closed.notified();
            if let Some(c) = self.closing.lock().ok().and_then(|c| c.clone()) {
                return c;
            }
            notified.await;
        }
    }

    fn view(&self, now_gone: Option<(DateTime<Utc>, String)>) -> ClientView {
        let (disconnected_at, reason) = match now_gone {
            Some((at, why)) => (Some(at), Some(why)),
            None => (None, None),
        };
        ClientView {
            client_id: self.client_id.clone(),
            peer: self.peer.clone(),
            connected_at: self.connected_at,
            disconnected_at,
            reason,
            messages_in: self.msgs_in.load(Ordering::Relaxed),
            messages_out: self.msgs_out.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            last_seen: DateTime::from_timestamp_millis(self.last_seen_ms.load(Ordering::Relaxed))
                .unwrap_or(self.connected_at),
            queued: self.tx.max_capacity() - self.tx.capacity(),
            internal: self.internal,
        }
    }
}

struct Inner {
    settings: BusSettings,
    clients: Mutex<HashMap<u64, Arc<Client>>>,
    next: AtomicU64,
    departed: Mutex<VecDeque<ClientView>>,
    events: broadcast::Sender<BusEvent>,
    latency: Mutex<VecDeque<f64>>,
    received: AtomicU64,
    delivered: AtomicU64,
    /// Frames received per whole second: (second since start, count) for the last ten.
    seconds: Mutex<VecDeque<(u64, u64)>>,
    began: Instant,
    started_at: DateTime<Utc>,
    restarts: AtomicU64,
    /// Where the listener is bound, once it is.
    address: Mutex<Option<String>>,
    /// The external bus this one is bridged to (`[ovos] bus_url`, credentials removed).
    bridged_to: Mutex<Option<String>>,
}

/// The messagebus; cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

const DEPARTED_KEPT: usize = 50;
const LATENCY_KEPT: usize = 512;

impl Bus {
    pub fn new(settings: BusSettings) -> Self {
        Self {
            inner: Arc::new(Inner {
                settings,
                clients: Mutex::default(),
                next: AtomicU64::new(1),
                departed: Mutex::default(),
                events: broadcast::channel(256).0,
                latency: Mutex::default(),
                received: AtomicU64::new(0),
                delivered: AtomicU64::new(0),
                seconds: Mutex::default(),
                began: Instant::now(),
                started_at: Utc::now(),
                restarts: AtomicU64::new(0),
                address: Mutex::new(None),
                bridged_to: Mutex::new(None),
            }),
        }
    }

    pub fn settings(&self) -> &BusSettings {
        &self.inner.settings
    }

    /// Where the listener is bound (`host:port`), once [`crate::serve`] runs.
    pub fn address(&self) -> Option<String> {
        self.inner.address.lock().ok().and_then(|a| a.clone())
    }

    pub(crate) fn set_address(&self, address: String) {
        if let Ok(mut a) = self.inner.address.lock() {
            *a = Some(address);
        }
    }

    /// Whether `token` is the one configured for `client_id` (compared in constant time).
    pub fn authorize(&self, client_id: &str, token: &str) -> bool {
        let Some(want) = self.inner.settings.tokens.get(client_id) else {
            return false;
        };
        let (a, b) = (want.as_bytes(), token.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }

    /// Lifecycle events (for the activity feed and the audit log).
    pub fn events(&self) -> broadcast::Receiver<BusEvent> {
        self.inner.events.subscribe()
    }

    pub(crate) fn register(
        &self,
        client_id: &str,
        peer: &str,
        internal: bool,
    ) -> (Arc<Client>, mpsc::Receiver<Arc<str>>) {
        let (tx, rx) = mpsc::channel(self.inner.settings.queue_depth.max(1));
        let client = Arc::new(Client {
            id: self.inner.next.fetch_add(1, Ordering::Relaxed),
            client_id: client_id.to_string(),
            peer: peer.to_string(),
            connected_at: Utc::now(),
            internal,
            msgs_in: AtomicU64::new(0),
            msgs_out: AtomicU64::new(0),
            bytes_in: AtomicU64::new(0),
            bytes_out: AtomicU64::new(0),
            last_seen_ms: AtomicI64::new(Utc::now().timestamp_millis()),
            tx,
            closing: Mutex::new(None),
            closed: Notify::new(),
        });
        let n = {
            let mut clients = self.inner.clients.lock().expect("bus clients");
            clients.insert(client.id, client.clone());
            clients.len()
        };
        metrics::gauge!("avb_ovos_bus_clients").set(n as f64);
        tracing::info!(client_id, peer, "OVOS bus client connected");
        let _ = self.inner.events.send(BusEvent::Connected {
            client_id: client_id.to_string(),
            peer: peer.to_string(),
        });
        (client, rx)
    }

    /// Removes a client that left (or was dropped), keeping its record; a second call for
    /// the same client does nothing.
    pub(crate) fn unregister(&self, client: &Client, reason: &str) {
        let (removed, n) = {
            let mut clients = self.inner.clients.lock().expect("bus clients");
            (clients.remove(&client.id).is_some(), clients.len())
        };
        if !removed {
            return;
        }
        metrics::gauge!("avb_ovos_bus_clients").set(n as f64);
        let reason = client
            .closing
            .lock()
            .ok()
            .and_then(|c| c.as_ref().map(|(_, r)| r.clone()))
            .unwrap_or_else(|| reason.to_string());
        {
            let mut departed = self.inner.departed.lock().expect("bus departed");
            departed.push_front(client.view(Some((Utc::now(), reason.clone()))));
            departed.truncate(DEPARTED_KEPT);
        }
        tracing::info!(client_id = %client.client_id, peer = %client.peer, %reason, "OVOS bus client disconnected");
        let _ = self.inner.events.send(BusEvent::Disconnected {
            client_id: client.client_id.clone(),
            peer: client.peer.clone(),
            reason,
        });
    }

    /// Drops a client: it stops receiving at once and its connection closes with `code`.
    pub(crate) fn kick(&self, client: &Client, code: u16, reason: &str, category: &'static str) {
        {
            let mut closing = client.closing.lock().expect("bus closing");
            if closing.is_some() {
                return;
            }
            *closing = Some((code, reason.to_string()));
        }
        metrics::counter!("avb_ovos_bus_dropped_clients_total", "reason" => category).increment(1);
        tracing::warn!(client_id = %client.client_id, peer = %client.peer, reason, "OVOS bus client dropped");
        self.unregister(client, reason);
        client.closed.notify_waiters();
    }

    /// Counts a frame received from `client`.
    pub(crate) fn received(&self, client: &Client, bytes: usize) {
        client.msgs_in.fetch_add(1, Ordering::Relaxed);
        client.bytes_in.fetch_add(bytes as u64, Ordering::Relaxed);
        client
            .last_seen_ms
            .store(Utc::now().timestamp_millis(), Ordering::Relaxed);
        self.inner.received.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("avb_ovos_bus_messages_total").increment(1);
        metrics::counter!("avb_ovos_bus_bytes_total", "direction" => "in").increment(bytes as u64);
        let sec = self.inner.began.elapsed().as_secs();
        let mut s = self.inner.seconds.lock().expect("bus seconds");
        match s.back_mut() {
            Some((at, n)) if *at == sec => *n += 1,
            _ => {
                s.push_back((sec, 1));
                while s.len() > 10 {
                    s.pop_front();
                }
            }
        }
    }

    /// Relays a frame to every client, the sender included (OVOS components rely on seeing
    /// their own messages); a client whose queue is full is dropped as a slow consumer.
    pub fn publish(&self, frame: &Frame) {
        let clients: Vec<Arc<Client>> = self
            .inner
            .clients
            .lock()
            .expect("bus clients")
            .values()
            .cloned()
            .collect();
        let len = frame.text.len() as u64;
        for c in clients {
            match c.tx.try_send(frame.text.clone()) {
                Ok(()) => {
                    c.msgs_out.fetch_add(1, Ordering::Relaxed);
                    c.bytes_out.fetch_add(len, Ordering::Relaxed);
                    self.inner.delivered.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("avb_ovos_bus_bytes_total", "direction" => "out")
                        .increment(len);
                }
                Err(mpsc::error::TrySendError::Full(_)) => self.kick(
                    &c,
                    1008,
                    &format!(
                        "slow consumer: {} frames waited to be read",
                        self.inner.settings.queue_depth
                    ),
                    "slow_consumer",
                ),
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        metrics::counter!("avb_ovos_bus_deliveries_total").increment(1);
    }

    /// An in-process client (the gateway, the probe's readiness checks): it sends and
    /// receives like a WebSocket client, without a socket.
    pub fn attach(&self, client_id: &str) -> Attached {
        let (client, rx) = self.register(client_id, "in-process", true);
        Attached {
            bus: self.clone(),
            client,
            rx,
        }
    }

    /// Records one probe round trip.
    pub fn record_probe(&self, rtt: Duration) {
        metrics::histogram!("avb_ovos_bus_probe_seconds").record(rtt.as_secs_f64());
        let mut l = self.inner.latency.lock().expect("bus latency");
        l.push_back(rtt.as_secs_f64() * 1000.0);
        while l.len() > LATENCY_KEPT {
            l.pop_front();
        }
    }

    /// Tells every WebSocket client the bus restarts and closes them (1012, "service restart");
    /// OVOS clients reconnect by themselves. Records and counters survive. Returns how many
    /// clients were closed.
    pub fn restart(&self) -> usize {
        self.inner.restarts.fetch_add(1, Ordering::Relaxed);
        let notice = Frame::parse(&crate::frame::message(
            "avb.bus.restarting",
            serde_json::json!({"reconnect": true}),
            serde_json::json!({}),
        ))
        .expect("a valid notice");
        self.publish(&notice);
        let clients: Vec<Arc<Client>> = self
            .inner
            .clients
            .lock()
            .expect("bus clients")
            .values()
            .filter(|c| !c.internal)
            .cloned()
            .collect();
        for c in &clients {
            self.kick(c, 1012, "bus restart", "restart");
        }
        clients.len()
    }

    /// Whether a client with this id is connected.
    /// The external bus this one relays to and from, if any (credentials removed).
    pub fn bridged_to(&self) -> Option<String> {
        self.inner.bridged_to.lock().expect("bus bridge").clone()
    }

    pub(crate) fn set_bridged_to(&self, url: Option<String>) {
        *self.inner.bridged_to.lock().expect("bus bridge") = url;
    }

    pub fn is_connected(&self, client_id: &str) -> bool {
        self.inner
            .clients
            .lock()
            .expect("bus clients")
            .values()
            .any(|c| c.client_id == client_id)
    }

    pub fn snapshot(&self) -> BusStatus {
        let mut clients: Vec<ClientView> = self
            .inner
            .clients
            .lock()
            .expect("bus clients")
            .values()
            .map(|c| c.view(None))
            .collect();
        clients.sort_by_key(|c| c.connected_at);
        let max_queue_depth = clients.iter().map(|c| c.queued).max().unwrap_or(0);
        metrics::gauge!("avb_ovos_bus_queue_depth_max").set(max_queue_depth as f64);
        let now = self.inner.began.elapsed().as_secs();
        let recent: u64 = self
            .inner
            .seconds
            .lock()
            .expect("bus seconds")
            .iter()
            .filter(|(at, _)| *at < now && now - at <= 5)
            .map(|(_, n)| n)
            .sum();
        let window = now.clamp(1, 5) as f64;
        let latency = {
            let mut l: Vec<f64> = self
                .inner
                .latency
                .lock()
                .expect("bus latency")
                .iter()
                .copied()
                .collect();
            l.sort_by(f64::total_cmp);
            (!l.is_empty()).then(|| {
                let at = |q: f64| l[((l.len() as f64 - 1.0) * q).round() as usize];
                [at(0.5), at(0.95), at(0.99)]
            })
        };
        BusStatus {
            started_at: self.inner.started_at,
            restarts: self.inner.restarts.load(Ordering::Relaxed),
            clients,
            recent_disconnects: self
                .inner
                .departed
                .lock()
                .expect("bus departed")
                .iter()
                .cloned()
                .collect(),
            messages_per_sec: recent as f64 / window,
            messages_total: self.inner.received.load(Ordering::Relaxed),
            deliveries_total: self.inner.delivered.load(Ordering::Relaxed),
            max_queue_depth,
            probe_samples: self.inner.latency.lock().expect("bus latency").len(),
            latency_ms: latency,
        }
    }
}

/// An in-process client; leaves the bus when dropped.
pub struct Attached {
    bus: Bus,
    client: Arc<Client>,
    rx: mpsc::Receiver<Arc<str>>,
}

impl Attached {
    /// Sends an OVOS message (checked like a WebSocket client's).
    pub fn send(&self, text: &str) -> Result<(), &'static str> {
        let frame = Frame::parse(text)?;
        self.bus.received(&self.client, text.len());
        self.bus.publish(&frame);
        Ok(())
    }

    /// The next frame on the bus (its own included); `None` once dropped by the bus.
    pub async fn recv(&mut self) -> Option<Arc<str>> {
        tokio::select! {
            f = self.rx.recv() => f,
            _ = self.client.dropped() => None,
        }
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.bus.unregister(&self.client, "detached");
    }
}
