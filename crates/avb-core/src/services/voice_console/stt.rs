//! The speech-to-text console: the Whisper sizes the engine serves, the tenant's STT settings,
//! test transcriptions and their latency and accuracy figures.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use crate::services::voice_profiles::{self, VoiceProfileView, engine_language};
use avb_domain::{Permission, ValidationError};
use avb_storage::repos::stt_tests::{self, NewSttTest};
use avb_voice::stt::{OpenAiTranscriber, TranscribeOptions};
use serde::Serialize;
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::*;

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
pub(super) fn size_of(id: &str) -> Option<(&'static str, bool)> {
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

pub(super) fn choices(engine: &EngineState, served: &[String]) -> Vec<SttModelChoice> {
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

/// Saves the tenant's STT settings (requires `settings:manage`); a model the engine does not
/// serve is refused with the reason, and nothing is saved.
/// Checks that the configured STT engine serves `model` (a model it cannot confirm, because it
/// is down or not configured, is refused with the reason).
pub async fn check_stt_model(ctx: &AppContext, model: &str) -> Result<(), ValidationError> {
    let (engine, served) = served_stt_models(ctx).await;
    if served.iter().any(|m| m == model) {
        return Ok(());
    }
    let why = if engine.reachable {
        format!(
            "the speech-to-text engine does not serve {model} (it serves: {})",
            served.join(", ")
        )
    } else {
        format!(
            "cannot be checked: {}",
            engine.error.unwrap_or_else(|| "the engine is down".into())
        )
    };
    Err(ValidationError::new("stt_model", why))
}

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
    let mut input = current.to_input();
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

pub(super) fn p95(mut v: Vec<f64>) -> Option<f64> {
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
