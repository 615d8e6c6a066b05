//! Domain types shared by every layer: typed ids, validated values, roles and permissions.
//! This crate performs no I/O so it can be fuzzed and reused freely.

pub mod ids;
pub mod pricing;
pub mod roles;
pub mod statuses;
pub mod values;

pub use ids::*;
pub use roles::{ALL_PERMISSIONS, Permission, Role};
pub use statuses::*;
pub use values::*;
