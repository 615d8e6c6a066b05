//! Static assets embedded in the binary (the stylesheet, pinned htmx, the portal's small
//! script, the favicon), served under content-hashed names with immutable caching.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// One embedded file.
struct Asset {
    stem: &'static str,
    ext: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        stem: "app",
        ext: "css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/app.css"),
    },
    Asset {
        stem: "htmx",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/htmx-2.0.4.min.js"),
    },
    Asset {
        stem: "portal",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/portal.js"),
    },
    Asset {
        stem: "playground",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/playground.js"),
    },
    Asset {
        stem: "playground-worklet",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/playground-worklet.js"),
    },
    Asset {
        stem: "stripe-setup",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/stripe-setup.js"),
    },
    Asset {
        stem: "uplot",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/uplot-1.6.32.min.js"),
    },
    Asset {
        stem: "uplot",
        ext: "css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("../assets/uplot-1.6.32.min.css"),
    },
    Asset {
        stem: "charts",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/charts.js"),
    },
    Asset {
        stem: "wakeword-test",
        ext: "js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("../assets/wakeword-test.js"),
    },
    Asset {
        stem: "favicon",
        ext: "svg",
        content_type: "image/svg+xml",
        body: include_str!("../assets/favicon.svg"),
    },
];

/// `<stem>-<first 12 hex of sha256>.<ext>` for each asset, in `ASSETS` order.
static NAMES: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS
        .iter()
        .map(|a| {
            let digest = hex::encode(Sha256::digest(a.body.as_bytes()));
            format!("{}-{}.{}", a.stem, &digest[..12], a.ext)
        })
        .collect()
});

fn url_of(stem: &str) -> String {
    url_of_ext(stem, "")
}

/// The URL of the asset `stem` with extension `ext` (any extension when empty).
fn url_of_ext(stem: &str, ext: &str) -> String {
    ASSETS
        .iter()
        .zip(NAMES.iter())
        .find(|(a, _)| a.stem == stem && (ext.is_empty() || a.ext == ext))
        .map(|(_, name)| format!("/assets/{name}"))
        .unwrap_or_default()
}

/// The stylesheet's URL.
pub fn css_url() -> String {
    url_of("app")
}

/// htmx's URL.
pub fn htmx_url() -> String {
    url_of("htmx")
}

/// The portal script's URL (toasts, copy buttons, confirmations, offline indicator).
pub fn script_url() -> String {
    url_of("portal")
}

/// The playground page's script (only that page references it).
pub fn playground_url() -> String {
    url_of("playground")
}

/// The payment page's script (mounts Stripe Elements and confirms the SetupIntent).
pub fn stripe_setup_url() -> String {
    url_of("stripe-setup")
}

/// The playground's audio worklet (loaded by the playground script with `addModule`).
pub fn playground_worklet_url() -> String {
    url_of("playground-worklet")
}

/// uPlot's script (pages with time-series charts).
pub fn uplot_url() -> String {
    url_of_ext("uplot", "js")
}

/// uPlot's stylesheet.
pub fn uplot_css_url() -> String {
    url_of_ext("uplot", "css")
}

/// The chart script that draws `<figure class="chart">` data islands with uPlot.
pub fn charts_url() -> String {
    url_of_ext("charts", "js")
}

/// The wake-word page's recording test.
pub fn wakeword_test_url() -> String {
    url_of("wakeword-test")
}

/// The favicon's URL (linked from every page, so browsers never ask for `/favicon.ico`).
pub fn favicon_url() -> String {
    url_of("favicon")
}

/// `GET /assets/{name}` (public: no sign-in).
pub async fn serve(Path(name): Path<String>) -> Response {
    match NAMES.iter().position(|n| *n == name) {
        Some(i) => (
            [
                (header::CONTENT_TYPE, ASSETS[i].content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            ASSETS[i].body,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
