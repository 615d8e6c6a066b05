//! The OpenAI-Realtime-compatible gateway: `GET /v1/realtime` upgrades to a WebSocket that speaks
//! the beta or GA dialect, authenticated by an API key with the `realtime` scope.

mod audio;
mod connect;
mod conversation;
mod emitter;
mod engines;
mod error;
mod input;
pub mod limits;
mod metrics;
mod records;
mod response;
mod secrets;
mod session;
mod skills;
mod speculation;
pub mod work;

pub use engines::{Engines, TenantLlms};
pub use secrets::not_found;

use avb_core::AppContext;
use axum::Router;
use axum::routing::{get, post};

/// State of the gateway routes.
#[derive(Clone)]
pub struct GatewayState {
    /// Platform services.
    pub ctx: AppContext,
    /// Voice engines.
    pub engines: Engines,
    /// Per-tenant rate limits.
    pub limits: std::sync::Arc<limits::RateLimits>,
    /// Clients of tenant-chosen LLM endpoints.
    pub tenant_llms: std::sync::Arc<engines::TenantLlms>,
}

/// The gateway's routes.
pub fn router(ctx: AppContext) -> Router {
    let engines = work::route_through_queue(Engines::from_config(&ctx.config.engines), &ctx);
    let limits = std::sync::Arc::new(limits::RateLimits::new(ctx.redis.clone()));
    let body_limit = axum::extract::DefaultBodyLimit::max(ctx.config.server.body_limit_bytes);
    Router::new()
        .route("/v1/realtime", get(connect::upgrade))
        .route(
            "/v1/realtime/sessions",
            post(secrets::sessions).layer(body_limit),
        )
        .route(
            "/v1/realtime/client_secrets",
            post(secrets::client_secrets).layer(body_limit),
        )
        .with_state(GatewayState {
            ctx,
            engines,
            limits,
            tenant_llms: Default::default(),
        })
}
