//! Storage: SeaORM entities, migrations and tenant-scoped repositories. The only crate that
//! writes SQL. One code path serves SQLite (embedded default) and PostgreSQL (row-level security).

pub mod entities;
pub mod error;
pub mod migrations;
pub mod page;
pub mod repos;
pub mod store;

pub use error::StorageError;
pub use page::{Page, PageRequest};
pub use store::{AnyTx, Backend, PlatformTx, SchemaStatus, Store, TenantTx, Tx};
