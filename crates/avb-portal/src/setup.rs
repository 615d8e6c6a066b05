//! First-run setup: the one-time URL `avb serve` prints (`/setup?token=`) creates the first
//! SaaS admin. The page stands alone (no portal chrome, no script): the only style is inline and
//! admitted by its hash. The one-time token in the form is what a forged post cannot know, so
//! the form needs no CSRF cookie (the `avb` CLI's printed link works in a fresh browser).

use crate::PortalState;
use askama::Template;
use avb_core::identity::local;
use avb_core::{CoreError, RequestMeta};
use axum::Router;
use axum::extract::{ConnectInfo, Form, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use std::net::SocketAddr;

/// `GET /setup` and `POST /setup`, with the page's own security headers (registered after the
/// portal's layers, whose CSP would admit the portal's script and style sheet).
pub(crate) fn routes() -> Router<PortalState> {
    Router::new().route(
        "/setup",
        get(form)
            .post(submit)
            .layer(axum::middleware::from_fn(security_headers)),
    )
}

/// `?token=` of the setup URL.
#[derive(Debug, Deserialize)]
pub struct TokenQuery {
    token: Option<String>,
}

/// The setup form fields.
#[derive(Debug, Deserialize)]
pub struct SetupForm {
    token: String,
    email: String,
    name: String,
    password: String,
}

/// The page's only style, inline; the CSP admits it by hash and nothing else.
const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#111}label{display:block;margin-top:1rem;font-weight:600}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}button{margin-top:1.5rem;padding:.6rem 1.2rem;font-size:1rem;background:#1d4ed8;color:#fff;border:0;border-radius:.3rem}.error{color:#b91c1c}";

/// The form, with the reason a post was refused.
#[derive(Template)]
#[template(path = "setup/form.html")]
struct SetupFormPage<'a> {
    style: &'static str,
    token: &'a str,
    error: Option<String>,
}

/// The administrator exists.
#[derive(Template)]
#[template(path = "setup/done.html")]
struct SetupDonePage {
    style: &'static str,
}

fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "setup page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

fn form_page(token: &str, error: Option<String>, status: StatusCode) -> Response {
    let page = SetupFormPage {
        style: STYLE,
        token,
        error,
    };
    render(&page, status)
}

/// The portal pages' security headers on every `/setup` answer (form, errors, result): no
/// script, no framing, no MIME sniffing, no referrer to other sites, never cached.
async fn security_headers(req: Request, next: Next) -> Response {
    use base64::Engine as _;
    use sha2::Digest as _;
    static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE));
        format!(
            "default-src 'none'; style-src 'sha256-{hash}'; frame-ancestors 'none'; \
             form-action 'self'; base-uri 'none'"
        )
    });
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    if let Ok(csp) = HeaderValue::from_str(&CSP) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// `GET /setup?token=...`: the setup form. Anyone holding the printed link.
async fn form(Query(q): Query<TokenQuery>) -> Response {
    match q.token.filter(|t| !t.is_empty()) {
        Some(t) => form_page(&t, None, StatusCode::OK),
        None => form_page(
            "",
            Some("The setup link is missing its token.".into()),
            StatusCode::BAD_REQUEST,
        ),
    }
}

/// Request facts for the audit row: the client address (through trusted proxies), the user
/// agent, the request id.
fn meta(state: &PortalState, headers: &HeaderMap, peer: SocketAddr) -> RequestMeta {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    };
    let ip = avb_core::identity::throttle::client_ip(
        peer.ip(),
        headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()),
        &state.ctx.config.server.trusted_proxies,
    );
    RequestMeta {
        ip: ip.to_string(),
        user_agent: header("user-agent").chars().take(256).collect(),
        request_id: header("x-request-id").chars().take(64).collect(),
    }
}

/// `POST /setup`: creates the first SaaS admin. Anyone holding the one-time token.
async fn submit(
    State(state): State<PortalState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(f): Form<SetupForm>,
) -> Response {
    let meta = meta(&state, &headers, peer);
    let refused = |message: String, status| form_page(&f.token, Some(message), status);
    match local::complete_setup(&state.ctx, &f.token, &f.email, &f.name, &f.password, &meta).await {
        Ok(_) => render(&SetupDonePage { style: STYLE }, StatusCode::OK),
        Err(CoreError::Validation(v)) => refused(v.to_string(), StatusCode::UNPROCESSABLE_ENTITY),
        Err(CoreError::Conflict(m)) => refused(format!("Not done: {m}."), StatusCode::CONFLICT),
        Err(CoreError::RateLimited(secs)) => {
            let mut res = refused(
                format!("Too many attempts. Try again in {secs} seconds."),
                StatusCode::TOO_MANY_REQUESTS,
            );
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                res.headers_mut().insert(header::RETRY_AFTER, v);
            }
            res
        }
        Err(e) => {
            let status = match e {
                CoreError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            };
            tracing::error!(error = %e, "setup failed");
            refused(
                "The administrator could not be created. Retry in a moment.".into(),
                status,
            )
        }
    }
}
