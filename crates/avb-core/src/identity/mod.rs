//! Identity: authentication of every credential kind into a [`Scope`], and the local provider's
//! account flows (login, refresh, logout, TOTP, password reset, setup).

pub mod authenticate;
pub mod jwks;
pub mod keycloak;
pub mod keycloak_account;
pub mod keycloak_admin;
pub mod keycloak_sync;
pub mod local;
pub mod oidc;
pub mod password;
pub mod session_cache;
pub mod throttle;
pub mod totp;

pub use authenticate::{Credential, authenticate_bearer};
pub use local::TokenPair;
