//! Where a session's server events go: straight to the client's writer, or held back (a
//! speculative response, run before its turn is committed) until the session releases them.

use avb_realtime::{Dialect, ProtocolError, ServerEvent};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures::SinkExt;
use futures::stream::SplitSink;
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Mutex, mpsc, watch};
use tokio::task::JoinHandle;

/// What the writer task sends.
pub(crate) enum Outgoing {
    Event(Value),
    Close(u16, String),
}

/// Starts the task that writes a session's events to its socket, until a `Close` (sent as a
/// close frame) or a failed write; returns its sender.
pub(crate) fn spawn_writer(
    mut sink: SplitSink<WebSocket, Message>,
) -> (mpsc::Sender<Outgoing>, JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<Outgoing>(512);
    let writer = tokio::spawn(async move {
        while let Some(out) = rx.recv().await {
            let res = match out {
                Outgoing::Event(v) => sink.send(Message::Text(v.to_string().into())).await,
                Outgoing::Close(code, reason) => {
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        })))
                        .await;
                    break;
                }
            };
            if res.is_err() {
                break;
            }
        }
    });
    (tx, writer)
}

/// Events held for a speculative response.
#[derive(Default)]
struct Held {
    events: Vec<Outgoing>,
    released: bool,
    /// Sent right after the first event once released (`rate_limits.updated` follows
    /// `response.created`), when nothing was held yet.
    after_first: Option<Outgoing>,
}

/// The gate of a held emitter, shared by its clones.
struct Hold {
    held: Mutex<Held>,
    /// When the events were released (the turn was committed).
    released_at: watch::Sender<Option<Instant>>,
}

/// Sends server events to the client.
#[derive(Clone)]
pub(crate) struct Emitter {
    tx: mpsc::Sender<Outgoing>,
    dialect: Dialect,
    hold: Option<Arc<Hold>>,
}

impl Emitter {
    pub(crate) fn new(tx: mpsc::Sender<Outgoing>, dialect: Dialect) -> Self {
        Self {
            tx,
            dialect,
            hold: None,
        }
    }

    /// An emitter to the same client that keeps its events until [`Emitter::release`].
    pub(crate) fn held(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            dialect: self.dialect,
            hold: Some(Arc::new(Hold {
                held: Mutex::new(Held::default()),
                released_at: watch::channel(None).0,
            })),
        }
    }

    /// Sends `event` in the session's dialect (skipped when the dialect has no such event).
    pub(crate) async fn emit(&self, event: ServerEvent) {
        if let Some(event) = event.render(self.dialect) {
            self.send(Outgoing::Event(event)).await;
        }
    }

    /// Sends an `error` event.
    pub(crate) async fn error(&self, e: &ProtocolError) {
        self.send(Outgoing::Event(e.to_event())).await;
    }

    async fn send(&self, out: Outgoing) {
        let Some(hold) = &self.hold else {
            let _ = self.tx.send(out).await;
            return;
        };
        let mut held = hold.held.lock().await;
        if !held.released {
            held.events.push(out);
            return;
        }
        let next = held.after_first.take();
        drop(held);
        let _ = self.tx.send(out).await;
        if let Some(next) = next {
            let _ = self.tx.send(next).await;
        }
    }

    /// Sends what was held, in order, with `after_first` right after the first event, and from
    /// now on sends at once. Returns how many events were held.
    pub(crate) async fn release(&self, after_first: Option<ServerEvent>) -> usize {
        let Some(hold) = &self.hold else { return 0 };
        let mut held = hold.held.lock().await;
        let mut events = std::mem::take(&mut held.events);
        let count = events.len();
        match after_first
            .and_then(|e| e.render(self.dialect))
            .map(Outgoing::Event)
        {
            Some(e) if events.is_empty() => held.after_first = Some(e),
            Some(e) => events.insert(1, e),
            None => {}
        }
        hold.released_at.send_replace(Some(Instant::now()));
        // The lock is kept while flushing, so that nothing overtakes the held events.
        for e in events {
            let _ = self.tx.send(e).await;
        }
        held.released = true;
        count
    }

    /// When a held emitter was released (`None` while held); an ordinary emitter never was.
    pub(crate) fn released_at(&self) -> Option<Instant> {
        self.hold.as_ref().and_then(|h| *h.released_at.borrow())
    }

    /// Waits until a held emitter is released (at once for an ordinary one).
    pub(crate) async fn released(&self) {
        if let Some(hold) = &self.hold {
            let mut rx = hold.released_at.subscribe();
            let _ = rx.wait_for(Option::is_some).await;
        }
    }
}
