//! `/voice/stt` (requires `projects:view`; saving requires `settings:manage`): the tenant's
//! speech-to-text settings (model among those the engine serves, BCP-47 language or auto, VAD
//! turn detection), its transcription latency and word error rate, and a test console that
//! transcribes an uploaded or recorded file.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Visitor, has_csrf};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::voice_console::{
    self, MAX_UPLOAD_BYTES, SttModelChoice, SttSettings, SttTestResult, SttUpload,
};
use avb_domain::Permission;
use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// Common BCP-47 tags offered in the language list (any valid tag is accepted).
const LANGUAGES: &[(&str, &str)] = &[
    ("auto", "Detect automatically"),
    ("en", "English"),
    ("en-US", "English (United States)"),
    ("en-GB", "English (United Kingdom)"),
    ("de", "German"),
    ("es", "Spanish"),
    ("fr", "French"),
    ("it", "Italian"),
    ("nl", "Dutch"),
    ("pt", "Portuguese"),
    ("pt-BR", "Portuguese (Brazil)"),
    ("pl", "Polish"),
    ("ru", "Russian"),
    ("tr", "Turkish"),
    ("uk", "Ukrainian"),
    ("ar", "Arabic"),
    ("hi", "Hindi"),
    ("ja", "Japanese"),
    ("ko", "Korean"),
    ("zh", "Chinese"),
];

/// A row of the model table / an option of the model select.
pub struct ModelRow {
    pub id: String,
    pub size: String,
    pub tradeoff: String,
    pub available: bool,
    pub reason: String,
    pub selected: bool,
}

/// The test console's outcome.
#[derive(Default)]
struct Console {
    result: Option<SttTestResult>,
    error: Option<String>,
    reference: String,
    language: String,
}

/// The settings form's state after a failed save.
#[derive(Default)]
struct Saving {
    error: Option<String>,
    model: Option<String>,
    language: Option<String>,
    vad: Option<String>,
}

#[derive(Template)]
#[template(path = "voice/stt.html")]
struct VoiceSttPage {
    chrome: Chrome,
    can_manage: bool,
    engine_error: Option<String>,
    models: Vec<ModelRow>,
    current_model: String,
    default_model: String,
    language: String,
    languages: Vec<(&'static str, &'static str)>,
    vad: String,
    compute: String,
    save_error: Option<String>,
    tests: usize,
    avg_latency: String,
    p95_latency: String,
    wer_tests: usize,
    avg_wer: String,
    sessions: Option<(String, String, String, String)>,
    result: Option<SttTestResult>,
    result_wer: String,
    test_error: Option<String>,
    test_reference: String,
    test_language: String,
    max_mb: usize,
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{v:.0} ms"))
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "—".into(), |v| format!("{:.1}%", v * 100.0))
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: Option<&str>,
    saving: Saving,
    console: Console,
    status: StatusCode,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::ProjectsView) {
        return Err(PageError::Forbidden(Permission::ProjectsView));
    }
    let ctx = &state.ctx;
    let (m, stats) = tokio::try_join!(
        voice_console::stt_models(ctx, &v.scope),
        voice_console::stt_stats(ctx, &v.scope)
    )?;
    let chosen = saving.model.clone().or(m.current_model.clone());
    let models = m
        .models
        .iter()
        .map(|c: &SttModelChoice| ModelRow {
            id: c.id.clone(),
            size: c.size.clone(),
            tradeoff: c.tradeoff.clone(),
            available: c.available,
            reason: c.reason.clone().unwrap_or_default(),
            selected: chosen.as_deref() == Some(c.id.as_str()),
        })
        .collect();
    let vad = saving.vad.clone().unwrap_or_else(|| match m.vad {
        None => String::new(),
        Some(true) => "on".into(),
        Some(false) => "off".into(),
    });
    let page = VoiceSttPage {
        chrome: v.chrome("/voice/stt", done),
        can_manage: v.scope.has(Permission::SettingsManage) && v.impersonating.is_none(),
        engine_error: m.engine.error.clone(),
        models,
        current_model: m.current_model.clone().unwrap_or_default(),
        default_model: m.default_model.clone(),
        language: saving
            .language
            .clone()
            .or(m.language.clone())
            .unwrap_or_default(),
        languages: LANGUAGES.to_vec(),
        vad,
        compute: m.compute.clone(),
        save_error: saving.error,
        tests: stats.tests,
        avg_latency: ms(stats.avg_latency_ms),
        p95_latency: ms(stats.p95_latency_ms),
        wer_tests: stats.wer_tests,
        avg_wer: percent(stats.avg_wer),
        sessions: stats.sessions.map(|s| {
            (
                format!("{:.0}", s.count),
                ms(s.avg_ms),
                ms(Some(s.p95_ms)),
                s.source,
            )
        }),
        result_wer: percent(console.result.as_ref().and_then(|r| r.wer)),
        result: console.result,
        test_error: console.error,
        test_reference: console.reference,
        test_language: console.language,
        max_mb: MAX_UPLOAD_BYTES / (1024 * 1024),
    };
    Ok(render(&page, status))
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

/// `GET /voice/stt` (requires `projects:view`).
pub async fn show(
    State(state): State<PortalState>,
    v: Visitor,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    page(
        &state,
        &v,
        Some(&q.done),
        Saving::default(),
        Console::default(),
        StatusCode::OK,
    )
    .await
}

/// The settings form.
#[derive(Debug, Deserialize)]
pub struct SttForm {
    #[serde(default)]
    model: String,
    #[serde(default)]
    language: String,
    /// `""` inherit, `on`, `off`.
    #[serde(default)]
    vad: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(SttForm);

fn field_message(e: &CoreError) -> Option<String> {
    match e {
        CoreError::Validation(v) => Some(format!("{}: {}", v.field, v.message)),
        _ => None,
    }
}

/// `POST /voice/stt` (requires `settings:manage`): saves model, language and VAD; a model the
/// engine does not serve is refused inline and nothing is saved.
pub async fn save(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<SttForm>,
) -> Result<Response, PageError> {
    let vad = match f.vad.as_str() {
        "" => Ok(None),
        "on" => Ok(Some(true)),
        "off" => Ok(Some(false)),
        _ => Err("vad: must be on, off or inherit".to_string()),
    };
    let outcome = match vad {
        Ok(vad) => {
            let s = SttSettings {
                model: Some(f.model.clone()).filter(|m| !m.trim().is_empty()),
                language: Some(f.language.clone()).filter(|l| !l.trim().is_empty()),
                vad,
            };
            voice_console::save_stt(&state.ctx, &v.scope, s)
                .await
                .map_err(|e| match field_message(&e) {
                    Some(m) => Ok(m),
                    None => Err(e),
                })
        }
        Err(m) => Err(Ok(m)),
    };
    match outcome {
        Ok(_) => Ok(Redirect::to("/voice/stt?done=settings_saved").into_response()),
        Err(Ok(error)) => {
            let saving = Saving {
                error: Some(error),
                model: Some(f.model),
                language: Some(f.language),
                vad: Some(f.vad),
            };
            page(
                &state,
                &v,
                None,
                saving,
                Console::default(),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(Err(e)) => Err(e.into()),
    }
}

/// `POST /voice/stt/test` (requires `projects:view`): a multipart upload (`file`, `language`,
/// `reference`, `csrf`) transcribed with the tenant's settings; the page shows the transcript,
/// language, duration, time taken and, with a reference text, the word error rate.
pub async fn test(
    State(state): State<PortalState>,
    v: Visitor,
    form: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let fail = |console: Console, status: StatusCode| (console, status);
    let (console, status) = 'run: {
        let mut form = match form {
            Ok(f) => f,
            Err(_) => {
                break 'run fail(
                    Console {
                        error: Some("file: send the form as multipart/form-data".into()),
                        ..Console::default()
                    },
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                );
            }
        };
        let mut up = SttUpload::default();
        let mut csrf = String::new();
        let mut reference = String::new();
        let mut language = String::new();
        loop {
            let field = match form.next_field().await {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    let error = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        format!(
                            "file: is too large; the limit is {} MB",
                            MAX_UPLOAD_BYTES / (1024 * 1024)
                        )
                    } else {
                        format!("file: the upload could not be read ({})", e.body_text())
                    };
                    break 'run fail(
                        Console {
                            error: Some(error),
                            ..Console::default()
                        },
                        e.status(),
                    );
                }
            };
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                up.file_name = field.file_name().unwrap_or_default().to_string();
                match field.bytes().await {
                    Ok(b) => up.bytes = b.to_vec(),
                    Err(e) => {
                        let error = if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                            format!(
                                "file: is too large; the limit is {} MB",
                                MAX_UPLOAD_BYTES / (1024 * 1024)
                            )
                        } else {
                            format!("file: the upload could not be read ({})", e.body_text())
                        };
                        break 'run fail(
                            Console {
                                error: Some(error),
                                ..Console::default()
                            },
                            e.status(),
                        );
                    }
                }
            } else {
                let text = field.text().await.unwrap_or_default();
                match name.as_str() {
                    "csrf" => csrf = text,
                    "reference" => reference = text,
                    "language" => language = text,
                    _ => {}
                }
            }
        }
        v.check_form(&csrf)?;
        up.reference = Some(reference.clone());
        up.language = Some(language.clone()).filter(|l| !l.trim().is_empty());
        let keep = |error: Option<String>, result: Option<SttTestResult>| Console {
            result,
            error,
            reference: reference.clone(),
            language: language.clone(),
        };
        match voice_console::stt_test(&state.ctx, &v.scope, up).await {
            Ok(Ok(r)) => (keep(None, Some(r)), StatusCode::OK),
            Ok(Err(f)) => (keep(Some(f.to_string()), None), StatusCode::BAD_GATEWAY),
            Err(e) => match field_message(&e) {
                Some(m) => (keep(Some(m), None), StatusCode::UNPROCESSABLE_ENTITY),
                None => return Err(e.into()),
            },
        }
    };
    page(&state, &v, None, Saving::default(), console, status).await
}
