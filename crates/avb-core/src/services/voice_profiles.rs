//! Voice profiles: per-tenant defaults and per-project overrides of voice, speed, STT model and
//! language, LLM provider/model/params (with a bring-your-own key, sealed at rest) and persona
//! instructions. A Realtime session starts from the resolved profile; `session.update` then
//! overrides per session.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, ProjectId, TenantId, ValidationError};
use avb_storage::entities::voice_profile::Model;
use avb_storage::repos::voice_profiles::ProfileFields;
use avb_storage::repos::{audit as audit_repo, projects, voice_profiles};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// LLM providers a tenant may pick, with their OpenAI-compatible base URLs.
pub const LLM_PROVIDERS: &[(&str, Option<&str>)] = &[
    ("openai", Some("https://api.openai.com/v1")),
    ("groq", Some("https://api.groq.com/openai/v1")),
    ("ollama", None),
    ("custom", None),
];

/// A profile as written by the API (`PUT` replaces every field; absent = inherit).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoiceProfileInput {
    /// TTS voice, e.g. `af_heart` (Kokoro) or `alloy` (OpenAI).
    pub voice: Option<String>,
    /// Speech speed, 0.5 to 2.0.
    pub speed: Option<f64>,
    /// Transcription model, e.g. `tiny.en`, `whisper-large-v3`.
    pub stt_model: Option<String>,
    /// Spoken language as a BCP-47 tag (`en`, `en-US`, `pt-BR`), or `auto` to let the engine
    /// detect it.
    pub stt_language: Option<String>,
    /// Voice activity detection: `false` starts sessions with `turn_detection: null` (the
    /// client commits turns itself); absent inherits (on).
    pub stt_vad: Option<bool>,
    /// `openai`, `groq`, `ollama` or `custom`; unset uses the server's LLM.
    pub llm_provider: Option<String>,
    /// Base URL of the provider's OpenAI-compatible API (required for `ollama` and `custom`).
    pub llm_base_url: Option<String>,
    /// Model name at the provider.
    pub llm_model: Option<String>,
    /// The provider API key (bring your own). Absent keeps the stored key, `""` removes it.
    /// Stored sealed; never returned.
    pub llm_api_key: Option<String>,
    /// Sampling temperature, 0 to 2.
    pub temperature: Option<f64>,
    /// Most tokens per response, 256 to 4096.
    pub max_output_tokens: Option<i32>,
    /// Persona instructions (system prompt), at most 16,000 characters.
    pub instructions: Option<String>,
}

/// A stored profile as the API shows it.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct VoiceProfileView {
    /// The project, or none for the tenant default.
    pub project_id: Option<uuid::Uuid>,
    pub voice: Option<String>,
    pub speed: Option<f64>,
    pub stt_model: Option<String>,
    pub stt_language: Option<String>,
    pub stt_vad: Option<bool>,
    pub llm_provider: Option<String>,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    /// Whether a provider key is stored (the key itself is never shown).
    pub llm_api_key_set: bool,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i32>,
    pub instructions: Option<String>,
    /// Last change; none when nothing is stored (everything inherits).
    pub updated_at: Option<DateTime<Utc>>,
}

impl VoiceProfileView {
    fn of(m: Option<Model>, project: Option<ProjectId>) -> Self {
        let Some(m) = m else {
            return Self {
                project_id: project.map(|p| p.as_uuid()),
                ..Self::default()
            };
        };
        Self {
            project_id: m.project_id,
            voice: m.voice,
            speed: m.speed,
            stt_model: m.stt_model,
            stt_language: m.stt_language,
            stt_vad: m.stt_vad,
            llm_provider: m.llm_provider,
            llm_base_url: m.llm_base_url,
            llm_model: m.llm_model,
            llm_api_key_set: m.llm_api_key_enc.is_some(),
            temperature: m.temperature,
            max_output_tokens: m.max_output_tokens,
            instructions: m.instructions,
            updated_at: Some(m.updated_at),
        }
    }
}

impl VoiceProfileView {
    /// The profile as an input that writes it back unchanged (the stored key is kept).
    pub fn to_input(&self) -> VoiceProfileInput {
        VoiceProfileInput {
            voice: self.voice.clone(),
            speed: self.speed,
            stt_model: self.stt_model.clone(),
            stt_language: self.stt_language.clone(),
            stt_vad: self.stt_vad,
            llm_provider: self.llm_provider.clone(),
            llm_base_url: self.llm_base_url.clone(),
            llm_model: self.llm_model.clone(),
            llm_api_key: None,
            temperature: self.temperature,
            max_output_tokens: self.max_output_tokens,
            instructions: self.instructions.clone(),
        }
    }
}

/// An LLM endpoint chosen by a tenant (bring your own key).
#[derive(Clone, PartialEq)]
pub struct TenantLlm {
    /// OpenAI-compatible base URL.
    pub base_url: String,
    /// Opened API key, if one is stored.
    pub api_key: Option<String>,
}

impl std::fmt::Debug for TenantLlm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TenantLlm")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// The settings a session starts from: project over tenant; `None` = the server default.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResolvedProfile {
    pub voice: Option<String>,
    pub speed: Option<f64>,
    pub stt_model: Option<String>,
    pub stt_language: Option<String>,
    /// `Some(false)`: sessions start without server VAD turn detection.
    pub stt_vad: Option<bool>,
    pub llm: Option<TenantLlm>,
    pub llm_model: Option<String>,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i32>,
    pub instructions: Option<String>,
    /// The persona (id, published version) that supplied defaults; recorded with the session.
    pub persona: Option<(uuid::Uuid, i32)>,
    /// The tenant's ready custom voices: voice name (`cv_...`) -> what the engine is sent.
    pub custom_voices: std::collections::BTreeMap<String, String>,
    /// The tenant's OVOS settings when its turns go through ovos-core first.
    pub ovos: Option<crate::services::skills::TenantOvos>,
    /// The persona's knowledge solvers, in the order they are asked before the LLM.
    pub solvers: Vec<String>,
    /// The tenant's enabled wake words (each voice turn is scored for them in the background).
    pub wake_words: Vec<avb_storage::repos::wake_words::WakeWord>,
}

fn text(field: &str, v: Option<String>, max: usize) -> Result<Option<String>, ValidationError> {
    match v.map(|s| s.trim().to_string()) {
        Some(s) if s.is_empty() => Ok(None),
        Some(s) if s.chars().count() > max => Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        )),
        Some(s) if s.chars().any(char::is_control) => Err(ValidationError::new(
            field,
            "must not contain control characters",
        )),
        other => Ok(other),
    }
}

fn identifier(field: &str, v: Option<String>) -> Result<Option<String>, ValidationError> {
    let v = text(field, v, 128)?;
    if let Some(s) = &v
        && !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
    {
        return Err(ValidationError::new(
            field,
            "may contain only letters, digits and - _ . : /",
        ));
    }
    Ok(v)
}

fn range<T: PartialOrd + std::fmt::Display + Copy>(
    field: &str,
    v: Option<T>,
    min: T,
    max: T,
) -> Result<Option<T>, ValidationError> {
    match v {
        Some(x) if !(x >= min && x <= max) => Err(ValidationError::new(
            field,
            format!("must be between {min} and {max}"),
        )),
        other => Ok(other),
    }
}

/// Whether `host` names this machine or a private network.
pub(crate) fn private_host(host: url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => {
            let d = d.to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost") || d.ends_with(".internal")
        }
        url::Host::Ipv4(ip) => crate::egress::forbidden_ip(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => crate::egress::forbidden_ip(IpAddr::V6(ip)),
    }
}

/// Checks a tenant-chosen base URL: https (http only where private addresses are allowed), no
/// credentials, and no private or loopback host unless `engines.byok_allow_private_urls`.
fn base_url(raw: Option<String>, allow_private: bool) -> Result<Option<String>, ValidationError> {
    let Some(raw) = text("llm_base_url", raw, 512)? else {
        return Ok(None);
    };
    let bad = |m: &str| ValidationError::new("llm_base_url", m);
    let url = url::Url::parse(&raw).map_err(|_| bad("must be an absolute http(s) URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(bad("must use https")),
        _ => return Err(bad("must be an absolute http(s) URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials; use llm_api_key"));
    }
    let host = url.host().ok_or_else(|| bad("must name a host"))?;
    if !allow_private && private_host(host) {
        return Err(bad("must not point at a private or loopback address"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("must not have a query or fragment"));
    }
    Ok(Some(raw.trim_end_matches('/').to_string()))
}

/// Validated fields plus what to do with the stored key.
struct Checked {
    fields: ProfileFields,
    /// `None` keeps the stored key, `Some(None)` removes it, `Some(Some(k))` replaces it.
    new_key: Option<Option<String>>,
}

fn check(input: VoiceProfileInput, allow_private: bool) -> Result<Checked, ValidationError> {
    let llm_provider = identifier("llm_provider", input.llm_provider)?;
    let mut llm_base_url = base_url(input.llm_base_url, allow_private)?;
    if let Some(p) = &llm_provider {
        let known = LLM_PROVIDERS
            .iter()
            .find(|(name, _)| name == p)
            .ok_or_else(|| {
                ValidationError::new("llm_provider", "must be openai, groq, ollama or custom")
            })?;
        match (known.1, &llm_base_url) {
            (Some(default), None) => llm_base_url = Some(default.to_string()),
            (None, None) => {
                return Err(ValidationError::new(
                    "llm_base_url",
                    format!("is required for provider {p}"),
                ));
            }
            _ => {}
        }
    } else if llm_base_url.is_some() {
        return Err(ValidationError::new(
            "llm_provider",
            "is required with llm_base_url",
        ));
    }
    let new_key = match input.llm_api_key {
        None => None,
        Some(k) if k.trim().is_empty() => Some(None),
        Some(k) => {
            let k = text("llm_api_key", Some(k), 512)?;
            if llm_provider.is_none() {
                return Err(ValidationError::new(
                    "llm_api_key",
                    "needs llm_provider: a key is only sent to the provider you choose",
                ));
            }
            Some(k)
        }
    };
    Ok(Checked {
        fields: ProfileFields {
            voice: identifier("voice", input.voice)?,
            speed: range(
                "speed",
                input.speed,
                super::voices::SPEED_RANGE.0,
                super::voices::SPEED_RANGE.1,
            )?,
            stt_model: identifier("stt_model", input.stt_model)?,
            stt_language: language(input.stt_language)?,
            stt_vad: input.stt_vad,
            llm_provider,
            llm_base_url,
            llm_model: identifier("llm_model", input.llm_model)?,
            llm_api_key_enc: None,
            temperature: range("temperature", input.temperature, 0.0, 2.0)?,
            max_output_tokens: range(
                "max_output_tokens",
                input.max_output_tokens,
                MAX_OUTPUT_TOKENS.0,
                MAX_OUTPUT_TOKENS.1,
            )?,
            instructions: text("instructions", input.instructions, 16_000)?,
        },
        new_key,
    })
}

/// The range of `max_output_tokens` (B11).
pub const MAX_OUTPUT_TOKENS: (i32, i32) = (256, 4096);

/// Whether `tag` is a BCP-47 language tag of the form the engines understand: a 2-3 letter
/// primary language, optionally a script (4 letters) and/or a region (2 letters or 3 digits),
/// e.g. `en`, `en-US`, `pt-BR`, `zh-Hant-TW`.
pub fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let Some(primary) = parts.next() else {
        return false;
    };
    if !((2..=3).contains(&primary.len()) && primary.chars().all(|c| c.is_ascii_alphabetic())) {
        return false;
    }
    let rest: Vec<&str> = parts.collect();
    let subtag = |s: &str| {
        (s.len() == 4 && s.chars().all(|c| c.is_ascii_alphabetic()))
            || (s.len() == 2 && s.chars().all(|c| c.is_ascii_alphabetic()))
            || (s.len() == 3 && s.chars().all(|c| c.is_ascii_digit()))
    };
    rest.len() <= 2 && rest.iter().all(|s| subtag(s))
}

/// Normalises a language setting: `auto` (any case) or a BCP-47 tag with canonical case
/// (`en-us` -> `en-US`).
fn language(v: Option<String>) -> Result<Option<String>, ValidationError> {
    let v = text("stt_language", v, 16)?;
    let Some(l) = v else { return Ok(None) };
    if l.eq_ignore_ascii_case("auto") {
        return Ok(Some("auto".into()));
    }
    if !is_language_tag(&l) {
        return Err(ValidationError::new(
            "stt_language",
            "must be a BCP-47 language tag such as en, en-US or pt-BR, or auto",
        ));
    }
    let canonical: Vec<String> = l
        .split('-')
        .enumerate()
        .map(|(i, p)| match (i, p.len()) {
            (0, _) => p.to_ascii_lowercase(),
            (_, 4) => {
                let mut c = p.to_ascii_lowercase();
                c[..1].make_ascii_uppercase();
                c
            }
            _ => p.to_ascii_uppercase(),
        })
        .collect();
    Ok(Some(canonical.join("-")))
}

/// The language to send to a Whisper-style engine for a stored setting: none for `auto` (the
/// engine detects it), else the primary subtag (`pt-BR` -> `pt`).
pub fn engine_language(setting: Option<&str>) -> Option<String> {
    match setting {
        None | Some("auto") | Some("") => None,
        Some(tag) => tag.split('-').next().map(str::to_ascii_lowercase),
    }
}

/// Validates a language setting alone (BCP-47 or `auto`), normalised.
pub fn check_language(v: Option<String>) -> Result<Option<String>, ValidationError> {
    language(v)
}

/// Validates a provider and base URL as a profile save would (known provider, default URL
/// filled in, https, no private or loopback target unless allowed, resolved names included);
/// returns the URL to call.
pub async fn check_llm_endpoint(
    input: VoiceProfileInput,
    allow_private: bool,
) -> CoreResult<String> {
    let checked = check(input, allow_private)?;
    let url = checked
        .fields
        .llm_base_url
        .ok_or_else(|| ValidationError::new("llm_base_url", "is required"))?;
    if !allow_private
        && let Ok(parsed) = url::Url::parse(&url)
        && crate::egress::check_target(&parsed).await.is_err()
    {
        return Err(ValidationError::new(
            "llm_base_url",
            "must not point at a private or loopback address",
        )
        .into());
    }
    Ok(url)
}

fn seal_context(tenant: TenantId) -> String {
    format!("voice_profile:{}", tenant.as_uuid())
}

/// The stored profile of the tenant (`project` = `None`) or a project of it.
pub async fn get(
    ctx: &AppContext,
    scope: &Scope,
    project: Option<ProjectId>,
) -> CoreResult<VoiceProfileView> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    if let Some(p) = project {
        projects::get(&tx, p).await?;
    }
    let row = voice_profiles::get(&tx, project).await?;
    tx.commit().await?;
    Ok(VoiceProfileView::of(row, project))
}

/// The permission that guards writing a profile: settings for the tenant default, projects for
/// a project's override.
fn write_permission(project: Option<ProjectId>) -> Permission {
    if project.is_some() {
        Permission::ProjectsManage
    } else {
        Permission::SettingsManage
    }
}

/// Replaces the profile; audited (the key is recorded only as set/kept/removed).
pub async fn put(
    ctx: &AppContext,
    scope: &Scope,
    project: Option<ProjectId>,
    input: VoiceProfileInput,
) -> CoreResult<VoiceProfileView> {
    let perm = write_permission(project);
    let tenant = tenant_of(scope, perm)?;
    ctx.policy.authorize(scope, perm, Some(tenant))?;
    let allow_private = ctx.config.engines.byok_allow_private_urls;
    let checked = check(input, allow_private)?;
    if let Some(voice) = checked.fields.voice.as_deref() {
        super::voices::check_choice(ctx, tenant, voice, checked.fields.speed.unwrap_or(1.0))
            .await?;
    }
    // A model the tenant did not have before must be one the engine serves.
    if let Some(model) = checked.fields.stt_model.as_deref()
        && get(ctx, scope, project).await?.stt_model.as_deref() != Some(model)
    {
        super::voice_console::check_stt_model(ctx, model).await?;
    }
    if !allow_private
        && let Some(url) = checked.fields.llm_base_url.as_deref()
        && let Ok(url) = url::Url::parse(url)
        && crate::egress::check_target(&url).await.is_err()
    {
        return Err(ValidationError::new(
            "llm_base_url",
            "must not point at a private or loopback address",
        )
        .into());
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(p) = project {
        projects::get(&tx, p).await?;
    }
    let existing = voice_profiles::get(&tx, project).await?;
    let mut fields = checked.fields;
    let key_change = match checked.new_key {
        None => {
            fields.llm_api_key_enc = existing.as_ref().and_then(|m| m.llm_api_key_enc.clone());
            "kept"
        }
        Some(None) => "removed",
        Some(Some(k)) => {
            fields.llm_api_key_enc = Some(ctx.sealer.seal(&k, &seal_context(tenant))?);
            "set"
        }
    };
    if fields.llm_provider.is_none() {
        fields.llm_api_key_enc = None;
    }
    let summary = serde_json::json!({
        "project_id": project.map(|p| p.as_uuid()),
        "voice": fields.voice,
        "speed": fields.speed,
        "stt_model": fields.stt_model,
        "stt_language": fields.stt_language,
        "stt_vad": fields.stt_vad,
        "llm_provider": fields.llm_provider,
        "llm_base_url": fields.llm_base_url,
        "llm_model": fields.llm_model,
        "llm_api_key": key_change,
        "temperature": fields.temperature,
        "max_output_tokens": fields.max_output_tokens,
        "instructions_chars": fields.instructions.as_ref().map(|i| i.chars().count()),
    });
    let row = voice_profiles::put(&tx, project, fields).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "voice_profile.update",
            "voice_profile",
            row.id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(VoiceProfileView::of(Some(row), project))
}

/// Removes the profile so everything inherits again; audited. `NotFound` when none is stored.
pub async fn delete(ctx: &AppContext, scope: &Scope, project: Option<ProjectId>) -> CoreResult<()> {
    let perm = write_permission(project);
    let tenant = tenant_of(scope, perm)?;
    ctx.policy.authorize(scope, perm, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let row = voice_profiles::get(&tx, project)
        .await?
        .ok_or(CoreError::NotFound)?;
    voice_profiles::delete(&tx, project).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "voice_profile.delete",
            "voice_profile",
            row.id,
            serde_json::json!({"project_id": project.map(|p| p.as_uuid())}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// What a Realtime session of `tenant` (through a key of `project`) starts from. Called by the
/// gateway after the connection was authenticated for that tenant.
pub async fn resolve(
    ctx: &AppContext,
    tenant: TenantId,
    project: Option<ProjectId>,
) -> CoreResult<ResolvedProfile> {
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let base = voice_profiles::get(&tx, None).await?;
    let over = match project {
        Some(p) => voice_profiles::get(&tx, Some(p)).await?,
        None => None,
    };
    let persona = crate::services::personas::effective(&tx, project).await?;
    let custom_voices = crate::services::custom_voices::engine_voices(&tx).await?;
    let ovos = crate::services::skills::for_session(&tx).await?;
    let wake_words = if ctx.wakeword.is_some() {
        avb_storage::repos::wake_words::list(&tx)
            .await?
            .into_iter()
            .filter(|w| w.enabled)
            .collect()
    } else {
        Vec::new()
    };
    tx.commit().await?;
    let pick = |f: fn(&Model) -> Option<String>| {
        over.as_ref()
            .and_then(f)
            .or_else(|| base.as_ref().and_then(f))
    };
    // The LLM endpoint and its key travel together: a project that names a provider does not
    // borrow the tenant's key for it.
    let llm_row = over
        .as_ref()
        .filter(|m| m.llm_provider.is_some())
        .or(base.as_ref().filter(|m| m.llm_provider.is_some()));
    let llm = match llm_row {
        Some(m) => Some(TenantLlm {
            base_url: m.llm_base_url.clone().unwrap_or_default(),
            api_key: match &m.llm_api_key_enc {
                Some(sealed) => Some(ctx.sealer.open(sealed, &seal_context(tenant))?),
                None => None,
            },
        }),
        None => None,
    };
    // Precedence: a profile field set explicitly (project over tenant) > the effective
    // persona's published version > the server default (see `services::personas`).
    let persona_language = persona.as_ref().and_then(|p| {
        let primary = p.language.split('-').next().unwrap_or_default();
        (primary.len() == 2).then(|| primary.to_ascii_lowercase())
    });
    Ok(ResolvedProfile {
        voice: pick(|m| m.voice.clone()).or_else(|| persona.as_ref().map(|p| p.voice.clone())),
        speed: over
            .as_ref()
            .and_then(|m| m.speed)
            .or(base.as_ref().and_then(|m| m.speed))
            .or(persona.as_ref().map(|p| p.speed)),
        stt_model: pick(|m| m.stt_model.clone()),
        stt_language: pick(|m| m.stt_language.clone()).or(persona_language),
        stt_vad: over
            .as_ref()
            .and_then(|m| m.stt_vad)
            .or(base.as_ref().and_then(|m| m.stt_vad)),
        llm_model: llm_row
            .and_then(|m| m.llm_model.clone())
            .or_else(|| pick(|m| m.llm_model.clone())),
        llm,
        temperature: over
            .as_ref()
            .and_then(|m| m.temperature)
            .or(base.as_ref().and_then(|m| m.temperature)),
        max_output_tokens: over
            .as_ref()
            .and_then(|m| m.max_output_tokens)
            .or(base.as_ref().and_then(|m| m.max_output_tokens)),
        instructions: pick(|m| m.instructions.clone()).or_else(|| {
            persona
                .as_ref()
                .map(|p| p.instructions.clone())
                .filter(|i| !i.is_empty())
        }),
        solvers: persona
            .as_ref()
            .map(|p| p.solvers.clone())
            .unwrap_or_default(),
        persona: persona.map(|p| (p.id, p.version)),
        custom_voices,
        ovos,
        wake_words,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn input(provider: &str, url: Option<&str>) -> VoiceProfileInput {
        VoiceProfileInput {
            llm_provider: Some(provider.into()),
            llm_base_url: url.map(str::to_string),
            ..VoiceProfileInput::default()
        }
    }

    #[test]
    fn provider_urls_are_filled_in_or_required() {
        let c = check(input("groq", None), false).unwrap();
        assert_eq!(
            c.fields.llm_base_url.as_deref(),
            Some("https://api.groq.com/openai/v1")
        );
        let e = check(input("ollama", None), false).err().unwrap();
        assert_eq!(e.field, "llm_base_url");
        let e = check(input("acme", None), false).err().unwrap();
        assert_eq!(e.field, "llm_provider");
    }

    #[test]
    fn private_and_plain_http_urls_are_refused_unless_allowed() {
        for url in [
            "http://api.example.com/v1",
            "https://127.0.0.1/v1",
            "https://10.1.2.3/v1",
            "https://169.254.169.254/latest",
            "https://[::1]/v1",
            "https://localhost:8080/v1",
            "https://user:pw@api.example.com/v1",
            "ftp://api.example.com",
            "not a url",
        ] {
            assert!(
                check(input("custom", Some(url)), false).is_err(),
                "{url} accepted"
            );
        }
        assert!(check(input("custom", Some("https://api.example.com/v1/")), false).is_ok());
        assert!(check(input("ollama", Some("http://127.0.0.1:11434/v1")), true).is_ok());
    }

    #[test]
    fn values_are_range_checked() {
        let bad = |f: fn(&mut VoiceProfileInput)| {
            let mut i = VoiceProfileInput::default();
            f(&mut i);
            check(i, false).err().unwrap().field
        };
        assert_eq!(bad(|i| i.speed = Some(9.0)), "speed");
        assert_eq!(bad(|i| i.temperature = Some(-1.0)), "temperature");
        assert_eq!(bad(|i| i.max_output_tokens = Some(0)), "max_output_tokens");
        assert_eq!(
            bad(|i| i.max_output_tokens = Some(100)),
            "max_output_tokens"
        );
        assert_eq!(
            bad(|i| i.max_output_tokens = Some(4097)),
            "max_output_tokens"
        );
        assert_eq!(
            bad(|i| i.stt_language = Some("en_US".into())),
            "stt_language"
        );
        assert_eq!(
            bad(|i| i.stt_language = Some("english".into())),
            "stt_language"
        );
        assert_eq!(bad(|i| i.voice = Some("a b".into())), "voice");
        assert_eq!(bad(|i| i.llm_api_key = Some("sk-1".into())), "llm_api_key");
    }

    #[test]
    fn languages_are_bcp47_or_auto() {
        let lang = |l: &str| {
            check(
                VoiceProfileInput {
                    stt_language: Some(l.into()),
                    ..VoiceProfileInput::default()
                },
                false,
            )
            .map(|c| c.fields.stt_language)
        };
        assert_eq!(lang("en").unwrap().as_deref(), Some("en"));
        assert_eq!(lang("pt-br").unwrap().as_deref(), Some("pt-BR"));
        assert_eq!(lang("zh-hant-tw").unwrap().as_deref(), Some("zh-Hant-TW"));
        assert_eq!(lang("AUTO").unwrap().as_deref(), Some("auto"));
        assert!(lang("english").is_err());
        assert!(lang("e").is_err());
        assert_eq!(engine_language(Some("pt-BR")).as_deref(), Some("pt"));
        assert_eq!(engine_language(Some("auto")), None);
        assert_eq!(engine_language(None), None);
    }
}
