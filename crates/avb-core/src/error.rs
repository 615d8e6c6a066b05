//! The service error type. HTTP crates render it (problem+json, error pages, CLI messages).

use avb_domain::{Permission, ValidationError};
use avb_storage::StorageError;

/// Why a service call failed.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// Input failed validation; names the field.
    #[error("{0}")]
    Validation(#[from] ValidationError),
    /// The resource does not exist or belongs to another tenant (indistinguishable on purpose).
    #[error("not found")]
    NotFound,
    /// The caller lacks a permission.
    #[error("missing permission {0}")]
    Forbidden(Permission),
    /// The caller is not authenticated or the credentials are bad.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A TOTP code is required to finish the login.
    #[error("a TOTP code is required")]
    TotpRequired,
    /// The account is locked after repeated failures.
    #[error("account locked until {0}")]
    Locked(chrono::DateTime<chrono::Utc>),
    /// Too many attempts from this client; retry after this many seconds.
    #[error("too many attempts; retry in {0} s")]
    RateLimited(u64),
    /// The tenant is suspended.
    #[error("tenant is suspended")]
    TenantSuspended,
    /// A uniqueness or state conflict.
    #[error("{0}")]
    Conflict(String),
    /// A plan limit is reached (members, keys...); the message says which and what to do.
    #[error("{0}")]
    LimitReached(String),
    /// A dependency (database, Redis, SMTP, identity provider) failed.
    #[error("internal error: {0}")]
    Internal(String),
    /// The database is out of reach for now (connection refused or lost, pool exhausted):
    /// the request may succeed if retried later.
    #[error("temporarily unavailable: {0}")]
    Unavailable(String),
    /// A voice engine (text to speech, ...) failed or is not configured; the message names it
    /// and why. The platform itself works.
    #[error("{0}")]
    EngineFailed(String),
}

impl From<StorageError> for CoreError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::NotFound => CoreError::NotFound,
            StorageError::Conflict(m) => CoreError::Conflict(m),
            StorageError::Database(m) => CoreError::Internal(m),
            StorageError::Unavailable(m) => CoreError::Unavailable(m),
        }
    }
}

/// Result alias for services.
pub type CoreResult<T> = Result<T, CoreError>;
