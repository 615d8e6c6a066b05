//! Revocations that must reach every replica at once: API keys, login sessions, all sessions
//! of a user, and everything of a tenant. Applied locally, then published on Redis when it is
//! configured; every replica's listener applies what others publish.

use crate::error::{CoreError, CoreResult};
use crate::identity::session_cache::SessionCache;
use crate::services::key_cache::KeyVerifier;
use crate::services::live::LiveSessions;
use avb_domain::{AuthSessionId, TenantId, UserId};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Redis channel carrying revocations.
pub const CHANNEL: &str = crate::redis_keys::REVOCATIONS;

/// One thing to forget.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Revocation {
    /// An API key, by prefix.
    KeyPrefix(String),
    /// One login session.
    Session(AuthSessionId),
    /// Every session of a user.
    User(UserId),
    /// Every cached session in a tenant (suspension).
    Tenant(TenantId),
    /// A live realtime session, to be closed by the replica holding it.
    RealtimeSession(uuid::Uuid),
    /// A user of the external identity provider was disabled: refuse their already-issued
    /// tokens (the provider keeps accepting none from now on).
    ExternalSubject(String),
    /// That user was enabled again.
    ExternalSubjectRestored(String),
    /// Every live realtime session opened with this API key (by prefix) or with a client
    /// secret it minted.
    RealtimeOfKey(String),
    /// Every live realtime session a user opened (or minted a secret for), in one tenant or,
    /// without one, in all.
    RealtimeOfUser {
        user: UserId,
        tenant: Option<TenantId>,
    },
}

/// External subjects (Keycloak user ids) disabled here, with when; kept for a day, longer than
/// any access token lives.
#[derive(Default)]
pub struct BlockedSubjects {
    at: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

/// How long a block outlives the tokens it stops.
const BLOCK_FOR: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

impl BlockedSubjects {
    fn set(&self, subject: &str, blocked: bool) {
        let mut m = self
            .at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        m.retain(|_, t| t.elapsed() < BLOCK_FOR);
        if blocked {
            m.insert(subject.to_string(), std::time::Instant::now());
        } else {
            m.remove(subject);
        }
    }

    /// Whether tokens of `subject` must be refused.
    pub fn contains(&self, subject: &str) -> bool {
        self.at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(subject)
            .is_some_and(|t| t.elapsed() < BLOCK_FOR)
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Message {
    tenant_id: Option<TenantId>,
    items: Vec<Revocation>,
}

/// Applies and broadcasts revocations.
pub struct RevocationBus {
    redis: Option<redis::Client>,
    keys: Arc<KeyVerifier>,
    sessions: Arc<SessionCache>,
    live: Arc<LiveSessions>,
    /// Disabled external users whose tokens are refused.
    pub blocked: Arc<BlockedSubjects>,
}

impl RevocationBus {
    /// A bus over the given caches.
    pub fn new(
        redis: Option<redis::Client>,
        keys: Arc<KeyVerifier>,
        sessions: Arc<SessionCache>,
        live: Arc<LiveSessions>,
    ) -> Self {
        Self {
            redis,
            keys,
            sessions,
            live,
            blocked: Arc::default(),
        }
    }

    fn apply(&self, items: &[Revocation]) {
        for r in items {
            match r {
                Revocation::KeyPrefix(p) => self.keys.drop_local(std::slice::from_ref(p)),
                Revocation::Session(s) => self.sessions.drop_where(|k, _| k == s),
                Revocation::User(u) => self.sessions.drop_where(|_, v| v.user == *u),
                Revocation::RealtimeSession(id) => {
                    self.live.close(*id);
                }
                Revocation::Tenant(t) => {
                    self.sessions.drop_where(|_, v| v.tenant == Some(*t));
                    self.keys.drop_tenant(*t);
                }
                Revocation::ExternalSubject(s) => {
                    self.blocked.set(s, true);
                    self.live
                        .close_where(|o| o.subject.as_deref() == Some(s.as_str()));
                }
                Revocation::RealtimeOfKey(p) => {
                    self.live
                        .close_where(|o| o.key_prefix.as_deref() == Some(p.as_str()));
                }
                Revocation::RealtimeOfUser { user, tenant } => {
                    self.live.close_where(|o| {
                        o.user == Some(*user) && (tenant.is_none() || o.tenant == *tenant)
                    });
                }
                Revocation::ExternalSubjectRestored(s) => self.blocked.set(s, false),
            }
        }
    }

    /// Forgets `items` here and on every replica.
    pub async fn revoke(&self, tenant: Option<TenantId>, items: Vec<Revocation>) {
        if items.is_empty() {
            return;
        }
        self.apply(&items);
        let Some(client) = &self.redis else { return };
        let payload = match serde_json::to_string(&Message {
            tenant_id: tenant,
            items,
        }) {
            Ok(p) => p,
            Err(_) => return,
        };
        let result = async {
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PUBLISH")
                .arg(CHANNEL)
                .arg(payload)
                .query_async::<i64>(&mut conn)
                .await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not publish a revocation to other replicas");
        }
    }

    /// Forgets API keys by prefix.
    pub async fn revoke_keys(&self, tenant: TenantId, prefixes: &[String]) {
        let items = prefixes
            .iter()
            .cloned()
            .map(Revocation::KeyPrefix)
            .collect();
        self.revoke(Some(tenant), items).await;
    }

    /// Ends every live realtime session opened with these keys (or secrets they minted), on
    /// every replica.
    pub async fn end_realtime_of_keys(&self, tenant: TenantId, prefixes: &[String]) {
        let items = prefixes
            .iter()
            .cloned()
            .map(Revocation::RealtimeOfKey)
            .collect();
        self.revoke(Some(tenant), items).await;
    }

    /// Applies revocations published by other replicas until the connection drops. `ready`
    /// fires once subscribed.
    pub async fn listen(
        self: Arc<Self>,
        ready: Option<tokio::sync::oneshot::Sender<()>>,
    ) -> CoreResult<()> {
        let Some(client) = self.redis.clone() else {
            return Ok(());
        };
        let mut pubsub = client
            .get_async_pubsub()
            .await
            .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
        pubsub
            .subscribe(CHANNEL)
            .await
            .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
        if let Some(r) = ready {
            let _ = r.send(());
        }
        let mut stream = pubsub.into_on_message();
        while let Some(msg) = stream.next().await {
            let Ok(payload) = msg.get_payload::<String>() else {
                continue;
            };
            match serde_json::from_str::<Message>(&payload) {
                Ok(m) => self.apply(&m.items),
                Err(e) => tracing::warn!(error = %e, "ignoring a malformed revocation message"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_is_stable() {
        let m = Message {
            tenant_id: None,
            items: vec![Revocation::KeyPrefix("ab12CD34".into())],
        };
        let s = serde_json::to_string(&m).unwrap_or_default();
        assert_eq!(
            s,
            r#"{"tenant_id":null,"items":[{"kind":"key_prefix","id":"ab12CD34"}]}"#
        );
    }
}
