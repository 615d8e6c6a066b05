//! The web portal: server-rendered pages over the same services as `/api/v1`. A browser signs
//! in with a form (the local identity provider), gets an HttpOnly session cookie, and every
//! page builds its `Scope` from the server-side tokens exactly as the API does for a bearer.
//!
//! This first slice has the login, the session, the shell with role-based navigation and the
//! dashboard; the other pages of the portal issue build on it.

mod api_keys;
mod assets;
mod pages;
mod projects;
pub mod session;

use avb_core::AppContext;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// State of the portal routes.
#[derive(Clone)]
pub struct PortalState {
    /// Platform services.
    pub ctx: AppContext,
    /// Browser sessions.
    pub sessions: Arc<session::Sessions>,
}

/// The portal's routes (`/`, `/login`, `/logout`, `/dashboard`, `/projects`, `/api-keys`, `/assets/*`).
pub fn router(ctx: AppContext) -> Router {
    Router::new()
        .route("/", get(pages::home))
        .route("/login", get(pages::login_form).post(pages::login))
        .route("/logout", axum::routing::post(pages::logout))
        .route("/dashboard", get(pages::dashboard))
        .route("/projects", get(projects::list).post(projects::create))
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route(
            "/api-keys/{id}/revoke",
            get(api_keys::confirm_revoke).post(api_keys::revoke),
        )
        .route("/assets/{name}", get(assets::serve))
        .layer(axum::middleware::from_fn(pages::security_headers))
        .with_state(PortalState {
            ctx,
            sessions: Arc::default(),
        })
}
