//! The session's records (items, turn timings, usage) are written in order by one background
//! task per session, so the event loop never waits on the database.

use avb_core::services::{sessions, usage};
use avb_core::{AppContext, Scope};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// One write.
pub(crate) enum RecordOp {
    Item {
        item_id: String,
        kind: &'static str,
        role: &'static str,
        text: String,
    },
    Turn {
        response_id: String,
        status: &'static str,
        times: sessions::TurnTimes,
    },
    Usage {
        fact: String,
        quantities: Vec<(&'static str, f64)>,
    },
}

/// Queues writes for a session's background writer.
pub(crate) struct Recorder {
    tx: mpsc::UnboundedSender<RecordOp>,
}

impl Recorder {
    /// Starts the writer for session `record`; the handle finishes once the recorder is dropped
    /// and every queued write is done.
    pub fn start(ctx: AppContext, scope: Scope, record: Uuid) -> (Self, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<RecordOp>();
        let handle = tokio::spawn(async move {
            let Some(tenant) = scope.tenant() else { return };
            while let Some(op) = rx.recv().await {
                let result = match op {
                    RecordOp::Item {
                        item_id,
                        kind,
                        role,
                        text,
                    } => {
                        sessions::record_item(&ctx, tenant, record, &item_id, kind, role, &text)
                            .await
                    }
                    RecordOp::Turn {
                        response_id,
                        status,
                        times,
                    } => {
                        sessions::record_turn(&ctx, tenant, record, &response_id, status, &times)
                            .await
                    }
                    RecordOp::Usage { fact, quantities } => {
                        usage::record(&ctx, &scope, Some(record), &fact, &quantities).await
                    }
                };
                if let Err(e) = result {
                    tracing::error!(error = %e, session = %record, "could not store a session record");
                }
            }
        });
        (Self { tx }, handle)
    }

    /// Queues a write.
    pub fn send(&self, op: RecordOp) {
        let _ = self.tx.send(op);
    }
}
