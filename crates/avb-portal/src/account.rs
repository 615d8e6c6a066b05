//! `/account`: the signed-in user's own settings, for every role: profile, password change with
//! the policy's feedback, TOTP enrolment with a QR code, login history, and signing out other
//! sessions.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Visitor, has_csrf};
use askama::Template;
use avb_core::CoreError;
use avb_core::identity::local;
use avb_core::services::{tenants, users};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

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
#[template(path = "account/show.html")]
struct AccountShowPage {
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

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: &str,
    error: FieldError,
    status: StatusCode,
) -> Result<Response, PageError> {
    let me = users::me(&state.ctx, &v.scope).await?;
    let tenant = tenants::current(&state.ctx, &v.scope)
        .await?
        .map(|t| t.name)
        .unwrap_or_else(|| "—".into());
    let logins = if me.is_some() {
        let request = avb_core::PageRequest {
            limit: 10,
            after: None,
        };
        users::my_logins(&state.ctx, &v.scope, request)
            .await?
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
            .collect()
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
    let page = AccountShowPage {
        chrome: v.chrome("/account", Some(done)),
        local: me.is_some(),
        name: me.as_ref().map(|u| u.name.clone()).unwrap_or_default(),
        email: me
            .as_ref()
            .map(|u| u.email.clone())
            .unwrap_or_else(|| v.scope.actor().label()),
        totp_on: me.as_ref().is_some_and(|u| u.totp_enabled),
        role,
        tenant,
        logins,
        error,
    };
    let mut res = render(&page, status);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
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

/// `GET /account` (requires signing in, no permission).
pub async fn show(
    State(state): State<PortalState>,
    v: Visitor,
    Query(q): Query<AccountQuery>,
) -> Result<Response, PageError> {
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
has_csrf!(ProfileForm);

/// `POST /account/profile` (requires signing in, no permission).
pub async fn profile(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<ProfileForm>,
) -> Result<Response, PageError> {
    match local::rename(&state.ctx, &v.scope, &f.name).await {
        Ok(()) => Ok(Redirect::to("/account?done=settings_saved").into_response()),
        Err(CoreError::Validation(e)) => {
            let error = FieldError {
                form: "profile",
                field: e.field,
                message: e.message,
            };
            page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
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
has_csrf!(PasswordForm);

/// `POST /account/password` (requires signing in, no permission): checks the current password and the policy.
pub async fn password(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<PasswordForm>,
) -> Result<Response, PageError> {
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
        Ok(()) => Ok(Redirect::to("/account?done=password_changed").into_response()),
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
        Err(e) => Err(e.into()),
    }
}

#[derive(Template)]
#[template(path = "account/totp.html")]
struct AccountTotpPage {
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

async fn totp_on(state: &PortalState, v: &Visitor) -> Result<bool, PageError> {
    let me = users::me(&state.ctx, &v.scope).await?;
    Ok(me.is_some_and(|u| u.totp_enabled))
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
    let page = AccountTotpPage {
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

/// `GET /account/totp` (requires signing in, no permission): a fresh secret with its QR code and the confirmation form (which also
/// asks for the password, and for a code of the current authenticator when one is in use).
pub async fn totp_form(
    State(state): State<PortalState>,
    v: Visitor,
) -> Result<Response, PageError> {
    if keycloak_holds_accounts(&state) {
        let page = KeycloakTotpPage {
            chrome: v.chrome("/account", None),
        };
        return Ok(render(&page, StatusCode::OK));
    }
    let on = totp_on(&state, &v).await?;
    match local::totp_begin(&v.scope) {
        Ok((secret, _)) => Ok(totp_page(
            &v,
            secret,
            on,
            FieldError::default(),
            StatusCode::OK,
        )),
        Err(e) => Err(e.into()),
    }
}

/// Keycloak holds the portal's accounts (its admin client is configured).
fn keycloak_holds_accounts(state: &PortalState) -> bool {
    state.ctx.config.identity.provider == avb_core::config::IdentityProvider::Keycloak
        && state.ctx.keycloak_admin.is_some()
}

#[derive(Template)]
#[template(path = "account/totp_keycloak.html")]
struct KeycloakTotpPage {
    chrome: Chrome,
}

/// `POST /account/totp/keycloak` (requires signing in): Keycloak's `CONFIGURE_TOTP` required
/// action, completed at the next sign-in (audited).
pub async fn totp_keycloak(
    State(state): State<PortalState>,
    CsrfForm(v, _): CsrfForm<crate::extract::CsrfOnly>,
) -> Result<Response, PageError> {
    avb_core::identity::keycloak_account::require_totp(&state.ctx, &v.scope).await?;
    Ok(Redirect::to("/account?done=totp_keycloak").into_response())
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
has_csrf!(TotpForm);

/// `POST /account/totp` (requires signing in, no permission): enables TOTP (or replaces the authenticator) once a code from the new
/// authenticator matches and the password (and current code, when on) are right.
pub async fn totp_enable(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<TotpForm>,
) -> Result<Response, PageError> {
    let proof = local::FactorProof {
        password: &f.password,
        current_code: Some(f.current_code.trim()),
    };
    match local::totp_enable(&state.ctx, &v.scope, &f.secret, f.code.trim(), proof).await {
        Ok(()) => Ok(Redirect::to("/account?done=totp_enabled").into_response()),
        Err(CoreError::Validation(e)) => {
            let on = totp_on(&state, &v).await?;
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
            Ok(totp_page(
                &v,
                f.secret,
                on,
                error,
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(e) => Err(e.into()),
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
has_csrf!(TotpOffForm);

/// `POST /account/totp/disable` (requires signing in, no permission): turns TOTP off with the password and a current code.
pub async fn totp_disable(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<TotpOffForm>,
) -> Result<Response, PageError> {
    let proof = local::FactorProof {
        password: &f.password,
        current_code: Some(f.current_code.trim()),
    };
    match local::totp_disable(&state.ctx, &v.scope, proof).await {
        Ok(()) | Err(CoreError::Conflict(_)) => {
            Ok(Redirect::to("/account?done=totp_disabled").into_response())
        }
        Err(CoreError::Validation(e)) => {
            let error = FieldError {
                form: "totp_off",
                field: e.field,
                message: e.message,
            };
            page(&state, &v, "", error, StatusCode::UNPROCESSABLE_ENTITY).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /account/sessions/end-others` (requires signing in, no permission).
pub async fn end_others(
    State(state): State<PortalState>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    match local::end_other_sessions(&state.ctx, &v.scope).await {
        Ok(_) => Ok(Redirect::to("/account?done=sessions_ended").into_response()),
        Err(e) => Err(e.into()),
    }
}
