//! Sealing of tenant secrets at rest (BYOK engine keys): AES-256-GCM with a random nonce per
//! value, stored as base64 of `nonce || ciphertext || tag`.

use crate::error::{CoreError, CoreResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

/// Seals and opens values with one server key.
pub struct Sealer {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl Sealer {
    /// A sealer whose 256-bit key is derived from `secret` (SHA-256 with a purpose label).
    pub fn from_secret(secret: &[u8]) -> CoreResult<Self> {
        let mut h = Sha256::new();
        h.update(b"avb sealing v1\0");
        h.update(secret);
        let key = UnboundKey::new(&AES_256_GCM, &h.finalize())
            .map_err(|_| CoreError::Internal("sealing key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            rng: SystemRandom::new(),
        })
    }

    /// Encrypts `plain`; `context` (e.g. the tenant id) is bound as associated data, so a value
    /// copied to another tenant's row does not open.
    pub fn seal(&self, plain: &str, context: &str) -> CoreResult<String> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng
            .fill(&mut nonce)
            .map_err(|_| CoreError::Internal("random nonce".into()))?;
        let mut buf = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CoreError::Internal("seal".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(STANDARD.encode(out))
    }

    /// Decrypts a value made by [`Sealer::seal`] with the same `context`.
    pub fn open(&self, sealed: &str, context: &str) -> CoreResult<String> {
        let bad =
            || CoreError::Internal("a sealed value does not open with this server key".into());
        let raw = STANDARD.decode(sealed).map_err(|_| bad())?;
        if raw.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce, body) = raw.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| bad())?;
        let mut body = body.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
            .map_err(|_| bad())?;
        String::from_utf8(plain.to_vec()).map_err(|_| bad())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let s = Sealer::from_secret(b"one").unwrap();
        let sealed = s.seal("gsk_secret", "tenant-a").unwrap();
        assert!(!sealed.contains("gsk_secret"));
        assert_eq!(s.open(&sealed, "tenant-a").unwrap(), "gsk_secret");
        assert!(s.open(&sealed, "tenant-b").is_err());
        assert!(
            Sealer::from_secret(b"two")
                .unwrap()
                .open(&sealed, "tenant-a")
                .is_err()
        );
        assert!(s.open("not base64!", "tenant-a").is_err());
        assert_ne!(
            sealed,
            s.seal("gsk_secret", "tenant-a").unwrap(),
            "fresh nonce"
        );
    }
}
