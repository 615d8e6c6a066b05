//! The realtime sessions this process holds open, so that a close request (from any replica,
//! through the revocation bus) can reach the socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use uuid::Uuid;

/// Registry of live sessions in this process.
#[derive(Default)]
pub struct LiveSessions {
    inner: Mutex<HashMap<Uuid, Arc<Notify>>>,
}

/// Keeps a session registered; dropping it unregisters.
pub struct LiveGuard {
    id: Uuid,
    registry: Arc<LiveSessions>,
    /// Fires when someone asks the session to close.
    pub closed: Arc<Notify>,
}

impl Drop for LiveGuard {
    fn drop(&mut self) {
        if let Ok(mut m) = self.registry.inner.lock() {
            m.remove(&self.id);
        }
    }
}

impl LiveSessions {
    /// Registers session `id`.
    pub fn register(self: &Arc<Self>, id: Uuid) -> LiveGuard {
        let closed = Arc::new(Notify::new());
        if let Ok(mut m) = self.inner.lock() {
            m.insert(id, closed.clone());
        }
        LiveGuard {
            id,
            registry: self.clone(),
            closed,
        }
    }

    /// Asks session `id` to close if this process holds it; returns whether it did.
    pub fn close(&self, id: Uuid) -> bool {
        let notify = self.inner.lock().ok().and_then(|m| m.get(&id).cloned());
        match notify {
            Some(n) => {
                n.notify_one();
                true
            }
            None => false,
        }
    }

    /// Asks every session this process holds to close (shutdown); returns how many.
    pub fn close_all(&self) -> usize {
        let all: Vec<Arc<Notify>> = self
            .inner
            .lock()
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default();
        for n in &all {
            n.notify_one();
        }
        all.len()
    }

    /// How many sessions this process holds.
    pub fn count(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }
}
