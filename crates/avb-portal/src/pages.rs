//! Page handlers: login, logout, dashboard, and the security headers every page gets.

use crate::PortalState;
use crate::session::{LOGIN_CSRF_COOKIE, SESSION_COOKIE, cookie, same_token, set_cookie};
use askama::Template;
use avb_core::identity::local::{self, LoginInput};
use avb_core::token::random_alnum;
use avb_core::{CoreError, RequestMeta, Scope};
use avb_domain::Permission;
use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::SocketAddr;

/// Strict CSP (no inline script or style, nothing from elsewhere) and friends on every page.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    res
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

fn cookie_header(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::COOKIE).and_then(|v| v.to_str().ok())
}

pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

/// A signed-in browser: its scope and session.
pub(crate) struct Visitor {
    pub scope: Scope,
    pub csrf: String,
    /// The tenant name when a SaaS admin is viewing a tenant read-only.
    pub impersonating: Option<String>,
}

/// The internal header carrying the requested path to page handlers (for audit rows); any
/// value a client sends is replaced.
pub(crate) const PAGE_PATH: &str = "x-avb-page-path";

/// Records the request path for [`visitor`] (impersonated page views are audited with it).
pub async fn remember_path(mut req: Request, next: Next) -> Response {
    let path: String = req.uri().path().chars().take(200).collect();
    if let Ok(v) = HeaderValue::from_str(&path) {
        req.headers_mut().insert(PAGE_PATH, v);
    }
    next.run(req).await
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

/// Why a page cannot be shown to the browser as it is.
pub(crate) enum NotSignedIn {
    /// No session: sign in.
    Anonymous,
    /// The session ended (tokens expired and could not be refreshed).
    Expired,
}

/// The visitor behind the session cookie; refreshes the access token when it expired.
pub(crate) async fn visitor(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Visitor, NotSignedIn> {
    let (scope, session) = own_scope(state, headers, peer).await?;
    Ok(finish(state, headers, scope, &session).await)
}

/// The signed-in user as themselves (never the read-only view of a tenant), with the session;
/// refreshes the access token when it expired.
async fn own_scope(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<(Scope, crate::session::BrowserSession), NotSignedIn> {
    let cookie_value =
        cookie(cookie_header(headers), SESSION_COOKIE).ok_or(NotSignedIn::Anonymous)?;
    let session = state
        .sessions
        .get(cookie_value)
        .await
        .ok_or(NotSignedIn::Expired)?;
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
                        return Err(NotSignedIn::Expired);
                    }
                }
            }
            let pair = match local::refresh(&state.ctx, &session.refresh_token).await {
                Ok(p) => p,
                Err(_) => {
                    state.sessions.remove(cookie_value).await;
                    return Err(NotSignedIn::Expired);
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
                return Err(NotSignedIn::Expired);
            }
            let scope =
                avb_core::identity::authenticate_bearer(&state.ctx, &pair.access_token, meta)
                    .await
                    .map_err(|_| NotSignedIn::Expired)?;
            Ok((scope, session))
        }
    }
}

/// The signed-in user as themselves, whatever tenant they are viewing, with that tenant and
/// the form's CSRF check: for signing out and for leaving a read-only view (neither is a page
/// of the tenant to audit, and both must work while viewing).
pub(crate) async fn signed_in_self(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
    csrf: &str,
) -> Result<(Scope, Option<avb_domain::TenantId>), Response> {
    let (scope, session) = own_scope(state, headers, peer).await.map_err(to_login)?;
    if !same_token(&session.csrf, csrf) {
        return Err((
            StatusCode::FORBIDDEN,
            "The form expired. Reload the page and try again.",
        )
            .into_response());
    }
    Ok((scope, session.impersonating))
}

/// The signed-in visitor, or the redirect to the login page.
pub(crate) async fn signed_in(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Visitor, Response> {
    visitor(state, headers, peer).await.map_err(to_login)
}

/// The signed-in visitor of a form post whose `csrf` field matches the session's token, or the
/// response that refuses it (login redirect, or 403 for a stale or forged form).
pub(crate) async fn signed_in_form(
    state: &PortalState,
    headers: &HeaderMap,
    peer: SocketAddr,
    csrf: &str,
) -> Result<Visitor, Response> {
    let v = signed_in(state, headers, peer).await?;
    if v.impersonating.is_some() {
        return Err((
            StatusCode::FORBIDDEN,
            "You are viewing this tenant read-only: nothing can be changed while impersonating.",
        )
            .into_response());
    }
    if !same_token(&v.csrf, csrf) {
        return Err((
            StatusCode::FORBIDDEN,
            "The form expired. Reload the page and try again.",
        )
            .into_response());
    }
    Ok(v)
}

pub(crate) fn to_login(why: NotSignedIn) -> Response {
    match why {
        NotSignedIn::Anonymous => Redirect::to("/login").into_response(),
        NotSignedIn::Expired => Redirect::to("/login?expired=1").into_response(),
    }
}

/// `GET /`: the dashboard for a signed-in browser, else the login page.
pub async fn home(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    match visitor(&state, &headers, peer).await {
        Ok(_) => Redirect::to("/dashboard").into_response(),
        Err(why) => to_login(why),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
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
    let page = LoginPage {
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

/// `GET /login`.
pub async fn login_form(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    if visitor(&state, &headers, peer).await.is_ok() {
        return Redirect::to("/dashboard").into_response();
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

/// `POST /login`: checks the form's CSRF token against its cookie, then signs in.
pub async fn login(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
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
            let mut res = Redirect::to("/dashboard").into_response();
            for c in [
                set_cookie(SESSION_COOKIE, &value, false, None),
                set_cookie(LOGIN_CSRF_COOKIE, "", false, Some(0)),
            ] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    res.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            res
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

/// A form that carries only the CSRF field (confirmations, row actions, logout).
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /logout`: ends the server session and the browser session.
pub async fn logout(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    let scope = match signed_in_self(&state, &headers, peer, &form.csrf).await {
        Ok((scope, _)) => scope,
        Err(refused) => return refused,
    };
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

/// One navigation entry: a link, or a disabled item naming the permission it needs.
pub struct NavItem {
    pub label: &'static str,
    pub href: &'static str,
    pub icon: &'static str,
    pub current: bool,
    /// The permission the visitor lacks for this page (`None`: the link works).
    pub needs: Option<&'static str>,
}

/// The portal's pages in navigation order: label, path, icon, and the permission that opens it
/// (`None`: everyone signed in).
const NAV: &[(&str, &str, &str, Option<Permission>)] = &[
    ("Dashboard", "/dashboard", "◧", None),
    ("Sessions", "/sessions", "☏", Some(Permission::SessionsView)),
    ("Projects", "/projects", "▤", Some(Permission::ProjectsView)),
    ("API keys", "/api-keys", "⚷", Some(Permission::ApiKeysView)),
    ("Usage", "/usage", "▥", Some(Permission::UsageView)),
    ("Team", "/team", "☺", Some(Permission::TeamView)),
    (
        "Settings",
        "/settings",
        "⚙",
        Some(Permission::SettingsManage),
    ),
    ("Account", "/account", "◉", None),
];

/// The SaaS admin's pages.
const ADMIN_NAV: &[(&str, &str, &str, Option<Permission>)] = &[
    ("Overview", "/admin", "◧", Some(Permission::PlatformTenants)),
    (
        "Tenants",
        "/admin/tenants",
        "▤",
        Some(Permission::PlatformTenants),
    ),
    (
        "Users",
        "/admin/users",
        "☺",
        Some(Permission::PlatformUsers),
    ),
    (
        "Audit",
        "/admin/audit",
        "☰",
        Some(Permission::PlatformAudit),
    ),
    (
        "Monitoring",
        "/admin/monitoring",
        "♥",
        Some(Permission::PlatformTenants),
    ),
    ("Account", "/account", "◉", None),
];

/// What every signed-in page's shell shows: navigation, the logout form's token, who is signed
/// in, and a toast after a completed action.
pub struct Chrome {
    pub nav: Vec<NavItem>,
    pub csrf: String,
    pub who: String,
    pub toast: Option<&'static str>,
    /// The tenant a SaaS admin is viewing read-only (shown in a banner with a way out).
    pub impersonating: Option<String>,
}

/// The message of a `?done=<code>` toast; unknown codes show nothing (no reflected text).
fn toast_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "project_created" => "Project created.",
        "key_revoked" => "Key revoked.",
        "session_ended" => "Session ended.",
        "invited" => "Invitation sent.",
        "role_changed" => "Role changed.",
        "member_removed" => "Member removed.",
        "invitation_revoked" => "Invitation revoked.",
        "settings_saved" => "Settings saved.",
        "password_changed" => "Password changed. Your other sessions were signed out.",
        "totp_enabled" => "Two-factor authentication is on.",
        "totp_disabled" => "Two-factor authentication is off.",
        "sessions_ended" => "Your other sessions were signed out.",
        "webhook_created" => "Webhook endpoint added.",
        "webhook_deleted" => "Webhook endpoint removed.",
        "suspended" => "Tenant suspended: its keys and live sessions stopped.",
        "reactivated" => "Tenant reactivated: its keys work again.",
        "user_disabled" => "User disabled and signed out everywhere.",
        "user_enabled" => "User enabled.",
        "reset_sent" => "Password reset e-mail queued.",
        "rule_created" => "Alert rule added.",
        "rule_deleted" => "Alert rule deleted.",
        _ => return None,
    })
}

impl Visitor {
    /// The shell of the page at `current`, with the toast for `done` if any.
    pub fn chrome(&self, current: &str, done: Option<&str>) -> Chrome {
        Chrome {
            nav: nav(&self.scope, current),
            csrf: self.csrf.clone(),
            who: self.scope.actor().label(),
            toast: done.and_then(toast_message),
            impersonating: self.impersonating.clone(),
        }
    }
}

#[derive(Template)]
#[template(path = "forbidden.html")]
struct ForbiddenPage {
    chrome: Chrome,
    permission: &'static str,
}

/// The 403 page naming the missing permission.
pub(crate) fn forbidden(v: &Visitor, permission: Permission) -> Response {
    let page = ForbiddenPage {
        chrome: v.chrome("", None),
        permission: permission.as_str(),
    };
    render(&page, StatusCode::FORBIDDEN)
}

pub(crate) fn nav(scope: &Scope, current: &str) -> Vec<NavItem> {
    let table = if scope.is_saas_admin() && scope.tenant().is_none() {
        ADMIN_NAV
    } else {
        NAV
    };
    table
        .iter()
        .map(|(label, href, icon, perm)| NavItem {
            label,
            href,
            icon,
            current: *href == current,
            needs: perm.filter(|p| !scope.has(*p)).map(|p| p.as_str()),
        })
        .collect()
}
