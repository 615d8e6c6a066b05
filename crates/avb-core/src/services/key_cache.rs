//! The API-key verification hot path: parse, cached look-up by prefix, HMAC-SHA256 and a
//! constant-time compare. Revocations drop cache entries through the revocation bus. Usage
//! counters are batched in memory and flushed periodically.

use crate::error::{CoreError, CoreResult};
use avb_domain::{ApiKeyId, ApiKeyStatus, KeyScope, ProjectId, TenantId};
use avb_storage::Store;
use avb_storage::entities::api_key;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// The parts of a presented key `avb_<env>_<prefix>_<secret>`.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    pub environment: &'a str,
    pub prefix: &'a str,
}

/// Splits a presented key, rejecting anything not of the documented shape.
pub fn parse_key(raw: &str) -> Option<ParsedKey<'_>> {
    let rest = raw.strip_prefix("avb_")?;
    let (environment, rest) = rest.split_once('_')?;
    let (prefix, secret) = rest.split_once('_')?;
    let ok = matches!(environment, "live" | "test")
        && prefix.len() == 8
        && prefix.bytes().all(|b| b.is_ascii_alphanumeric())
        && (16..=128).contains(&secret.len())
        && secret.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then_some(ParsedKey {
        environment,
        prefix,
    })
}

/// A key that verified.
#[derive(Debug, Clone)]
pub struct VerifiedKey {
    pub id: ApiKeyId,
    pub tenant: TenantId,
    pub project: Option<ProjectId>,
    pub prefix: String,
    pub scopes: Vec<KeyScope>,
}

/// Requests counted since the last flush: tenant, count, last use.
type PendingUse = (TenantId, i64, DateTime<Utc>);

#[derive(Clone)]
struct CachedKey {
    row: api_key::Model,
    loaded: Instant,
}

/// Verifies API keys; shared by every request.
pub struct KeyVerifier {
    hmac_key: Vec<u8>,
    ttl: Duration,
    cache: RwLock<HashMap<String, CachedKey>>,
    usage: Mutex<HashMap<ApiKeyId, PendingUse>>,
}

impl KeyVerifier {
    /// A verifier keyed by the server's HMAC key.
    pub fn new(hmac_key: Vec<u8>, ttl: Duration) -> Self {
        Self {
            hmac_key,
            ttl,
            cache: RwLock::new(HashMap::new()),
            usage: Mutex::new(HashMap::new()),
        }
    }

    /// HMAC-SHA256 of the whole key text, hex.
    pub fn digest(&self, raw: &str) -> String {
        // HMAC accepts keys of any length; an empty digest never matches a stored one.
        let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(&self.hmac_key) else {
            return String::new();
        };
        mac.update(raw.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn cached(&self, prefix: &str) -> Option<api_key::Model> {
        let cache = self.cache.read().ok()?;
        cache
            .get(prefix)
            .filter(|c| c.loaded.elapsed() < self.ttl)
            .map(|c| c.row.clone())
    }

    /// Verifies a presented key; `Unauthorized` for anything but a live key of an active tenant.
    pub async fn verify(&self, store: &Store, raw: &str) -> CoreResult<VerifiedKey> {
        let parsed = parse_key(raw).ok_or(CoreError::Unauthorized("malformed API key"))?;
        let row = match self.cached(parsed.prefix) {
            Some(r) => r,
            None => {
                let tx = store.platform_tx(false).await?;
                let row = avb_storage::repos::api_keys::find_by_prefix(&tx, parsed.prefix)
                    .await?
                    .ok_or(CoreError::Unauthorized("invalid API key"))?;
                tx.commit().await?;
                if let Ok(mut c) = self.cache.write() {
                    c.insert(
                        parsed.prefix.to_string(),
                        CachedKey {
                            row: row.clone(),
                            loaded: Instant::now(),
                        },
                    );
                }
                row
            }
        };
        let presented = self.digest(raw);
        if !bool::from(presented.as_bytes().ct_eq(row.secret_hash.as_bytes()))
            || row.environment != parsed.environment
        {
            return Err(CoreError::Unauthorized("invalid API key"));
        }
        match ApiKeyStatus::from_stored(&row.status) {
            ApiKeyStatus::Active => {}
            ApiKeyStatus::Suspended => return Err(CoreError::TenantSuspended),
            ApiKeyStatus::Revoked => {
                return Err(CoreError::Unauthorized("API key has been revoked"));
            }
        }
        if row.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(CoreError::Unauthorized(
                "API key has expired after rotation",
            ));
        }
        let scopes = KeyScope::parse_list("scopes", &row.scopes.split(',').collect::<Vec<_>>())
            .unwrap_or_default();
        let key = VerifiedKey {
            id: ApiKeyId(row.id),
            tenant: TenantId(row.tenant_id),
            project: row.project_id.map(ProjectId),
            prefix: row.prefix.clone(),
            scopes,
        };
        self.record_use(key.id, key.tenant);
        Ok(key)
    }

    fn record_use(&self, id: ApiKeyId, tenant: TenantId) {
        if let Ok(mut u) = self.usage.lock() {
            let e = u.entry(id).or_insert((tenant, 0, Utc::now()));
            e.1 += 1;
            e.2 = Utc::now();
        }
    }

    /// Writes batched request counts and last-used times; called periodically and at shutdown.
    pub async fn flush_usage(&self, store: &Store) -> CoreResult<usize> {
        let batch: Vec<_> = match self.usage.lock() {
            Ok(mut u) => u.drain().collect(),
            Err(_) => return Ok(0),
        };
        if batch.is_empty() {
            return Ok(0);
        }
        let tx = store.platform_tx(true).await?;
        for (id, (_tenant, n, last)) in &batch {
            avb_storage::repos::api_keys::add_usage(&tx, *id, *n, *last).await?;
        }
        tx.commit().await?;
        Ok(batch.len())
    }

    /// Drops cached entries for `prefixes` in this process.
    pub fn drop_local(&self, prefixes: &[String]) {
        if let Ok(mut c) = self.cache.write() {
            for p in prefixes {
                c.remove(p);
            }
        }
    }

    /// Drops every cached key of `tenant` in this process.
    pub fn drop_tenant(&self, tenant: TenantId) {
        if let Ok(mut c) = self.cache.write() {
            c.retain(|_, k| k.row.tenant_id != tenant.as_uuid());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_only_documented_shape() {
        let good = format!("avb_live_ab12CD34_{}", "x".repeat(32));
        assert_eq!(
            parse_key(&good),
            Some(ParsedKey {
                environment: "live",
                prefix: "ab12CD34"
            })
        );
        for bad in [
            "".to_string(),
            "avb_prod_ab12CD34_xxxxxxxxxxxxxxxxxxxxxxxx".into(),
            "avb_live_short_xxxxxxxxxxxxxxxxxxxxxxxxx".into(),
            "avb_live_ab12CD34_short".into(),
            format!("avb_test_ab12CD3!_{}", "x".repeat(32)),
            "sk-openai".into(),
        ] {
            assert!(parse_key(&bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn digest_depends_on_server_key() {
        let a = KeyVerifier::new(b"one".to_vec(), Duration::from_secs(1));
        let b = KeyVerifier::new(b"two".to_vec(), Duration::from_secs(1));
        assert_eq!(a.digest("k"), a.digest("k"));
        assert_ne!(a.digest("k"), b.digest("k"));
        assert_eq!(a.digest("k").len(), 64);
    }
}
