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
    /// The database failed.
    #[error("database error: {0}")]
    Database(String),
    /// The database cannot be reached right now (connection refused or lost, pool timed out,
    /// server shutting down or out of connections): worth retrying later.
    #[error("database unavailable: {0}")]
    Unavailable(String),
}

/// Whether `e` says the database is out of reach rather than that a statement failed.
fn unreachable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
            match s.as_ref() {
                Sqlx::Io(_)
                | Sqlx::Tls(_)
                | Sqlx::PoolTimedOut
                | Sqlx::PoolClosed
                | Sqlx::WorkerCrashed => true,
                Sqlx::Database(d) => d.code().is_some_and(|c| unavailable_code(&c)),
                _ => false,
            }
        }
        _ => false,
    }
}

/// PostgreSQL SQLSTATEs of an unreachable server (class 08 connection exceptions, shutdown,
/// recovery, too many connections) and SQLite's busy/locked codes.
fn unavailable_code(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "5" | "6" | "517"
        )
}

impl From<DbErr> for StorageError {
    fn from(e: DbErr) -> Self {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(msg)) => StorageError::Conflict(msg),
            _ => match e {
                DbErr::RecordNotFound(_) => StorageError::NotFound,
                ref other if unreachable(other) => StorageError::Unavailable(other.to_string()),
                other => StorageError::Database(other.to_string()),
            },
        }
    }
}

/// Result alias for storage calls.
pub type StorageResult<T> = Result<T, StorageError>;

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{ConnAcquireErr, RuntimeErr};
    use std::sync::Arc;

    #[test]
    fn connection_failures_are_unavailable_not_database_errors() {
        let timeout = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        assert!(matches!(
            StorageError::from(timeout),
            StorageError::Unavailable(_)
        ));
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let refused = DbErr::Conn(RuntimeErr::SqlxError(Arc::new(sea_orm::sqlx::Error::Io(
            io,
        ))));
        assert!(matches!(
            StorageError::from(refused),
            StorageError::Unavailable(_)
        ));
        let closed = DbErr::Query(RuntimeErr::SqlxError(Arc::new(
            sea_orm::sqlx::Error::PoolClosed,
        )));
        assert!(matches!(
            StorageError::from(closed),
            StorageError::Unavailable(_)
        ));
        let other = DbErr::Query(RuntimeErr::Internal("syntax error".into()));
        assert!(matches!(
            StorageError::from(other),
            StorageError::Database(_)
        ));
        assert!(unavailable_code("08006") && unavailable_code("57P01"));
        assert!(!unavailable_code("42P01") && !unavailable_code("23505"));
    }
}
