//! `/account`: the signed-in user's own settings, for every role: profile, password change with
//! the policy's feedback, TOTP enrolment with a QR code, login history, and signing out other
//! sessions.

use crate::PortalState;
use crate::pages::{Chrome, Visitor, render, signed_in, signed_in_form};
use askama::Template;
use avb_core::CoreError;
use avb_core::identity::local;
use avb_core::services::{tenants, users};
use axum::extract::{ConnectInfo, Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

/// One login of the history.
pub struct LoginRow {
    pub at: String,
    pub ip: String,
    pub agent: String,
    pub outcome: String,
}

/// A form's error: which field and what is wrong.
#[derive(Default)]
pub struct FieldError {
    pub form: &'static str,
    pub field: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    local: bool,
    name: String,
    email: String,
    role: String,
    tenant: String,
    totp_on: bool,
    logins: Vec<LoginRow>,
    error: FieldError,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct AccountQuery {
    #[serde(default)]
    done: String,
}

fn unavailable(e: &CoreError) -> Response {
    tracing::error!(error = %e, "account page failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "Your account is unavailable right now. Retry in a moment.",
    )
        .into_response()
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: &str,
    error: FieldError,
    status: StatusCode,
) -> Response {
    let me = match users::me(&state.ctx, &v.scope).await {
        Ok(me) => me,
        Err(e) => return unavailable(&e),
    };
    let tenant = match tenants::current(&state.ctx, &v.scope).await {
        Ok(t) => t.map(|t| t.name).unwrap_or_else(|| "—".into()),
        Err(e) => return unavailable(&e),
    };
    let logins = if me.is_some() {
        let request = avb_core::PageRequest {
            limit: 10,
            after: None,
        };
        match users::my_logins(&state.ctx, &v.scope, request).await {
            Ok(p) => p
                .items
                .into_iter()
                .map(|l| LoginRow {
                    at: l.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    ip: l.ip,
                    agent: shorten(&l.user_agent, 80),
                    outcome: if l.success {
                        "signed in".into()
                    } else {
                        format!("refused ({})", l.reason)
                    },
                })
                .collect(),
            Err(e) => return unavailable(&e),
        }
    } else {
        Vec::new()
    };
    let role = if v.scope.is_saas_admin() {
        "saas_admin".to_string()
    } else {
        v.scope
            .role()
            .map(|r| r.as_str().to_string())
            .unwrap_or_default()
    };
    let page = AccountPage {
        chrome: v.chrome("/account", Some(done)),
        local: me.is_some(),
        name: me.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        email: me
            .as_ref()
            .map(|u| u.email.clone())
            .unwrap_or_else(|| v.scope.actor().label()),
        totp_on: me.as_ref().is_some_and(|u| u.totp_secret.is_some()),
        role,
        tenant,
        logins,
        error,
    };
    let mut res = render(&page, status);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `text` cut to `max` characters with an ellipsis.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{}…", cut.trim_end())
    }
}

/// `GET /account` (every signed-in user).
pub async fn show(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<AccountQuery>,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    page(&state, &v, &q.done, FieldError::default(), StatusCode::OK).await
}

/// The profile form.
#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /account/profile`.
pub async fn profile(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<ProfileForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    match local::rename(&state.ctx, &v.scope, &f.name).await {
        Ok(()) => Redirect::to("/account?done=settings_saved").into_response(),
        Err(CoreError::Validation(e)) => {
            let error = FieldError {
                form: "profile",
                field: e.field,
                message: e.message,
            };
            page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => unavailable(&e),
    }
}

/// The password form.
#[derive(Debug, Deserialize)]
pub struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /account/password`: checks the current password and the policy.
pub async fn password(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let refused = |field: &str, message: &str| FieldError {
        form: "password",
        field: field.to_string(),
        message: message.to_string(),
    };
    if f.new != f.confirm {
        let error = refused("confirm", "does not match the new password");
        return page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    match local::change_password(&state.ctx, &v.scope, &f.current, &f.new).await {
        Ok(()) => Redirect::to("/account?done=password_changed").into_response(),
        Err(CoreError::Validation(e)) => {
            let field = if e.field == "password" {
                "new"
            } else {
                "current"
            };
            let error = refused(field, &e.message);
            page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(CoreError::Unauthorized(m)) => {
            let error = refused("current", m);
            page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => unavailable(&e),
    }
}

#[derive(Template)]
#[template(path = "account_totp.html")]
struct TotpPage {
    chrome: Chrome,
    secret: String,
    qr_svg: String,
    /// Whether an authenticator is in use already (this replaces it).
    totp_on: bool,
    error: FieldError,
}

/// The otpauth URL as an SVG QR code (drawn with attributes only, no styles).
fn qr_svg(url: &str) -> Option<String> {
    let code = qrcode::QrCode::new(url.as_bytes()).ok()?;
    code.render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build()
        // An XML declaration is not valid inside HTML.
        .split_once("<svg")
        .map(|(_, rest)| format!("<svg{rest}"))
}

async fn totp_on(state: &PortalState, v: &Visitor) -> Result<bool, Response> {
    match users::me(&state.ctx, &v.scope).await {
        Ok(me) => Ok(me.is_some_and(|u| u.totp_secret.is_some())),
        Err(e) => Err(unavailable(&e)),
    }
}

fn totp_page(
    v: &Visitor,
    secret: String,
    totp_on: bool,
    error: FieldError,
    status: StatusCode,
) -> Response {
    let account = v.scope.actor().label();
    let url = format!(
        "otpauth://totp/AgentVoiceBox:{account}?secret={secret}&issuer=AgentVoiceBox&algorithm=SHA1&digits=6&period=30"
    );
    let page = TotpPage {
        chrome: v.chrome("/account", None),
        qr_svg: qr_svg(&url).unwrap_or_default(),
        secret,
        totp_on,
        error,
    };
    let mut res = render(&page, status);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /account/totp`: a fresh secret with its QR code and the confirmation form (which also
/// asks for the password, and for a code of the current authenticator when one is in use).
pub async fn totp_form(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    let v = match signed_in(&state, &headers, peer).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let on = match totp_on(&state, &v).await {
        Ok(on) => on,
        Err(r) => return r,
    };
    match local::totp_begin(&v.scope) {
        Ok((secret, _)) => totp_page(&v, secret, on, FieldError::default(), StatusCode::OK),
        Err(e) => unavailable(&e),
    }
}

/// The TOTP confirmation form.
#[derive(Debug, Deserialize)]
pub struct TotpForm {
    #[serde(default)]
    secret: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    current_code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /account/totp`: enables TOTP (or replaces the authenticator) once a code from the new
/// authenticator matches and the password (and current code, when on) are right.
pub async fn totp_enable(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<TotpForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let proof = local::FactorProof {
        password: &f.password,
        current_code: Some(f.current_code.trim()),
    };
    match local::totp_enable(&state.ctx, &v.scope, &f.secret, f.code.trim(), proof).await {
        Ok(()) => Redirect::to("/account?done=totp_enabled").into_response(),
        Err(CoreError::Validation(e)) => {
            let on = match totp_on(&state, &v).await {
                Ok(on) => on,
                Err(r) => return r,
            };
            let message = match e.field.as_str() {
                "code" => {
                    "That code does not match. Enter the current 6-digit code from the app.".into()
                }
                "password" => "The password is not correct.".into(),
                _ => format!("The code of your current authenticator {}.", e.message),
            };
            let error = FieldError {
                form: "totp",
                field: e.field,
                message,
            };
            totp_page(&v, f.secret, on, error, StatusCode::UNPROCESSABLE_ENTITY)
        }
        Err(e) => unavailable(&e),
    }
}

/// The form that turns TOTP off.
#[derive(Debug, Deserialize)]
pub struct TotpOffForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    current_code: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /account/totp/disable`: turns TOTP off with the password and a current code.
pub async fn totp_disable(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<TotpOffForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    let proof = local::FactorProof {
        password: &f.password,
        current_code: Some(f.current_code.trim()),
    };
    match local::totp_disable(&state.ctx, &v.scope, proof).await {
        Ok(()) | Err(CoreError::Conflict(_)) => {
            Redirect::to("/account?done=totp_disabled").into_response()
        }
        Err(CoreError::Validation(e)) => {
            let error = FieldError {
                form: "totp_off",
                field: e.field,
                message: e.message,
            };
            page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => unavailable(&e),
    }
}

/// `POST /account/sessions/end-others`.
pub async fn end_others(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<crate::pages::CsrfForm>,
) -> Response {
    let v = match signed_in_form(&state, &headers, peer, &f.csrf).await {
        Ok(v) => v,
        Err(refused) => return refused,
    };
    match local::end_other_sessions(&state.ctx, &v.scope).await {
        Ok(_) => Redirect::to("/account?done=sessions_ended").into_response(),
        Err(e) => unavailable(&e),
    }
}
