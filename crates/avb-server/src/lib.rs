//! The AgentVoiceBox HTTP application, assembled once: [`app`] is what `avb serve`, the testkit
//! and the benches all serve, and [`listen`] serves it on plain TCP or TLS.

mod app;
mod http_metrics;
pub mod listen;

pub use app::{Https, app};
