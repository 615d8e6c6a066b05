//! Ephemeral client secrets over REST: beta `POST /v1/realtime/sessions` and GA
//! `POST /v1/realtime/client_secrets`, authenticated by an API key with the `realtime` scope.

use crate::GatewayState;
use avb_core::identity::authenticate_bearer;
use avb_core::services::realtime::create_client_secret;
use avb_core::{CoreError, RequestMeta, Scope};
use avb_realtime::{Dialect, ProtocolError, SessionConfig};
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use std::net::SocketAddr;

/// An OpenAI-style REST error: `{"error": {type, code, message, param}}`.
struct RestError {
    status: StatusCode,
    code: String,
    message: String,
    param: Option<String>,
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let kind = if self.status.is_server_error() {
            "server_error"
        } else {
            "invalid_request_error"
        };
        let body = json!({"error": {"type": kind, "code": self.code, "message": self.message, "param": self.param}});
        let mut res = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            res.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("5"),
            );
        }
        res
    }
}

fn error(status: StatusCode, code: &str, message: &str, param: Option<&str>) -> RestError {
    RestError {
        status,
        code: code.to_string(),
        message: message.to_string(),
        param: param.map(str::to_string),
    }
}

/// The OpenAI error envelope's 404 for a path under `/v1` that no route serves.
pub async fn not_found() -> Response {
    error(StatusCode::NOT_FOUND, "not_found", "No such route.", None).into_response()
}

fn protocol(e: ProtocolError) -> RestError {
    error(
        StatusCode::BAD_REQUEST,
        e.code.as_str(),
        &e.message,
        e.param.as_deref(),
    )
}

fn core(e: CoreError) -> RestError {
    match e {
        CoreError::Validation(v) => error(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            &v.to_string(),
            Some(&v.field),
        ),
        CoreError::Forbidden(_) => error(
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            "This key lacks the realtime scope.",
            None,
        ),
        CoreError::TenantSuspended => error(
            StatusCode::FORBIDDEN,
            "tenant_suspended",
            "The tenant is suspended.",
            None,
        ),
        CoreError::Unavailable(m) => {
            tracing::warn!(error = %m, "client secret creation: database unavailable");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "service_unavailable",
                "The service is temporarily unavailable. Retry in a moment.",
                None,
            )
        }
        CoreError::Internal(m) => {
            tracing::error!(error = %m, "client secret creation failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal_error",
                "An internal error occurred.",
                None,
            )
        }
        _ => error(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "Incorrect API key provided.",
            None,
        ),
    }
}

async fn caller(
    state: &GatewayState,
    headers: &HeaderMap,
    peer: SocketAddr,
) -> Result<Scope, RestError> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .ok_or_else(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "missing_api_key",
                "Provide an API key.",
                None,
            )
        })?;
    let meta = RequestMeta {
        ip: peer.ip().to_string(),
        user_agent: headers
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .chars()
            .take(512)
            .collect(),
        request_id: String::new(),
    };
    authenticate_bearer(&state.ctx, token, meta)
        .await
        .map_err(core)
}

/// The request body, or the OpenAI error envelope when it could not be read (too large,
/// cut off) instead of axum's plain-text rejection.
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, RestError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "request_too_large",
                "The request body is larger than the server accepts.",
                None,
            )
        } else {
            error(e.status(), "invalid_request", &e.body_text(), None)
        }
    })
}

fn body_object(body: Result<Bytes, BytesRejection>) -> Result<Map<String, Value>, RestError> {
    let body = read_body(body)?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "The body must be a JSON object.",
            None,
        )),
        Err(e) => Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            &format!("The body is not valid JSON: {e}"),
            None,
        )),
    }
}

fn ttl(v: Option<&Value>, default: u64) -> Result<u64, RestError> {
    let Some(exp) = v.filter(|v| !v.is_null()) else {
        return Ok(default);
    };
    if exp
        .get("anchor")
        .and_then(Value::as_str)
        .is_some_and(|a| a != "created_at")
    {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_value",
            "expires_after.anchor must be created_at",
            Some("expires_after.anchor"),
        ));
    }
    match exp.get("seconds") {
        None => Ok(default),
        Some(s) => s.as_u64().ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_value",
                "expires_after.seconds must be an integer",
                Some("expires_after.seconds"),
            )
        }),
    }
}

/// `POST /v1/realtime/client_secrets` (GA).
pub async fn client_secrets(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let scope = match caller(&state, &headers, peer).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let mut body = match body_object(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let seconds = match ttl(body.get("expires_after"), 600) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let session = body
        .remove("session")
        .unwrap_or_else(|| json!({"type": "realtime"}));
    if let Some(k) = body.keys().find(|k| *k != "expires_after") {
        return error(
            StatusCode::BAD_REQUEST,
            "unknown_parameter",
            &format!("Unknown parameter: '{k}'."),
            Some(k),
        )
        .into_response();
    }
    let mut config = SessionConfig::new(&state.engines.llm_model, 0);
    if let Err(e) = config.apply_update(Dialect::Ga, &session) {
        return protocol(e).into_response();
    }
    match create_client_secret(&state.ctx, &scope, "ga", session, seconds).await {
        Ok(secret) => {
            config.expires_at = secret.expires_at.timestamp();
            let rendered = config.render(Dialect::Ga);
            Json(json!({"value": secret.value, "expires_at": secret.expires_at.timestamp(), "session": rendered})).into_response()
        }
        Err(e) => core(e).into_response(),
    }
}

/// `POST /v1/realtime/sessions` (beta).
pub async fn sessions(
    State(state): State<GatewayState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let scope = match caller(&state, &headers, peer).await {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let mut session = match body_object(body) {
        Ok(b) => b,
        Err(r) => return r.into_response(),
    };
    let seconds = match ttl(
        session
            .remove("client_secret")
            .as_ref()
            .and_then(|c| c.get("expires_after")),
        60,
    ) {
        Ok(s) => s,
        Err(r) => return r.into_response(),
    };
    let session = Value::Object(session);
    let mut config = SessionConfig::new(&state.engines.llm_model, 0);
    if let Err(e) = config.apply_update(Dialect::Beta, &session) {
        return protocol(e).into_response();
    }
    match create_client_secret(&state.ctx, &scope, "beta", session, seconds).await {
        Ok(secret) => {
            config.expires_at = secret.expires_at.timestamp();
            let mut rendered = config.render(Dialect::Beta);
            rendered["client_secret"] =
                json!({"value": secret.value, "expires_at": secret.expires_at.timestamp()});
            Json(rendered).into_response()
        }
        Err(e) => core(e).into_response(),
    }
}
