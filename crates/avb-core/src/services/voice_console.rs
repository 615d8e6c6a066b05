//! The speech-to-text and language-model consoles (B10, B11): which Whisper sizes the configured
//! engine serves, the tenant's STT settings (model, language, VAD), test transcriptions of an
//! uploaded file with their latency and word error rate, the models a tenant's LLM provider
//! lists, and streamed test prompts. Every test is rate-limited per tenant, audited and metered
//! like a real call.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::{Actor, Scope};
use crate::services::projects::tenant_of;
use crate::services::voice_profiles::{
    self, LLM_PROVIDERS, VoiceProfileInput, VoiceProfileView, engine_language,
};
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::repos::stt_tests::{self, NewSttTest};
use avb_storage::repos::usage::{self as usage_repo, UsageEntry};
use avb_storage::repos::{audit as audit_repo, voice_profiles as profile_repo};
use avb_voice::llm::{ChatMessage, ChatModel, ChatRequest, LlmDelta, OpenAiChat};
use avb_voice::stt::{OpenAiTranscriber, TranscribeOptions};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Largest test upload (10 MiB).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Longest test audio (5 minutes).
pub const MAX_AUDIO_SECS: f64 = 300.0;
/// Test calls (STT and LLM together) a tenant may make per minute.
pub const TESTS_PER_MINUTE: u64 = 20;
/// Longest test prompt.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// How long a provider's `/models` may take.
const MODELS_TIMEOUT: Duration = Duration::from_secs(8);

/// The Faster-Whisper sizes with their accuracy/speed trade-off.
pub const STT_SIZES: &[(&str, &str)] = &[
    (
        "tiny",
        "39 M parameters. Fastest (about 0.3 s for a 3 s clip on 2 CPU cores, int8); misses words on harder or accented speech.",
    ),
    (
        "base",
        "74 M. About twice as slow as tiny (0.7 s for 3 s on 2 cores); clearly fewer errors. A good CPU default.",
    ),
    (
        "small",
        "244 M. About 3x slower than base; much better with accents, noise and non-English speech.",
    ),
    (
        "medium",
        "769 M. About 2-3x slower than small; near-large accuracy. Needs a GPU for live turns.",
    ),
    (
        "large-v2",
        "1550 M. High accuracy in many languages; GPU only for live use.",
    ),
    (
        "large-v3",
        "1550 M. The most accurate (2023 weights, better non-English); GPU only for live use.",
    ),
];

/// An engine call that failed: which engine and why. The page shows it; the API answers 424
/// (Failed Dependency: the platform works, the engine it depends on did not).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFailure {
    /// `speech-to-text` or `language model`.
    pub engine: &'static str,
    pub message: String,
}

impl std::fmt::Display for EngineFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} engine failed: {}", self.engine, self.message)
    }
}

// ---------------------------------------------------------------------------------------------
// Word error rate, audio sniffing

/// Lowercase words with punctuation removed (apostrophes inside words kept).
pub fn normalise_words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: word-level Levenshtein distance (substitutions + deletions + insertions)
/// over the number of reference words, on normalised lowercase words. `None` for an empty
/// reference.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> Option<f64> {
    let r = normalise_words(reference);
    let h = normalise_words(hypothesis);
    if r.is_empty() {
        return None;
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    Some(prev[h.len()] as f64 / r.len() as f64)
}

/// The audio container of `b` from its first bytes: `(format, mime)` for WAV (RIFF/WAVE),
/// MP3 (ID3 tag or MPEG frame sync), Ogg (`OggS`) and WebM (EBML `1A 45 DF A3`).
pub fn sniff_audio(b: &[u8]) -> Option<(&'static str, &'static str)> {
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some(("wav", "audio/wav"))
    } else if b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0) {
        Some(("mp3", "audio/mpeg"))
    } else if b.starts_with(b"OggS") {
        Some(("ogg", "audio/ogg"))
    } else if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some(("webm", "audio/webm"))
    } else {
        None
    }
}

/// Seconds of audio in a WAV file, from its `fmt ` byte rate and `data` size.
pub fn wav_duration(b: &[u8]) -> Option<f64> {
    let mut pos = 12;
    let mut byte_rate = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " && body + 12 <= b.len() {
            byte_rate = Some(u32::from_le_bytes(b[body + 8..body + 12].try_into().ok()?));
        } else if id == b"data" {
            let rate = f64::from(byte_rate.filter(|r| *r > 0)?);
            let len = size.min(b.len() - body);
            return Some(len as f64 / rate);
        }
        pos = body.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Rate limit, metering, audit

async fn throttle(ctx: &AppContext, tenant: TenantId) -> CoreResult<()> {
    ctx.login_limiter
        .hit(crate::redis_keys::voice_tests(tenant), TESTS_PER_MINUTE)
        .await
        .map_err(CoreError::RateLimited)
}

/// Appends the audit row and usage rows of one test call in one transaction.
#[allow(clippy::too_many_arguments)]
async fn record(
    ctx: &AppContext,
    scope: &Scope,
    tenant: TenantId,
    action: &str,
    id: Uuid,
    summary: serde_json::Value,
    usage: &[(&str, f64)],
    stt: Option<NewSttTest>,
) -> CoreResult<()> {
    let api_key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(id.as_uuid()),
        _ => None,
    };
    let now = chrono::Utc::now();
    let entries: Vec<UsageEntry> = usage
        .iter()
        .filter(|(_, q)| *q > 0.0)
        .map(|(metric, quantity)| UsageEntry {
            project: scope.actor().project().map(|p| p.as_uuid()),
            api_key,
            session: None,
            metric: metric.to_string(),
            quantity: *quantity,
            idempotency_key: format!("{action}:{id}:{metric}"),
            occurred_at: now,
        })
        .collect();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(t) = stt {
        stt_tests::insert(&tx, t).await?;
    }
    if !entries.is_empty() {
        usage_repo::append(&tx, &entries).await?;
    }
    audit_repo::append(
        &tx,
        audit::entry(scope, Some(tenant), action, "voice_test", id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Speech to text

/// The STT engine as the console sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct EngineState {
    /// Whether the server has an engine configured for this stage.
    pub configured: bool,
    /// Whether it answered its model list.
    pub reachable: bool,
    /// Why it could not be asked.
    pub error: Option<String>,
}

/// One Whisper model choice.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SttModelChoice {
    /// What to store as `stt_model` (the engine's own id when it serves it).
    pub id: String,
    /// `tiny` .. `large-v3`, or `other` for a model outside the six sizes.
    pub size: String,
    /// An English-only (`.en`) variant.
    pub english_only: bool,
    /// Accuracy/speed trade-off.
    pub tradeoff: String,
    /// Whether the configured engine serves it (only these can be chosen).
    pub available: bool,
    /// Why it cannot be chosen.
    pub reason: Option<String>,
}

/// The STT settings page's data: the tenant's settings and the models.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SttModels {
    pub engine: EngineState,
    /// Model ids exactly as the engine lists them.
    pub served: Vec<String>,
    pub models: Vec<SttModelChoice>,
    /// The tenant's stored model (none: the server default).
    pub current_model: Option<String>,
    /// The server's default model.
    pub default_model: String,
    /// BCP-47 tag or `auto`; none inherits the server default (auto-detect).
    pub language: Option<String>,
    /// VAD turn detection; none inherits (on).
    pub vad: Option<bool>,
    /// Compute settings as far as the platform knows them.
    pub compute: String,
}

/// The size (and whether English-only) of an engine model id such as `tiny.en`,
/// `Systran/faster-whisper-large-v3` or `whisper-base`.
fn size_of(id: &str) -> Option<(&'static str, bool)> {
    let last = id.rsplit('/').next().unwrap_or(id).to_ascii_lowercase();
    let last = last
        .strip_prefix("faster-whisper-")
        .or_else(|| last.strip_prefix("whisper-"))
        .unwrap_or(&last);
    let (base, en) = match last.strip_suffix(".en") {
        Some(b) => (b, true),
        None => (last, false),
    };
    STT_SIZES
        .iter()
        .find(|(n, _)| *n == base)
        .map(|(n, _)| (*n, en))
}

fn transcriber(ctx: &AppContext) -> Result<OpenAiTranscriber, EngineFailure> {
    let e = &ctx.config.engines;
    let url = e.stt_url.as_deref().ok_or(EngineFailure {
        engine: "speech-to-text",
        message: "no speech-to-text engine is configured on this server".into(),
    })?;
    OpenAiTranscriber::new(
        url,
        e.stt_api_key.as_ref().map(|k| k.expose().to_string()),
        &e.stt_model,
        Duration::from_secs(e.stt_timeout_secs.max(1)),
    )
    .map_err(|err| EngineFailure {
        engine: "speech-to-text",
        message: err.to_string(),
    })
}

/// Asks the configured STT engine which models it serves.
async fn served_stt_models(ctx: &AppContext) -> (EngineState, Vec<String>) {
    let e = &ctx.config.engines;
    let Some(url) = e.stt_url.as_deref() else {
        return (
            EngineState {
                configured: false,
                reachable: false,
                error: Some("no speech-to-text engine is configured on this server".into()),
            },
            Vec::new(),
        );
    };
    let http = reqwest::Client::builder()
        .timeout(MODELS_TIMEOUT)
        .build()
        .unwrap_or_default();
    let key = e.stt_api_key.as_ref().map(|k| k.expose().to_string());
    match avb_voice::list_models(&http, url, key.as_deref(), "stt").await {
        Ok(ids) => (
            EngineState {
                configured: true,
                reachable: true,
                error: None,
            },
            ids,
        ),
        Err(err) => (
            EngineState {
                configured: true,
                reachable: false,
                error: Some(format!(
                    "the speech-to-text engine could not be reached: {err}"
                )),
            },
            Vec::new(),
        ),
    }
}

fn choices(engine: &EngineState, served: &[String]) -> Vec<SttModelChoice> {
    let mut out = Vec::new();
    for (size, tradeoff) in STT_SIZES {
        let mut ids: Vec<(&String, bool)> = served
            .iter()
            .filter_map(|id| match size_of(id) {
                Some((s, en)) if s == *size => Some((id, en)),
                _ => None,
            })
            .collect();
        ids.sort_by_key(|(_, en)| *en);
        if ids.is_empty() {
            out.push(SttModelChoice {
                id: size.to_string(),
                size: size.to_string(),
                english_only: false,
                tradeoff: tradeoff.to_string(),
                available: false,
                reason: Some(if engine.reachable {
                    "the configured engine does not serve this model".into()
                } else {
                    engine
                        .error
                        .clone()
                        .unwrap_or_else(|| "the engine could not be asked".into())
                }),
            });
        }
        for (id, en) in ids {
            out.push(SttModelChoice {
                id: id.clone(),
                size: size.to_string(),
                english_only: en,
                tradeoff: if en {
                    format!("{tradeoff} English only: a little more accurate on English.")
                } else {
                    tradeoff.to_string()
                },
                available: true,
                reason: None,
            });
        }
    }
    for id in served.iter().filter(|id| size_of(id).is_none()) {
        out.push(SttModelChoice {
            id: id.clone(),
            size: "other".into(),
            english_only: false,
            tradeoff: "Served by the engine; not one of the Faster-Whisper sizes.".into(),
            available: true,
            reason: None,
        });
    }
    out
}

/// The tenant's STT settings and the models the engine serves (requires `projects:view`).
pub async fn stt_models(ctx: &AppContext, scope: &Scope) -> CoreResult<SttModels> {
    let profile = voice_profiles::get(ctx, scope, None).await?;
    let (engine, served) = served_stt_models(ctx).await;
    let e = &ctx.config.engines;
    Ok(SttModels {
        models: choices(&engine, &served),
        engine,
        served,
        current_model: profile.stt_model,
        default_model: e.stt_model.clone(),
        language: profile.stt_language,
        vad: profile.stt_vad,
        compute: format!(
            "Decided by the engine's operator (the bundled engine runs int8 on CPU); the platform sends the model and language and waits up to {} s per transcription.",
            e.stt_timeout_secs
        ),
    })
}

/// STT settings as saved from the console.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct SttSettings {
    /// A model the engine serves; none = the server default.
    pub model: Option<String>,
    /// BCP-47 tag or `auto`; none = inherit.
    pub language: Option<String>,
    /// VAD turn detection; none = inherit (on).
    pub vad: Option<bool>,
}

/// The stored profile as input, every field kept (the key is kept by leaving it out).
fn as_input(v: VoiceProfileView) -> VoiceProfileInput {
    VoiceProfileInput {
        voice: v.voice,
        speed: v.speed,
        stt_model: v.stt_model,
        stt_language: v.stt_language,
        stt_vad: v.stt_vad,
        llm_provider: v.llm_provider,
        llm_base_url: v.llm_base_url,
        llm_model: v.llm_model,
        llm_api_key: None,
        temperature: v.temperature,
        max_output_tokens: v.max_output_tokens,
        instructions: v.instructions,
    }
}

/// Saves the tenant's STT settings (requires `settings:manage`); a model the engine does not
/// serve is refused with the reason, and nothing is saved.
pub async fn save_stt(
    ctx: &AppContext,
    scope: &Scope,
    s: SttSettings,
) -> CoreResult<VoiceProfileView> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let current = voice_profiles::get(ctx, scope, None).await?;
    let model = s
        .model
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    if let Some(m) = &model
        && current.stt_model.as_ref() != Some(m)
    {
        let (engine, served) = served_stt_models(ctx).await;
        if !served.contains(m) {
            let why = if engine.reachable {
                format!(
                    "the speech-to-text engine does not serve {m} (it serves: {})",
                    served.join(", ")
                )
            } else {
                format!(
                    "cannot be checked: {}",
                    engine.error.unwrap_or_else(|| "the engine is down".into())
                )
            };
            return Err(ValidationError::new("stt_model", why).into());
        }
    }
    let mut input = as_input(current);
    input.stt_model = model;
    input.stt_language = s.language;
    input.stt_vad = s.vad;
    voice_profiles::put(ctx, scope, None, input).await
}

/// An uploaded test file and its options.
#[derive(Debug, Clone, Default)]
pub struct SttUpload {
    pub bytes: Vec<u8>,
    pub file_name: String,
    /// BCP-47 tag or `auto`; none uses the tenant's setting.
    pub language: Option<String>,
    /// None uses the tenant's model (or the server default).
    pub model: Option<String>,
    /// The words actually spoken, for the word error rate.
    pub reference: Option<String>,
}

/// What a test transcription gave.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SttTestResult {
    pub transcript: String,
    /// The language the engine detected or was told.
    pub language: Option<String>,
    /// Seconds of audio.
    pub duration_secs: Option<f64>,
    /// How long the engine took, in milliseconds.
    pub elapsed_ms: f64,
    pub model: String,
    /// `wav`, `mp3`, `ogg` or `webm`.
    pub format: String,
    /// Word error rate against the reference text (0 = exact), when one was given.
    pub wer: Option<f64>,
}

fn file_error(message: impl Into<String>) -> CoreError {
    ValidationError::new("file", message).into()
}

/// Checks an upload before anything is sent: size, container, length. Returns the format and
/// its MIME type.
pub fn check_upload(bytes: &[u8]) -> CoreResult<(&'static str, &'static str)> {
    if bytes.is_empty() {
        return Err(file_error("is empty: choose an audio file"));
    }
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(file_error(format!(
            "is too large: {} bytes; the limit is 10 MB ({MAX_UPLOAD_BYTES} bytes)",
            bytes.len()
        )));
    }
    let Some((format, mime)) = sniff_audio(bytes) else {
        return Err(file_error(
            "is not audio: upload a WAV, MP3, Ogg or WebM file",
        ));
    };
    if format == "wav" {
        match wav_duration(bytes) {
            Some(d) if d > MAX_AUDIO_SECS => {
                return Err(file_error(format!(
                    "is too long: {d:.0} s; the limit is 5 minutes ({MAX_AUDIO_SECS:.0} s)"
                )));
            }
            Some(_) => {}
            None => return Err(file_error("is not a readable WAV file")),
        }
    }
    Ok((format, mime))
}

/// Transcribes a test upload with the tenant's settings (requires `projects:view`): rate-limited
/// per tenant, audited, metered (`requests`, `audio_minutes_input`) and recorded for the
/// latency and WER figures. An engine failure comes back as the inner `Err`.
pub async fn stt_test(
    ctx: &AppContext,
    scope: &Scope,
    up: SttUpload,
) -> CoreResult<Result<SttTestResult, EngineFailure>> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let (format, mime) = check_upload(&up.bytes)?;
    let checked = voice_profiles::check_language(up.language)?;
    let reference = match up.reference.map(|r| r.trim().to_string()) {
        Some(r) if r.chars().count() > 10_000 => {
            return Err(
                ValidationError::new("reference", "must be at most 10,000 characters").into(),
            );
        }
        Some(r) if r.is_empty() => None,
        other => other,
    };
    let model = match up.model.map(|m| m.trim().to_string()) {
        Some(m) if m.is_empty() => None,
        Some(m)
            if m.len() > 128
                || !m
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c)) =>
        {
            return Err(ValidationError::new(
                "model",
                "may contain only letters, digits and - _ . : /",
            )
            .into());
        }
        other => other,
    };
    throttle(ctx, tenant).await?;
    let profile = voice_profiles::resolve(ctx, tenant, None).await?;
    let language_setting = checked.or(profile.stt_language.clone());
    let model = model
        .or(profile.stt_model.clone())
        .unwrap_or_else(|| ctx.config.engines.stt_model.clone());
    let id = Uuid::now_v7();
    let stt = match transcriber(ctx) {
        Ok(t) => t,
        Err(f) => return Ok(Err(f)),
    };
    let name = if up.file_name.trim().is_empty() {
        format!("audio.{format}")
    } else {
        up.file_name.chars().take(100).collect()
    };
    let opts = TranscribeOptions {
        language: engine_language(language_setting.as_deref()),
        prompt: None,
        model: Some(model.clone()),
    };
    let local_duration = if format == "wav" {
        wav_duration(&up.bytes)
    } else {
        None
    };
    let started = Instant::now();
    let answer = stt.transcribe_file(up.bytes, &name, mime, opts).await;
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    let t = match answer {
        Ok(t) => t,
        Err(err) => {
            let failure = EngineFailure {
                engine: "speech-to-text",
                message: err.to_string(),
            };
            record(
                ctx,
                scope,
                tenant,
                "voice.stt_test",
                id,
                serde_json::json!({"model": model, "format": format, "ok": false, "error": failure.message}),
                &[("requests", 1.0)],
                None,
            )
            .await?;
            return Ok(Err(failure));
        }
    };
    if let Some(d) = t.duration
        && d > MAX_AUDIO_SECS
    {
        return Err(file_error(format!(
            "is too long: {d:.0} s; the limit is 5 minutes ({MAX_AUDIO_SECS:.0} s)"
        )));
    }
    let duration = t.duration.or(local_duration);
    let wer = reference
        .as_deref()
        .and_then(|r| word_error_rate(r, &t.text));
    let result = SttTestResult {
        transcript: t.text,
        language: t.language.or(language_setting),
        duration_secs: duration,
        elapsed_ms,
        model: model.clone(),
        format: format.to_string(),
        wer,
    };
    record(
        ctx,
        scope,
        tenant,
        "voice.stt_test",
        id,
        serde_json::json!({
            "model": model, "format": format, "ok": true,
            "duration_secs": result.duration_secs, "elapsed_ms": elapsed_ms.round(), "wer": wer,
        }),
        &[
            ("requests", 1.0),
            (
                "audio_minutes_input",
                result.duration_secs.unwrap_or(0.0) / 60.0,
            ),
        ],
        Some(NewSttTest {
            model,
            language: result.language.clone(),
            format: format.to_string(),
            duration_secs: result.duration_secs,
            latency_ms: elapsed_ms,
            wer,
        }),
    )
    .await?;
    Ok(Ok(result))
}

/// Latency of the tenant's live transcriptions from the stage histogram.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StageLatency {
    pub count: f64,
    pub avg_ms: Option<f64>,
    pub p95_ms: f64,
    /// `this process` or the Prometheus server's URL and window.
    pub source: String,
}

/// Transcription latency and accuracy figures of the tenant.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SttStats {
    /// Console tests counted (the most recent 1000).
    pub tests: usize,
    pub avg_latency_ms: Option<f64>,
    pub p95_latency_ms: Option<f64>,
    /// Tests that carried a reference text.
    pub wer_tests: usize,
    pub avg_wer: Option<f64>,
    /// Live session transcriptions (`avb_realtime_stage_seconds{stage="stt"}` for this tenant).
    pub sessions: Option<StageLatency>,
}

fn p95(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let rank = ((v.len() as f64) * 0.95).ceil() as usize;
    v.get(rank.saturating_sub(1).min(v.len() - 1)).copied()
}

/// The tenant's transcription latency and WER (requires `projects:view`).
pub async fn stt_stats(ctx: &AppContext, scope: &Scope) -> CoreResult<SttStats> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = stt_tests::recent(&tx, 1000).await?;
    tx.commit().await?;
    let lat: Vec<f64> = rows.iter().map(|r| r.latency_ms).collect();
    let wers: Vec<f64> = rows.iter().filter_map(|r| r.wer).collect();
    let avg = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let sessions = match crate::monitoring::samples(ctx).await {
        Ok((source, samples)) => {
            let me = tenant.to_string();
            crate::monitoring::histograms(
                &samples,
                "avb_realtime_stage_seconds",
                &["stage", "tenant"],
            )
            .into_iter()
            .find(|h| {
                h.labels.get("stage").map(String::as_str) == Some("stt")
                    && h.labels.get("tenant") == Some(&me)
                    && h.count > 0.0
            })
            .map(|h| StageLatency {
                count: h.count,
                avg_ms: (h.sum > 0.0).then(|| h.sum / h.count * 1000.0),
                p95_ms: h.p95 * 1000.0,
                source: match source {
                    crate::monitoring::FiguresSource::Local => "this process".into(),
                    crate::monitoring::FiguresSource::Prometheus { url, minutes } => {
                        format!("{url}, last {minutes} min")
                    }
                },
            })
        }
        Err(e) => {
            tracing::warn!(error = %e, "stage histograms unavailable");
            None
        }
    };
    Ok(SttStats {
        tests: rows.len(),
        avg_latency_ms: avg(&lat),
        p95_latency_ms: p95(lat),
        wer_tests: wers.len(),
        avg_wer: avg(&wers),
        sessions,
    })
}

// ---------------------------------------------------------------------------------------------
// Language model

/// A provider's model list (or why there is none).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LlmModels {
    /// `server` (the platform's engine), `openai`, `groq`, `ollama` or `custom`.
    pub provider: String,
    /// The URL asked (none for the server's engine).
    pub base_url: Option<String>,
    /// Model ids as the provider lists them; empty when it could not be asked.
    pub models: Vec<String>,
    /// Why the list is empty.
    pub error: Option<String>,
}

/// The fingerprint of a provider key: the first 8 hex digits of its SHA-256. Tells two keys
/// apart without revealing either.
pub fn key_fingerprint(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("sha256:{}", &hex::encode(digest)[..8])
}

/// The tenant's stored provider key, opened (never leaves core except as a fingerprint).
async fn stored_key(ctx: &AppContext, tenant: TenantId) -> CoreResult<Option<String>> {
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let row = profile_repo::get(&tx, None).await?;
    tx.commit().await?;
    match row.and_then(|m| m.llm_api_key_enc) {
        Some(sealed) => Ok(Some(
            ctx.sealer
                .open(&sealed, &format!("voice_profile:{}", tenant.as_uuid()))?,
        )),
        None => Ok(None),
    }
}

/// The fingerprint of the tenant's stored provider key, if one is stored (requires
/// `projects:view`).
pub async fn llm_key_fingerprint(ctx: &AppContext, scope: &Scope) -> CoreResult<Option<String>> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    Ok(stored_key(ctx, tenant).await?.map(|k| key_fingerprint(&k)))
}

/// The models `provider` lists at `base_url` (its default URL when omitted), asked with the
/// tenant's stored key when it was stored for that provider and URL; `provider` none or
/// `server` asks the server's own LLM engine. An unreachable provider is reported in `error`;
/// nothing is invented. Requires `projects:view`; URLs pass the BYOK SSRF rules.
pub async fn llm_models(
    ctx: &AppContext,
    scope: &Scope,
    provider: Option<&str>,
    base_url: Option<&str>,
) -> CoreResult<LlmModels> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let provider = provider
        .map(str::trim)
        .filter(|p| !p.is_empty() && *p != "server");
    let Some(provider) = provider else {
        let e = &ctx.config.engines;
        let Some(url) = e.llm_url.as_deref() else {
            return Ok(LlmModels {
                provider: "server".into(),
                base_url: None,
                models: Vec::new(),
                error: Some("no language model engine is configured on this server".into()),
            });
        };
        let http = reqwest::Client::builder()
            .timeout(MODELS_TIMEOUT)
            .build()
            .unwrap_or_default();
        let key = e.llm_api_key.as_ref().map(|k| k.expose().to_string());
        let (models, error) = match avb_voice::list_models(&http, url, key.as_deref(), "llm").await
        {
            Ok(m) => (m, None),
            Err(err) => (
                Vec::new(),
                Some(format!(
                    "the server's language model engine could not be reached: {err}"
                )),
            ),
        };
        return Ok(LlmModels {
            provider: "server".into(),
            base_url: None,
            models,
            error,
        });
    };
    let allow_private = ctx.config.engines.byok_allow_private_urls;
    let probe = VoiceProfileInput {
        llm_provider: Some(provider.to_string()),
        llm_base_url: base_url
            .map(str::to_string)
            .filter(|u| !u.trim().is_empty()),
        ..VoiceProfileInput::default()
    };
    let url = voice_profiles::check_llm_endpoint(probe, allow_private).await?;
    let stored = voice_profiles::get(ctx, scope, None).await?;
    let key = if stored.llm_provider.as_deref() == Some(provider)
        && stored.llm_base_url.as_deref() == Some(url.as_str())
    {
        stored_key(ctx, tenant).await?
    } else {
        None
    };
    let http = crate::egress::tenant_client(allow_private)
        .timeout(MODELS_TIMEOUT)
        .build()
        .map_err(|e| CoreError::Internal(e.to_string()))?;
    let (models, error) = match avb_voice::list_models(&http, &url, key.as_deref(), "llm").await {
        Ok(m) => (m, None),
        Err(err @ avb_voice::EngineError::Rejected { .. }) => (
            Vec::new(),
            Some(format!(
                "the provider at {url} refused to list its models: {err}"
            )),
        ),
        Err(err) => (
            Vec::new(),
            Some(format!("the provider at {url} could not be reached: {err}")),
        ),
    };
    Ok(LlmModels {
        provider: provider.to_string(),
        base_url: Some(url),
        models,
        error,
    })
}

/// LLM settings as saved from the console.
#[derive(Debug, Clone, Default)]
pub struct LlmSettings {
    /// `openai`, `groq`, `ollama`, `custom`; none = the server's engine.
    pub provider: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i32>,
    /// None keeps the stored key, `Some("")` removes it, else replaces it.
    pub api_key: Option<String>,
}

/// Saves the tenant's LLM settings (requires `settings:manage`); validation as for the profile.
pub async fn save_llm(
    ctx: &AppContext,
    scope: &Scope,
    s: LlmSettings,
) -> CoreResult<VoiceProfileView> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let current = voice_profiles::get(ctx, scope, None).await?;
    let provider = s.provider.filter(|p| !p.trim().is_empty() && p != "server");
    let base_url = if provider.is_some() { s.base_url } else { None };
    // A model the provider does not list is refused (when it can be asked; a provider that
    // cannot be reached, or wants the key given in this same form, is not held against it).
    if let Some(m) = s.model.as_deref().filter(|m| !m.trim().is_empty())
        && current.llm_model.as_deref() != Some(m)
        && let Ok(listed) = llm_models(ctx, scope, provider.as_deref(), base_url.as_deref()).await
        && listed.error.is_none()
        && !listed.models.iter().any(|x| x == m)
    {
        return Err(ValidationError::new(
            "llm_model",
            format!(
                "{m} is not among the models the provider lists ({})",
                listed.models.join(", ")
            ),
        )
        .into());
    }
    let mut input = as_input(current);
    input.llm_provider = provider;
    input.llm_base_url = base_url;
    input.llm_model = s.model;
    input.temperature = s.temperature;
    input.max_output_tokens = s.max_output_tokens;
    input.llm_api_key = s.api_key;
    voice_profiles::put(ctx, scope, None, input).await
}

/// Removes the stored provider key (requires `settings:manage`); audited.
pub async fn remove_llm_key(ctx: &AppContext, scope: &Scope) -> CoreResult<VoiceProfileView> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let current = voice_profiles::get(ctx, scope, None).await?;
    if !current.llm_api_key_set {
        return Err(CoreError::NotFound);
    }
    let mut input = as_input(current);
    input.llm_api_key = Some(String::new());
    voice_profiles::put(ctx, scope, None, input).await
}

/// What a test prompt gave.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LlmTestResult {
    pub reply: String,
    pub model: String,
    /// `server` or the provider's URL.
    pub endpoint: String,
    /// Time to the first token, in milliseconds.
    pub ttft_ms: Option<f64>,
    pub total_ms: f64,
    /// Output tokens as the provider reported them, else the number of streamed pieces.
    pub output_tokens: u64,
    /// Whether `output_tokens` was counted from the stream (the provider reported none).
    pub tokens_estimated: bool,
    /// Output tokens per second after the first token.
    pub tokens_per_sec: Option<f64>,
}

/// One event of a streamed test prompt.
#[derive(Debug, Clone)]
pub enum LlmTestEvent {
    /// Text as it arrives.
    Token(String),
    /// The whole reply with its timing (recorded, metered and audited before it is sent).
    Done(LlmTestResult),
    /// The engine failed.
    Failed(EngineFailure),
}

/// Starts a test prompt with the tenant's LLM settings and the persona's instructions
/// (requires `projects:view`); rate-limited per tenant, then streamed. The call is audited and
/// metered (`requests`, `llm_tokens_*`) when it ends, whether or not anyone still listens.
pub async fn llm_test(
    ctx: &AppContext,
    scope: &Scope,
    prompt: &str,
) -> CoreResult<tokio::sync::mpsc::Receiver<LlmTestEvent>> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let prompt = prompt.trim();
    if prompt.is_empty() {
        return Err(ValidationError::new("prompt", "must not be empty").into());
    }
    if prompt.chars().count() > MAX_PROMPT_CHARS {
        return Err(ValidationError::new(
            "prompt",
            format!("must be at most {MAX_PROMPT_CHARS} characters"),
        )
        .into());
    }
    throttle(ctx, tenant).await?;
    let profile = voice_profiles::resolve(ctx, tenant, None).await?;
    let e = &ctx.config.engines;
    let timeout = Duration::from_secs(e.llm_timeout_secs.max(1));
    let allow_private = e.byok_allow_private_urls;
    let chat: Result<(Box<dyn ChatModel>, String), EngineFailure> = match &profile.llm {
        Some(own) => match crate::egress::check_literal(&own.base_url, allow_private) {
            Err(err) => Err(EngineFailure {
                engine: "language model",
                message: format!("the provider at {} is refused: {err}", own.base_url),
            }),
            Ok(()) => crate::egress::tenant_client(allow_private)
                .connect_timeout(Duration::from_secs(5))
                .build()
                .map(|http| {
                    (
                        Box::new(OpenAiChat::with_client(
                            &own.base_url,
                            own.api_key.clone(),
                            http,
                            timeout,
                        )) as Box<dyn ChatModel>,
                        own.base_url.clone(),
                    )
                })
                .map_err(|err| EngineFailure {
                    engine: "language model",
                    message: err.to_string(),
                }),
        },
        None => match e.llm_url.as_deref() {
            None => Err(EngineFailure {
                engine: "language model",
                message: "no language model engine is configured on this server".into(),
            }),
            Some(url) => OpenAiChat::new(
                url,
                e.llm_api_key.as_ref().map(|k| k.expose().to_string()),
                timeout,
            )
            .map(|c| (Box::new(c) as Box<dyn ChatModel>, "server".to_string()))
            .map_err(|err| EngineFailure {
                engine: "language model",
                message: err.to_string(),
            }),
        },
    };
    let model = profile
        .llm_model
        .clone()
        .unwrap_or_else(|| e.llm_model.clone());
    let mut messages = Vec::new();
    if let Some(i) = profile.instructions.as_deref().filter(|i| !i.is_empty()) {
        messages.push(ChatMessage::text("system", i));
    }
    messages.push(ChatMessage::text("user", prompt));
    let req = ChatRequest {
        model: model.clone(),
        messages,
        temperature: profile.temperature,
        max_tokens: Some(
            profile
                .max_output_tokens
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(512),
        ),
        tools: Vec::new(),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(256);
    let ctx = ctx.clone();
    let scope = scope.clone();
    let prompt_chars = prompt.chars().count();
    tokio::spawn(async move {
        let id = Uuid::now_v7();
        let started = Instant::now();
        let fail = |f: EngineFailure| async {
            let summary = serde_json::json!({"model": model, "ok": false, "error": f.message, "prompt_chars": prompt_chars});
            if let Err(err) = record(
                &ctx,
                &scope,
                tenant,
                "voice.llm_test",
                id,
                summary,
                &[("requests", 1.0)],
                None,
            )
            .await
            {
                tracing::warn!(error = %err, "LLM test could not be recorded");
            }
            let _ = tx.send(LlmTestEvent::Failed(f)).await;
        };
        let (chat, endpoint) = match chat {
            Ok(c) => c,
            Err(f) => return fail(f).await,
        };
        let mut stream = match chat.stream(req).await {
            Ok(s) => s,
            Err(err) => {
                return fail(EngineFailure {
                    engine: "language model",
                    message: err.to_string(),
                })
                .await;
            }
        };
        let mut reply = String::new();
        let mut first: Option<Duration> = None;
        let mut pieces = 0u64;
        let mut usage: Option<(u64, u64)> = None;
        while let Some(d) = stream.next().await {
            match d {
                Ok(LlmDelta::Text(t)) => {
                    if t.is_empty() {
                        continue;
                    }
                    first.get_or_insert_with(|| started.elapsed());
                    pieces += 1;
                    reply.push_str(&t);
                    let _ = tx.send(LlmTestEvent::Token(t)).await;
                }
                Ok(LlmDelta::Usage {
                    input_tokens,
                    output_tokens,
                }) => usage = Some((input_tokens, output_tokens)),
                Ok(LlmDelta::ToolCall { .. }) => {}
                Err(err) => {
                    return fail(EngineFailure {
                        engine: "language model",
                        message: err.to_string(),
                    })
                    .await;
                }
            }
        }
        let total = started.elapsed();
        let output_tokens = usage.map_or(pieces, |u| u.1);
        let gen_secs = first.map(|f| (total - f).as_secs_f64());
        let result = LlmTestResult {
            reply,
            model: model.clone(),
            endpoint,
            ttft_ms: first.map(|f| f.as_secs_f64() * 1000.0),
            total_ms: total.as_secs_f64() * 1000.0,
            output_tokens,
            tokens_estimated: usage.is_none(),
            tokens_per_sec: gen_secs
                .filter(|s| *s > 0.0)
                .map(|s| output_tokens as f64 / s),
        };
        let summary = serde_json::json!({
            "model": model, "ok": true, "prompt_chars": prompt_chars,
            "output_tokens": output_tokens, "ttft_ms": result.ttft_ms.map(f64::round),
        });
        #[allow(clippy::cast_precision_loss)]
        let metered = [
            ("requests", 1.0),
            ("llm_tokens_input", usage.map_or(0.0, |u| u.0 as f64)),
            ("llm_tokens_output", output_tokens as f64),
        ];
        if let Err(err) = record(
            &ctx,
            &scope,
            tenant,
            "voice.llm_test",
            id,
            summary,
            &metered,
            None,
        )
        .await
        {
            tracing::warn!(error = %err, "LLM test could not be recorded");
        }
        let _ = tx.send(LlmTestEvent::Done(result)).await;
    });
    Ok(rx)
}

/// Runs a test prompt to the end (the API's JSON answer).
pub async fn llm_test_collect(
    ctx: &AppContext,
    scope: &Scope,
    prompt: &str,
) -> CoreResult<Result<LlmTestResult, EngineFailure>> {
    let mut rx = llm_test(ctx, scope, prompt).await?;
    while let Some(ev) = rx.recv().await {
        match ev {
            LlmTestEvent::Token(_) => {}
            LlmTestEvent::Done(r) => return Ok(Ok(r)),
            LlmTestEvent::Failed(f) => return Ok(Err(f)),
        }
    }
    Err(CoreError::Internal(
        "the test prompt ended without an answer".into(),
    ))
}

/// The providers a tenant may pick, with their default URLs.
pub fn providers() -> &'static [(&'static str, Option<&'static str>)] {
    LLM_PROVIDERS
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wer_is_word_levenshtein_over_reference_words() {
        assert_eq!(word_error_rate("Hello, world!", "hello world"), Some(0.0));
        // One substitution in four words.
        assert_eq!(
            word_error_rate("the cat sat down", "the cat sat town"),
            Some(0.25)
        );
        // One deletion and one insertion.
        assert_eq!(word_error_rate("a b c d", "a c d e"), Some(0.5));
        // Everything missing.
        assert_eq!(word_error_rate("one two", ""), Some(1.0));
        // Insertions can push it above 1.
        assert_eq!(word_error_rate("hi", "oh hi there you"), Some(3.0));
        assert_eq!(word_error_rate("  ", "anything"), None);
        assert_eq!(normalise_words("It's A TEST."), vec!["it's", "a", "test"]);
    }

    #[test]
    fn audio_is_sniffed_by_content() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&[1, 0, 1, 0]);
        wav.extend_from_slice(&16_000u32.to_le_bytes());
        wav.extend_from_slice(&32_000u32.to_le_bytes());
        wav.extend_from_slice(&[2, 0, 16, 0]);
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&64_000u32.to_le_bytes());
        wav.extend_from_slice(&vec![0u8; 64_000]);
        assert_eq!(sniff_audio(&wav).unwrap().0, "wav");
        assert_eq!(wav_duration(&wav), Some(2.0));
        assert_eq!(sniff_audio(b"ID3\x04rest").unwrap().0, "mp3");
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0x90, 0]).unwrap().0, "mp3");
        assert_eq!(sniff_audio(b"OggS\0\x02").unwrap().0, "ogg");
        assert_eq!(sniff_audio(&[0x1A, 0x45, 0xDF, 0xA3, 1]).unwrap().0, "webm");
        assert_eq!(sniff_audio(b"%PDF-1.4"), None);
        assert_eq!(sniff_audio(b"hello"), None);
        assert!(check_upload(b"not audio at all").is_err());
        assert!(check_upload(&[]).is_err());
    }

    #[test]
    fn engine_models_map_to_sizes() {
        assert_eq!(size_of("tiny.en"), Some(("tiny", true)));
        assert_eq!(
            size_of("Systran/faster-whisper-large-v3"),
            Some(("large-v3", false))
        );
        assert_eq!(size_of("whisper-base"), Some(("base", false)));
        assert_eq!(size_of("smollm2"), None);
        let up = EngineState {
            configured: true,
            reachable: true,
            error: None,
        };
        let c = choices(&up, &["tiny.en".to_string(), "whisper-1".to_string()]);
        let tiny = c.iter().find(|m| m.id == "tiny.en").unwrap();
        assert!(tiny.available && tiny.english_only);
        let large = c.iter().find(|m| m.id == "large-v3").unwrap();
        assert!(!large.available && large.reason.is_some());
        assert!(c.iter().any(|m| m.id == "whisper-1" && m.size == "other"));
        assert_eq!(c.iter().filter(|m| m.size != "other").count(), 6);
    }

    #[test]
    fn p95_and_fingerprint() {
        assert_eq!(p95(vec![]), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(v), Some(95.0));
        let fp = key_fingerprint("sk-secret-key");
        assert!(fp.starts_with("sha256:") && fp.len() == 15 && !fp.contains("secret"));
    }
}
