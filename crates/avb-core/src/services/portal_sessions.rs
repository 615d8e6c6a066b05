//! Browser sessions of the portal: an opaque HttpOnly cookie names a server-side entry holding
//! the access and refresh tokens (the JWT never reaches the browser) and the session's CSRF token.
//!
//! Entries live in the database (`portal_sessions`, keyed by the SHA-256 of the cookie, tokens
//! sealed with the server key), so a restart keeps users signed in and any replica serves them.
//! No [`crate::Scope`] here: the cookie is the credential, and the tokens a session holds carry
//! their own scope.

use crate::AppContext;
use crate::error::CoreResult;
use crate::token::random_alnum;
use avb_storage::repos::portal_sessions::{self, PortalSession};
use chrono::Utc;
use sha2::{Digest, Sha256};

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
pub struct PortalSessions {
    ctx: AppContext,
}

fn key(cookie: &str) -> String {
    hex::encode(Sha256::digest(cookie.as_bytes()))
}

fn aad(id: &str) -> String {
    format!("portal-session:{id}")
}

impl PortalSessions {
    /// Sessions stored through `ctx`.
    pub fn new(ctx: AppContext) -> Self {
        Self { ctx }
    }

    fn seal(&self, id: &str, value: &str) -> CoreResult<String> {
        self.ctx.sealer.seal(value, &aad(id))
    }

    fn open(&self, id: &str, sealed: &str) -> Option<String> {
        self.ctx.sealer.open(sealed, &aad(id)).ok()
    }

    fn idp_sealed(
        &self,
        id: &str,
        idp: &IdpTokens,
    ) -> CoreResult<(Option<String>, Option<String>)> {
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
    ) -> CoreResult<String> {
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
            CoreResult::Ok(row)
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
                CoreResult::Ok(())
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
    ) -> CoreResult<()> {
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
    ) -> CoreResult<()> {
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
            CoreResult::Ok(row)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_sha256_hex() {
        assert_ne!(key("a"), key("b"));
        assert_eq!(key("a").len(), 64);
    }
}
