//! Authentication extractors: the only way handlers get a [`Scope`].

use crate::error::ApiError;
use crate::router::AppState;
use avb_core::identity::authenticate_bearer;
use avb_core::{RequestMeta, Scope};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header::{AUTHORIZATION, USER_AGENT};
use axum::http::request::Parts;
use std::net::SocketAddr;

/// The authenticated caller.
pub struct Auth(pub Scope);

/// Request facts for unauthenticated routes (login, setup) and audit rows.
pub struct Meta(pub RequestMeta);

/// Reads IP (the peer address, or the client `X-Forwarded-For` names when the peer is one of
/// `trusted` proxies), user agent and request id from a request.
pub fn request_meta(parts: &Parts, trusted: &[avb_core::identity::throttle::Cidr]) -> RequestMeta {
    let forwarded = parts
        .headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    let ip = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| avb_core::identity::throttle::client_ip(c.0.ip(), forwarded, trusted).to_string())
        .unwrap_or_else(|| "unknown".into());
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let mut user_agent = header(USER_AGENT.as_str());
    user_agent.truncate(512);
    RequestMeta {
        ip,
        user_agent,
        request_id: header("x-request-id"),
    }
}

impl FromRequestParts<AppState> for Meta {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Meta(request_meta(
            parts,
            &state.ctx.config.server.trusted_proxies,
        )))
    }
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("missing Authorization header"))?
            .to_str()
            .map_err(|_| ApiError::unauthorized("malformed Authorization header"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| ApiError::unauthorized("expected a Bearer token"))?;
        let scope = authenticate_bearer(
            &state.ctx,
            token,
            request_meta(parts, &state.ctx.config.server.trusted_proxies),
        )
        .await?;
        Ok(Auth(scope))
    }
}
