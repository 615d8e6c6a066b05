//! Logging setup: text or JSON, level from config or RUST_LOG.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber.
pub fn init(cfg: &avb_core::config::LogConfig) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if cfg.format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
