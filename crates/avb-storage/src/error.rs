//! The storage error type, mapped from SeaORM/sqlx errors.

use sea_orm::{DbErr, SqlErr};

/// What went wrong in the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// A unique constraint was violated (e.g. duplicate e-mail).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The row does not exist (or belongs to another tenant).
    #[error("not found")]
    NotFound,
    /// A tenant-scoped repository was called on a platform transaction without a tenant.
    #[error("no tenant in scope")]
    NoTenant,
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
}

impl From<DbErr> for StorageError {
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(msg)) => StorageError::Conflict(msg),
            _ => match e {
                DbErr::RecordNotFound(_) => StorageError::NotFound,
                other => StorageError::Database(other.to_string()),
            },
        }
    }
}

/// Result alias for storage calls.
pub type StorageResult<T> = Result<T, StorageError>;
