//! The WebSocket handshake: credentials, subprotocols, dialect.

use crate::GatewayState;
use crate::session::{Session, SessionStart};
use avb_core::identity::authenticate_bearer;
use avb_core::services::voice_profiles;
use avb_core::{CoreError, RequestMeta};
use avb_domain::Permission;
use avb_realtime::Dialect;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::net::SocketAddr;

const KEY_SUBPROTOCOL: &str = "openai-insecure-api-key.";

fn refuse(status: StatusCode, code: &str, message: &str) -> Response {
    let body =
        json!({"error": {"type": "invalid_request_error", "code": code, "message": message}});
    (status, axum::Json(body)).into_response()
}

/// `GET /v1/realtime?model=...`: authenticates, then upgrades.
pub async fn upgrade(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    let offered: Vec<&str> = header("sec-websocket-protocol")
        .map(|p| p.split(',').map(str::trim).collect())
        .unwrap_or_default();
    let dialect = Dialect::detect(header("openai-beta"), &offered);
    let token = header("authorization")
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::to_string)
        .or_else(|| {
            offered
                .iter()
                .find_map(|p| p.strip_prefix(KEY_SUBPROTOCOL))
                .map(str::to_string)
        })
        .or_else(|| header("api-key").map(str::to_string));
    let Some(token) = token else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "missing_api_key",
            "Provide an API key with the realtime scope.",
        );
    };
    let meta = RequestMeta {
        ip: peer.ip().to_string(),
        user_agent: header("user-agent")
            .unwrap_or_default()
            .chars()
            .take(512)
            .collect(),
        request_id: String::new(),
    };
    let (authenticated, stored) = if token.starts_with("ek_") {
        match avb_core::services::realtime::redeem(&state.ctx, &token, meta).await {
            Ok(r) => {
                let dialect = if r.dialect == "beta" {
                    Dialect::Beta
                } else {
                    Dialect::Ga
                };
                (Ok(r.scope), Some((dialect, r.session)))
            }
            Err(e) => (Err(e), None),
        }
    } else {
        (authenticate_bearer(&state.ctx, &token, meta).await, None)
    };
    let scope = match authenticated {
        Ok(s) => s,
        Err(CoreError::TenantSuspended) => {
            return refuse(
                StatusCode::FORBIDDEN,
                "tenant_suspended",
                "The tenant is suspended.",
            );
        }
        Err(CoreError::Unavailable(e)) => {
            tracing::warn!(error = %e, "realtime authentication: database unavailable");
            let mut res = refuse(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "The service is temporarily unavailable; retry shortly.",
            );
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
            return res;
        }
        Err(CoreError::Internal(e)) => {
            tracing::error!(error = %e, "realtime authentication failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "Authentication is unavailable.",
            );
        }
        Err(_) => {
            return refuse(
                StatusCode::UNAUTHORIZED,
                "invalid_api_key",
                "Incorrect API key provided.",
            );
        }
    };
    if state
        .ctx
        .policy
        .authorize(&scope, Permission::RealtimeConnect, scope.tenant())
        .is_err()
    {
        return refuse(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "This key lacks the realtime scope.",
        );
    }
    // The plan's session limits: concurrent sessions and this period's audio minutes.
    let mut plan_limits = None;
    if let Some(tenant) = scope.tenant() {
        match avb_core::services::subscriptions::admit_session(&state.ctx, tenant).await {
            Ok(limits) => plan_limits = Some(limits),
            Err(CoreError::LimitReached(why)) => {
                return refuse(StatusCode::TOO_MANY_REQUESTS, "plan_limit_reached", &why);
            }
            Err(e) => {
                tracing::warn!(error = %e, "plan limits unavailable; the session is admitted with the default budget")
            }
        }
    }
    // The tenant's (and the key's project's) voice profile: voice, models, persona, own LLM.
    let profile = match scope.tenant() {
        Some(tenant) => voice_profiles::resolve(&state.ctx, tenant, scope.actor().project()).await,
        None => Ok(Default::default()),
    };
    let profile = match profile {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "voice profile could not be loaded");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "The session's voice profile could not be loaded.",
            );
        }
    };
    let engines = state
        .engines
        .for_profile(&profile, &state.tenant_llms)
        .for_tenant(scope.tenant());
    // The plan's budget, read once with the admission check.
    let budget = match &plan_limits {
        Some(limits) => crate::limits::budget_of(limits),
        None => crate::limits::budget_for(&state.ctx.config.realtime, None),
    };
    let model = query
        .get("model")
        .cloned()
        .unwrap_or_else(|| state.engines.llm_model.clone());
    let max_frame = state.ctx.config.realtime.max_frame_bytes;
    let ws = if offered.contains(&"realtime") {
        ws.protocols(["realtime"])
    } else {
        ws
    };
    // Small read buffers keep idle sessions cheap; frames larger than this still arrive whole.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(0)
        .max_message_size(max_frame)
        .max_frame_size(max_frame)
        .on_upgrade(move |socket| {
            let start = SessionStart {
                profile: &profile,
                engines,
                budget,
            };
            // Every log line of the session names its tenant and (once recorded) its id.
            let span = tracing::info_span!(
                "realtime",
                tenant = %scope.tenant().map(|t| t.to_string()).unwrap_or_default(),
                session = tracing::field::Empty
            );
            tracing::Instrument::instrument(
                Session::new(state, scope, dialect, model, stored, start).run(socket),
                span,
            )
        })
}
