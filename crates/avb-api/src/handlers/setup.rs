//! First-run setup: the one-time URL printed by `avb serve` creates the first SaaS admin.

use crate::auth::Meta;
use crate::error::{ApiError, ApiResult};
use crate::router::AppState;
use avb_core::identity::local;
use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;

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

/// The portal pages' security headers on every `/setup` answer (form, errors, result): no
/// script, no framing, no MIME sniffing, no referrer to other sites.
pub async fn security_headers(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    use axum::http::{HeaderValue, header};
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

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(token: &str, error: Option<&str>) -> Html<String> {
    let error = error
        .map(|e| format!("<p role=\"alert\" class=\"error\">{}</p>", escape(e)))
        .unwrap_or_default();
    Html(format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>AgentVoiceBox setup</title>
<style>{STYLE}</style></head>
<body><h1>Create the first administrator</h1>
<p>This page works once. The password needs 12+ characters and three of: lower case, upper case, digit, symbol.</p>{error}
<form method="post" action="/setup"><input type="hidden" name="token" value="{token}">
<label for="email">E-mail</label><input id="email" name="email" type="email" required autocomplete="username">
<label for="name">Name</label><input id="name" name="name" required autocomplete="name">
<label for="password">Password</label><input id="password" name="password" type="password" required minlength="12" autocomplete="new-password">
<button type="submit">Create administrator</button></form></body></html>"#,
        token = escape(token),
        STYLE = STYLE
    ))
}

/// `GET /setup?token=...`: the setup form.
pub async fn form(Query(q): Query<TokenQuery>) -> Response {
    match q.token.filter(|t| !t.is_empty()) {
        Some(t) => page(&t, None).into_response(),
        None => (
            StatusCode::BAD_REQUEST,
            page("", Some("The setup link is missing its token.")),
        )
            .into_response(),
    }
}

/// `POST /setup`: creates the first SaaS admin (form post or JSON).
pub async fn submit(
    State(state): State<AppState>,
    Meta(meta): Meta,
    Form(f): Form<SetupForm>,
) -> ApiResult<Response> {
    match local::complete_setup(&state.ctx, &f.token, &f.email, &f.name, &f.password, &meta).await {
        Ok(_) => Ok(Html(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Setup complete</title></head><body><h1>Setup complete</h1><p>The administrator account exists. Sign in with <code>POST /api/v1/auth/token</code>.</p></body></html>",
        )
        .into_response()),
        Err(avb_core::CoreError::Validation(v)) => {
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page(&f.token, Some(&v.to_string()))).into_response())
        }
        Err(e) => Err(ApiError::from(e)),
    }
}
