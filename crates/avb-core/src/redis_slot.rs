//! One lazily opened, shared Redis connection for counters that fall back to counting locally
//! while Redis is unconfigured or out of reach.

use redis::aio::MultiplexedConnection;

/// A Redis client and the connection opened from it, if any.
#[derive(Default)]
pub struct RedisSlot {
    client: Option<redis::Client>,
    conn: tokio::sync::Mutex<Option<MultiplexedConnection>>,
    /// Names the user in the log line written when Redis cannot be reached.
    user: &'static str,
}

impl RedisSlot {
    /// A slot for `client` (none: every [`RedisSlot::get`] answers `None`).
    pub fn new(client: Option<redis::Client>, user: &'static str) -> Self {
        Self {
            client,
            conn: Default::default(),
            user,
        }
    }

    /// The shared connection, opened on first use; `None` without Redis or while it fails.
    pub async fn get(&self) -> Option<MultiplexedConnection> {
        let client = self.client.as_ref()?;
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Some(c.clone());
        }
        match client.get_multiplexed_async_connection().await {
            Ok(c) => {
                *slot = Some(c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, user = self.user, "Redis unavailable; counting locally");
                None
            }
        }
    }

    /// Drops the connection after a failure, so the next use reconnects.
    pub async fn forget(&self) {
        *self.conn.lock().await = None;
    }
}
