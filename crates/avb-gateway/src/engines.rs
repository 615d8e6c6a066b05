//! The engines a session uses, built from configuration.

use avb_core::config::EnginesConfig;
use avb_voice::{ChatModel, OpenAiChat};
use std::sync::Arc;
use std::time::Duration;

/// Configured engines; a missing one makes its stage fail with `engine_unavailable`.
#[derive(Clone)]
pub struct Engines {
    /// The chat model, if configured.
    pub llm: Option<Arc<dyn ChatModel>>,
    /// The model name sent to it.
    pub llm_model: String,
}

impl Engines {
    /// Builds the engines from `[engines]`.
    pub fn from_config(cfg: &EnginesConfig) -> Self {
        let llm = cfg.llm_url.as_deref().and_then(|url| {
            let key = cfg.llm_api_key.as_ref().map(|k| k.expose().to_string());
            match OpenAiChat::new(url, key, Duration::from_secs(cfg.llm_timeout_secs)) {
                Ok(c) => Some(Arc::new(c) as Arc<dyn ChatModel>),
                Err(e) => {
                    tracing::error!(error = %e, "LLM engine could not be set up");
                    None
                }
            }
        });
        Self {
            llm,
            llm_model: cfg.llm_model.clone(),
        }
    }
}
