//! A provider's signing keys (JWKS), fetched over HTTP, cached, and fetched again when a token
//! names an unknown key id (key rotation), at most every 10 s.

use crate::error::{CoreError, CoreResult};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// Minimum time between two fetches triggered by unknown key ids.
const REFETCH_FLOOR: Duration = Duration::from_secs(10);

struct Cached {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    fetched: Option<Instant>,
}

/// The keys published at one JWKS URL.
pub struct Jwks {
    url: String,
    ttl: Duration,
    http: reqwest::Client,
    cache: RwLock<Cached>,
}

impl Jwks {
    /// Keys from `url`, reused for `ttl`.
    pub fn new(url: String, ttl: Duration, http: reqwest::Client) -> Self {
        Self {
            url,
            ttl,
            http,
            cache: RwLock::new(Cached {
                keys: HashMap::new(),
                fetched: None,
            }),
        }
    }

    async fn refresh(&self, force: bool) -> CoreResult<()> {
        let mut cache = self.cache.write().await;
        if let Some(at) = cache.fetched
            && ((!force && at.elapsed() < self.ttl) || (force && at.elapsed() < REFETCH_FLOOR))
        {
            return Ok(());
        }
        let set: JwkSet = self
            .http
            .get(&self.url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| CoreError::Internal(format!("jwks {}: {e}", self.url)))?
            .json()
            .await
            .map_err(|e| CoreError::Internal(format!("jwks {}: {e}", self.url)))?;
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let (Some(kid), Ok(key)) = (jwk.common.key_id.clone(), DecodingKey::from_jwk(jwk))
            else {
                continue;
            };
            let alg = jwk
                .common
                .key_algorithm
                .and_then(|a| a.to_string().parse::<Algorithm>().ok())
                .unwrap_or(match jwk.algorithm {
                    jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(_) => Algorithm::ES256,
                    jsonwebtoken::jwk::AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
                    _ => Algorithm::RS256,
                });
            keys.insert(kid, (alg, key));
        }
        cache.keys = keys;
        cache.fetched = Some(Instant::now());
        Ok(())
    }

    /// The key with id `kid` and its algorithm, if the provider publishes it.
    pub async fn key_for(&self, kid: &str) -> CoreResult<Option<(Algorithm, DecodingKey)>> {
        self.refresh(false).await?;
        if let Some(k) = self.cache.read().await.keys.get(kid) {
            return Ok(Some(k.clone()));
        }
        self.refresh(true).await?;
        Ok(self.cache.read().await.keys.get(kid).cloned())
    }

    /// Decodes and verifies `token`: its key from this set, the algorithm of that key, and the
    /// checks in `validation` (issuer, audience, expiry) apart from the algorithm list.
    pub async fn verify(
        &self,
        token: &str,
        mut validation: jsonwebtoken::Validation,
    ) -> CoreResult<serde_json::Value> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|_| CoreError::Unauthorized("malformed token"))?;
        let kid = header
            .kid
            .ok_or(CoreError::Unauthorized("token has no key id"))?;
        let (alg, key) = self
            .key_for(&kid)
            .await?
            .ok_or(CoreError::Unauthorized("unknown signing key"))?;
        if header.alg != alg {
            return Err(CoreError::Unauthorized(
                "token algorithm does not match its key",
            ));
        }
        validation.algorithms = vec![alg];
        Ok(
            jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation)
                .map_err(|_| CoreError::Unauthorized("invalid or expired token"))?
                .claims,
        )
    }
}
