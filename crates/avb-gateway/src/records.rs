//! The session's records (items, turn timings, usage) are written in order by one background
//! task per session, so the event loop never waits on the database. While the database is out
//! of reach a write is retried with backoff (later writes wait behind it, keeping the order);
//! the queue is bounded, and what cannot be written is counted in
//! `avb_session_records_lost_total{reason}` and logged, never dropped silently.

use avb_core::services::{sessions, usage};
use avb_core::{AppContext, CoreError, CoreResult, Scope};
use avb_domain::SessionId;
use std::future::Future;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Writes queued at most per session; beyond it new ones are counted as lost.
const MAX_PENDING: usize = 4096;
/// Waits between tries of a write while the database is unavailable (about 30 s in all).
const RETRY_WAITS: &[Duration] = &[
    Duration::from_millis(100),
    Duration::from_millis(250),
    Duration::from_millis(500),
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(15),
];

/// One write.
#[derive(Clone)]
pub(crate) enum RecordOp {
    Item {
        item_id: String,
        kind: &'static str,
        role: &'static str,
        text: String,
    },
    Turn {
        response_id: String,
        status: avb_domain::TurnStatus,
        times: sessions::TurnTimes,
    },
    Usage {
        fact: String,
        quantities: Vec<(&'static str, f64)>,
    },
    /// How a user turn was answered (intent analytics).
    Intent(avb_core::services::intents::NewIntentEvent),
}

impl RecordOp {
    fn kind(&self) -> &'static str {
        match self {
            RecordOp::Item { .. } => "item",
            RecordOp::Turn { .. } => "turn",
            RecordOp::Usage { .. } => "usage",
            RecordOp::Intent(_) => "intent",
        }
    }
}

/// Counts a record that will never be written.
fn lost(kind: &'static str, reason: &'static str) {
    metrics::counter!("avb_session_records_lost_total", "kind" => kind, "reason" => reason)
        .increment(1);
}

/// Queues writes for a session's background writer.
pub(crate) struct Recorder {
    tx: mpsc::Sender<RecordOp>,
}

impl Recorder {
    /// Starts the writer for session `record`; the handle finishes once the recorder is dropped
    /// and every queued write is done (or given up).
    pub fn start(ctx: AppContext, scope: Scope, record: SessionId) -> (Self, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel::<RecordOp>(MAX_PENDING);
        let handle = tokio::spawn(async move {
            let Some(tenant) = scope.tenant() else { return };
            let write = |op: &RecordOp| {
                let (ctx, scope) = (ctx.clone(), scope.clone());
                let op = op.clone();
                async move { write(&ctx, &scope, tenant, record, &op).await }
            };
            drain(rx, write, RETRY_WAITS, record).await;
        });
        (Self { tx }, handle)
    }

    /// Queues a write (counted as lost when the queue is full).
    pub fn send(&self, op: RecordOp) {
        match self.tx.try_send(op) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(op)) => {
                tracing::error!(kind = op.kind(), "session record queue full; record lost");
                lost(op.kind(), "queue_full");
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}

async fn write(
    ctx: &AppContext,
    scope: &Scope,
    tenant: avb_domain::TenantId,
    record: SessionId,
    op: &RecordOp,
) -> CoreResult<()> {
    match op {
        RecordOp::Item {
            item_id,
            kind,
            role,
            text,
        } => sessions::record_item(ctx, tenant, record, item_id, kind, role, text).await,
        RecordOp::Turn {
            response_id,
            status,
            times,
        } => sessions::record_turn(ctx, tenant, record, response_id, *status, times).await,
        RecordOp::Intent(event) => {
            avb_core::services::intents::record(ctx, tenant, Some(record), event.clone()).await
        }
        RecordOp::Usage { fact, quantities } => {
            usage::record(ctx, scope, Some(record), fact, quantities).await
        }
    }
}

/// Runs `f` until it succeeds or fails otherwise than with the database out of reach, waiting
/// [`RETRY_WAITS`] between tries.
pub(crate) async fn retry_unavailable<F, Fut>(f: F) -> CoreResult<()>
where
    F: Fn() -> Fut,
    Fut: Future<Output = CoreResult<()>>,
{
    let mut waits = RETRY_WAITS.iter();
    loop {
        match f().await {
            Err(CoreError::Unavailable(e)) => match waits.next() {
                Some(wait) => {
                    tracing::warn!(error = %e, "database unavailable; retrying");
                    tokio::time::sleep(*wait).await;
                }
                None => return Err(CoreError::Unavailable(e)),
            },
            other => return other,
        }
    }
}

/// Writes every queued op in order; retries one while the database is unavailable, waiting
/// `waits` between tries, then counts it lost. Returns how many were written.
async fn drain<F, Fut>(
    mut rx: mpsc::Receiver<RecordOp>,
    write: F,
    waits: &[Duration],
    record: SessionId,
) -> usize
where
    F: Fn(&RecordOp) -> Fut,
    Fut: Future<Output = CoreResult<()>>,
{
    let mut written = 0;
    while let Some(op) = rx.recv().await {
        let mut tries = waits.iter();
        loop {
            match write(&op).await {
                Ok(()) => {
                    written += 1;
                    break;
                }
                Err(CoreError::Unavailable(e)) => match tries.next() {
                    Some(wait) => {
                        tracing::warn!(error = %e, session = %record, "database unavailable; retrying a session record");
                        tokio::time::sleep(*wait).await;
                    }
                    None => {
                        tracing::error!(error = %e, session = %record, kind = op.kind(), "session record lost: the database stayed unavailable");
                        lost(op.kind(), "unavailable");
                        break;
                    }
                },
                Err(e) => {
                    tracing::error!(error = %e, session = %record, kind = op.kind(), "could not store a session record");
                    lost(op.kind(), "failed");
                    break;
                }
            }
        }
    }
    written
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn item(n: usize) -> RecordOp {
        RecordOp::Item {
            item_id: format!("item_{n}"),
            kind: "message",
            role: "user",
            text: String::new(),
        }
    }

    fn id(op: &RecordOp) -> String {
        match op {
            RecordOp::Item { item_id, .. } => item_id.clone(),
            _ => String::new(),
        }
    }

    #[tokio::test]
    async fn writes_wait_out_an_outage_in_order_then_give_up_counted() {
        // The database is down for the first three tries, then back.
        let tries = Arc::new(Mutex::new(0usize));
        let stored = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel(8);
        for n in 0..3 {
            tx.send(item(n)).await.unwrap();
        }
        drop(tx);
        let write = |op: &RecordOp| {
            let (tries, stored, id) = (tries.clone(), stored.clone(), id(op));
            async move {
                let mut t = tries.lock().unwrap();
                *t += 1;
                if *t <= 3 {
                    return Err(CoreError::Unavailable("connection refused".into()));
                }
                stored.lock().unwrap().push(id);
                Ok(())
            }
        };
        let waits = [Duration::from_millis(1); 4];
        assert_eq!(
            drain(rx, write, &waits, SessionId(uuid::Uuid::nil())).await,
            3
        );
        assert_eq!(*stored.lock().unwrap(), ["item_0", "item_1", "item_2"]);

        // Down for longer than the retries: the write is given up (and counted), the next
        // one still lands.
        let (tx, rx) = mpsc::channel(8);
        tx.send(item(7)).await.unwrap();
        tx.send(item(8)).await.unwrap();
        drop(tx);
        let calls = Arc::new(Mutex::new(Vec::new()));
        let write = |op: &RecordOp| {
            let (calls, id) = (calls.clone(), id(op));
            async move {
                calls.lock().unwrap().push(id.clone());
                if id == "item_7" {
                    Err(CoreError::Unavailable("still down".into()))
                } else {
                    Ok(())
                }
            }
        };
        assert_eq!(
            drain(rx, write, &waits[..2], SessionId(uuid::Uuid::nil())).await,
            1
        );
        assert_eq!(
            *calls.lock().unwrap(),
            ["item_7", "item_7", "item_7", "item_8"]
        );
    }
}
