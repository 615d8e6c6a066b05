//! The page for a path nothing serves (outside `/api` and `/v1`, which answer in their own
//! formats): the portal's look, a way back, no database work.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

/// The 404 page.
#[derive(Template)]
#[template(path = "errors/no_route.html")]
struct ErrorNoRoutePage;

/// Any path the portal, the API and the gateway do not serve. Anyone.
pub(crate) async fn page() -> Response {
    match ErrorNoRoutePage.render() {
        Ok(html) => (StatusCode::NOT_FOUND, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "404 page rendering failed");
            (StatusCode::NOT_FOUND, "Not found").into_response()
        }
    }
}
