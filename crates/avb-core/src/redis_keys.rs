//! Every Redis key and channel name the platform uses, in one place. Tenant data lives under
//! `avb:{tenant_id}:...`; platform-wide keys (login throttling, the revocation channel, the
//! secret pointer looked up before the tenant is known, the work queue) are named here too.
//! A new key gets a function here, never a `format!` at its call site.

use std::fmt::Display;

/// The channel carrying key, user and tenant revocations between replicas.
pub const REVOCATIONS: &str = "avb:revocations";

/// Login attempts from one IP address in one clock window (platform; no tenant yet).
pub fn login_ip(ip: &str, window: impl Display) -> String {
    format!("avb:login:ip:{ip}:{window}")
}

/// Login attempts from one network in one clock window (platform; no tenant yet).
pub fn login_network(network: &str, window: impl Display) -> String {
    format!("avb:login:net:{network}:{window}")
}

/// The pointer from a client secret's hash to its tenant: the secret arrives without one.
pub fn client_secret_pointer(hash: &str) -> String {
    format!("avb:ek:{hash}")
}

/// A client secret's record, under its tenant.
pub fn client_secret(tenant: impl Display, hash: &str) -> String {
    format!("avb:{tenant}:ek:{hash}")
}

/// Where releases before the tenant-first scheme kept a client secret's record (still read, so
/// secrets minted before an upgrade stay redeemable until they expire).
pub fn legacy_client_secret(tenant: impl Display, hash: &str) -> String {
    format!("avb:t:{tenant}:ek:{hash}")
}

/// A tenant's realtime responses started in one clock window.
pub fn rate_limit_requests(tenant: impl Display, window: impl Display) -> String {
    format!("avb:{tenant}:rl:{window}:r")
}

/// A tenant's voice console test calls (STT and LLM tests); the limiter appends the minute.
pub fn voice_tests(tenant: impl Display) -> String {
    format!("avb:{tenant}:voice_tests")
}

/// A tenant's LLM tokens used in one clock window.
pub fn rate_limit_tokens(tenant: impl Display, window: impl Display) -> String {
    format!("avb:{tenant}:rl:{window}:t")
}

/// The Redis keys of one work-queue namespace (`queue.namespace`, default `avb:work`). The
/// queue is shared by every tenant; each job carries its `tenant_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueKeys {
    /// The stream of pending jobs.
    pub jobs: String,
    /// Jobs that failed `max_deliveries` times, or could not be read.
    pub dead: String,
    /// Prefix of the per-job result lists.
    pub reply_prefix: String,
}

impl QueueKeys {
    /// Keys under `namespace` (e.g. `avb:work`).
    pub fn new(namespace: &str) -> Self {
        Self {
            jobs: format!("{namespace}:jobs"),
            dead: format!("{namespace}:dead"),
            reply_prefix: format!("{namespace}:reply:"),
        }
    }

    /// The result list of job `id`.
    pub fn reply(&self, id: impl Display) -> String {
        format!("{}{id}", self.reply_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_data_keys_start_with_the_tenant() {
        let t = "0190c0de-0000-7000-8000-000000000001";
        for key in [
            client_secret(t, "h"),
            rate_limit_requests(t, 7),
            rate_limit_tokens(t, 7),
        ] {
            assert!(key.starts_with(&format!("avb:{t}:")), "{key}");
        }
    }

    #[test]
    fn queue_keys_keep_their_names() {
        let k = QueueKeys::new("avb:work");
        assert_eq!(k.jobs, "avb:work:jobs");
        assert_eq!(k.dead, "avb:work:dead");
        assert_eq!(k.reply("x"), "avb:work:reply:x");
    }
}
