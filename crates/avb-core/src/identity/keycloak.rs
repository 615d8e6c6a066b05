//! Keycloak access-token verification: signature against the realm JWKS (cached, refreshed on
//! an unknown `kid`), issuer and audience checked, roles and tenant read from configurable claims.

use crate::config::KeycloakConfig;
use crate::error::{CoreError, CoreResult};
use crate::identity::jwks::Jwks;
use jsonwebtoken::{Algorithm, Validation};
use std::time::Duration;

/// What a verified Keycloak token says about its subject.
#[derive(Debug, Clone)]
pub struct ExternalIdentity {
    pub subject: String,
    pub email: String,
    pub roles: Vec<String>,
    pub tenant: Option<String>,
}

/// Verifies Keycloak-issued JWTs.
pub struct KeycloakVerifier {
    cfg: KeycloakConfig,
    issuer: String,
    jwks: Jwks,
}

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
        let jwks = Jwks::new(jwks_url, Duration::from_secs(cfg.jwks_cache_secs), http);
        Ok(Self { cfg, issuer, jwks })
    }

    /// Verifies `token` and extracts the identity.
    pub async fn verify(&self, token: &str) -> CoreResult<ExternalIdentity> {
        let mut v = Validation::new(Algorithm::RS256);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.cfg.audience]);
        v.leeway = 5;
        let claims = self.jwks.verify(token, v).await?;
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
pub(crate) fn claim_path<'a>(
    claims: &'a serde_json::Value,
    path: &str,
) -> Option<&'a serde_json::Value> {
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
