//! Validated value types. Handlers convert DTOs into these once, at the edge.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A validation failure naming the offending field.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field (JSON pointer-ish name) that failed.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

impl ValidationError {
    /// Builds a validation error for `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A trimmed display name, 1..=120 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Name(String);

impl Name {
    /// Validates `raw` as a name for `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let v = raw.trim();
        if v.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if v.chars().count() > 120 {
            return Err(ValidationError::new(
                field,
                "must be at most 120 characters",
            ));
        }
        if v.chars().any(|c| c.is_control()) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(v.to_string()))
    }
    /// The validated string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A lower-cased e-mail address in a conservative subset of RFC 5321/5322: a dot-atom local
/// part (letters, digits and ``!#$%&'*+/=?^_`{|}~-``, dots only between atoms, at most 64
/// characters) and a domain of at least two LDH labels (letters, digits, inner hyphens, each 1
/// to 63 characters, a top-level label that is not all digits). Quoted local parts, comments,
/// IP-literal domains and non-ASCII addresses are refused: nothing that could carry markup,
/// quotes or angle brackets into a page, a header or a log reaches storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    /// Validates `raw` as an email for `field`.
    pub fn parse(field: &str, raw: &str) -> Result<Self, ValidationError> {
        let v = raw.trim().to_lowercase();
        let bad = || ValidationError::new(field, "must be a valid e-mail address");
        if v.len() > 254 || !v.is_ascii() {
            return Err(bad());
        }
        let (local, domain) = v.rsplit_once('@').ok_or_else(bad)?;
        let atom_char = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && local
                .split('.')
                .all(|atom| !atom.is_empty() && atom.chars().all(atom_char));
        if !local_ok {
            return Err(bad());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let label_ok = |l: &&str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        let tld_ok = labels
            .last()
            .is_some_and(|t| t.chars().any(|c| c.is_ascii_alphabetic()));
        if domain.len() > 253 || labels.len() < 2 || !labels.iter().all(label_ok) || !tld_ok {
            return Err(bad());
        }
        Ok(Self(v))
    }
    /// The validated address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Deployment environment of a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Production,
    Staging,
    Development,
}

impl Environment {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Staging => "staging",
            Environment::Development => "development",
        }
    }
}

impl FromStr for Environment {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "production" => Ok(Self::Production),
            "staging" => Ok(Self::Staging),
            "development" => Ok(Self::Development),
            _ => Err(ValidationError::new(
                "environment",
                "must be one of production, staging, development",
            )),
        }
    }
}

/// Status of a tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenantStatus {
    Active,
    Suspended,
}

impl TenantStatus {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Suspended => "suspended",
        }
    }
    /// Parses a stored name; unknown values read as suspended (fail closed).
    pub fn from_stored(s: &str) -> Self {
        if s == "active" {
            Self::Active
        } else {
            Self::Suspended
        }
    }
}

impl fmt::Display for TenantStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// What an API key may be used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum KeyScope {
    Realtime,
    Sessions,
    Usage,
}

impl KeyScope {
    /// Stored name.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyScope::Realtime => "realtime",
            KeyScope::Sessions => "sessions",
            KeyScope::Usage => "usage",
        }
    }

    /// Parses a list of scopes, rejecting unknown and empty lists; result is sorted, deduplicated.
    pub fn parse_list<S: AsRef<str>>(
        field: &str,
        raw: &[S],
    ) -> Result<Vec<KeyScope>, ValidationError> {
        let mut out = Vec::new();
        for s in raw {
            let scope = match s.as_ref().trim() {
                "realtime" => KeyScope::Realtime,
                "sessions" => KeyScope::Sessions,
                "usage" => KeyScope::Usage,
                other => {
                    return Err(ValidationError::new(
                        field,
                        format!("unknown scope '{other}': expected realtime, sessions or usage"),
                    ));
                }
            };
            out.push(scope);
        }
        if out.is_empty() {
            return Err(ValidationError::new(field, "must name at least one scope"));
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Whether a key is for live or test traffic (`avb_live_...` / `avb_test_...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyEnvironment {
    Live,
    Test,
}

impl KeyEnvironment {
    /// Stored name, also used in the key text.
    pub fn as_str(&self) -> &'static str {
        match self {
            KeyEnvironment::Live => "live",
            KeyEnvironment::Test => "test",
        }
    }
}

/// The password policy (documented in the README):
/// 12 to 128 characters, at least three of lower case, upper case, digit and symbol,
/// and not containing the local part of the user's e-mail.
pub fn check_password_policy(password: &str, email: Option<&str>) -> Result<(), ValidationError> {
    let err = |m: &str| Err(ValidationError::new("password", m));
    let len = password.chars().count();
    if len < 12 {
        return err("must be at least 12 characters");
    }
    if len > 128 {
        return err("must be at most 128 characters");
    }
    let classes = [
        password.chars().any(|c| c.is_lowercase()),
        password.chars().any(|c| c.is_uppercase()),
        password.chars().any(|c| c.is_ascii_digit()),
        password.chars().any(|c| !c.is_alphanumeric()),
    ];
    if classes.iter().filter(|b| **b).count() < 3 {
        return err("must contain at least three of: lower case, upper case, digit, symbol");
    }
    if let Some(local) = email.and_then(|e| e.split('@').next())
        && local.len() >= 3
        && password.to_lowercase().contains(&local.to_lowercase())
    {
        return err("must not contain your e-mail name");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_lowercased_and_checked() {
        assert_eq!(
            Email::parse("email", " A@Example.COM ")
                .map(|e| e.to_string())
                .ok(),
            Some("a@example.com".into())
        );
        for bad in [
            "",
            "a",
            "a@b",
            "@x.io",
            "a b@x.io",
            "a@.io.",
            "a@@x.io",
            "\"><script>alert(1)</script>@example.test",
            "<a>@example.test",
            "a\"b@example.test",
            "a(comment)@example.test",
            "a..b@example.test",
            ".a@example.test",
            "a.@example.test",
            "a@-x.io",
            "a@x-.io",
            "a@x..io",
            "a@x.io.",
            "a@[127.0.0.1]",
            "a@1.2.3.4",
            "a@x_y.io",
            "é@example.test",
            "a@exämple.test",
            "a;b@example.test",
            "a,b@example.test",
            "a\\b@example.test",
        ] {
            assert!(Email::parse("email", bad).is_err(), "{bad}");
        }
        let long_local = format!("{}@x.io", "a".repeat(65));
        assert!(Email::parse("email", &long_local).is_err());
        for good in [
            "first.last@example.com",
            "o'brien+tag@mail.example.co.uk",
            "x_y-z@sub-domain.example.test",
            "owner-0190abcd@acme.example.com",
            "a@b.io",
        ] {
            assert!(Email::parse("email", good).is_ok(), "{good}");
        }
    }

    #[test]
    fn password_policy() {
        assert!(check_password_policy("short", None).is_err());
        assert!(check_password_policy("alllowercaseletters", None).is_err());
        assert!(check_password_policy("Correct-Horse-9", None).is_ok());
        assert!(check_password_policy("Alice-Is-Great-1", Some("alice@x.io")).is_err());
    }

    #[test]
    fn scopes_parse_sorted_and_reject_unknown() {
        let s = KeyScope::parse_list("scopes", &["usage", "realtime", "usage"]).unwrap_or_default();
        assert_eq!(s, vec![KeyScope::Realtime, KeyScope::Usage]);
        assert!(KeyScope::parse_list("scopes", &["admin"]).is_err());
        assert!(KeyScope::parse_list::<&str>("scopes", &[]).is_err());
    }

    #[test]
    fn name_rejects_empty_and_long() {
        assert!(Name::parse("name", "  ").is_err());
        assert!(Name::parse("name", &"x".repeat(121)).is_err());
        assert_eq!(
            Name::parse("name", " Acme ").map(|n| n.to_string()).ok(),
            Some("Acme".into())
        );
    }
}
