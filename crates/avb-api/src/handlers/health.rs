//! Liveness, readiness and the public signing keys.

use crate::router::AppState;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Instant;

/// `GET /healthz`: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, description = "alive")))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// `GET /readyz`: the database (and Redis, when configured) answer and the database schema has
/// every migration this binary expects; reports probe latency and the state of each voice engine.
#[utoipa::path(get, path = "/readyz", tag = "health", responses((status = 200, description = "ready"), (status = 503, description = "a dependency is down")))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let start = Instant::now();
    let db = state.ctx.store.ping().await;
    let db_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut ready = db.is_ok();
    let mut checks = json!({
        "database": {
            "status": if db.is_ok() { "up" } else { "down" },
            "backend": format!("{:?}", state.ctx.store.backend()).to_lowercase(),
            "latency_ms": db_ms,
        }
    });
    // An empty or half-migrated database answers pings but has no (or old) tables.
    if db.is_ok() {
        checks["schema"] = match state.ctx.store.schema_status().await {
            Ok(s) => {
                ready &= s.is_current();
                let status = if !s.missing.is_empty() {
                    if s.applied == 0 { "missing" } else { "behind" }
                } else if !s.unknown.is_empty() {
                    // A newer binary migrated the database; additive migrations keep this
                    // one working, so a rolling upgrade does not take it out of service.
                    "ahead"
                } else {
                    "current"
                };
                json!({"status": status, "expected": s.expected, "applied": s.applied, "missing": s.missing})
            }
            Err(e) => {
                ready = false;
                json!({"status": "unknown", "error": e.to_string()})
            }
        };
    }
    if let Some(redis) = state.ctx.redis_ping().await {
        ready &= redis.is_ok();
        checks["redis"] = match redis {
            Ok(d) => json!({"status": "up", "latency_ms": d.as_secs_f64() * 1000.0}),
            Err(e) => json!({"status": "down", "error": e}),
        };
    }
    // Engines are reported but do not gate readiness: the API works without them and a
    // failed stage becomes a Realtime `error` event.
    let engines = avb_core::engine_health::probe_engines(&state.ctx.config.engines).await;
    checks["engines"] = serde_json::to_value(&engines).unwrap_or_default();
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({"status": if ready { "ready" } else { "not_ready" }, "checks": checks})),
    )
}

/// `GET /.well-known/jwks.json`: public keys that verify locally issued access tokens.
#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "auth", responses((status = 200, description = "JWKS")))]
pub async fn jwks(State(state): State<AppState>) -> Json<Value> {
    Json(state.ctx.jwt.jwks())
}
