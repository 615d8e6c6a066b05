//! The one HTTP application: `/api/v1`, the portal pages, the realtime gateway (REST and the
//! WebSocket upgrade), each wrapped by the same request id, tracing, body limit, HTTP metrics
//! and security headers; unknown paths answer in the language of their prefix.

use avb_core::AppContext;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::{Next, from_fn};
use axum::response::Response;
use axum::routing::any;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, TraceLayer};

/// The request id header: kept when the client sends one, made (a UUID) when it does not, and
/// echoed on the answer.
const REQUEST_ID: &str = "x-request-id";

/// Every route of one `avb` process. Unknown paths: problem+json under `/api`, the OpenAI error
/// envelope under `/v1` (what Realtime SDK clients parse), the portal's HTML 404 page anywhere
/// else. Requests that reached the platform over HTTPS ([`Https`]: the TLS listener, or an
/// `https://` public URL) get HSTS and `Secure` cookies.
pub fn app(ctx: AppContext) -> Router {
    let body_limit = ctx.config.server.body_limit_bytes;
    let https = ctx.config.public_url().starts_with("https://");
    let request_id = HeaderName::from_static(REQUEST_ID);
    let app = avb_api::router(ctx.clone())
        .merge(avb_gateway::router(ctx.clone()))
        .merge(avb_portal::router(ctx))
        .route("/api", any(avb_api::router::not_found))
        .route("/api/{*rest}", any(avb_api::router::not_found))
        .route("/v1", any(avb_gateway::not_found))
        .route("/v1/{*rest}", any(avb_gateway::not_found))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(from_fn(crate::http_metrics::track))
        .layer(from_fn(baseline_headers))
        .layer(from_fn(transport_security))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req
                        .headers()
                        .get(REQUEST_ID)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    // The path only: query strings carry one-time tokens.
                    tracing::info_span!(
                        "http",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id = %id,
                    )
                })
                // Handlers log the cause of a failure once; the status alone adds nothing.
                .on_failure(DefaultOnFailure::new().level(tracing::Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid));
    if https {
        app.layer(axum::Extension(Https))
    } else {
        app
    }
}

/// Marks a request that reached the platform over HTTPS: set by the TLS listener on each of its
/// requests, and on every request by [`app`] when the platform's public URL is `https://` (TLS
/// ends at a proxy in front).
#[derive(Debug, Clone, Copy)]
pub struct Https;

/// `Strict-Transport-Security` on HTTPS responses: one year.
const HSTS: &str = "max-age=31536000";

/// The headers every answer carries unless its route set its own (the portal's pages set a
/// stricter set, with their CSP): no MIME sniffing, no framing, no referrer to other sites.
async fn baseline_headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    for (name, value) in [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
    ] {
        h.entry(name).or_insert(HeaderValue::from_static(value));
    }
    res
}

/// HSTS and `Secure` on every cookie for requests that came over HTTPS.
async fn transport_security(req: Request, next: Next) -> Response {
    let https = req.extensions().get::<Https>().is_some();
    let mut res = next.run(req).await;
    if !https {
        return res;
    }
    let headers = res.headers_mut();
    headers.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static(HSTS),
    );
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .iter()
        .cloned()
        .collect();
    if !cookies.is_empty() {
        headers.remove(header::SET_COOKIE);
        for c in cookies {
            headers.append(header::SET_COOKIE, secure_cookie(c));
        }
    }
    res
}

/// A `Set-Cookie` value with the `Secure` attribute (unchanged when it already has it).
fn secure_cookie(c: HeaderValue) -> HeaderValue {
    let Ok(text) = c.to_str() else {
        return c;
    };
    let has_secure = text
        .split(';')
        .skip(1)
        .any(|a| a.trim().eq_ignore_ascii_case("secure"));
    if has_secure {
        return c;
    }
    HeaderValue::from_str(&format!("{text}; Secure")).unwrap_or(c)
}
