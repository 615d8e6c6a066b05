//! The engines a session uses, built from configuration.

use avb_core::config::EnginesConfig;
use avb_voice::resilience::{
    CircuitBreaker, ResilientChat, ResilientStt, ResilientTts, RetryPolicy,
};
use avb_voice::{
    ChatModel, OpenAiChat, OpenAiSpeech, OpenAiTranscriber, SpeechToText, TextToSpeech,
};
use std::sync::Arc;
use std::time::Duration;

/// Configured engines; a missing one makes its stage fail with `engine_unavailable`.
#[derive(Clone)]
pub struct Engines {
    /// The chat model, if configured.
    pub llm: Option<Arc<dyn ChatModel>>,
    /// The model name sent to it.
    pub llm_model: String,
    /// Speech to text, if configured.
    pub stt: Option<Arc<dyn SpeechToText>>,
    /// Text to speech, if configured.
    pub tts: Option<Arc<dyn TextToSpeech>>,
}

impl Engines {
    /// Builds the engines from `[engines]`.
    pub fn from_config(cfg: &EnginesConfig) -> Self {
        let llm = cfg.llm_url.as_deref().and_then(|url| {
            let key = cfg.llm_api_key.as_ref().map(|k| k.expose().to_string());
            match OpenAiChat::new(url, key, Duration::from_secs(cfg.llm_timeout_secs)) {
                Ok(c) => Some(resilient_chat(Arc::new(c))),
                Err(e) => {
                    tracing::error!(error = %e, "LLM engine could not be set up");
                    None
                }
            }
        });
        let secret = |k: &Option<avb_core::Secret>| k.as_ref().map(|k| k.expose().to_string());
        let stt = cfg.stt_url.as_deref().and_then(|url| {
            let timeout = Duration::from_secs(cfg.stt_timeout_secs);
            match OpenAiTranscriber::new(url, secret(&cfg.stt_api_key), &cfg.stt_model, timeout) {
                Ok(s) => Some(resilient_stt(Arc::new(s))),
                Err(e) => {
                    tracing::error!(error = %e, "STT engine could not be set up");
                    None
                }
            }
        });
        let tts = cfg.tts_url.as_deref().and_then(|url| {
            let timeout = Duration::from_secs(cfg.tts_timeout_secs);
            match OpenAiSpeech::new(
                url,
                secret(&cfg.tts_api_key),
                &cfg.tts_model,
                cfg.tts_sample_rate,
                timeout,
            ) {
                Ok(s) => Some(resilient_tts(Arc::new(s))),
                Err(e) => {
                    tracing::error!(error = %e, "TTS engine could not be set up");
                    None
                }
            }
        });
        Self {
            llm,
            llm_model: cfg.llm_model.clone(),
            stt,
            tts,
        }
    }
}

/// Consecutive failures that open an engine's circuit, and how long it stays open.
const BREAKER_THRESHOLD: u32 = 5;
const BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

fn resilient_chat(inner: Arc<dyn ChatModel>) -> Arc<dyn ChatModel> {
    Arc::new(ResilientChat {
        inner,
        breaker: CircuitBreaker::new("llm", BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        policy: RetryPolicy::default(),
    })
}

fn resilient_stt(inner: Arc<dyn SpeechToText>) -> Arc<dyn SpeechToText> {
    Arc::new(ResilientStt {
        inner,
        breaker: CircuitBreaker::new("stt", BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        policy: RetryPolicy::default(),
    })
}

fn resilient_tts(inner: Arc<dyn TextToSpeech>) -> Arc<dyn TextToSpeech> {
    Arc::new(ResilientTts {
        inner,
        breaker: CircuitBreaker::new("tts", BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        policy: RetryPolicy::default(),
    })
}
