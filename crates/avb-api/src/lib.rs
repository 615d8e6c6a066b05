//! REST `/api/v1/*`: JSON in and out, RFC 9457 problem+json errors, cursor pagination, OpenAPI
//! 3.1 at `/api/v1/openapi.json`. Handlers validate DTOs at the edge and call `avb-core` services
//! with the [`avb_core::Scope`] that authentication built.

pub mod auth;
pub mod dto;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod openapi;
pub mod router;

pub use router::{AppState, router};
