//! Sign-in through an OpenID Connect provider: `/auth/oidc/start` sends the browser to the
//! provider with state, nonce and a PKCE challenge; `/auth/oidc/callback` checks the state
//! against the browser's cookie, exchanges the code with the verifier, verifies the ID token and
//! opens the session of the user with that verified e-mail.

use crate::PortalState;
use crate::login::login_page;
use crate::session::{IdpTokens, SESSION_COOKIE, cookie, same_token, set_cookie};
use crate::visitor::meta;
use avb_core::CoreError;
use avb_core::identity::local;
use avb_core::identity::oidc::Pkce;
use avb_core::token::random_alnum;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

/// The cookie binding a started sign-in to this browser (login CSRF protection).
const STATE_COOKIE: &str = "avb_oidc_state";

fn with_cookie(mut res: Response, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// `GET /auth/oidc/start` (public: starts signing in).
pub async fn start(State(state): State<PortalState>) -> Response {
    let Some(oidc) = state.ctx.oidc.clone() else {
        return (StatusCode::NOT_FOUND, "Single sign-on is not configured.").into_response();
    };
    let login_state = random_alnum(32);
    let nonce = random_alnum(32);
    let pkce = Pkce::new();
    match oidc.authorize_url(&login_state, &nonce, &pkce).await {
        Ok(url) => {
            state
                .pending
                .insert(login_state.clone(), pkce.verifier, nonce);
            with_cookie(
                Redirect::to(&url).into_response(),
                &set_cookie(STATE_COOKIE, &login_state, false, Some(600)),
            )
        }
        Err(e) => {
            tracing::error!(error = %e, "oidc: the provider is unavailable");
            login_page(
                &state,
                "",
                Some("Single sign-on is unavailable right now. Please retry in a moment.".into()),
                false,
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    }
}

/// The provider's redirect back.
#[derive(Debug, Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// `GET /auth/oidc/callback` (public: the provider's answer, checked against the pending sign-in).
pub async fn callback(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<Callback>,
) -> Response {
    let Some(oidc) = state.ctx.oidc.clone() else {
        return (StatusCode::NOT_FOUND, "Single sign-on is not configured.").into_response();
    };
    let refuse = |message: &str, status: StatusCode| {
        with_cookie(
            login_page(&state, "", Some(message.to_string()), false, status),
            &set_cookie(STATE_COOKIE, "", false, Some(0)),
        )
    };
    let header = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    let expected = cookie(header, STATE_COOKIE).unwrap_or_default();
    let got = q.state.as_deref().unwrap_or_default();
    if !same_token(expected, got) {
        return refuse(
            "The sign-in expired or was started in another browser. Please try again.",
            StatusCode::BAD_REQUEST,
        );
    }
    let Some((verifier, nonce)) = state.pending.take(got) else {
        return refuse(
            "The sign-in expired. Please try again.",
            StatusCode::BAD_REQUEST,
        );
    };
    if let Some(e) = q.error {
        tracing::info!(error = %e, "oidc: the provider refused the sign-in");
        return refuse(
            "Single sign-on was cancelled or refused.",
            StatusCode::UNAUTHORIZED,
        );
    }
    let Some(code) = q.code else {
        return refuse(
            "The provider sent no code. Please try again.",
            StatusCode::BAD_REQUEST,
        );
    };
    let tokens = match oidc.exchange(&code, &verifier).await {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "oidc: code exchange failed");
            return refuse(
                "Single sign-on failed. Please try again.",
                StatusCode::UNAUTHORIZED,
            );
        }
    };
    let Some(id_token) = tokens.id_token else {
        return refuse("The provider sent no ID token.", StatusCode::UNAUTHORIZED);
    };
    let identity = match oidc.verify_id_token(&id_token, &nonce).await {
        Ok(i) => i,
        Err(CoreError::Unauthorized(m)) => return refuse(m, StatusCode::UNAUTHORIZED),
        Err(e) => {
            tracing::error!(error = %e, "oidc: ID token verification failed");
            return refuse(
                "Single sign-on is unavailable right now. Please retry in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
            );
        }
    };
    // Under `identity.provider = "keycloak"` Keycloak's access token decides the tenant, role
    // and platform-admin flag; the local copy follows it before the session opens.
    if state.ctx.config.identity.provider == avb_core::config::IdentityProvider::Keycloak
        && let Some(kc) = &state.ctx.keycloak
    {
        let claims = match kc.verify(&tokens.access_token).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "oidc: Keycloak's access token was not accepted");
                return refuse(
                    "Keycloak's token was not accepted here; ask an administrator to check the client's audience and tenant mappers.",
                    StatusCode::UNAUTHORIZED,
                );
            }
        };
        let name = identity.name.clone().unwrap_or_default();
        match avb_core::identity::keycloak_sync::sync(
            &state.ctx,
            &claims,
            &name,
            &meta(&state, &headers, peer),
        )
        .await
        {
            Ok(synced) => {
                tracing::info!(subject = %claims.subject, ?synced, "keycloak sign-in synced")
            }
            Err(CoreError::Unauthorized(m)) => return refuse(m, StatusCode::FORBIDDEN),
            Err(e) => {
                tracing::error!(error = %e, "oidc: syncing the Keycloak user failed");
                return refuse(
                    "Signing in is unavailable right now. Please retry in a moment.",
                    StatusCode::SERVICE_UNAVAILABLE,
                );
            }
        }
    }
    match local::login_federated(&state.ctx, &identity.email, &meta(&state, &headers, peer)).await {
        Ok(pair) => {
            let idp = IdpTokens {
                id_token,
                refresh_token: tokens.refresh_token,
            };
            let value = match state
                .sessions
                .create(pair.access_token, pair.refresh_token, Some(idp))
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "oidc: storing the session failed");
                    return refuse(
                        "Signing in is unavailable right now. Please retry in a moment.",
                        StatusCode::SERVICE_UNAVAILABLE,
                    );
                }
            };
            tracing::info!(subject = %identity.subject, email = %identity.email, "oidc sign-in");
            let res = with_cookie(
                Redirect::to("/dashboard").into_response(),
                &set_cookie(SESSION_COOKIE, &value, false, None),
            );
            with_cookie(res, &set_cookie(STATE_COOKIE, "", false, Some(0)))
        }
        Err(CoreError::Unauthorized(m)) => refuse(m, StatusCode::FORBIDDEN),
        Err(e) => {
            tracing::error!(error = %e, "oidc: opening the session failed");
            refuse(
                "Signing in is unavailable right now. Please retry in a moment.",
                StatusCode::SERVICE_UNAVAILABLE,
            )
        }
    }
}

/// The provider's back-channel logout request (a form with `logout_token`).
#[derive(Debug, Deserialize)]
pub struct LogoutToken {
    #[serde(default)]
    logout_token: String,
}

/// `POST /auth/oidc/backchannel-logout` (public; OpenID Connect Back-Channel Logout): the
/// provider's signed logout token ends the user's portal sessions. 400 for a token that does not
/// verify; `Cache-Control: no-store` as the specification asks.
pub async fn backchannel_logout(
    State(state): State<PortalState>,
    axum::extract::Form(f): axum::extract::Form<LogoutToken>,
) -> Response {
    let no_store = |status: StatusCode, body: &'static str| {
        let mut res = (status, body).into_response();
        res.headers_mut().insert(
            header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        );
        res
    };
    let Some(oidc) = state.ctx.oidc.clone() else {
        return no_store(StatusCode::NOT_FOUND, "Single sign-on is not configured.");
    };
    let (sub, _sid) = match oidc.verify_logout_token(&f.logout_token).await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "oidc: back-channel logout token refused");
            return no_store(StatusCode::BAD_REQUEST, "invalid_request");
        }
    };
    let Some(sub) = sub else {
        // Sessions are not tracked by the provider's session id here: nothing to end.
        return no_store(StatusCode::OK, "");
    };
    match avb_core::identity::keycloak_sync::provider_logout(&state.ctx, &sub).await {
        Ok(n) => {
            tracing::info!(subject = %sub, sessions_ended = n, "oidc: back-channel logout");
            no_store(StatusCode::OK, "")
        }
        Err(e) => {
            tracing::error!(error = %e, "oidc: back-channel logout failed");
            no_store(StatusCode::SERVICE_UNAVAILABLE, "temporarily_unavailable")
        }
    }
}
