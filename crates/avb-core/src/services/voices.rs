//! The voice catalogue and voice previews for the voice studio: which voices the configured TTS
//! engine serves (Kokoro names carry language, accent and gender: `af_heart` is an American
//! English female voice), and a sample sentence synthesised in one of them at a chosen speed.
//! Previews are rate-limited per tenant, metered as output audio and audited like real speech.

use crate::audit;
use crate::config::EnginesConfig;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::repos::audit as audit_repo;
use avb_storage::repos::usage::{self as usage_repo, UsageEntry};
use avb_voice::tts::PcmStream;
use avb_voice::{EngineError, OpenAiSpeech, TextToSpeech};
use futures::Stream;
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// Slowest and fastest speech a tenant may choose.
pub const SPEED_RANGE: (f64, f64) = (0.5, 2.0);
/// Longest preview text, in characters.
pub const MAX_PREVIEW_CHARS: usize = 300;
/// Previews a tenant may start per minute.
pub const PREVIEWS_PER_MINUTE: u32 = 30;
/// How long a fetched voice list is reused.
const CATALOGUE_TTL: Duration = Duration::from_secs(60);

/// One voice of the catalogue.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct VoiceEntry {
    /// The name sessions and settings use, e.g. `af_heart`.
    pub id: String,
    /// A readable name, e.g. `Heart`.
    pub name: String,
    /// BCP-47 language tag, e.g. `en-US`; empty when the name does not say.
    pub language: String,
    /// Language and accent in words, e.g. `American English`.
    pub accent: String,
    /// `female`, `male` or `unspecified`.
    pub gender: String,
}

/// Kokoro's language letters: tag and words.
const KOKORO_LANGUAGES: &[(char, &str, &str)] = &[
    ('a', "en-US", "American English"),
    ('b', "en-GB", "British English"),
    ('e', "es", "Spanish"),
    ('f', "fr-FR", "French"),
    ('h', "hi", "Hindi"),
    ('i', "it", "Italian"),
    ('j', "ja", "Japanese"),
    ('p', "pt-BR", "Brazilian Portuguese"),
    ('z', "zh", "Mandarin Chinese"),
];

impl VoiceEntry {
    /// Describes `id` from its name: Kokoro's `<language><gender>_<name>` scheme, else as is.
    pub fn describe(id: &str) -> Self {
        let mut chars = id.chars();
        let kokoro = match (chars.next(), chars.next(), chars.next()) {
            (Some(l), Some(g @ ('f' | 'm')), Some('_')) => KOKORO_LANGUAGES
                .iter()
                .find(|(c, ..)| *c == l)
                .map(|(_, tag, words)| (*tag, *words, g)),
            _ => None,
        };
        let title = |s: &str| {
            s.split('_')
                .filter(|w| !w.is_empty())
                .map(|w| {
                    let mut c = w.chars();
                    c.next()
                        .map(|f| f.to_uppercase().chain(c).collect::<String>())
                        .unwrap_or_default()
                })
                .collect::<Vec<_>>()
                .join(" ")
        };
        match kokoro {
            Some((tag, words, g)) => Self {
                id: id.to_string(),
                name: title(&id[3..]),
                language: tag.into(),
                accent: words.into(),
                gender: if g == 'f' { "female" } else { "male" }.into(),
            },
            None => Self {
                id: id.to_string(),
                name: title(id),
                language: String::new(),
                accent: "Not stated by the engine".into(),
                gender: "unspecified".into(),
            },
        }
    }
}

/// The catalogue as the page shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Catalogue {
    /// The voices, ordered by language then name.
    pub voices: Vec<VoiceEntry>,
    /// Why the engine's own list is missing (not configured, unreachable, cannot list), if it is.
    pub problem: Option<String>,
}

/// When the engine's voice list was read, and what it said (or why it could not be read).
type ListedVoices = (Instant, Result<Vec<String>, String>);

/// The TTS engine as the studio uses it, with its cached voice list and the preview budget.
pub struct VoiceStudio {
    tts: Option<Arc<dyn TextToSpeech>>,
    /// The engines that make custom voices.
    pub makers: crate::services::custom_voices::VoiceMakers,
    voice_map: std::collections::BTreeMap<String, String>,
    listed: Mutex<Option<ListedVoices>>,
    budget: Mutex<HashMap<TenantId, (u64, u32)>>,
}

impl VoiceStudio {
    /// The studio over the configured engine (none configured: previews say so).
    pub fn from_config(cfg: &EnginesConfig) -> Self {
        let tts = tts_engine(cfg);
        Self {
            tts,
            makers: voice_makers(cfg),
            voice_map: cfg.tts_voice_map.clone(),
            listed: Mutex::new(None),
            budget: Mutex::new(HashMap::new()),
        }
    }

    /// The configured TTS engine, if any (wake-word validation synthesises with it).
    pub fn engine(&self) -> Option<Arc<dyn TextToSpeech>> {
        self.tts.clone()
    }

    /// The engine's voice names (cached for a minute), or why they are unknown.
    async fn engine_voices(&self) -> Result<Vec<String>, String> {
        let Some(tts) = &self.tts else {
            return Err("no text-to-speech engine is configured (engines.tts_url)".into());
        };
        if let Some((at, list)) = self.listed.lock().expect("catalogue lock").as_ref()
            && at.elapsed() < CATALOGUE_TTL
        {
            return list.clone();
        }
        let list = tts.voices().await.map_err(|e| match e {
            EngineError::Rejected { .. } => {
                "the text-to-speech engine does not list its voices".to_string()
            }
            other => format!("the text-to-speech engine could not be reached: {other}"),
        });
        *self.listed.lock().expect("catalogue lock") = Some((Instant::now(), list.clone()));
        list
    }

    /// Takes one preview from `tenant`'s budget for this minute, or says when the next is free.
    fn take_preview(&self, tenant: TenantId) -> CoreResult<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_secs();
        let minute = now / 60;
        let mut budget = self.budget.lock().expect("preview budget lock");
        budget.retain(|_, (m, _)| *m == minute);
        let used = budget.entry(tenant).or_insert((minute, 0));
        if used.1 >= PREVIEWS_PER_MINUTE {
            return Err(CoreError::RateLimited(60 - now % 60));
        }
        used.1 += 1;
        Ok(())
    }
}

/// The configured TTS engine as sessions and the studio use it: the OpenAI-compatible adapter
/// with retries and a circuit breaker, rendering speeds outside the engine's own range by
/// time-stretching. `None` when no engine is configured (or it cannot be set up, logged).
pub fn tts_engine(cfg: &EnginesConfig) -> Option<Arc<dyn TextToSpeech>> {
    let url = cfg.tts_url.as_deref()?;
    let key = cfg.tts_api_key.as_ref().map(|k| k.expose().to_string());
    let timeout = Duration::from_secs(cfg.tts_timeout_secs);
    let local = match OpenAiSpeech::new(url, key, &cfg.tts_model, cfg.tts_sample_rate, timeout) {
        Ok(s) => avb_voice::stretch::SpeedRange::wrap(
            avb_voice::resilience::resilient_tts(Arc::new(s)),
            cfg.tts_speed_min,
            cfg.tts_speed_max,
        ),
        Err(e) => {
            tracing::error!(error = %e, "TTS engine could not be set up");
            return None;
        }
    };
    // Cloned voices (`remote:<id>`) are spoken by the cloning service, which renders 0.7x-1.2x
    // itself; the rest of the range is time-stretched like the local engine's.
    let remote = cfg.clone_url.as_deref().and_then(|url| {
        use avb_voice::custom_voice::RemoteCloneSpeech;
        let key = cfg.clone_api_key.as_ref().map(|k| k.expose().to_string());
        match RemoteCloneSpeech::new(url, &key.unwrap_or_default(), &cfg.clone_model, timeout) {
            Ok(speech) => Some(avb_voice::stretch::SpeedRange::wrap(
                avb_voice::resilience::resilient_tts(Arc::new(speech)),
                RemoteCloneSpeech::SPEED_MIN,
                RemoteCloneSpeech::SPEED_MAX,
            )),
            Err(e) => {
                tracing::error!(error = %e, "the cloning service's speech could not be set up");
                None
            }
        }
    });
    Some(match remote {
        Some(remote) => Arc::new(avb_voice::custom_voice::VoiceRouter::new(
            local,
            Some(remote),
        )),
        None => local,
    })
}

/// The custom-voice makers `[engines]` configures: the voice lab's stock-voice blends and a
/// remote cloning service.
pub fn voice_makers(cfg: &EnginesConfig) -> crate::services::custom_voices::VoiceMakers {
    use avb_voice::custom_voice::{RemoteCloneMaker, StockBlendMaker};
    let budget = cfg.voice_fit_budget_secs;
    let log = |what: &str, e: EngineError| {
        tracing::error!(error = %e, "{what} could not be set up");
    };
    crate::services::custom_voices::VoiceMakers {
        stock_blend: cfg.voice_fit_url.as_deref().and_then(|url| {
            // The fit's budget, the check on an unseen sentence and a wait for another fit.
            let timeout = Duration::from_secs(u64::from(budget) * 2 + 120);
            match StockBlendMaker::new(url, budget, timeout) {
                Ok(m) => Some(Arc::new(m) as Arc<dyn avb_voice::custom_voice::VoiceMaker>),
                Err(e) => {
                    log("the voice lab client", e);
                    None
                }
            }
        }),
        remote_clone: cfg.clone_url.as_deref().and_then(|url| {
            let key = cfg.clone_api_key.as_ref().map(|k| k.expose().to_string());
            match RemoteCloneMaker::new(url, &key.unwrap_or_default(), &cfg.clone_model) {
                Ok(m) => Some(Arc::new(m) as Arc<dyn avb_voice::custom_voice::VoiceMaker>),
                Err(e) => {
                    log("the cloning service client", e);
                    None
                }
            }
        }),
    }
}

/// The voices of the configured engine (requires `projects:view`). When the engine cannot
/// list them, the configured aliases are offered and `problem` says why.
pub async fn catalogue(ctx: &AppContext, scope: &Scope) -> CoreResult<Catalogue> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let (names, problem) = match ctx.voice.engine_voices().await {
        Ok(names) => (names, None),
        Err(problem) => (ctx.voice.voice_map.keys().cloned().collect(), Some(problem)),
    };
    let mut voices: Vec<VoiceEntry> = names.iter().map(|n| VoiceEntry::describe(n)).collect();
    voices.sort_by(|a, b| {
        (a.language.is_empty(), &a.accent, &a.name).cmp(&(
            b.language.is_empty(),
            &b.accent,
            &b.name,
        ))
    });
    voices.dedup_by(|a, b| a.id == b.id);
    Ok(Catalogue { voices, problem })
}

/// Checks a voice and speed a tenant chose against the catalogue and the speed range.
pub async fn check_choice(
    ctx: &AppContext,
    tenant: TenantId,
    voice: &str,
    speed: f64,
) -> CoreResult<()> {
    if !(SPEED_RANGE.0..=SPEED_RANGE.1).contains(&speed) {
        return Err(ValidationError::new(
            "speed",
            format!("must be between {} and {}", SPEED_RANGE.0, SPEED_RANGE.1),
        )
        .into());
    }
    check_voice(ctx, tenant, voice).await
}

/// Checks a voice against the configured engine's catalogue (accepted when the engine cannot
/// list its voices: nothing then says it is wrong) or `tenant`'s ready custom voices.
pub async fn check_voice(ctx: &AppContext, tenant: TenantId, voice: &str) -> CoreResult<()> {
    use crate::services::custom_voices;
    if voice.trim().is_empty() {
        return Err(ValidationError::new("voice", "is required").into());
    }
    if custom_voices::is_custom(voice) {
        return match custom_voices::resolve(ctx, tenant, voice).await? {
            Some(_) => Ok(()),
            None => Err(ValidationError::new(
                "voice",
                format!("'{voice}' is not a ready custom voice of this tenant"),
            )
            .into()),
        };
    }
    if let Ok(names) = ctx.voice.engine_voices().await
        && !names.iter().any(|n| n == voice)
        && !ctx.voice.voice_map.contains_key(voice)
    {
        return Err(ValidationError::new(
            "voice",
            format!("'{voice}' is not a voice of the configured text-to-speech engine"),
        )
        .into());
    }
    Ok(())
}

/// Saves the voice, speed and persona instructions of the tenant default (`project` = `None`)
/// or a project's override, keeping every other field of the profile (requires
/// `settings:manage`, or `projects:manage` for a project). Sessions started afterwards use it.
pub async fn save_defaults(
    ctx: &AppContext,
    scope: &Scope,
    project: Option<avb_domain::ProjectId>,
    voice: Option<String>,
    speed: Option<f64>,
    instructions: Option<String>,
) -> CoreResult<crate::services::voice_profiles::VoiceProfileView> {
    use crate::services::voice_profiles;
    let current = voice_profiles::get(ctx, scope, project).await?;
    let mut input = current.to_input();
    input.voice = voice;
    input.speed = speed;
    input.instructions = instructions;
    voice_profiles::put(ctx, scope, project, input).await
}

/// A preview being synthesised: 16-bit mono PCM at `sample_rate`.
pub struct Preview {
    pub sample_rate: u32,
    pub audio: MeteredAudio,
}

impl Preview {
    /// A WAV header for 16-bit mono PCM of unknown length (sizes set to their maximum, which
    /// players read as "until the end of the stream"), so the audio can be sent as it is made.
    pub fn wav_header(&self) -> Vec<u8> {
        let rate = self.sample_rate;
        let mut h = Vec::with_capacity(44);
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVEfmt ");
        h.extend_from_slice(&16u32.to_le_bytes());
        h.extend_from_slice(&1u16.to_le_bytes()); // PCM
        h.extend_from_slice(&1u16.to_le_bytes()); // mono
        h.extend_from_slice(&rate.to_le_bytes());
        h.extend_from_slice(&(rate * 2).to_le_bytes());
        h.extend_from_slice(&2u16.to_le_bytes());
        h.extend_from_slice(&16u16.to_le_bytes());
        h.extend_from_slice(b"data");
        h.extend_from_slice(&(u32::MAX - 36).to_le_bytes());
        h
    }
}

impl Preview {
    /// The preview as WAV bytes in the order they are made: the header, then the PCM chunks.
    pub fn into_wav_stream(
        self,
    ) -> impl Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
        use futures::StreamExt;
        let header = self.wav_header();
        futures::stream::once(async move { Ok(header) }).chain(
            self.audio
                .map(|chunk| chunk.map_err(|e| std::io::Error::other(e.to_string()))),
        )
    }
}

/// The sentence a preview speaks when the caller gives none.
pub fn sample_text(voice: &str) -> String {
    if crate::services::custom_voices::is_custom(voice) {
        return "Hello! This is my custom voice. How can I help you today?".into();
    }
    let name = VoiceEntry::describe(voice).name;
    format!("Hello! I'm {name}. How can I help you today?")
}

/// Synthesises `text` (or a sample sentence) in `voice` at `speed` (requires `projects:view`;
/// rate-limited per tenant; audited; the audio delivered is metered as output minutes).
pub async fn preview(
    ctx: &AppContext,
    scope: &Scope,
    voice: &str,
    speed: f64,
    text: Option<&str>,
) -> CoreResult<Preview> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let text = match text.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) if t.chars().count() > MAX_PREVIEW_CHARS => {
            return Err(ValidationError::new(
                "text",
                format!("must be at most {MAX_PREVIEW_CHARS} characters"),
            )
            .into());
        }
        Some(t) => t.to_string(),
        None => sample_text(voice),
    };
    check_choice(ctx, tenant, voice, speed).await?;
    let Some(tts) = ctx.voice.tts.clone() else {
        return Err(CoreError::EngineFailed(
            "no text-to-speech engine is configured (engines.tts_url)".into(),
        ));
    };
    ctx.voice.take_preview(tenant)?;
    let engine_voice = match crate::services::custom_voices::resolve(ctx, tenant, voice).await? {
        Some(custom) => custom,
        None => ctx
            .voice
            .voice_map
            .get(voice)
            .cloned()
            .unwrap_or_else(|| voice.to_string()),
    };
    let id = uuid::Uuid::now_v7();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "voice.preview",
            "voice",
            voice,
            serde_json::json!({"speed": speed, "characters": text.chars().count(), "preview_id": id}),
        ),
    )
    .await?;
    tx.commit().await?;
    let audio = speak_in_pieces(tts.clone(), &text, engine_voice, speed).await?;
    let sample_rate = tts.sample_rate();
    Ok(Preview {
        sample_rate,
        audio: MeteredAudio {
            inner: audio,
            bytes: 0,
            meter: Some(Meter {
                ctx: ctx.clone(),
                tenant,
                project: scope.actor().project().map(|p| p.as_uuid()),
                fact: format!("voice_preview:{id}"),
                sample_rate,
            }),
        },
    })
}

/// Speaks `text` piece by piece (the sentences and early clauses the gateway's chunker makes), so
/// the first audio waits only for the first piece; an engine that refuses the first piece is an
/// error here, a later failure ends the stream.
async fn speak_in_pieces(
    tts: Arc<dyn TextToSpeech>,
    text: &str,
    voice: String,
    speed: f64,
) -> CoreResult<PcmStream> {
    use futures::{StreamExt, TryStreamExt};
    let mut chunker = avb_voice::chunker::SentenceChunker::default();
    let mut pieces = chunker.push(text);
    pieces.extend(chunker.finish());
    let mut pieces = pieces.into_iter();
    let first_piece = pieces.next().unwrap_or_else(|| text.to_string());
    let first = tts
        .speak(&first_piece, &voice, speed)
        .await
        .map_err(|e| CoreError::EngineFailed(format!("the text-to-speech engine failed: {e}")))?;
    let rest = futures::stream::iter(pieces.collect::<Vec<_>>())
        .then(move |piece| {
            let (tts, voice) = (tts.clone(), voice.clone());
            async move { tts.speak(&piece, &voice, speed).await }
        })
        .try_flatten();
    Ok(first.chain(rest).boxed())
}

/// Where the audio a preview delivered is metered once it ends.
struct Meter {
    ctx: AppContext,
    tenant: TenantId,
    project: Option<uuid::Uuid>,
    fact: String,
    sample_rate: u32,
}

/// The preview's PCM; when it is dropped (finished or abandoned), the audio it delivered is
/// recorded as `audio_minutes_output`.
pub struct MeteredAudio {
    inner: PcmStream,
    bytes: u64,
    meter: Option<Meter>,
}

impl Stream for MeteredAudio {
    type Item = Result<Vec<u8>, EngineError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = self.inner.as_mut().poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next {
            self.bytes += chunk.len() as u64;
        }
        next
    }
}

impl Drop for MeteredAudio {
    fn drop(&mut self) {
        let (Some(m), bytes) = (self.meter.take(), self.bytes) else {
            return;
        };
        if bytes == 0 {
            return;
        }
        let minutes = bytes as f64 / 2.0 / f64::from(m.sample_rate) / 60.0;
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            let entry = UsageEntry {
                project: m.project,
                api_key: None,
                session: None,
                metric: "audio_minutes_output".into(),
                quantity: minutes,
                idempotency_key: format!("{}:audio_minutes_output", m.fact),
                occurred_at: chrono::Utc::now(),
            };
            let res = async {
                let tx = m.ctx.store.tenant_tx(m.tenant, true).await?;
                usage_repo::append(&tx, &[entry]).await?;
                tx.commit().await
            }
            .await;
            if let Err(e) = res {
                tracing::warn!(error = %e, "voice preview usage was not recorded");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kokoro_names_say_language_accent_and_gender() {
        let v = VoiceEntry::describe("af_heart");
        assert_eq!(
            (
                v.name.as_str(),
                v.language.as_str(),
                v.accent.as_str(),
                v.gender.as_str()
            ),
            ("Heart", "en-US", "American English", "female")
        );
        let v = VoiceEntry::describe("bm_george");
        assert_eq!((v.language.as_str(), v.gender.as_str()), ("en-GB", "male"));
        let v = VoiceEntry::describe("alloy");
        assert_eq!(
            (v.name.as_str(), v.gender.as_str(), v.language.as_str()),
            ("Alloy", "unspecified", "")
        );
        assert_eq!(
            sample_text("am_onyx"),
            "Hello! I'm Onyx. How can I help you today?"
        );
    }
}
