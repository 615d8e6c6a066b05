//! TOTP (RFC 6238: SHA-1, 6 digits, 30 s, one step of skew) with totp-rs.

use crate::error::{CoreError, CoreResult};
use totp_rs::{Algorithm, Secret, TOTP};

fn build(secret_b32: &str, account: &str) -> CoreResult<TOTP> {
    let bytes = Secret::Encoded(secret_b32.to_string())
        .to_bytes()
        .map_err(|_| {
            CoreError::Validation(avb_domain::ValidationError::new(
                "secret",
                "not a base32 TOTP secret",
            ))
        })?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        30,
        bytes,
        Some("AgentVoiceBox".into()),
        account.to_string(),
    )
    .map_err(|e| CoreError::Validation(avb_domain::ValidationError::new("secret", e.to_string())))
}

/// A new secret (base32) and its `otpauth://` URL for authenticator apps.
pub fn new_secret(account: &str) -> CoreResult<(String, String)> {
    let secret = Secret::generate_secret().to_encoded().to_string();
    let url = build(&secret, account)?.get_url();
    Ok((secret, url))
}

/// Whether `code` is valid now for `secret_b32`.
pub fn check(secret_b32: &str, code: &str) -> bool {
    verify(secret_b32, code).is_some()
}

/// The time step (Unix time / 30) of the window `code` is valid in for `secret_b32`: the
/// current one or one step either side. Callers remember it so that a code is good once.
pub fn verify(secret_b32: &str, code: &str) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let totp = build(secret_b32, "user").ok()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    let current = now / 30;
    let mut found = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = totp.generate(step * 30);
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            found = Some(step as i64);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_code_checks() -> crate::CoreResult<()> {
        let (secret, url) = super::new_secret("a@b.io")?;
        assert!(url.starts_with("otpauth://totp/"));
        let code = super::build(&secret, "a@b.io")?
            .generate_current()
            .map_err(|e| crate::CoreError::Internal(e.to_string()))?;
        assert!(super::check(&secret, &code));
        assert!(!super::check(&secret, "000000") || code == "000000");
        let step = super::verify(&secret, &code).unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64 / 30)
            .unwrap_or_default();
        assert!((now - 1..=now + 1).contains(&step), "{step} vs {now}");
        assert_eq!(super::verify(&secret, "12345"), None);
        Ok(())
    }
}
