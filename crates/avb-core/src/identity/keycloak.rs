//! Keycloak access-token verification: signature against the realm JWKS (cached, refreshed on
//! an unknown `kid`), issuer and audience checked, roles and tenant read from configurable claims.

use crate::config::KeycloakConfig;
use crate::error::{CoreError, CoreResult};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// What a verified Keycloak token says about its subject.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    pub subject: String,
    pub email: String,
    pub roles: Vec<String>,
    pub tenant: Option<String>,
}

struct KeyCache {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    fetched: Option<Instant>,
}

/// Verifies Keycloak-issued JWTs.
pub struct KeycloakVerifier {
    cfg: KeycloakConfig,
    issuer: String,
    jwks_url: String,
    http: reqwest::Client,
    cache: RwLock<KeyCache>,
}

/// Minimum time between two JWKS fetches triggered by unknown key ids.
const REFETCH_FLOOR: Duration = Duration::from_secs(10);

impl KeycloakVerifier {
    /// Builds a verifier from configuration (`keycloak.issuer` must be set).
    pub fn new(cfg: KeycloakConfig) -> CoreResult<Self> {
        let issuer = cfg
            .issuer
            .clone()
            .ok_or_else(|| CoreError::Internal("keycloak.issuer is not set".into()))?;
        let issuer = issuer.trim_end_matches('/').to_string();
        let jwks_url = cfg
            .jwks_url
            .clone()
            .unwrap_or_else(|| format!("{issuer}/protocol/openid-connect/certs"));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| CoreError::Internal(e.to_string()))?;
        Ok(Self {
            cfg,
            issuer,
            jwks_url,
            http,
            cache: RwLock::new(KeyCache {
                keys: HashMap::new(),
                fetched: None,
            }),
        })
    }

    async fn refresh(&self, force: bool) -> CoreResult<()> {
        let mut cache = self.cache.write().await;
        if let Some(at) = cache.fetched {
            let ttl = Duration::from_secs(self.cfg.jwks_cache_secs);
            if (!force && at.elapsed() < ttl) || (force && at.elapsed() < REFETCH_FLOOR) {
                return Ok(());
            }
        }
        let set: JwkSet = self
            .http
            .get(&self.jwks_url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| CoreError::Internal(format!("keycloak jwks: {e}")))?
            .json()
            .await
            .map_err(|e| CoreError::Internal(format!("keycloak jwks: {e}")))?;
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

    async fn key_for(&self, kid: &str) -> CoreResult<Option<(Algorithm, DecodingKey)>> {
        self.refresh(false).await?;
        if let Some(k) = self.cache.read().await.keys.get(kid) {
            return Ok(Some(k.clone()));
        }
        // Unknown kid: the realm may have rotated its keys.
        self.refresh(true).await?;
        Ok(self.cache.read().await.keys.get(kid).cloned())
    }

    /// Verifies `token` and extracts the identity.
    pub async fn verify(&self, token: &str) -> CoreResult<ExternalIdentity> {
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
        let mut v = Validation::new(alg);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.cfg.audience]);
        v.leeway = 5;
        let claims = jsonwebtoken::decode::<serde_json::Value>(token, &key, &v)
            .map_err(|_| CoreError::Unauthorized("invalid or expired token"))?
            .claims;
        let subject = claims
            .get("sub")
            .and_then(|s| s.as_str())
            .unwrap_or_default()
            .to_string();
        if subject.is_empty() {
            return Err(CoreError::Unauthorized("token has no subject"));
        }
        let roles = claim_path(&claims, &self.cfg.roles_claim)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|r| r.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let tenant = claim_path(&claims, &self.cfg.tenant_claim).and_then(|v| match v {
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(a) => a.first().and_then(|s| s.as_str()).map(str::to_string),
            _ => None,
        });
        let email = claim_path(&claims, &self.cfg.email_claim)
            .and_then(|v| v.as_str())
            .unwrap_or(&subject)
            .to_string();
        Ok(ExternalIdentity {
            subject,
            email,
            roles,
            tenant,
        })
    }
}

/// Reads a dotted claim path such as `realm_access.roles`.
fn claim_path<'a>(claims: &'a serde_json::Value, path: &str) -> Option<&'a serde_json::Value> {
    path.split('.').try_fold(claims, |v, part| v.get(part))
}

#[cfg(test)]
mod tests {
    #[test]
    fn dotted_claims() {
        let c = serde_json::json!({"realm_access": {"roles": ["developer"]}, "tenant_id": "t"});
        assert_eq!(
            super::claim_path(&c, "realm_access.roles"),
            Some(&serde_json::json!(["developer"]))
        );
        assert_eq!(
            super::claim_path(&c, "tenant_id"),
            Some(&serde_json::json!("t"))
        );
        assert!(super::claim_path(&c, "nope.x").is_none());
    }
}
