//! The connection pool and the two kinds of transaction: tenant-scoped and platform-wide.

use crate::error::StorageResult;
use crate::migrations::Migrator;
use avb_domain::TenantId;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    Statement, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Which database engine is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The database: a pool plus the rules for opening scoped transactions.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    /// SQLite allows one writer; serialising write transactions in-process avoids
    /// `SQLITE_BUSY` upgrades of deferred transactions.
    write_lock: Option<Arc<Mutex<()>>>,
}

/// A unit of work, tenant-bound or platform-wide. Repositories take a transaction, never a pool:
/// repositories of tenant-owned tables take a [`TenantTx`] (so they cannot run without a
/// tenant), platform and shared repositories take `&Tx`, which both kinds deref to.
/// Writes and every PostgreSQL call run in a transaction (RLS settings live there); SQLite reads
/// run straight on the pool, which saves two round trips to SQLite's worker thread per request.
pub struct Tx {
    inner: Conn,
    tenant: Option<TenantId>,
    backend: Backend,
    _write_guard: Option<OwnedMutexGuard<()>>,
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`).
    pub async fn connect(url: &str, max_connections: u32) -> StorageResult<Self> {
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        };
        let mut opts = ConnectOptions::new(url.to_string());
        opts.max_connections(max_connections)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            opts.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
                    .create_if_missing(true)
            });
        }
        let db = Database::connect(opts).await?;
        let write_lock = (backend == Backend::Sqlite).then(|| Arc::new(Mutex::new(())));
        Ok(Self {
            db,
            backend,
            write_lock,
        })
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Applies pending migrations.
    pub async fn migrate(&self) -> StorageResult<()> {
        Migrator::up(&self.db, None).await?;
        Ok(())
    }

    /// Number of migrations not yet applied.
    pub async fn pending_migrations(&self) -> StorageResult<usize> {
        Ok(Migrator::get_pending_migrations(&self.db).await?.len())
    }

    /// How the database's applied migrations compare with the ones this binary ships. Reads
    /// `seaql_migrations` only (never creates it, unlike the migrator's own status calls).
    pub async fn schema_status(&self) -> StorageResult<SchemaStatus> {
        let expected: Vec<String> = Migrator::migrations()
            .iter()
            .map(|m| m.name().to_string())
            .collect();
        let rows = self
            .db
            .query_all_raw(Statement::from_string(
                self.db.get_database_backend(),
                "SELECT version FROM seaql_migrations",
            ))
            .await;
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) => {
                return match crate::StorageError::from(e) {
                    crate::StorageError::Unavailable(m) => Err(crate::StorageError::Unavailable(m)),
                    // No migration table: an empty (or foreign) database.
                    _ => Ok(SchemaStatus {
                        expected: expected.len(),
                        applied: 0,
                        missing: expected,
                        unknown: Vec::new(),
                    }),
                };
            }
        };
        let mut applied = Vec::with_capacity(rows.len());
        for r in rows {
            applied.push(r.try_get::<String>("", "version")?);
        }
        Ok(SchemaStatus {
            expected: expected.len(),
            applied: applied.len(),
            missing: expected
                .iter()
                .filter(|m| !applied.contains(m))
                .cloned()
                .collect(),
            unknown: applied
                .iter()
                .filter(|m| !expected.contains(m))
                .cloned()
                .collect(),
        })
    }

    /// A cheap liveness probe.
    pub async fn ping(&self) -> StorageResult<()> {
        self.db.ping().await?;
        Ok(())
    }

    /// Opens a transaction that can only see `tenant`'s rows (RLS on PostgreSQL, repository
    /// filters on both). `write` serialises SQLite writers.
    pub async fn tenant_tx(&self, tenant: TenantId, write: bool) -> StorageResult<TenantTx> {
        Ok(TenantTx {
            tx: self.open(Some(tenant), write).await?,
            tenant,
        })
    }

    /// Opens a platform-wide transaction (authentication look-ups, SaaS admin work, CLI).
    /// Callers audit what they do with it.
    pub async fn platform_tx(&self, write: bool) -> StorageResult<PlatformTx> {
        Ok(PlatformTx(self.open(None, write).await?))
    }

    /// Counts the rows of a tenant-owned `table` that a tenant transaction can see with no
    /// filter at all: on PostgreSQL this measures row-level security alone (isolation checks).
    pub async fn unfiltered_count_for_tests(
        &self,
        tenant: TenantId,
        table: &str,
    ) -> StorageResult<i64> {
        const TABLES: &[&str] = &[
            "tenants",
            "memberships",
            "invitations",
            "projects",
            "api_keys",
            "audit_events",
        ];
        if !TABLES.contains(&table) {
            return Err(crate::StorageError::Database(format!(
                "{table} is not a tenant table"
            )));
        }
        let tx = self.tenant_tx(tenant, false).await?;
        let row = tx
            .conn()
            .query_one_raw(Statement::from_string(
                tx.backend_kind(),
                format!("SELECT COUNT(*) AS n FROM {table}"),
            ))
            .await?
            .ok_or(crate::StorageError::NotFound)?;
        let n: i64 = row.try_get("", "n")?;
        tx.commit().await?;
        Ok(n)
    }

    async fn open(&self, tenant: Option<TenantId>, write: bool) -> StorageResult<Tx> {
        let guard = match (&self.write_lock, write) {
            (Some(lock), true) => Some(lock.clone().lock_owned().await),
            _ => None,
        };
        if self.backend == Backend::Sqlite && !write {
            return Ok(Tx {
                inner: Conn::Pool(self.db.clone()),
                tenant,
                backend: self.backend,
                _write_guard: None,
            });
        }
        let inner = self.db.begin().await?;
        if self.backend == Backend::Postgres {
            let tenant_value = tenant.map(|t| t.to_string()).unwrap_or_default();
            let platform = if tenant.is_none() { "on" } else { "off" };
            inner
                .execute_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT set_config('app.tenant_id', $1, true), set_config('app.platform', $2, true)",
                    [tenant_value.into(), platform.into()],
                ))
                .await?;
            inner
                .execute_unprepared("SET LOCAL ROLE avb_tenant")
                .await?;
        }
        Ok(Tx {
            inner: Conn::Tx(inner),
            tenant,
            backend: self.backend,
            _write_guard: guard,
        })
    }
}

/// The database schema against the migrations of this binary ([`Store::schema_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaStatus {
    /// Migrations this binary ships.
    pub expected: usize,
    /// Migrations recorded as applied in the database.
    pub applied: usize,
    /// Shipped migrations the database lacks (its tables are missing or out of date).
    pub missing: Vec<String>,
    /// Applied migrations this binary does not know (a newer binary migrated the database).
    pub unknown: Vec<String>,
}

impl SchemaStatus {
    /// Every migration this binary needs is applied.
    pub fn is_current(&self) -> bool {
        self.missing.is_empty()
    }
}

impl Tx {
    /// The tenant this transaction is bound to, or `None` for a platform transaction.
    pub fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }

    /// The engine in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    fn backend_kind(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }

    pub(crate) fn conn(&self) -> &Conn {
        &self.inner
    }

    /// Commits the transaction (nothing to do for a pool read).
    pub async fn commit(self) -> StorageResult<()> {
        if let Conn::Tx(t) = self.inner {
            t.commit().await?;
        }
        Ok(())
    }
}

/// A transaction bound to one tenant: the only kind a tenant repository accepts.
pub struct TenantTx {
    tx: Tx,
    tenant: TenantId,
}

impl TenantTx {
    /// The tenant every statement of this transaction is scoped to.
    pub fn tenant_id(&self) -> TenantId {
        self.tenant
    }

    /// Commits the transaction.
    pub async fn commit(self) -> StorageResult<()> {
        self.tx.commit().await
    }
}

impl std::ops::Deref for TenantTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

/// A platform-wide transaction (authentication look-ups, SaaS admin work, CLI): it cannot be
/// handed to a tenant repository.
pub struct PlatformTx(Tx);

impl PlatformTx {
    /// Commits the transaction.
    pub async fn commit(self) -> StorageResult<()> {
        self.0.commit().await
    }
}

impl std::ops::Deref for PlatformTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.0
    }
}

/// Either kind, for work that runs in a tenant's scope when it has one and platform-wide
/// otherwise (creating a user with or without a membership, verifying one or every audit chain).
pub enum AnyTx {
    Tenant(TenantTx),
    Platform(PlatformTx),
}

impl AnyTx {
    /// The tenant transaction, when this is one.
    pub fn as_tenant(&self) -> Option<&TenantTx> {
        match self {
            AnyTx::Tenant(t) => Some(t),
            AnyTx::Platform(_) => None,
        }
    }

    /// Commits the transaction.
    pub async fn commit(self) -> StorageResult<()> {
        match self {
            AnyTx::Tenant(t) => t.commit().await,
            AnyTx::Platform(p) => p.commit().await,
        }
    }
}

impl std::ops::Deref for AnyTx {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        match self {
            AnyTx::Tenant(t) => t,
            AnyTx::Platform(p) => p,
        }
    }
}

/// Where a [`Tx`]'s statements go.
pub(crate) enum Conn {
    Tx(DatabaseTransaction),
    Pool(DatabaseConnection),
}

#[sea_orm_migration::async_trait::async_trait]
impl ConnectionTrait for Conn {
    fn get_database_backend(&self) -> DbBackend {
        match self {
            Conn::Tx(t) => t.get_database_backend(),
            Conn::Pool(p) => p.get_database_backend(),
        }
    }

    async fn execute_raw(&self, stmt: Statement) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        match self {
            Conn::Tx(t) => t.execute_raw(stmt).await,
            Conn::Pool(p) => p.execute_raw(stmt).await,
        }
    }

    async fn execute_unprepared(&self, sql: &str) -> Result<sea_orm::ExecResult, sea_orm::DbErr> {
        match self {
            Conn::Tx(t) => t.execute_unprepared(sql).await,
            Conn::Pool(p) => p.execute_unprepared(sql).await,
        }
    }

    async fn query_one_raw(
        &self,
        stmt: Statement,
    ) -> Result<Option<sea_orm::QueryResult>, sea_orm::DbErr> {
        match self {
            Conn::Tx(t) => t.query_one_raw(stmt).await,
            Conn::Pool(p) => p.query_one_raw(stmt).await,
        }
    }

    async fn query_all_raw(
        &self,
        stmt: Statement,
    ) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
        match self {
            Conn::Tx(t) => t.query_all_raw(stmt).await,
            Conn::Pool(p) => p.query_all_raw(stmt).await,
        }
    }
}
