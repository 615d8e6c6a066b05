//! Services and rules. Every operation takes a [`Scope`] built by authentication; only this
//! crate decides whether a caller may do something (through the Rego policy).

pub mod audit;
pub mod billing_pdf;
pub mod config;
pub mod context;
pub mod egress;
pub mod engine_health;
pub mod error;
pub mod identity;
pub mod mail;
pub mod monitoring;
pub mod policy;
pub mod redis_keys;
pub mod redis_slot;
pub mod scope;
pub mod sealing;
pub mod secret;
pub mod services;
pub mod token;
pub mod views;
pub mod work_queue;

pub use context::AppContext;
pub use error::{CoreError, CoreResult};
pub use scope::{Actor, RequestMeta, Scope};
pub use secret::Secret;

/// Re-exported storage types that services hand to the HTTP layer.
pub use avb_storage::{Backend, Page, PageRequest};
