//! Logging setup: text or JSON, level from config or RUST_LOG; every line at the configured
//! level is also kept in memory for the admin portal's log view.

use avb_core::monitoring::LogRing;
use std::sync::Arc;
use tracing::field::{Field, Visit};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;

/// Feeds the app's [`avb_core::monitoring::LogRing`].
struct KeepRecent(Arc<LogRing>);

/// Collects an event's message and fields into one line.
#[derive(Default)]
struct Line(String);

impl Visit for Line {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value:?} "));
        } else {
            self.0.push_str(&format!("{}={value:?} ", field.name()));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.0.insert_str(0, &format!("{value} "));
        } else {
            self.0.push_str(&format!("{}={value} ", field.name()));
        }
    }
}

impl<S: tracing::Subscriber> Layer<S> for KeepRecent {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        let mut line = Line::default();
        event.record(&mut line);
        let meta = event.metadata();
        self.0.push(avb_core::monitoring::LogLine {
            at: chrono::Utc::now(),
            level: meta.level().to_string(),
            target: meta.target().to_string(),
            message: line.0.trim_end().chars().take(2000).collect(),
        });
    }
}

/// Installs the global subscriber; returns the ring it keeps recent lines in.
pub fn init(cfg: &avb_core::config::LogConfig) -> Arc<LogRing> {
    let logs = Arc::new(LogRing::default());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&cfg.level));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(KeepRecent(logs.clone()));
    let _ = if cfg.format == "json" {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr),
            )
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
            .try_init()
    };
    logs
}
