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
    build(secret_b32, "user")
        .and_then(|t| {
            t.check_current(code.trim())
                .map_err(|e| CoreError::Internal(e.to_string()))
        })
        .unwrap_or(false)
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
        Ok(())
    }
}
