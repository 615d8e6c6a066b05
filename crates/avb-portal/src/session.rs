//! Browser sessions: the cookies that name them, CSRF checks and sign-ins in flight at the
//! OpenID provider. The sessions themselves are stored by the core service
//! [`avb_core::services::portal_sessions`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub use avb_core::services::portal_sessions::{
    BrowserSession, IdpTokens, PortalSessions as Sessions,
};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "avb_session";
/// The pre-login CSRF cookie's name (double-submit on the login form).
pub const LOGIN_CSRF_COOKIE: &str = "avb_login_csrf";

/// The value of cookie `name` in a `Cookie` header.
pub fn cookie<'a>(header: Option<&'a str>, name: &str) -> Option<&'a str> {
    header?.split(';').find_map(|pair| {
        let (k, v) = pair.trim().split_once('=')?;
        (k == name && !v.is_empty()).then_some(v)
    })
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, path `/` (`Secure` when served over TLS).
pub fn set_cookie(name: &str, value: &str, secure: bool, max_age: Option<u64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// Constant-time comparison of CSRF tokens.
pub fn same_token(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    !a.is_empty() && a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Sign-ins started at the OpenID provider and not yet back: state -> (PKCE verifier, nonce).
/// Kept in this process for the few minutes a sign-in takes (replicas need sticky routing for
/// `/auth/oidc/*`).
#[derive(Default)]
pub struct PendingLogins {
    entries: Mutex<HashMap<String, (String, String, Instant)>>,
}

/// How long a started sign-in may take at the provider.
const PENDING_TTL: Duration = Duration::from_secs(600);

impl PendingLogins {
    /// Remembers a started sign-in.
    pub fn insert(&self, state: String, verifier: String, nonce: String) {
        let mut e = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if e.len() >= 10_000 {
            e.retain(|_, (_, _, at)| at.elapsed() < PENDING_TTL);
        }
        e.insert(state, (verifier, nonce, Instant::now()));
    }

    /// Takes the sign-in started with `state` (once), if it has not expired.
    pub fn take(&self, state: &str) -> Option<(String, String)> {
        let mut e = self
            .entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        e.remove(state)
            .filter(|(_, _, at)| at.elapsed() < PENDING_TTL)
            .map(|(v, n, _)| (v, n))
    }
}

/// The answer to a sign-in that opened browser session `value`: to the dashboard with the
/// session cookie set and the sign-in form's CSRF cookie cleared.
pub fn signed_in_redirect(value: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut res = axum::response::Redirect::to("/dashboard").into_response();
    for c in [
        set_cookie(SESSION_COOKIE, value, false, None),
        set_cookie(LOGIN_CSRF_COOKIE, "", false, Some(0)),
    ] {
        if let Ok(v) = axum::http::HeaderValue::from_str(&c) {
            res.headers_mut().append(axum::http::header::SET_COOKIE, v);
        }
    }
    res
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_tokens() {
        assert_eq!(
            cookie(Some("a=1; avb_session=xyz; b=2"), SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie(Some("avb_session="), SESSION_COOKIE), None);
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("", ""));
    }
}
