//! `/voice/wake-words` (requires `projects:view`; changes require `settings:manage`): the
//! tenant's wake words (built-in high-accuracy models or experimental custom phrases) with their
//! sensitivity and on/off switch, "validate" (dictionary check and rates on synthesised speech),
//! a recording test drawn as score over time, and the analytics of detections in its sessions
//! (detections, false positives, missed activations per day; events can be marked).

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Visitor, has_csrf};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::wake_words::{self, Validation, WakeAnalytics, WakeWords};
use avb_domain::Permission;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use serde::Deserialize;
use uuid::Uuid;

const BASE: &str = "/voice/wake-words";

#[derive(Template)]
#[template(path = "voice/wake_words.html")]
struct WakeWordsPage {
    chrome: Chrome,
    can_manage: bool,
    words: WakeWords,
    builtin: Vec<(&'static str, &'static str)>,
    add_error: Option<String>,
    validation: Option<Validation>,
    validate_error: Option<String>,
    asked: String,
    analytics: WakeAnalytics,
    trend_json: String,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

struct Extra {
    add_error: Option<String>,
    validation: Option<Validation>,
    validate_error: Option<String>,
    asked: String,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: Option<&str>,
    extra: Extra,
    status: StatusCode,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::ProjectsView) {
        return Err(PageError::Forbidden(Permission::ProjectsView));
    }
    let words = wake_words::list(&state.ctx, &v.scope).await?;
    let analytics = if v.scope.has(Permission::UsageView) {
        wake_words::analytics(&state.ctx, &v.scope, 30).await?
    } else {
        WakeAnalytics {
            detections: 0,
            false_positives: 0,
            missed: 0,
            avg_score: None,
            days: Vec::new(),
            recent: Vec::new(),
        }
    };
    let x = crate::charts::day_starts(analytics.days.iter().map(|d| d.day));
    let series = |f: fn(&wake_words::WakeDay) -> u64| {
        analytics
            .days
            .iter()
            .map(|d| Some(f(d) as f64))
            .collect::<Vec<_>>()
    };
    let trend_json = crate::charts::chart_json(
        &x,
        &[
            ("Detections", series(|d| d.detections)),
            ("False positives", series(|d| d.false_positives)),
            ("Missed", series(|d| d.missed)),
        ],
    );
    let page = WakeWordsPage {
        chrome: v.chrome(BASE, done),
        can_manage: v.scope.has(Permission::SettingsManage) && v.impersonating.is_none(),
        words,
        builtin: wake_words::BUILTIN.to_vec(),
        add_error: extra.add_error,
        validation: extra.validation,
        validate_error: extra.validate_error,
        asked: extra.asked,
        analytics,
        trend_json,
    };
    Ok(render(&page, status))
}

fn none() -> Extra {
    Extra {
        add_error: None,
        validation: None,
        validate_error: None,
        asked: String::new(),
    }
}

/// `GET /voice/wake-words`.
pub async fn show(
    State(state): State<PortalState>,
    v: Visitor,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    page(&state, &v, Some(&q.done), none(), StatusCode::OK).await
}

/// A phrase and a sensitivity.
#[derive(Debug, Deserialize)]
pub struct PhraseForm {
    #[serde(default)]
    phrase: String,
    #[serde(default)]
    sensitivity: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(PhraseForm);

fn sensitivity(raw: &str) -> Result<Option<f64>, String> {
    match raw.trim() {
        "" => Ok(None),
        s => s
            .parse()
            .map(Some)
            .map_err(|_| "sensitivity: must be a number from 0.05 to 0.95".to_string()),
    }
}

fn said(e: CoreError) -> Result<String, PageError> {
    match e {
        CoreError::Validation(e) => Ok(format!("{}: {}", e.field, e.message)),
        CoreError::Conflict(m) => Ok(m),
        e => Err(e.into()),
    }
}

/// `POST /voice/wake-words` (requires `settings:manage`).
pub async fn add(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<PhraseForm>,
) -> Result<Response, PageError> {
    let result: Result<(), String> = match sensitivity(&f.sensitivity) {
        Err(m) => Err(m),
        Ok(s) => match wake_words::create(&state.ctx, &v.scope, &f.phrase, s).await {
            Ok(_) => {
                return Ok(Redirect::to(&format!("{BASE}?done=wake_word_added")).into_response());
            }
            Err(e) => Err(said(e)?),
        },
    };
    let mut extra = none();
    extra.add_error = result.err();
    extra.asked = f.phrase;
    page(&state, &v, None, extra, StatusCode::UNPROCESSABLE_ENTITY).await
}

/// A wake word's settings.
#[derive(Debug, Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    sensitivity: String,
    /// Present when ticked.
    enabled: Option<String>,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ChangeForm);

/// `POST /voice/wake-words/{id}` (requires `settings:manage`): sensitivity and on/off.
pub async fn change(
    State(state): State<PortalState>,
    Path(id): Path<Uuid>,
    CsrfForm(v, f): CsrfForm<ChangeForm>,
) -> Result<Response, PageError> {
    let s = sensitivity(&f.sensitivity).map_err(PageError::Invalid)?;
    match wake_words::update(&state.ctx, &v.scope, id, s, Some(f.enabled.is_some())).await {
        Ok(_) => Ok(Redirect::to(&format!("{BASE}?done=wake_word_saved")).into_response()),
        Err(CoreError::Validation(e)) => {
            Err(PageError::Invalid(format!("{}: {}", e.field, e.message)))
        }
        Err(e) => Err(PageError::from(e)),
    }
}

/// `POST /voice/wake-words/{id}/delete` (requires `settings:manage`; the form confirms).
pub async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<Uuid>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    wake_words::delete(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("wake word"))?;
    Ok(Redirect::to(&format!("{BASE}?done=wake_word_deleted")).into_response())
}

/// `POST /voice/wake-words/validate` (requires `projects:view`).
pub async fn validate(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<PhraseForm>,
) -> Result<Response, PageError> {
    let mut extra = none();
    extra.asked = f.phrase.clone();
    let status = match sensitivity(&f.sensitivity) {
        Err(m) => {
            extra.validate_error = Some(m);
            StatusCode::UNPROCESSABLE_ENTITY
        }
        Ok(s) => match wake_words::validate(&state.ctx, &v.scope, &f.phrase, s).await {
            Ok(r) => {
                extra.validation = Some(r);
                StatusCode::OK
            }
            Err(e) => {
                extra.validate_error = Some(said(e)?);
                StatusCode::UNPROCESSABLE_ENTITY
            }
        },
    };
    page(&state, &v, None, extra, status).await
}

/// A recording to score.
#[derive(Debug, Deserialize)]
pub struct RecordingForm {
    /// Base64 of mono s16le PCM.
    #[serde(default)]
    audio: String,
    /// Its sample rate (8000 to 48000).
    #[serde(default)]
    rate: u32,
    #[serde(default)]
    csrf: String,
}
has_csrf!(RecordingForm);

/// `POST /voice/wake-words/test` (requires `projects:view`): JSON scores per wake word.
pub async fn test(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<RecordingForm>,
) -> Result<Response, PageError> {
    let bad = |m: &str| {
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({"error": m})),
        )
            .into_response()
    };
    if !(8000..=48000).contains(&f.rate) {
        return Ok(bad("rate must be 8000 to 48000"));
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(f.audio.as_bytes()) else {
        return Ok(bad("audio must be base64 PCM"));
    };
    let pcm = wake_words::pcm_16k(&bytes, f.rate);
    match wake_words::test(&state.ctx, &v.scope, &pcm).await {
        Ok(r) => Ok(axum::Json(r).into_response()),
        Err(CoreError::Validation(e)) => Ok(bad(&format!("{}: {}", e.field, e.message))),
        Err(CoreError::Conflict(m)) => Ok((
            StatusCode::CONFLICT,
            axum::Json(serde_json::json!({"error": m})),
        )
            .into_response()),
        Err(e) => Err(e.into()),
    }
}

/// A mark on an event.
#[derive(Debug, Deserialize)]
pub struct MarkForm {
    #[serde(default)]
    mark: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(MarkForm);

/// `POST /voice/wake-words/events/{id}/mark` (requires `settings:manage`).
pub async fn mark(
    State(state): State<PortalState>,
    Path(id): Path<Uuid>,
    CsrfForm(v, f): CsrfForm<MarkForm>,
) -> Result<Response, PageError> {
    wake_words::mark(&state.ctx, &v.scope, id, &f.mark)
        .await
        .map_err(PageError::or_not_found("wake word event"))?;
    Ok(Redirect::to(&format!("{BASE}?done=wake_event_marked")).into_response())
}
