//! The pages e-mailed links open, for visitors who are not signed in: accepting an invitation
//! (`/invitations/accept?token=`: a new account with name and password, or the invited
//! address's existing account proved like a login) and choosing a new password
//! (`/reset-password?token=`). Both land signed in. Forms carry a double-submit CSRF token (a
//! cookie and a field, like the login form).

use crate::PortalState;
use crate::account::FieldError;
use crate::error::render;
use crate::session::{LOGIN_CSRF_COOKIE, cookie, same_token, set_cookie};
use crate::visitor::meta;
use askama::Template;
use avb_core::CoreError;
use avb_core::identity::local::{self, InvitationAnswer, ResetLink, TokenPair};
use avb_core::services::members::{self, InvitationLink};
use avb_core::token::random_alnum;
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use std::net::SocketAddr;

/// `?token=`.
#[derive(Debug, Default, Deserialize)]
pub struct TokenQuery {
    #[serde(default)]
    token: String,
}

fn unavailable(e: &CoreError) -> Response {
    tracing::error!(error = %e, "onboarding page failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "This page is unavailable right now. Retry in a moment.",
    )
        .into_response()
}

/// The page with a fresh CSRF cookie, never cached (it carries a token).
fn with_csrf(t: &impl Template, csrf: &str, status: StatusCode) -> Response {
    let mut res = render(t, status);
    if let Ok(v) = HeaderValue::from_str(&set_cookie(LOGIN_CSRF_COOKIE, csrf, false, Some(3600))) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

fn csrf_ok(headers: &HeaderMap, form_csrf: &str) -> bool {
    let jar = headers.get(header::COOKIE).and_then(|v| v.to_str().ok());
    same_token(
        cookie(jar, LOGIN_CSRF_COOKIE).unwrap_or_default(),
        form_csrf,
    )
}

fn expired_form() -> Response {
    (
        StatusCode::FORBIDDEN,
        "The form expired. Open the link from the e-mail again.",
    )
        .into_response()
}

/// Stores the browser session of a fresh login and sends the browser to the dashboard.
async fn land_signed_in(state: &PortalState, pair: TokenPair) -> Response {
    let value = match state
        .sessions
        .create(pair.access_token, pair.refresh_token, None)
        .await
    {
        Ok(v) => v,
        Err(e) => return unavailable(&e),
    };
    crate::session::signed_in_redirect(&value)
}

fn field_error(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        form: "",
        field: field.to_string(),
        message: message.into(),
    }
}

fn too_many(secs: u64) -> (FieldError, StatusCode, Option<u64>) {
    (
        field_error(
            "",
            format!("Too many attempts from your network. Try again in {secs} seconds."),
        ),
        StatusCode::TOO_MANY_REQUESTS,
        Some(secs),
    )
}

#[derive(Template)]
#[template(path = "onboarding/accept_invitation.html")]
struct OnboardingAcceptInvitationPage {
    csrf: String,
    token: String,
    /// Why the link cannot be used, if it cannot.
    dead: Option<&'static str>,
    email: String,
    tenant: String,
    role: String,
    existing: bool,
    totp: bool,
    name: String,
    error: FieldError,
}

async fn invitation_page(
    state: &PortalState,
    token: &str,
    name: &str,
    error: FieldError,
    status: StatusCode,
) -> Response {
    let link = match members::invitation_link(&state.ctx, token).await {
        Ok(l) => l,
        Err(e) => return unavailable(&e),
    };
    let csrf = random_alnum(32);
    let mut page = OnboardingAcceptInvitationPage {
        csrf: csrf.clone(),
        token: token.to_string(),
        dead: None,
        email: String::new(),
        tenant: String::new(),
        role: String::new(),
        existing: false,
        totp: false,
        name: name.to_string(),
        error,
    };
    let (dead, dead_status) = match link {
        InvitationLink::Valid {
            email,
            tenant,
            role,
            account,
        } => {
            page.email = email;
            page.tenant = tenant;
            page.role = role;
            page.existing = account.is_some();
            page.totp = account.unwrap_or(false);
            return with_csrf(&page, &csrf, status);
        }
        InvitationLink::Used => (
            "This invitation was accepted already. Sign in to use the account.",
            StatusCode::GONE,
        ),
        InvitationLink::Revoked => ("This invitation was withdrawn.", StatusCode::GONE),
        InvitationLink::Expired => ("This invitation has expired.", StatusCode::GONE),
        InvitationLink::Unknown => (
            "This invitation link is not valid. Check that the whole link was copied.",
            StatusCode::NOT_FOUND,
        ),
    };
    page.dead = Some(dead);
    page.tenant = "AgentVoiceBox".into();
    with_csrf(&page, &csrf, dead_status)
}

/// `GET /invitations/accept?token=` (public: the token is the credential).
pub async fn invitation_form(
    State(state): State<PortalState>,
    Query(q): Query<TokenQuery>,
) -> Response {
    invitation_page(&state, &q.token, "", FieldError::default(), StatusCode::OK).await
}

/// The invitation form (new account: name, password, confirm; existing: password, totp).
#[derive(Debug, Deserialize)]
pub struct InvitationForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    totp: String,
}

/// `POST /invitations/accept` (public: the token is the credential): joins, then lands signed in in the invitation's tenant.
pub async fn accept_invitation(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<InvitationForm>,
) -> Response {
    if !csrf_ok(&headers, &f.csrf) {
        return expired_form();
    }
    let existing = match members::invitation_link(&state.ctx, &f.token).await {
        Ok(InvitationLink::Valid { account, .. }) => account.is_some(),
        Ok(_) => {
            return invitation_page(&state, &f.token, "", FieldError::default(), StatusCode::OK)
                .await;
        }
        Err(e) => return unavailable(&e),
    };
    if !existing && f.password != f.confirm {
        let error = field_error("confirm", "The repeated password does not match.");
        return invitation_page(
            &state,
            &f.token,
            &f.name,
            error,
            StatusCode::UNPROCESSABLE_ENTITY,
        )
        .await;
    }
    let totp = f.totp.trim();
    let answer = if existing {
        InvitationAnswer::Existing {
            password: &f.password,
            totp: (!totp.is_empty()).then_some(totp),
        }
    } else {
        InvitationAnswer::NewAccount {
            name: &f.name,
            password: &f.password,
        }
    };
    let meta = meta(&state, &headers, peer);
    let (error, status, retry) =
        match local::accept_invitation_and_sign_in(&state.ctx, &f.token, answer, &meta).await {
            Ok(pair) => return land_signed_in(&state, pair).await,
            Err(CoreError::Validation(e)) => {
                let message = match e.field.as_str() {
                    "name" => format!("Name {}.", e.message),
                    "password" => format!("Password {}.", e.message),
                    "token" => "This invitation cannot be used any more.".to_string(),
                    _ => format!("{} {}.", e.field, e.message),
                };
                (
                    field_error(&e.field, message),
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                )
            }
            Err(CoreError::TotpRequired) => (
                field_error("totp", "Enter the code from your authenticator app."),
                StatusCode::UNAUTHORIZED,
                None,
            ),
            Err(CoreError::Unauthorized(_)) => (
                field_error("password", "Incorrect password or code."),
                StatusCode::UNAUTHORIZED,
                None,
            ),
            Err(CoreError::RateLimited(secs)) => too_many(secs),
            Err(CoreError::Conflict(m)) => (field_error("", m), StatusCode::CONFLICT, None),
            Err(CoreError::LimitReached(m)) => {
                (field_error("", m), StatusCode::PAYMENT_REQUIRED, None)
            }
            Err(e) => return unavailable(&e),
        };
    let mut res = invitation_page(&state, &f.token, &f.name, error, status).await;
    if let Some(secs) = retry {
        res.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    res
}

#[derive(Template)]
#[template(path = "onboarding/reset_password.html")]
struct OnboardingResetPasswordPage {
    csrf: String,
    token: String,
    dead: Option<&'static str>,
    done: bool,
    email: String,
    totp: bool,
    error: FieldError,
}

async fn reset_page(
    state: &PortalState,
    token: &str,
    error: FieldError,
    status: StatusCode,
) -> Response {
    let link = match local::reset_link(&state.ctx, token).await {
        Ok(l) => l,
        Err(e) => return unavailable(&e),
    };
    let csrf = random_alnum(32);
    let mut page = OnboardingResetPasswordPage {
        csrf: csrf.clone(),
        token: token.to_string(),
        dead: None,
        done: false,
        email: String::new(),
        totp: false,
        error,
    };
    let (dead, dead_status) = match link {
        ResetLink::Valid { email, totp } => {
            page.email = email;
            page.totp = totp;
            return with_csrf(&page, &csrf, status);
        }
        ResetLink::Used => (
            "This link was used already, or a newer reset link of the account was used.",
            StatusCode::GONE,
        ),
        ResetLink::Expired => (
            "This link has expired: reset links work for one hour.",
            StatusCode::GONE,
        ),
        ResetLink::Unknown => (
            "This link is not valid. Check that the whole link was copied.",
            StatusCode::NOT_FOUND,
        ),
    };
    page.dead = Some(dead);
    with_csrf(&page, &csrf, dead_status)
}

/// `GET /reset-password?token=` (public: the token is the credential).
pub async fn reset_form(State(state): State<PortalState>, Query(q): Query<TokenQuery>) -> Response {
    reset_page(&state, &q.token, FieldError::default(), StatusCode::OK).await
}

/// The new-password form.
#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    totp: String,
}

/// `POST /reset-password` (public: the token is the credential): sets the password, ends every session, lands signed in.
pub async fn reset(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<ResetForm>,
) -> Response {
    if !csrf_ok(&headers, &f.csrf) {
        return expired_form();
    }
    if f.password != f.confirm {
        let error = field_error("confirm", "The repeated password does not match.");
        return reset_page(&state, &f.token, error, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let meta = meta(&state, &headers, peer);
    match local::reset_password_and_sign_in(&state.ctx, &f.token, &f.password, &f.totp, &meta).await
    {
        Ok(Some(pair)) => land_signed_in(&state, pair).await,
        Ok(None) => {
            let page = OnboardingResetPasswordPage {
                csrf: String::new(),
                token: String::new(),
                dead: None,
                done: true,
                email: String::new(),
                totp: false,
                error: FieldError::default(),
            };
            render(&page, StatusCode::OK)
        }
        Err(CoreError::Validation(e)) => {
            let message = match e.field.as_str() {
                "password" => format!("New password {}.", e.message),
                "totp" => format!("Authenticator code {}.", e.message),
                _ => "This link cannot be used any more.".to_string(),
            };
            let error = field_error(&e.field, message);
            reset_page(&state, &f.token, error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => unavailable(&e),
    }
}
