//! Tokens: random secrets, their hashes, and locally issued JWTs (EdDSA, keys in JWKS).

use crate::error::{CoreError, CoreResult};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `len` random alphanumeric characters from the OS-seeded CSPRNG.
pub fn random_alnum(len: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// SHA-256 hex of a high-entropy token (refresh, reset, invitation, setup tokens).
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Claims of a locally issued access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub sid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tid: Option<String>,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// The server's EdDSA signing key and its public half.
pub struct JwtKeys {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    public_x: String,
    issuer: String,
    audience: String,
}

impl JwtKeys {
    /// A fresh Ed25519 key, PKCS#8 DER, base64 (stored in `server_secrets`).
    pub fn generate_pkcs8() -> String {
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        key.to_pkcs8_der()
            .map(|d| STANDARD.encode(d.as_bytes()))
            .unwrap_or_default()
    }

    /// Loads the key stored by [`JwtKeys::generate_pkcs8`].
    pub fn from_pkcs8(b64: &str, issuer: &str, audience: &str) -> CoreResult<Self> {
        let der = STANDARD
            .decode(b64)
            .map_err(|e| CoreError::Internal(format!("signing key: {e}")))?;
        let key = SigningKey::from_pkcs8_der(&der)
            .map_err(|e| CoreError::Internal(format!("signing key: {e}")))?;
        let public = key.verifying_key().to_bytes();
        let public_x = URL_SAFE_NO_PAD.encode(public);
        let kid = hex::encode(&Sha256::digest(public)[..8]);
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ed_der(&der),
            decoding: DecodingKey::from_ed_components(&public_x)
                .map_err(|e| CoreError::Internal(format!("verifying key: {e}")))?,
            public_x,
            issuer: issuer.to_string(),
            audience: audience.to_string(),
        })
    }

    /// Signs an access token.
    pub fn sign(
        &self,
        sub: &str,
        sid: &str,
        tid: Option<String>,
        ttl_secs: u64,
    ) -> CoreResult<String> {
        let now = chrono::Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: sub.to_string(),
            sid: sid.to_string(),
            tid,
            iat: now,
            exp: now + ttl_secs as i64,
            jti: uuid::Uuid::now_v7().to_string(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.encoding)
            .map_err(|e| CoreError::Internal(format!("jwt: {e}")))
    }

    /// Whether `token` claims to be one of ours (by `kid`), without verifying it.
    pub fn is_ours(&self, token: &str) -> bool {
        jsonwebtoken::decode_header(token)
            .ok()
            .and_then(|h| h.kid)
            .as_deref()
            == Some(self.kid.as_str())
    }

    /// Verifies signature, issuer, audience and expiry.
    pub fn verify(&self, token: &str) -> CoreResult<AccessClaims> {
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_issuer(&[&self.issuer]);
        v.set_audience(&[&self.audience]);
        v.leeway = 5;
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &v)
            .map(|d| d.claims)
            .map_err(|_| CoreError::Unauthorized("invalid or expired access token"))
    }

    /// The public keys as a JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::json!({
            "keys": [{
                "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA",
                "kid": self.kid, "x": self.public_x,
            }]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify_and_reject_other_audience() -> CoreResult<()> {
        let pem = JwtKeys::generate_pkcs8();
        let keys = JwtKeys::from_pkcs8(&pem, "iss", "aud")?;
        let t = keys.sign("u1", "s1", Some("t1".into()), 60)?;
        assert!(keys.is_ours(&t));
        let c = keys.verify(&t)?;
        assert_eq!((c.sub.as_str(), c.tid.as_deref()), ("u1", Some("t1")));
        let other = JwtKeys::from_pkcs8(&pem, "iss", "other")?;
        assert!(other.verify(&t).is_err());
        let stranger = JwtKeys::from_pkcs8(&JwtKeys::generate_pkcs8(), "iss", "aud")?;
        assert!(stranger.verify(&t).is_err());
        Ok(())
    }
}
