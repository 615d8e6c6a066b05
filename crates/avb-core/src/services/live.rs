//! The realtime sessions this process holds open, so that a close request (from any replica,
//! through the revocation bus) can reach the socket.

use crate::scope::{Actor, Scope};
use avb_domain::{TenantId, UserId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;
use uuid::Uuid;

/// The credential a live session was opened with, so that revoking it (a key revoked, a member
/// removed, a user disabled) ends the session too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveOwner {
    /// The session's tenant.
    pub tenant: Option<TenantId>,
    /// The prefix of the API key that opened it, or that minted its client secret.
    pub key_prefix: Option<String>,
    /// The local user that opened it, or that minted its client secret.
    pub user: Option<UserId>,
    /// The external identity provider's subject that opened it.
    pub subject: Option<String>,
}

impl LiveOwner {
    /// The owner of a session opened by `scope`.
    pub fn of(scope: &Scope) -> Self {
        let mut owner = Self {
            tenant: scope.tenant(),
            ..Self::default()
        };
        match scope.actor() {
            Actor::ApiKey { prefix, .. } => owner.key_prefix = Some(prefix.clone()),
            Actor::User { id, .. } => owner.user = Some(*id),
            Actor::External { subject, .. } => owner.subject = Some(subject.clone()),
            Actor::ClientSecret {
                key_prefix, user, ..
            } => {
                owner.key_prefix = key_prefix.clone();
                owner.user = *user;
            }
            Actor::Operator => {}
        }
        owner
    }
}

struct Entry {
    owner: LiveOwner,
    closed: Arc<Notify>,
}

/// Registry of live sessions in this process.
#[derive(Default)]
pub struct LiveSessions {
    inner: Mutex<HashMap<Uuid, Entry>>,
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
    /// Registers session `id`, opened by `owner`.
    pub fn register(self: &Arc<Self>, id: Uuid, owner: LiveOwner) -> LiveGuard {
        let closed = Arc::new(Notify::new());
        if let Ok(mut m) = self.inner.lock() {
            m.insert(
                id,
                Entry {
                    owner,
                    closed: closed.clone(),
                },
            );
        }
        LiveGuard {
            id,
            registry: self.clone(),
            closed,
        }
    }

    /// Asks session `id` to close if this process holds it; returns whether it did.
    pub fn close(&self, id: Uuid) -> bool {
        let notify = self
            .inner
            .lock()
            .ok()
            .and_then(|m| m.get(&id).map(|e| e.closed.clone()));
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
        self.close_where(|_| true)
    }

    /// Asks every session whose owner matches to close; returns how many.
    pub fn close_where(&self, matches: impl Fn(&LiveOwner) -> bool) -> usize {
        let chosen: Vec<Arc<Notify>> = self
            .inner
            .lock()
            .map(|m| {
                m.values()
                    .filter(|e| matches(&e.owner))
                    .map(|e| e.closed.clone())
                    .collect()
            })
            .unwrap_or_default();
        for n in &chosen {
            n.notify_one();
        }
        chosen.len()
    }

    /// The ids of the sessions this process holds (heartbeats).
    pub fn ids(&self) -> Vec<Uuid> {
        self.inner
            .lock()
            .map(|m| m.keys().copied().collect())
            .unwrap_or_default()
    }

    /// How many sessions this process holds.
    pub fn count(&self) -> usize {
        self.inner.lock().map(|m| m.len()).unwrap_or(0)
    }
}
