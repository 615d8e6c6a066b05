//! One error type for the API, rendered as RFC 9457 `application/problem+json`.

use avb_core::CoreError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Seconds a client should wait before retrying after a 503 (the database is unreachable).
const RETRY_AFTER_SECS: u32 = 5;

/// A field-level problem.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// The offending field.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// RFC 9457 problem details.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Problem {
    /// A URI reference naming the problem type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Short summary of the problem type.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// Explanation of this occurrence.
    pub detail: String,
    /// Machine-readable code.
    pub code: String,
    /// Field errors, for validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An API failure.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    detail: String,
    errors: Vec<FieldError>,
    www_authenticate: bool,
    retry_after: Option<u32>,
}

impl ApiError {
    /// A problem with an explicit status and code.
    pub fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            detail: detail.into(),
            errors: Vec::new(),
            www_authenticate: false,
            retry_after: None,
        }
    }

    /// A 400 naming `field`.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let (field, message) = (field.into(), message.into());
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Invalid request",
            format!("{field}: {message}"),
        );
        e.errors.push(FieldError { field, message });
        e
    }

    /// A 422 validation problem naming `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut e = Self::field(field, message);
        e.status = StatusCode::UNPROCESSABLE_ENTITY;
        e.code = "validation_failed";
        e.title = "Validation failed";
        e
    }

    /// 404 for a missing (or another tenant's) resource.
    pub fn not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "the resource does not exist",
        )
    }

    /// 401.
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        );
        e.www_authenticate = true;
        e
    }

    /// Sets the `Retry-After` seconds of a 429 or 503.
    pub fn set_retry_after(&mut self, secs: u32) {
        self.retry_after = Some(secs);
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<CoreError> for ApiError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Validation(v) => ApiError::validation(v.field, v.message),
            CoreError::NotFound => ApiError::not_found(),
            CoreError::Forbidden(p) => ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                "Forbidden",
                format!("missing permission {p}"),
            ),
            CoreError::Unauthorized(m) => ApiError::unauthorized(m),
            CoreError::TotpRequired => {
                let mut e = ApiError::unauthorized("a TOTP code is required");
                e.code = "totp_required";
                e
            }
            CoreError::Locked(until) => ApiError::new(
                StatusCode::LOCKED,
                "account_locked",
                "Account locked",
                format!(
                    "too many failed logins; try again after {}",
                    until.to_rfc3339()
                ),
            ),
            CoreError::RateLimited(secs) => {
                let mut e = ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "Too many requests",
                    format!("too many attempts from this address; retry in {secs} s"),
                );
                e.retry_after = Some(u32::try_from(secs).unwrap_or(60));
                e
            }
            CoreError::TenantSuspended => ApiError::new(
                StatusCode::FORBIDDEN,
                "tenant_suspended",
                "Tenant suspended",
                "the tenant is suspended",
            ),
            CoreError::Conflict(m) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", "Conflict", m)
            }
            CoreError::LimitReached(m) => ApiError::new(
                StatusCode::PAYMENT_REQUIRED,
                "limit_reached",
                "Plan limit reached",
                m,
            ),
            CoreError::EngineFailed(m) => ApiError::new(
                StatusCode::FAILED_DEPENDENCY,
                "engine_unavailable",
                "Engine failed",
                m,
            ),
            CoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "database unavailable");
                let mut e = ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "Service unavailable",
                    "the service is temporarily unavailable; retry later",
                );
                e.retry_after = Some(RETRY_AFTER_SECS);
                e
            }
            CoreError::Internal(m) => {
                tracing::error!(error = %m, "internal error");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "Internal error",
                    "an internal error occurred",
                )
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = Problem {
            kind: format!("https://agentvoicebox.dev/problems/{}", self.code),
            title: self.title.to_string(),
            status: self.status.as_u16(),
            detail: self.detail,
            code: self.code.to_string(),
            errors: self.errors,
        };
        let body = serde_json::to_vec(&problem).unwrap_or_default();
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.www_authenticate {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

/// Handler result alias.
pub type ApiResult<T> = Result<T, ApiError>;
