//! The language-model console: the provider's models, the tenant's LLM settings and key, and
//! streamed test prompts.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use crate::services::voice_profiles::{self, LLM_PROVIDERS, VoiceProfileInput, VoiceProfileView};
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::repos::voice_profiles as profile_repo;
use avb_voice::llm::{ChatMessage, ChatModel, ChatRequest, LlmDelta, OpenAiChat};
use futures::StreamExt;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use uuid::Uuid;

use super::*;

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
    let mut input = current.to_input();
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
    let mut input = current.to_input();
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
    llm_test_as(ctx, scope, prompt, None).await
}

/// [`llm_test`] with `instructions` instead of the profile's (a persona's test chat): the same
/// model choice, budget, audit row and metering.
pub async fn llm_test_as(
    ctx: &AppContext,
    scope: &Scope,
    prompt: &str,
    instructions: Option<String>,
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
    let instructions = instructions.or_else(|| profile.instructions.clone());
    if let Some(i) = instructions.as_deref().filter(|i| !i.trim().is_empty()) {
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
    llm_test_collect_as(ctx, scope, prompt, None).await
}

/// [`llm_test_collect`] with `instructions` instead of the profile's (a persona's test chat).
pub async fn llm_test_collect_as(
    ctx: &AppContext,
    scope: &Scope,
    prompt: &str,
    instructions: Option<String>,
) -> CoreResult<Result<LlmTestResult, EngineFailure>> {
    let mut rx = llm_test_as(ctx, scope, prompt, instructions).await?;
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
