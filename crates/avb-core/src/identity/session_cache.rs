//! A short-lived cache of verified login sessions, so that a request carrying a local access
//! token does not need four look-ups. Logout, password reset and tenant suspension drop
//! entries at once (on every replica through the revocation bus); the TTL bounds how long a
//! role change takes to apply.

use avb_domain::{AuthSessionId, Role, TenantId, UserId};
use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

/// What a session resolved to.
#[derive(Debug, Clone)]
pub struct CachedSession {
    pub user: UserId,
    pub email: String,
    pub tenant: Option<TenantId>,
    pub role: Option<Role>,
    pub saas_admin: bool,
    pub session_expires: chrono::DateTime<chrono::Utc>,
    loaded: Instant,
}

impl CachedSession {
    /// A new entry, fresh now.
    pub fn new(
        user: UserId,
        email: String,
        tenant: Option<TenantId>,
        role: Option<Role>,
        saas_admin: bool,
        session_expires: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            user,
            email,
            tenant,
            role,
            saas_admin,
            session_expires,
            loaded: Instant::now(),
        }
    }
}

/// The cache.
pub struct SessionCache {
    ttl: Duration,
    entries: RwLock<HashMap<AuthSessionId, CachedSession>>,
}

impl SessionCache {
    /// A cache keeping entries for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    /// A fresh entry for `sid`, if any.
    pub fn get(&self, sid: AuthSessionId) -> Option<CachedSession> {
        let entries = self.entries.read().ok()?;
        entries
            .get(&sid)
            .filter(|e| e.loaded.elapsed() < self.ttl && e.session_expires > chrono::Utc::now())
            .cloned()
    }

    /// Stores an entry.
    pub fn put(&self, sid: AuthSessionId, entry: CachedSession) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut e) = self.entries.write() {
            if e.len() > 100_000 {
                let ttl = self.ttl;
                e.retain(|_, v| v.loaded.elapsed() < ttl);
            }
            e.insert(sid, entry);
        }
    }

    /// Drops entries matching `pred`.
    pub fn drop_where(&self, pred: impl Fn(&AuthSessionId, &CachedSession) -> bool) {
        if let Ok(mut e) = self.entries.write() {
            e.retain(|k, v| !pred(k, v));
        }
    }
}
