//! Wake words (O4): a tenant's phrases with their sensitivity. The five built-in openWakeWord
//! models are high accuracy; any other phrase goes to PocketSphinx keyword spotting and is
//! experimental. A phrase is checked against the pronunciation dictionary and measured on
//! synthesised speech (detection rate over several voices and speeds, false alarms on near
//! misses and everyday sentences); a recording can be scored in the browser; and each voice turn
//! of a tenant with wake words is scored by the sidecar in the background: detections (with
//! what followed), missed activations (the transcript begins with the phrase, nothing fired),
//! and marks by the tenant feed the analytics. Disabling keeps the configuration.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, SessionId, TenantId, ValidationError};
use avb_storage::repos::{audit as audit_repo, wake_words as repo};
use avb_voice::wakeword::{PhraseCheck, ScoreReport, builtin_model};

pub use avb_storage::repos::wake_words::WakeWord;
pub use avb_voice::wakeword::BUILTIN;

/// Mono s16le `bytes` at `rate` Hz as 16 kHz samples (what the sidecar scores).
pub fn pcm_16k(bytes: &[u8], rate: u32) -> Vec<i16> {
    let samples = avb_voice::audio::pcm16_decode(&bytes[..bytes.len() - bytes.len() % 2]);
    avb_voice::audio::resample(&samples, rate, 16_000)
}
use chrono::{Duration, NaiveDate, Utc};
use futures::StreamExt;
use serde::Serialize;
use std::collections::BTreeMap;
use uuid::Uuid;

/// Phrases per tenant at most (the sidecar scores at most 8 per request).
pub const MAX_WORDS: usize = 8;
/// Default sensitivity (openWakeWord threshold 0.8, which separated near misses in tests).
pub const DEFAULT_SENSITIVITY: f64 = 0.2;

/// A wake word as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WakeWordView {
    pub id: Uuid,
    pub phrase: String,
    /// `openwakeword` (built-in model) or `pocketsphinx` (custom phrase).
    pub engine: String,
    /// `high` or `experimental`.
    pub accuracy: String,
    /// 0.05 to 0.95: higher fires more easily (and falsely more often).
    pub sensitivity: f64,
    pub enabled: bool,
}

fn view(w: repo::WakeWord) -> WakeWordView {
    WakeWordView {
        accuracy: if w.engine == "openwakeword" {
            "high"
        } else {
            "experimental"
        }
        .into(),
        id: w.id,
        phrase: w.phrase,
        engine: w.engine,
        sensitivity: w.sensitivity,
        enabled: w.enabled,
    }
}

/// The openWakeWord score a detection needs at `sensitivity`.
pub fn oww_threshold(sensitivity: f64) -> f64 {
    1.0 - sensitivity
}

/// PocketSphinx's keyword-spotting threshold at `sensitivity` (smaller fires more easily).
pub fn sphinx_threshold(sensitivity: f64) -> f64 {
    10f64.powf(-(5.0 + 40.0 * sensitivity))
}

fn sidecar(ctx: &AppContext) -> CoreResult<&avb_voice::wakeword::WakeWordClient> {
    ctx.wakeword.as_ref().ok_or_else(|| {
        CoreError::Conflict(
            "the wake-word sidecar is not configured on this platform ([ovos] wakeword_url)".into(),
        )
    })
}

fn engine_error(e: avb_voice::EngineError) -> CoreError {
    CoreError::Conflict(format!("the wake-word sidecar: {e}"))
}

/// The page: the sidecar's state and the tenant's wake words.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WakeWords {
    /// Why the sidecar cannot be used, when it cannot.
    pub sidecar_problem: Option<String>,
    pub words: Vec<WakeWordView>,
}

/// The caller's tenant's wake words (requires `projects:view`).
pub async fn list(ctx: &AppContext, scope: &Scope) -> CoreResult<WakeWords> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let words = repo::list(&tx).await?;
    tx.commit().await?;
    let sidecar_problem = match &ctx.wakeword {
        None => Some("the wake-word sidecar is not configured on this platform".into()),
        Some(c) => c.health().await.err(),
    };
    Ok(WakeWords {
        sidecar_problem,
        words: words.into_iter().map(view).collect(),
    })
}

fn check_sensitivity(s: f64) -> Result<f64, ValidationError> {
    if s.is_finite() && (0.05..=0.95).contains(&s) {
        Ok(s)
    } else {
        Err(ValidationError::new(
            "sensitivity",
            "must be between 0.05 and 0.95",
        ))
    }
}

/// The phrase as stored: lower case, single spaces, letters and apostrophes only.
fn normalise(phrase: &str) -> Result<String, ValidationError> {
    let p = phrase
        .trim()
        .to_lowercase()
        .replace(['_', '-'], " ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if p.is_empty() || p.len() > 60 {
        return Err(ValidationError::new("phrase", "must be 1 to 60 characters"));
    }
    if !p
        .chars()
        .all(|c| c.is_alphabetic() || c == ' ' || c == '\'')
    {
        return Err(ValidationError::new(
            "phrase",
            "may contain only letters, spaces and apostrophes",
        ));
    }
    Ok(p)
}

async fn audit(
    tx: &avb_storage::TenantTx,
    scope: &Scope,
    tenant: TenantId,
    action: &str,
    id: Uuid,
    summary: serde_json::Value,
) -> CoreResult<()> {
    audit_repo::append(
        tx,
        crate::audit::entry(scope, Some(tenant), action, "wake_word", id, summary),
    )
    .await?;
    Ok(())
}

/// Adds a wake word (requires `settings:manage`; audited). A custom phrase must pass the
/// dictionary check, so the sidecar must answer.
pub async fn create(
    ctx: &AppContext,
    scope: &Scope,
    phrase: &str,
    sensitivity: Option<f64>,
) -> CoreResult<WakeWordView> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let phrase = normalise(phrase)?;
    let sensitivity = check_sensitivity(sensitivity.unwrap_or(DEFAULT_SENSITIVITY))?;
    let engine = if builtin_model(&phrase).is_some() {
        "openwakeword"
    } else {
        let check = sidecar(ctx)?
            .validate(&phrase)
            .await
            .map_err(engine_error)?;
        if !check.ok {
            return Err(ValidationError::new("phrase", check.problems.join("; ")).into());
        }
        "pocketsphinx"
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let existing = repo::list(&tx).await?;
    if existing.len() >= MAX_WORDS {
        return Err(CoreError::Conflict(format!(
            "a tenant has at most {MAX_WORDS} wake words; delete one first"
        )));
    }
    if existing.iter().any(|w| w.phrase == phrase) {
        return Err(CoreError::Conflict(format!(
            "'{phrase}' is already a wake word"
        )));
    }
    let w = repo::insert(&tx, &phrase, engine, sensitivity).await?;
    audit(
        &tx,
        scope,
        tenant,
        "wake_word.create",
        w.id,
        serde_json::json!({"phrase": phrase, "engine": engine, "sensitivity": sensitivity}),
    )
    .await?;
    tx.commit().await?;
    Ok(view(w))
}

/// Changes a wake word's sensitivity or turns it on or off, keeping it (requires
/// `settings:manage`; audited). Sessions use the change from their next turn.
pub async fn update(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    sensitivity: Option<f64>,
    enabled: Option<bool>,
) -> CoreResult<WakeWordView> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let before = repo::get(&tx, id).await?;
    let sensitivity = check_sensitivity(sensitivity.unwrap_or(before.sensitivity))?;
    let enabled = enabled.unwrap_or(before.enabled);
    let w = repo::update(&tx, id, sensitivity, enabled).await?;
    audit(
        &tx,
        scope,
        tenant,
        "wake_word.update",
        id,
        serde_json::json!({"phrase": w.phrase, "before": {"sensitivity": before.sensitivity, "enabled": before.enabled},
                           "after": {"sensitivity": sensitivity, "enabled": enabled}}),
    )
    .await?;
    tx.commit().await?;
    Ok(view(w))
}

/// Deletes a wake word (requires `settings:manage`; audited); its events stay.
pub async fn delete(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let w = repo::get(&tx, id).await?;
    repo::delete(&tx, id).await?;
    audit(
        &tx,
        scope,
        tenant,
        "wake_word.delete",
        id,
        serde_json::json!({"phrase": w.phrase}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Detection on synthesised speech.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SynthRates {
    /// Clips of the phrase (voices x speeds) and how many fired.
    pub positives: u32,
    pub detected: u32,
    /// Near misses and everyday sentences, and how many fired.
    pub negatives: u32,
    pub false_alarms: u32,
    /// Each clip: what was said, the voice, the best score, whether it fired.
    pub clips: Vec<(String, String, f64, bool)>,
}

/// What "validate" reports.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Validation {
    pub phrase: String,
    #[schema(value_type = Object)]
    pub check: PhraseCheck,
    pub rates: Option<SynthRates>,
    /// Why the rates are missing, when they are.
    pub rates_problem: Option<String>,
}

/// Voices and speeds the phrase is synthesised with (the local Kokoro engine's names).
const SYNTH_VOICES: &[&str] = &["af_heart", "am_adam", "bf_emma"];
const SYNTH_SPEEDS: &[f64] = &[1.0, 1.25];
/// Everyday sentences that must not fire.
const EVERYDAY: &[&str] = &[
    "What is the weather like tomorrow morning?",
    "Please send the quarterly report to the market team.",
    "Hello there, how are you today?",
];

/// Near misses of `phrase`: its first word alone, and its words in a sentence's other order.
fn near_misses(phrase: &str) -> Vec<String> {
    let words: Vec<&str> = phrase.split_whitespace().collect();
    let mut out = vec![format!("{}, can you hear me?", words[0])];
    if words.len() > 1 {
        out.push(format!("The {} said {}.", words[words.len() - 1], words[0]));
    }
    out
}

/// `text` spoken by the platform's TTS engine, as 16 kHz PCM with half a second of silence
/// around it.
async fn synthesise(
    tts: &std::sync::Arc<dyn avb_voice::TextToSpeech>,
    text: &str,
    voice: &str,
    speed: f64,
) -> Result<Vec<i16>, String> {
    let mut stream = tts
        .speak(text, voice, speed)
        .await
        .map_err(|e| e.to_string())?;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend(chunk.map_err(|e| e.to_string())?);
    }
    let pcm = avb_voice::audio::pcm16_decode(&bytes[..bytes.len() - bytes.len() % 2]);
    let mut out = vec![0i16; 8000];
    out.extend(avb_voice::audio::resample(&pcm, tts.sample_rate(), 16_000));
    out.extend(vec![0i16; 8000]);
    Ok(out)
}

fn fired(engine: &str, sensitivity: f64, max: f64) -> bool {
    if engine == "openwakeword" {
        max >= oww_threshold(sensitivity)
    } else {
        max > 0.0
    }
}

/// Checks `phrase` against the dictionary and measures it on synthesised speech at
/// `sensitivity` (requires `projects:view`). Real-microphone accuracy stays unknown.
pub async fn validate(
    ctx: &AppContext,
    scope: &Scope,
    phrase: &str,
    sensitivity: Option<f64>,
) -> CoreResult<Validation> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let phrase = normalise(phrase)?;
    let sensitivity = check_sensitivity(sensitivity.unwrap_or(DEFAULT_SENSITIVITY))?;
    let client = sidecar(ctx)?;
    let check = client.validate(&phrase).await.map_err(engine_error)?;
    let mut v = Validation {
        phrase: phrase.clone(),
        check,
        rates: None,
        rates_problem: None,
    };
    if !v.check.ok {
        v.rates_problem = Some("fix the problems above first".into());
        return Ok(v);
    }
    let Some(tts) = ctx.voice.engine() else {
        v.rates_problem = Some("no text-to-speech engine is configured to synthesise with".into());
        return Ok(v);
    };
    let engine = v.check.engine.clone();
    let threshold = (engine == "pocketsphinx").then(|| sphinx_threshold(sensitivity));
    let mut rates = SynthRates {
        positives: 0,
        detected: 0,
        negatives: 0,
        false_alarms: 0,
        clips: Vec::new(),
    };
    let mut problems = Vec::new();
    let mut clips: Vec<(String, String, f64, bool)> = Vec::new();
    for voice in SYNTH_VOICES {
        for speed in SYNTH_SPEEDS {
            clips.push((phrase.clone(), format!("{voice} ×{speed}"), *speed, true));
        }
    }
    for text in near_misses(&phrase)
        .into_iter()
        .chain(EVERYDAY.iter().map(|s| s.to_string()))
    {
        clips.push((text, format!("{} ×1", SYNTH_VOICES[0]), 1.0, false));
    }
    for (text, label, speed, positive) in clips {
        let voice = label
            .split(' ')
            .next()
            .unwrap_or(SYNTH_VOICES[0])
            .to_string();
        let pcm = match synthesise(&tts, &text, &voice, speed).await {
            Ok(p) => p,
            Err(e) => {
                problems.push(format!("{label}: {e}"));
                continue;
            }
        };
        let report = client
            .score(&pcm, std::slice::from_ref(&phrase), threshold)
            .await
            .map_err(engine_error)?;
        let max = report.results.first().map(|r| r.max).unwrap_or(0.0);
        let hit = fired(&engine, sensitivity, max);
        if positive {
            rates.positives += 1;
            rates.detected += u32::from(hit);
        } else {
            rates.negatives += 1;
            rates.false_alarms += u32::from(hit);
        }
        rates.clips.push((text, label, max, hit));
    }
    if rates.positives == 0 {
        v.rates_problem = Some(format!(
            "the phrase could not be synthesised: {}",
            problems.join("; ")
        ));
    } else {
        v.rates = Some(rates);
        if !problems.is_empty() {
            v.rates_problem = Some(format!("some clips were skipped: {}", problems.join("; ")));
        }
    }
    Ok(v)
}

/// Scores a recording (16 kHz mono PCM) for the caller's tenant's wake words, enabled or not
/// (requires `projects:view`).
pub async fn test(ctx: &AppContext, scope: &Scope, pcm: &[i16]) -> CoreResult<ScoreReport> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    if pcm.len() < 1280 {
        return Err(ValidationError::new("audio", "is shorter than 80 ms").into());
    }
    if pcm.len() > 16_000 * 60 {
        return Err(ValidationError::new("audio", "is longer than one minute").into());
    }
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let words = repo::list(&tx).await?;
    tx.commit().await?;
    if words.is_empty() {
        return Err(CoreError::Conflict("add a wake word first".into()));
    }
    score_words(sidecar(ctx)?, pcm, &words).await
}

/// Scores `pcm` for `words`: built-in models in one request, each custom phrase with its own
/// threshold.
async fn score_words(
    client: &avb_voice::wakeword::WakeWordClient,
    pcm: &[i16],
    words: &[repo::WakeWord],
) -> CoreResult<ScoreReport> {
    let builtin: Vec<String> = words
        .iter()
        .filter(|w| w.engine == "openwakeword")
        .map(|w| w.phrase.clone())
        .collect();
    let mut report: Option<ScoreReport> = None;
    let mut merge = |r: ScoreReport| match &mut report {
        None => report = Some(r),
        Some(all) => all.results.extend(r.results),
    };
    if !builtin.is_empty() {
        merge(
            client
                .score(pcm, &builtin, None)
                .await
                .map_err(engine_error)?,
        );
    }
    for w in words.iter().filter(|w| w.engine != "openwakeword") {
        merge(
            client
                .score(
                    pcm,
                    std::slice::from_ref(&w.phrase),
                    Some(sphinx_threshold(w.sensitivity)),
                )
                .await
                .map_err(engine_error)?,
        );
    }
    report.ok_or_else(|| CoreError::Conflict("no wake word to score".into()))
}

/// The enabled wake words of `tenant`, for its sessions (no permission check: the gateway
/// calls it after authenticating the connection).
pub async fn for_session(ctx: &AppContext, tenant: TenantId) -> CoreResult<Vec<repo::WakeWord>> {
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let words = repo::list(&tx).await?;
    tx.commit().await?;
    Ok(words.into_iter().filter(|w| w.enabled).collect())
}

/// The words of `transcript` after `phrase`, if it begins with it (case and punctuation aside).
fn after_phrase(transcript: &str, phrase: &str) -> Option<String> {
    let clean = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric() || *c == '\'')
                    .collect::<String>()
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let words = clean(transcript);
    let p = clean(phrase);
    (words.len() >= p.len() && words[..p.len()] == p[..]).then(|| words[p.len()..].join(" "))
}

/// Scores one voice turn of `tenant` (its audio at `rate` Hz and its transcript) for its
/// enabled wake words as they are now (a sensitivity change applies at once) and records
/// detections and missed activations. Called in the background after the turn.
pub async fn record_turn(
    ctx: &AppContext,
    tenant: TenantId,
    session: Option<SessionId>,
    audio: &[i16],
    rate: u32,
    transcript: &str,
) -> CoreResult<()> {
    let Some(client) = ctx.wakeword.as_ref() else {
        return Ok(());
    };
    let words = &for_session(ctx, tenant).await?;
    if words.is_empty() {
        return Ok(());
    }
    let pcm = avb_voice::audio::resample(audio, rate, 16_000);
    if pcm.len() < 1280 {
        return Ok(());
    }
    let report = score_words(client, &pcm, words).await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    for w in words {
        let Some(r) = report.results.iter().find(|r| r.phrase == w.phrase) else {
            continue;
        };
        let hit = fired(&w.engine, w.sensitivity, r.max);
        let said = after_phrase(transcript, &w.phrase);
        let kind = match (hit, &said) {
            (true, _) => "detection",
            (false, Some(_)) => "missed",
            (false, None) => continue,
        };
        tracing::info!(kind, phrase = %w.phrase, score = r.max, "wake word event");
        repo::insert_event(
            &tx,
            repo::NewEvent {
                session_id: session.map(|s| s.as_uuid()),
                wake_word_id: Some(w.id),
                phrase: w.phrase.clone(),
                kind,
                score: r.max,
                utterance: said.unwrap_or_else(|| transcript.trim().to_string()),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// One event as shown.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WakeEventView {
    pub id: Uuid,
    pub created_at: chrono::DateTime<Utc>,
    pub phrase: String,
    /// `detection` or `missed`.
    pub kind: String,
    pub score: f64,
    pub utterance: String,
    /// `false_positive`, `correct`, `missed` or empty.
    pub marked: String,
    /// A detection with nothing said after it, or marked so.
    pub false_positive: bool,
}

/// One day of the analytics.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WakeDay {
    pub day: NaiveDate,
    pub detections: u64,
    pub false_positives: u64,
    pub missed: u64,
}

/// The analytics over the last `days` days.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WakeAnalytics {
    pub detections: u64,
    pub false_positives: u64,
    pub missed: u64,
    pub avg_score: Option<f64>,
    pub days: Vec<WakeDay>,
    pub recent: Vec<WakeEventView>,
}

/// Detections, false positives, missed activations and their daily rate (requires
/// `usage:view`).
pub async fn analytics(ctx: &AppContext, scope: &Scope, days: i64) -> CoreResult<WakeAnalytics> {
    let tenant = tenant_of(scope, Permission::UsageView)?;
    ctx.policy
        .authorize(scope, Permission::UsageView, Some(tenant))?;
    let from = Utc::now() - Duration::days(days.clamp(1, 90));
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let events = repo::events_since(&tx, from, 100_000).await?;
    tx.commit().await?;
    let mut per: BTreeMap<NaiveDate, WakeDay> = BTreeMap::new();
    let (mut detections, mut false_positives, mut missed) = (0, 0, 0);
    let (mut score_sum, mut scored) = (0.0, 0u64);
    let mut recent = Vec::new();
    for e in events {
        let fp = e.marked == "false_positive"
            || (e.kind == "detection" && e.utterance.trim().is_empty() && e.marked != "correct");
        let miss = e.marked == "missed" || (e.kind == "missed" && e.marked != "false_positive");
        let day = per.entry(e.created_at.date_naive()).or_insert(WakeDay {
            day: e.created_at.date_naive(),
            detections: 0,
            false_positives: 0,
            missed: 0,
        });
        if e.kind == "detection" {
            detections += 1;
            day.detections += 1;
            score_sum += e.score;
            scored += 1;
        }
        if fp {
            false_positives += 1;
            day.false_positives += 1;
        }
        if miss {
            missed += 1;
            day.missed += 1;
        }
        if recent.len() < 50 {
            recent.push(WakeEventView {
                id: e.id,
                created_at: e.created_at,
                phrase: e.phrase,
                kind: e.kind,
                score: e.score,
                utterance: e.utterance,
                marked: e.marked,
                false_positive: fp,
            });
        }
    }
    Ok(WakeAnalytics {
        detections,
        false_positives,
        missed,
        avg_score: (scored > 0).then(|| score_sum / scored as f64),
        days: per.into_values().collect(),
        recent,
    })
}

/// Marks an event (requires `settings:manage`; audited): `false_positive`, `correct`,
/// `missed`, or `` to clear.
pub async fn mark(ctx: &AppContext, scope: &Scope, id: Uuid, marked: &str) -> CoreResult<()> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    if !["", "false_positive", "correct", "missed"].contains(&marked) {
        return Err(ValidationError::new(
            "mark",
            "must be false_positive, correct, missed or empty",
        )
        .into());
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    repo::mark_event(&tx, id, marked).await?;
    audit(
        &tx,
        scope,
        tenant,
        "wake_word.event.mark",
        id,
        serde_json::json!({"marked": marked}),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn phrases_and_thresholds() {
        assert_eq!(normalise("  Hey_Jarvis ").unwrap(), "hey jarvis");
        assert!(normalise("hey <b>").is_err());
        assert_eq!(oww_threshold(0.2), 0.8);
        assert!(sphinx_threshold(0.8) < sphinx_threshold(0.2));
        assert_eq!(
            after_phrase("Hey, Jarvis! Turn on the lights.", "hey jarvis").as_deref(),
            Some("turn on the lights")
        );
        assert_eq!(after_phrase("hey there", "hey jarvis"), None);
        assert_eq!(
            after_phrase("Hey Jarvis.", "hey jarvis").as_deref(),
            Some("")
        );
    }
}
