//! Signing in and out with the password form (`/`, `/login`, `/logout`).

use crate::PortalState;
use crate::error::render;
use crate::extract::{Peer, SelfForm, Visitor};
use crate::session::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, same_token, set_cookie};
use crate::visitor::{cookie_header, meta, visitor};
use askama::Template;
use avb_core::CoreError;
use avb_core::identity::local::{self, LoginInput};
use avb_core::token::random_alnum;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// `GET /` (requires signing in, no permission): the dashboard for a signed-in browser, else
/// the login page.
pub async fn home(_: Visitor) -> Redirect {
    Redirect::to("/dashboard")
}

#[derive(Template)]
#[template(path = "login/form.html")]
struct LoginFormPage {
    csrf: String,
    email: String,
    error: Option<String>,
    expired: bool,
    signed_out: bool,
    /// The single sign-on button's text, when OIDC is configured.
    sso: Option<String>,
    /// Whether the password form is offered (the local identity provider).
    local: bool,
}

/// `?expired=1` after a session ended, `?signed_out=1` after the provider's logout.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    expired: Option<String>,
    signed_out: Option<String>,
}

/// The login page (with a fresh CSRF cookie).
pub(crate) fn login_page(
    state: &PortalState,
    email: &str,
    error: Option<String>,
    expired: bool,
    status: StatusCode,
) -> Response {
    login_page_with(state, email, error, expired, false, status)
}

fn login_page_with(
    state: &PortalState,
    email: &str,
    error: Option<String>,
    expired: bool,
    signed_out: bool,
    status: StatusCode,
) -> Response {
    let csrf = random_alnum(32);
    let page = LoginFormPage {
        csrf: csrf.clone(),
        email: email.to_string(),
        error,
        expired,
        signed_out,
        sso: state.ctx.oidc.as_ref().map(|o| o.label().to_string()),
        local: state.ctx.config.identity.provider == avb_core::config::IdentityProvider::Local,
    };
    let mut res = render(&page, status);
    if let Ok(v) = HeaderValue::from_str(&set_cookie(LOGIN_CSRF_COOKIE, &csrf, false, Some(3600))) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /login` (no permission; a signed-in visitor goes on to the dashboard).
pub async fn login_form(
    State(state): State<PortalState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if visitor(&state, &headers, peer).await.is_ok() {
        return Redirect::to("/dashboard").into_response();
    }
    // Keycloak signs people in (D1.1): straight there, except right after signing out (the
    // page says so and offers to sign in again).
    if state.ctx.config.identity.provider == avb_core::config::IdentityProvider::Keycloak
        && state.ctx.oidc.is_some()
        && q.signed_out.is_none()
    {
        return Redirect::to("/auth/oidc/start").into_response();
    }
    login_page_with(
        &state,
        "",
        None,
        q.expired.is_some(),
        q.signed_out.is_some(),
        StatusCode::OK,
    )
}

/// The login form's fields.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    totp: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login` (no permission): checks the form's CSRF token against its cookie, then signs in.
pub async fn login(
    State(state): State<PortalState>,
    Peer(peer): Peer,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(cookie_header(&headers), LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !same_token(expected, &form.csrf) {
        return login_page(
            &state,
            &form.email,
            Some("The form expired. Please try again.".into()),
            false,
            StatusCode::FORBIDDEN,
        );
    }
    let totp = form.totp.trim();
    let input = LoginInput {
        email: &form.email,
        password: &form.password,
        totp: (!totp.is_empty()).then_some(totp),
        tenant: None,
    };
    match local::login(&state.ctx, input, &meta(&state, &headers, peer)).await {
        Ok(pair) => {
            let value = match state
                .sessions
                .create(pair.access_token, pair.refresh_token, None)
                .await
            {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(error = %e, "storing the portal session failed");
                    return login_page(
                        &state,
                        &form.email,
                        Some(
                            "Signing in is unavailable right now. Please retry in a moment.".into(),
                        ),
                        false,
                        StatusCode::SERVICE_UNAVAILABLE,
                    );
                }
            };
            crate::session::signed_in_redirect(&value)
        }
        Err(e) => {
            let mut status = StatusCode::UNAUTHORIZED;
            let mut retry = None;
            let message = match e {
                CoreError::TotpRequired => {
                    "Enter the code from your authenticator app.".to_string()
                }
                CoreError::RateLimited(secs) => {
                    status = StatusCode::TOO_MANY_REQUESTS;
                    retry = Some(secs);
                    format!(
                        "Too many sign-in attempts from your network. Try again in {secs} seconds."
                    )
                }
                CoreError::Internal(ref cause) | CoreError::Unavailable(ref cause) => {
                    tracing::error!(%cause, "portal login failed");
                    "Signing in is unavailable right now. Please retry in a moment.".to_string()
                }
                _ => "Incorrect e-mail, password or code.".to_string(),
            };
            let mut res = login_page(&state, &form.email, Some(message), false, status);
            if let Some(secs) = retry {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            res
        }
    }
}

/// `POST /logout` (requires signing in, no permission; works while viewing a tenant): ends
/// the server session and the browser session.
pub async fn logout(
    State(state): State<PortalState>,
    headers: HeaderMap,
    SelfForm { scope, .. }: SelfForm,
) -> Response {
    if let Err(e) = local::logout(&state.ctx, &scope).await {
        tracing::warn!(error = %e, "ending the server session failed");
    }
    let ended = match cookie(cookie_header(&headers), SESSION_COOKIE) {
        Some(c) => state.sessions.remove(c).await,
        None => None,
    };
    // Signed in through the provider: end the provider's session too.
    let mut to = "/login".to_string();
    if let (Some(oidc), Some(idp)) = (&state.ctx.oidc, ended.and_then(|s| s.idp)) {
        let back = format!("{}/login?signed_out=1", state.ctx.config.public_url());
        match oidc.end_session_url(&idp.id_token, &back).await {
            Ok(Some(url)) => to = url,
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "oidc: no end-session URL"),
        }
    }
    let mut res = Redirect::to(&to).into_response();
    if let Ok(c) = HeaderValue::from_str(&set_cookie(SESSION_COOKIE, "", false, Some(0))) {
        res.headers_mut().append(header::SET_COOKIE, c);
    }
    res
}
