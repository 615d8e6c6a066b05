//! Middleware every portal answer goes through: security headers, and the requested path for
//! the audit of impersonated page views.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Strict CSP (no inline script or style, nothing from elsewhere) and friends on every page.
/// Handlers cannot loosen it by accident: only the payment page sets its own.
pub async fn security_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    // A page that needs more (the payment page admits Stripe's origins) sets its own.
    h.entry(header::CONTENT_SECURITY_POLICY)
        .or_insert(HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ));
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

/// The internal header carrying the requested path to page handlers (for audit rows); any
/// value a client sends is replaced.
pub(crate) const PAGE_PATH: &str = "x-avb-page-path";

/// Records the request path for [`crate::visitor`] (impersonated page views are audited with it).
pub async fn remember_path(mut req: Request, next: Next) -> Response {
    let path: String = req.uri().path().chars().take(200).collect();
    if let Ok(v) = HeaderValue::from_str(&path) {
        req.headers_mut().insert(PAGE_PATH, v);
    }
    next.run(req).await
}
