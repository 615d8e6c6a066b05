//! The engines a session uses, built from configuration.

use avb_core::config::EnginesConfig;
use avb_core::services::voice_profiles::{ResolvedProfile, TenantLlm};
use avb_voice::resilience::{resilient_chat, resilient_stt};
use avb_voice::{ChatModel, OpenAiChat, OpenAiTranscriber, SpeechToText, TextToSpeech};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
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
    /// Transcription model chosen by the tenant, instead of the server's.
    pub stt_model: Option<String>,
    /// Transcription language chosen by the tenant, used when the session names none.
    pub stt_language: Option<String>,
    /// Sampling temperature chosen by the tenant, sent in both dialects.
    pub temperature: Option<f64>,
    /// The LLM's timeout, for tenant-chosen endpoints.
    llm_timeout: Duration,
    /// Whether tenant-chosen endpoints may be private addresses (`engines.byok_allow_private_urls`).
    byok_allow_private: bool,
    /// Session voice names -> the TTS engine's voice names.
    voice_map: Arc<BTreeMap<String, String>>,
    /// The queue speech to text goes through, when it does (jobs then carry the tenant).
    pub(crate) stt_queue: Option<Arc<crate::work::QueuedStt>>,
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
        let tts = avb_core::services::voices::tts_engine(cfg);
        Self {
            llm,
            llm_model: cfg.llm_model.clone(),
            stt,
            tts,
            stt_model: None,
            stt_language: None,
            temperature: None,
            llm_timeout: Duration::from_secs(cfg.llm_timeout_secs),
            byok_allow_private: cfg.byok_allow_private_urls,
            voice_map: Arc::new(cfg.tts_voice_map.clone()),
            stt_queue: None,
        }
    }

    /// The TTS engine's name for the session's `voice`.
    pub fn tts_voice(&self, voice: &str) -> String {
        self.voice_map
            .get(voice)
            .cloned()
            .unwrap_or_else(|| voice.to_string())
    }

    /// The engines of a session that starts from `profile`: the tenant's own LLM endpoint and
    /// key when it chose one (shared per endpoint and key through `tenant_llms`, so each has one
    /// circuit breaker), and its model choices.
    pub fn for_profile(&self, profile: &ResolvedProfile, tenant_llms: &TenantLlms) -> Self {
        let mut out = self.clone();
        if let Some(own) = &profile.llm {
            out.llm = tenant_llms.get(own, self.llm_timeout, self.byok_allow_private);
        }
        if let Some(m) = &profile.llm_model {
            out.llm_model = m.clone();
        }
        out.stt_model = profile.stt_model.clone();
        // BCP-47 `pt-BR` -> Whisper's `pt`; `auto` sends none (the engine detects it).
        out.stt_language =
            avb_core::services::voice_profiles::engine_language(profile.stt_language.as_deref());
        out.temperature = profile.temperature;
        if !profile.custom_voices.is_empty() {
            let mut map = (*self.voice_map).clone();
            map.extend(profile.custom_voices.clone());
            out.voice_map = Arc::new(map);
        }
        out
    }

    /// The engines of `tenant`'s session: queued jobs carry its id.
    pub fn for_tenant(mut self, tenant: Option<avb_domain::TenantId>) -> Self {
        if let Some(q) = &self.stt_queue {
            self.stt = Some(Arc::new(q.for_tenant(tenant)));
        }
        self
    }
}

/// Most tenant LLM clients kept; beyond it the map starts over (clients are cheap to rebuild).
const MAX_TENANT_LLMS: usize = 1024;

/// A tenant endpoint: its base URL and the SHA-256 of its key.
type EndpointId = (String, [u8; 32]);

/// Chat clients for tenant-chosen endpoints, one per (URL, key).
#[derive(Default)]
pub struct TenantLlms {
    clients: Mutex<HashMap<EndpointId, Arc<dyn ChatModel>>>,
}

impl TenantLlms {
    /// The client for `own`, built on first use; `None` when the URL cannot be used. The
    /// client follows no redirects and, unless `allow_private`, connects only to public
    /// addresses it resolved itself (see `avb_core::egress`).
    pub fn get(
        &self,
        own: &TenantLlm,
        timeout: Duration,
        allow_private: bool,
    ) -> Option<Arc<dyn ChatModel>> {
        if let Err(e) = avb_core::egress::check_literal(&own.base_url, allow_private) {
            tracing::warn!(error = %e, url = %own.base_url, "tenant LLM endpoint refused");
            return None;
        }
        let key_hash: [u8; 32] = Sha256::digest(own.api_key.as_deref().unwrap_or("")).into();
        let id = (own.base_url.clone(), key_hash);
        let mut clients = self
            .clients
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = clients.get(&id) {
            return Some(c.clone());
        }
        let http = avb_core::egress::tenant_client(allow_private)
            .connect_timeout(Duration::from_secs(5))
            .build();
        match http {
            Ok(http) => {
                if clients.len() >= MAX_TENANT_LLMS {
                    clients.clear();
                }
                let c = OpenAiChat::with_client(&own.base_url, own.api_key.clone(), http, timeout);
                let c = resilient_chat(Arc::new(c));
                clients.insert(id, c.clone());
                Some(c)
            }
            Err(e) => {
                tracing::warn!(error = %e, url = %own.base_url, "tenant LLM could not be set up");
                None
            }
        }
    }
}
