//! Browser sessions: an opaque HttpOnly cookie names a server-side entry holding the access and
//! refresh tokens (the JWT never reaches the browser) and the session's CSRF token.
//!
//! Entries live in the database (`portal_sessions`, keyed by the SHA-256 of the cookie, tokens
//! sealed with the server key), so a restart keeps users signed in and any replica serves them.

use avb_core::AppContext;
use avb_core::token::random_alnum;
use avb_storage::repos::portal_sessions::{self, PortalSession};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "avb_session";
/// The pre-login CSRF cookie's name (double-submit on the login form).
pub const LOGIN_CSRF_COOKIE: &str = "avb_login_csrf";
/// How long a browser session lasts without use.
pub const IDLE: chrono::Duration = chrono::Duration::hours(12);
/// Uses closer together than this do not rewrite the session's last use.
const TOUCH_EVERY: chrono::Duration = chrono::Duration::seconds(60);

/// One signed-in browser.
#[derive(Clone)]
pub struct BrowserSession {
    pub access_token: String,
    pub refresh_token: String,
    pub csrf: String,
    /// The OpenID provider's tokens when the browser signed in through it.
    pub idp: Option<IdpTokens>,
    /// The tenant a SaaS admin is viewing read-only.
    pub impersonating: Option<avb_domain::TenantId>,
}

/// What the OpenID provider issued: the ID token (for logout) and its refresh token (checked
/// at every silent refresh, so that ending the session at the provider ends it here too).
#[derive(Clone)]
pub struct IdpTokens {
    pub id_token: String,
    pub refresh_token: Option<String>,
}

/// The store of browser sessions.
pub struct Sessions {
    ctx: AppContext,
}

fn key(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

fn aad(id: &str) -> String {
    format!("portal-session:{id}")
}

impl Sessions {
    /// Sessions stored through `ctx`.
    pub fn new(ctx: AppContext) -> Self {
        Self { ctx }
    }

    fn seal(&self, id: &str, value: &str) -> avb_core::CoreResult<String> {
        self.ctx.sealer.seal(value, &aad(id))
    }

    fn open(&self, id: &str, sealed: &str) -> Option<String> {
        self.ctx.sealer.open(sealed, &aad(id)).ok()
    }

    fn idp_sealed(
        &self,
        id: &str,
        idp: &IdpTokens,
    ) -> avb_core::CoreResult<(Option<String>, Option<String>)> {
        Ok((
            Some(self.seal(id, &idp.id_token)?),
            idp.refresh_token
                .as_deref()
                .map(|r| self.seal(id, r))
                .transpose()?,
        ))
    }

    /// Stores a new browser session (signed in through an OpenID provider when `idp` is set);
    /// returns the cookie value.
    pub async fn create(
        &self,
        access_token: String,
        refresh_token: String,
        idp: Option<IdpTokens>,
    ) -> avb_core::CoreResult<String> {
        let cookie = random_alnum(43);
        let id = key(&cookie);
        let (idp_id, idp_refresh) = match &idp {
            Some(t) => self.idp_sealed(&id, t)?,
            None => (None, None),
        };
        let now = Utc::now();
        let row = PortalSession {
            access_token_enc: self.seal(&id, &access_token)?,
            refresh_token_enc: self.seal(&id, &refresh_token)?,
            csrf: random_alnum(32),
            idp_id_token_enc: idp_id,
            idp_refresh_token_enc: idp_refresh,
            impersonating: None,
            created_at: now,
            last_used_at: now,
            id,
        };
        let tx = self.ctx.store.platform_tx(true).await?;
        portal_sessions::insert(&tx, row).await?;
        tx.commit().await?;
        Ok(cookie)
    }

    /// The live session named by `cookie`; an idle one is deleted.
    pub async fn get(&self, cookie: &str) -> Option<BrowserSession> {
        let id = key(cookie);
        let found = async {
            let tx = self.ctx.store.platform_tx(false).await?;
            let row = portal_sessions::get(&tx, &id).await?;
            tx.commit().await?;
            avb_core::CoreResult::Ok(row)
        }
        .await;
        let row = match found {
            Ok(Some(row)) => row,
            Ok(None) => return None,
            Err(e) => {
                tracing::error!(error = %e, "portal session look-up failed");
                return None;
            }
        };
        let idle = Utc::now() - row.last_used_at;
        if idle > IDLE {
            self.remove(cookie).await;
            return None;
        }
        if idle > TOUCH_EVERY {
            let touched = async {
                let tx = self.ctx.store.platform_tx(true).await?;
                portal_sessions::touch(&tx, &id).await?;
                tx.commit().await?;
                avb_core::CoreResult::Ok(())
            }
            .await;
            if let Err(e) = touched {
                tracing::warn!(error = %e, "portal session touch failed");
            }
        }
        let idp = row
            .idp_id_token_enc
            .as_deref()
            .and_then(|s| self.open(&id, s))
            .map(|id_token| IdpTokens {
                id_token,
                refresh_token: row
                    .idp_refresh_token_enc
                    .as_deref()
                    .and_then(|s| self.open(&id, s)),
            });
        Some(BrowserSession {
            access_token: self.open(&id, &row.access_token_enc)?,
            refresh_token: self.open(&id, &row.refresh_token_enc)?,
            csrf: row.csrf,
            idp,
            impersonating: row.impersonating.map(avb_domain::TenantId),
        })
    }

    /// Replaces the tokens after a refresh (and the provider's, when it was asked too).
    pub async fn update(
        &self,
        cookie: &str,
        access_token: &str,
        refresh_token: &str,
        idp: Option<&IdpTokens>,
    ) -> avb_core::CoreResult<()> {
        let id = key(cookie);
        let idp = idp.map(|t| self.idp_sealed(&id, t)).transpose()?;
        let tx = self.ctx.store.platform_tx(true).await?;
        portal_sessions::set_tokens(
            &tx,
            &id,
            self.seal(&id, access_token)?,
            self.seal(&id, refresh_token)?,
            idp,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Starts or stops a SaaS admin's read-only view of a tenant in this browser session.
    pub async fn set_impersonating(
        &self,
        cookie: &str,
        tenant: Option<avb_domain::TenantId>,
    ) -> avb_core::CoreResult<()> {
        let tx = self.ctx.store.platform_tx(true).await?;
        portal_sessions::set_impersonating(&tx, &key(cookie), tenant.map(|t| t.as_uuid())).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Ends the session; returns what it held.
    pub async fn remove(&self, cookie: &str) -> Option<BrowserSession> {
        let id = key(cookie);
        let removed = async {
            let tx = self.ctx.store.platform_tx(true).await?;
            let row = portal_sessions::delete(&tx, &id).await?;
            tx.commit().await?;
            avb_core::CoreResult::Ok(row)
        }
        .await;
        match removed {
            Ok(Some(row)) => Some(BrowserSession {
                idp: row
                    .idp_id_token_enc
                    .as_deref()
                    .and_then(|s| self.open(&id, s))
                    .map(|id_token| IdpTokens {
                        id_token,
                        refresh_token: None,
                    }),
                access_token: String::new(),
                refresh_token: String::new(),
                csrf: row.csrf,
                impersonating: None,
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(error = %e, "ending a portal session failed");
                None
            }
        }
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
        assert_ne!(key("a"), key("b"));
        assert_eq!(key("a").len(), 64);
    }
}
