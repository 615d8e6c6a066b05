//! argon2id password hashing (OWASP parameters: m = 19 MiB, t = 2, p = 1), off the async runtime.

use crate::error::{CoreError, CoreResult};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// A hash of a fixed password, verified when the user does not exist so timing reveals nothing.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Qz8h8F0n3g2o8dUqYb6zvJm1zK7nq9nq0xqG0R0kq0s";

/// Hashes a password.
pub async fn hash(password: String) -> CoreResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CoreError::Internal(format!("argon2: {e}")))
    })
    .await
    .map_err(|e| CoreError::Internal(e.to_string()))?
}

/// Verifies a password against a stored hash (or a dummy hash when there is none).
pub async fn verify(password: String, stored: Option<String>) -> bool {
    let has_user = stored.is_some();
    let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
    tokio::task::spawn_blocking(move || {
        let ok = PasswordHash::new(&stored)
            .map(|h| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &h)
                    .is_ok()
            })
            .unwrap_or(false);
        ok && has_user
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_then_verify() -> crate::CoreResult<()> {
        let h = super::hash("Correct-Horse-9".into()).await?;
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("Correct-Horse-9".into(), Some(h.clone())).await);
        assert!(!super::verify("wrong".into(), Some(h)).await);
        assert!(!super::verify("anything".into(), None).await);
        Ok(())
    }
}
