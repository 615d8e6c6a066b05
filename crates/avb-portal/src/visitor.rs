//! Who is signed in: the browser session behind the cookie, its tokens refreshed when they
//! expired, and the read-only view of a tenant a SaaS admin chose (every page view audited).
//! Handlers get the result through the extractors of [`crate::extract`].

use crate::PortalState;
use crate::error::PageError;
use crate::headers::PAGE_PATH;
use crate::session::{SESSION_COOKIE, cookie};
use avb_core::identity::local;
use avb_core::{RequestMeta, Scope};
use axum::http::{HeaderMap, header};
use std::net::SocketAddr;

/// A signed-in browser: its scope and session.
#[derive(Clone)]
pub(crate) struct Visitor {
    pub scope: Scope,
    pub csrf: String,
    /// The tenant name when a SaaS admin is viewing a tenant read-only.
    pub impersonating: Option<String>,
}

/// Request facts: the client address (the peer, or the client `X-Forwarded-For` names when the
/// peer is a trusted proxy), the user agent.
pub(crate) fn meta(state: &PortalState, headers: &HeaderMap, peer: SocketAddr) -> RequestMeta {
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = avb_core::identity::throttle::client_ip(
        peer.ip(),
        forwarded,
        &state.ctx.config.server.trusted_proxies,
    );
    RequestMeta {
        ip: ip.to_string(),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(256)
            .collect(),
        ..RequestMeta::default()
    }
}

pub(crate) fn cookie_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::COOKIE).and_then(|v| v.to_str().ok())
}

/// The visitor as the session says: a SaaS admin who chose a tenant sees it read-only, and every
/// page they view there is audited in that tenant's log.
async fn finish(
    state: &PortalState,
    headers: &HeaderMap,
    scope: Scope,
    session: &crate::session::BrowserSession,
) -> Visitor {
    let Some(tenant) = session.impersonating else {
        return Visitor {
            scope,
            csrf: session.csrf.clone(),
            impersonating: None,
        };
    };
    let Some(view) = scope.impersonate(tenant) else {
        return Visitor {
            scope,
            csrf: session.csrf.clone(),
            impersonating: None,
        };
    };
    let path = headers
        .get(PAGE_PATH)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = match avb_core::services::impersonation::page_view(&state.ctx, &view, path).await {
        Ok(name) => name,
        Err(e) => {
            tracing::error!(error = %e, "impersonation: auditing the page view failed");
            // No audit row, no view.
            return Visitor {
                scope,
                csrf: session.csrf.clone(),
                impersonating: None,
            };
        }
    };
    Visitor {
        scope: view,
        csrf: session.csrf.clone(),
        impersonating: Some(name),
    }
}

/// The visitor behind the session cookie; refreshes the access token when it expired.
pub(crate) async fn visitor(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Visitor, PageError> {
    let (scope, session) = own_scope(state, headers, peer).await?;
    Ok(finish(state, headers, scope, &session).await)
}

/// The signed-in user as themselves (never the read-only view of a tenant), with the session;
/// refreshes the access token when it expired.
pub(crate) async fn own_scope(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(Scope, crate::session::BrowserSession), PageError> {
    let cookie_value = cookie(cookie_header(headers), SESSION_COOKIE).ok_or(PageError::SignIn)?;
    let session = state
        .sessions
        .get(cookie_value)
        .await
        .ok_or(PageError::SessionExpired)?;
    let meta = meta(state, headers, peer);
    match avb_core::identity::authenticate_bearer(&state.ctx, &session.access_token, meta.clone())
        .await
    {
        Ok(scope) => Ok((scope, session)),
        Err(_) => {
            // Signed in through the provider: it must still accept its refresh token.
            let mut idp = None;
            if let (Some(oidc), Some(current)) = (&state.ctx.oidc, &session.idp)
                && let Some(rt) = &current.refresh_token
            {
                match oidc.refresh(rt).await {
                    Ok(t) => {
                        idp = Some(crate::session::IdpTokens {
                            id_token: t.id_token.unwrap_or_else(|| current.id_token.clone()),
                            refresh_token: t.refresh_token.or_else(|| Some(rt.clone())),
                        })
                    }
                    Err(_) => {
                        state.sessions.remove(cookie_value).await;
                        return Err(PageError::SessionExpired);
                    }
                }
            }
            let pair = match local::refresh(&state.ctx, &session.refresh_token).await {
                Ok(p) => p,
                Err(_) => {
                    state.sessions.remove(cookie_value).await;
                    return Err(PageError::SessionExpired);
                }
            };
            if let Err(e) = state
                .sessions
                .update(
                    cookie_value,
                    &pair.access_token,
                    &pair.refresh_token,
                    idp.as_ref(),
                )
                .await
            {
                tracing::error!(error = %e, "storing refreshed portal tokens failed");
                return Err(PageError::SessionExpired);
            }
            let scope =
                avb_core::identity::authenticate_bearer(&state.ctx, &pair.access_token, meta)
                    .await
                    .map_err(|_| PageError::SessionExpired)?;
            Ok((scope, session))
        }
    }
}
