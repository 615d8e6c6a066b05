//! `/voice/llm` (requires `projects:view`; saving requires `settings:manage`): the tenant's
//! language model (provider, base URL, model from the provider's `/models`, temperature, max
//! output tokens), its bring-your-own key shown as a fingerprint (replace, remove), and a test
//! console that streams a prompt's reply token by token (`/voice/llm/test/stream`, read by
//! `portal.js`) or, without script, renders the whole reply with its timing.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Visitor, has_csrf};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::voice_console::{
    self, LlmSettings, LlmTestEvent, LlmTestResult, MAX_PROMPT_CHARS,
};
use avb_core::services::voice_profiles::MAX_OUTPUT_TOKENS;
use avb_domain::Permission;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// A provider option.
pub struct ProviderOption {
    pub id: &'static str,
    pub label: &'static str,
    pub default_url: &'static str,
    pub selected: bool,
}

/// The settings form's values.
#[derive(Default, Clone)]
struct Values {
    provider: String,
    base_url: String,
    model: String,
    temperature: String,
    max_output_tokens: String,
}

#[derive(Template)]
#[template(path = "voice/llm.html")]
struct VoiceLlmPage {
    chrome: Chrome,
    can_manage: bool,
    providers: Vec<ProviderOption>,
    values: Values,
    stored_provider: String,
    stored_model: String,
    models: Vec<(String, bool)>,
    models_error: Option<String>,
    models_from: String,
    key_fingerprint: Option<String>,
    key_allowed: bool,
    save_error: Option<String>,
    instructions_set: bool,
    prompt: String,
    result: Option<LlmTestResult>,
    test_error: Option<String>,
    min_tokens: i32,
    max_tokens: i32,
    max_prompt: usize,
}

/// `?provider=&base_url=` (load another provider's models) and `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct LlmQuery {
    #[serde(default)]
    done: String,
    provider: Option<String>,
    base_url: Option<String>,
}

fn label(provider: &str) -> &'static str {
    match provider {
        "openai" => "OpenAI",
        "groq" => "Groq",
        "ollama" => "Ollama",
        "custom" => "Any OpenAI-compatible URL",
        _ => "Server default",
    }
}

fn number<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

#[allow(clippy::too_many_arguments)]
async fn page(
    state: &PortalState,
    v: &Visitor,
    done: Option<&str>,
    asked: Option<Values>,
    save_error: Option<String>,
    test: (String, Option<LlmTestResult>, Option<String>),
    status: StatusCode,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::ProjectsView) {
        return Err(PageError::Forbidden(Permission::ProjectsView));
    }
    let ctx = &state.ctx;
    let stored = avb_core::services::voice_profiles::get(ctx, &v.scope, None).await?;
    let values = asked.unwrap_or_else(|| Values {
        provider: stored.llm_provider.clone().unwrap_or_default(),
        base_url: stored.llm_base_url.clone().unwrap_or_default(),
        model: stored.llm_model.clone().unwrap_or_default(),
        temperature: number(stored.temperature),
        max_output_tokens: number(stored.max_output_tokens),
    });
    // The models of the provider shown in the form (a bad URL is said inline, not an error page).
    let (models, models_error) = match voice_console::llm_models(
        ctx,
        &v.scope,
        Some(values.provider.as_str()),
        Some(values.base_url.as_str()),
    )
    .await
    {
        Ok(m) => (m.models, m.error),
        Err(CoreError::Validation(e)) => (
            Vec::new(),
            Some(format!(
                "the models cannot be listed: {}: {}",
                e.field, e.message
            )),
        ),
        Err(e) => return Err(e.into()),
    };
    let key_fingerprint = voice_console::llm_key_fingerprint(ctx, &v.scope).await?;
    let mut providers = vec![ProviderOption {
        id: "",
        label: "Server default",
        default_url: "",
        selected: values.provider.is_empty(),
    }];
    for (id, url) in voice_console::providers() {
        providers.push(ProviderOption {
            id,
            label: label(id),
            default_url: url.unwrap_or(""),
            selected: values.provider == *id,
        });
    }
    let mut model_options: Vec<(String, bool)> = models
        .iter()
        .map(|m| (m.clone(), *m == values.model))
        .collect();
    if !values.model.is_empty() && !models.contains(&values.model) && models.is_empty() {
        // Keep the stored choice visible while the provider cannot be asked.
        model_options.push((values.model.clone(), true));
    }
    let page = VoiceLlmPage {
        chrome: v.chrome("/voice/llm", done),
        can_manage: v.scope.has(Permission::SettingsManage) && v.impersonating.is_none(),
        models_from: label(&values.provider).to_string(),
        providers,
        stored_provider: label(stored.llm_provider.as_deref().unwrap_or("")).to_string(),
        stored_model: stored.llm_model.clone().unwrap_or_default(),
        key_allowed: !values.provider.is_empty(),
        values,
        models: model_options,
        models_error,
        key_fingerprint,
        save_error,
        instructions_set: stored.instructions.is_some(),
        prompt: test.0,
        result: test.1,
        test_error: test.2,
        min_tokens: MAX_OUTPUT_TOKENS.0,
        max_tokens: MAX_OUTPUT_TOKENS.1,
        max_prompt: MAX_PROMPT_CHARS,
    };
    let mut res = render(&page, status);
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// `GET /voice/llm` (requires `projects:view`).
pub async fn show(
    State(state): State<PortalState>,
    v: Visitor,
    Query(q): Query<LlmQuery>,
) -> Result<Response, PageError> {
    let asked = match (&q.provider, &q.base_url) {
        (None, None) => None,
        _ => {
            let stored =
                avb_core::services::voice_profiles::get(&state.ctx, &v.scope, None).await?;
            Some(Values {
                provider: q.provider.clone().unwrap_or_default(),
                base_url: q.base_url.clone().unwrap_or_default(),
                model: stored.llm_model.unwrap_or_default(),
                temperature: number(stored.temperature),
                max_output_tokens: number(stored.max_output_tokens),
            })
        }
    };
    page(
        &state,
        &v,
        Some(&q.done),
        asked,
        None,
        (String::new(), None, None),
        StatusCode::OK,
    )
    .await
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub struct LlmForm {
    #[serde(default)]
    provider: String,
    #[serde(default)]
    base_url: String,
    #[serde(default)]
    model: String,
    #[serde(default)]
    temperature: String,
    #[serde(default)]
    max_output_tokens: String,
    /// Empty keeps the stored key.
    #[serde(default)]
    api_key: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(LlmForm);

fn parse<T: std::str::FromStr>(field: &str, raw: &str, what: &str) -> Result<Option<T>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse::<T>()
        .map(Some)
        .map_err(|_| format!("{field}: must be {what}"))
}

/// `POST /voice/llm` (requires `settings:manage`): provider, URL, model, temperature, max
/// tokens and (when given) a new key; invalid values are shown inline and nothing is saved.
pub async fn save(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<LlmForm>,
) -> Result<Response, PageError> {
    let values = Values {
        provider: f.provider.clone(),
        base_url: f.base_url.clone(),
        model: f.model.clone(),
        temperature: f.temperature.clone(),
        max_output_tokens: f.max_output_tokens.clone(),
    };
    let parsed =
        parse::<f64>("temperature", &f.temperature, "a number from 0.0 to 2.0").and_then(|t| {
            parse::<i32>(
                "max_output_tokens",
                &f.max_output_tokens,
                "a whole number from 256 to 4096",
            )
            .map(|m| (t, m))
        });
    let error = match parsed {
        Err(m) => Some(m),
        Ok((temperature, max_output_tokens)) => {
            let s = LlmSettings {
                provider: Some(f.provider.clone()).filter(|p| !p.is_empty()),
                base_url: Some(f.base_url.clone()).filter(|u| !u.trim().is_empty()),
                model: Some(f.model.clone()).filter(|m| !m.trim().is_empty()),
                temperature,
                max_output_tokens,
                api_key: Some(f.api_key.clone()).filter(|k| !k.trim().is_empty()),
            };
            match voice_console::save_llm(&state.ctx, &v.scope, s).await {
                Ok(_) => return Ok(Redirect::to("/voice/llm?done=settings_saved").into_response()),
                Err(CoreError::Validation(e)) => Some(format!("{}: {}", e.field, e.message)),
                Err(e) => return Err(e.into()),
            }
        }
    };
    page(
        &state,
        &v,
        None,
        Some(values),
        error,
        (String::new(), None, None),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await
}

/// `POST /voice/llm/key/remove` (requires `settings:manage`; the form asks for confirmation).
pub async fn remove_key(
    State(state): State<PortalState>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    voice_console::remove_llm_key(&state.ctx, &v.scope).await?;
    Ok(Redirect::to("/voice/llm?done=llm_key_removed").into_response())
}

/// A test prompt.
#[derive(Debug, Deserialize)]
pub struct PromptForm {
    #[serde(default)]
    prompt: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(PromptForm);

/// `POST /voice/llm/test` (requires `projects:view`): the whole reply, rendered with its time
/// to first token and tokens per second (the form's answer without script).
pub async fn test(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<PromptForm>,
) -> Result<Response, PageError> {
    let (result, error, status) =
        match voice_console::llm_test_collect(&state.ctx, &v.scope, &f.prompt).await {
            Ok(Ok(r)) => (Some(r), None, StatusCode::OK),
            Ok(Err(fail)) => (None, Some(fail.to_string()), StatusCode::BAD_GATEWAY),
            Err(CoreError::Validation(e)) => (
                None,
                Some(format!("{}: {}", e.field, e.message)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Err(e) => return Err(e.into()),
        };
    page(
        &state,
        &v,
        None,
        None,
        None,
        (f.prompt, result, error),
        status,
    )
    .await
}

/// `POST /voice/llm/test/stream` (requires `projects:view`): the reply as server-sent events,
/// `token` (a JSON string per piece), then `done` (the result with its timing) or `error`.
/// Refusals before the stream starts are plain text with their status.
pub async fn test_stream(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<PromptForm>,
) -> Response {
    let rx = match voice_console::llm_test(&state.ctx, &v.scope, &f.prompt).await {
        Ok(rx) => rx,
        Err(CoreError::Validation(e)) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("{}: {}", e.field, e.message),
            )
                .into_response();
        }
        Err(CoreError::RateLimited(secs)) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                format!("too many test calls this minute; retry in {secs} s"),
            )
                .into_response();
        }
        Err(e) => return PageError::from(e).into_response(),
    };
    let events = futures::stream::unfold(rx, |mut rx| async move {
        let ev = rx.recv().await?;
        let sse = match ev {
            LlmTestEvent::Token(t) => axum::response::sse::Event::default()
                .event("token")
                .data(serde_json::Value::String(t).to_string()),
            LlmTestEvent::Done(r) => axum::response::sse::Event::default()
                .event("done")
                .data(serde_json::to_string(&r).unwrap_or_default()),
            LlmTestEvent::Failed(fail) => axum::response::sse::Event::default()
                .event("error")
                .data(serde_json::Value::String(fail.to_string()).to_string()),
        };
        Some((Ok::<_, std::convert::Infallible>(sse), rx))
    });
    let mut res = axum::response::sse::Sse::new(events).into_response();
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}
