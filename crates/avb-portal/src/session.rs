//! Browser sessions: an opaque HttpOnly cookie names a server-side entry holding the access and
//! refresh tokens (the JWT never reaches the browser) and the session's CSRF token.
//!
//! Entries live in this process's memory: a restart signs everyone out, and several replicas
//! need sticky sessions until the store moves to the database.

use avb_core::token::random_alnum;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "avb_session";
/// The pre-login CSRF cookie's name (double-submit on the login form).
pub const LOGIN_CSRF_COOKIE: &str = "avb_login_csrf";
/// How long a browser session lasts without use.
const IDLE: Duration = Duration::from_secs(12 * 3600);
/// Most sessions kept; the least recently used are dropped beyond it.
const MAX_SESSIONS: usize = 100_000;

/// One signed-in browser.
#[derive(Clone)]
pub struct BrowserSession {
    pub access_token: String,
    pub refresh_token: String,
    pub csrf: String,
    /// The OpenID provider's tokens when the browser signed in through it.
    pub idp: Option<IdpTokens>,
    last_used: Instant,
}

/// What the OpenID provider issued: the ID token (for logout) and its refresh token (checked
/// at every silent refresh, so that ending the session at the provider ends it here too).
#[derive(Clone)]
pub struct IdpTokens {
    pub id_token: String,
    pub refresh_token: Option<String>,
}

/// The store of browser sessions, keyed by the SHA-256 of the cookie value.
#[derive(Default)]
pub struct Sessions {
    entries: Mutex<HashMap<[u8; 32], BrowserSession>>,
}

fn key(cookie: &str) -> [u8; 32] {
    Sha256::digest(cookie.as_bytes()).into()
}

impl Sessions {
    /// Stores tokens for a new browser session; returns the cookie value.
    pub fn create(&self, access_token: String, refresh_token: String) -> String {
        self.create_with_idp(access_token, refresh_token, None)
    }

    /// Stores a new browser session signed in through an OpenID provider.
    pub fn create_with_idp(
        &self,
        access_token: String,
        refresh_token: String,
        idp: Option<IdpTokens>,
    ) -> String {
        let cookie = random_alnum(43);
        let mut entries = self.lock();
        if entries.len() >= MAX_SESSIONS {
            entries.retain(|_, s| s.last_used.elapsed() < IDLE);
        }
        entries.insert(
            key(&cookie),
            BrowserSession {
                access_token,
                refresh_token,
                csrf: random_alnum(32),
                idp,
                last_used: Instant::now(),
            },
        );
        cookie
    }

    /// The live session named by `cookie`, touched.
    pub fn get(&self, cookie: &str) -> Option<BrowserSession> {
        let mut entries = self.lock();
        let k = key(cookie);
        match entries.get_mut(&k) {
            Some(s) if s.last_used.elapsed() < IDLE => {
                s.last_used = Instant::now();
                Some(s.clone())
            }
            Some(_) => {
                entries.remove(&k);
                None
            }
            None => None,
        }
    }

    /// Replaces the tokens after a refresh.
    pub fn update_tokens(&self, cookie: &str, access_token: String, refresh_token: String) {
        if let Some(s) = self.lock().get_mut(&key(cookie)) {
            s.access_token = access_token;
            s.refresh_token = refresh_token;
        }
    }

    /// Replaces the provider's tokens after a refresh at the provider.
    pub fn update_idp(&self, cookie: &str, idp: IdpTokens) {
        if let Some(s) = self.lock().get_mut(&key(cookie)) {
            s.idp = Some(idp);
        }
    }

    /// Ends the session.
    pub fn remove(&self, cookie: &str) -> Option<BrowserSession> {
        self.lock().remove(&key(cookie))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], BrowserSession>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cookies_sessions_and_tokens() {
        assert_eq!(
            cookie(Some("a=1; avb_session=xyz; b=2"), SESSION_COOKIE),
            Some("xyz")
        );
        assert_eq!(cookie(Some("avb_session="), SESSION_COOKIE), None);
        let s = Sessions::default();
        let c = s.create("acc".into(), "ref".into());
        assert_eq!(s.get(&c).unwrap().access_token, "acc");
        assert!(s.get("other").is_none());
        s.update_tokens(&c, "acc2".into(), "ref2".into());
        assert_eq!(s.get(&c).unwrap().refresh_token, "ref2");
        assert!(s.remove(&c).is_some() && s.get(&c).is_none());
        assert!(same_token("abc", "abc") && !same_token("abc", "abd") && !same_token("", ""));
    }
}

/// Sign-ins started at the OpenID provider and not yet back: state -> (PKCE verifier, nonce).
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
