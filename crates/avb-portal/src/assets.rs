//! Static assets embedded in the binary, served under content-hashed names with long caching.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

const APP_CSS: &str = include_str!("../assets/app.css");

/// `app-<first 12 hex of sha256>.css`.
static CSS_NAME: LazyLock<String> = LazyLock::new(|| {
    let digest = hex::encode(Sha256::digest(APP_CSS.as_bytes()));
    format!("app-{}.css", &digest[..12])
});

/// The stylesheet's URL.
pub fn css_url() -> String {
    format!("/assets/{}", *CSS_NAME)
}

/// `GET /assets/{name}`.
pub async fn serve(Path(name): Path<String>) -> Response {
    if name == *CSS_NAME {
        (
            [
                (header::CONTENT_TYPE, "text/css; charset=utf-8"),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            APP_CSS,
        )
            .into_response()
    } else {
        StatusCode::NOT_FOUND.into_response()
    }
}
