//! `/voice` (requires `projects:view`; saving requires `settings:manage`): the voice studio's
//! voice page. The catalogue of the configured TTS engine with a preview player per voice, the
//! tenant's default voice, speed and persona instructions, and voice usage for 7/30/90 days.
//! `/voice/preview` streams a sample sentence as WAV for the page's `<audio>` elements.
//! `/projects/{id}/voice` shows and overrides the same settings for one project (project over
//! tenant; saving requires `projects:manage`).

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::projects;
use avb_core::services::voices::{self, SPEED_RANGE, VoiceEntry};
use avb_core::services::{usage, voice_profiles};
use avb_domain::Permission;
use avb_domain::ProjectId;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// One voice of the catalogue table.
pub struct VoiceRow {
    pub entry: VoiceEntry,
    pub selected: bool,
}

/// Voice usage over one window.
pub struct UsageWindow {
    pub days: i64,
    pub stt_minutes: String,
    pub tts_minutes: String,
    pub llm_tokens: String,
}

#[derive(Template)]
#[template(path = "voice/show.html")]
struct VoiceShowPage {
    chrome: Chrome,
    /// The project whose override this page edits (id, name); `None`: the tenant default.
    project: Option<(String, String)>,
    /// Where the form posts.
    action: String,
    /// What an empty field falls back to, in words.
    inherited: String,
    can_edit: bool,
    rows: Vec<VoiceRow>,
    problem: Option<String>,
    voice: String,
    speed: String,
    instructions: String,
    speed_min: f64,
    speed_max: f64,
    usage: Option<Vec<UsageWindow>>,
    error: Option<String>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct VoiceQuery {
    #[serde(default)]
    done: String,
}

/// What the form held when it was refused.
struct Refused {
    voice: String,
    speed: String,
    instructions: String,
    error: String,
}

async fn usage_windows(
    state: &PortalState,
    v: &Visitor,
) -> Result<Option<Vec<UsageWindow>>, PageError> {
    if !v.scope.has(Permission::UsageView) {
        return Ok(None);
    }
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for days in [7, 30, 90] {
        let t = usage::totals(
            &state.ctx,
            &v.scope,
            now - chrono::Duration::days(days),
            now,
        )
        .await?;
        let get = |m: &str| t.get(m).copied().unwrap_or(0.0);
        out.push(UsageWindow {
            days,
            stt_minutes: format!("{:.1}", get("audio_minutes_input")),
            tts_minutes: format!("{:.1}", get("audio_minutes_output")),
            llm_tokens: format!("{:.0}", get("llm_tokens_input") + get("llm_tokens_output")),
        });
    }
    Ok(Some(out))
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    project: Option<ProjectId>,
    done: &str,
    refused: Option<Refused>,
) -> Result<Response, PageError> {
    let ctx = &state.ctx;
    let (mut catalogue, profile, tenant_profile, custom) = tokio::try_join!(
        voices::catalogue(ctx, &v.scope),
        voice_profiles::get(ctx, &v.scope, project),
        voice_profiles::get(ctx, &v.scope, None),
        avb_core::services::custom_voices::ready(ctx, &v.scope)
    )?;
    // The tenant's ready custom voices come first, said for what they are.
    let custom = custom.iter().map(|c| c.catalogue_entry());
    catalogue.voices.splice(0..0, custom);
    let (project_row, action, inherited, edit_permission) = match project {
        Some(id) => {
            let p = projects::get(ctx, &v.scope, id).await?;
            let fallback = match &tenant_profile.voice {
                Some(voice) => format!("the tenant default ({voice})"),
                None => "the tenant default".to_string(),
            };
            (
                Some((id.to_string(), p.project.name)),
                format!("/projects/{id}/voice"),
                fallback,
                Permission::ProjectsManage,
            )
        }
        None => (
            None,
            "/voice".to_string(),
            "the server default".to_string(),
            Permission::SettingsManage,
        ),
    };
    let usage = match project {
        Some(_) => None,
        None => usage_windows(state, v).await?,
    };
    let (voice, speed, instructions, error, status) = match refused {
        Some(r) => (
            r.voice,
            r.speed,
            r.instructions,
            Some(r.error),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        None => (
            profile.voice.unwrap_or_default(),
            format!(
                "{:.2}",
                profile.speed.or(tenant_profile.speed).unwrap_or(1.0)
            ),
            profile.instructions.unwrap_or_default(),
            None,
            StatusCode::OK,
        ),
    };
    let page = VoiceShowPage {
        chrome: v.chrome(
            if project.is_some() {
                "/projects"
            } else {
                "/voice"
            },
            Some(done),
        ),
        project: project_row,
        action,
        inherited,
        can_edit: v.scope.has(edit_permission),
        rows: catalogue
            .voices
            .into_iter()
            .map(|entry| VoiceRow {
                selected: entry.id == voice,
                entry,
            })
            .collect(),
        problem: catalogue.problem,
        voice,
        speed,
        instructions,
        speed_min: SPEED_RANGE.0,
        speed_max: SPEED_RANGE.1,
        usage,
        error,
    };
    Ok(render(&page, status))
}

/// `GET /voice` (requires `projects:view`).
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Query(q): Query<VoiceQuery>,
) -> Result<Response, PageError> {
    page(&state, &v, None, &q.done, None).await
}

/// `GET /projects/{id}/voice` (requires `projects:view`): the project's override.
pub async fn show_project(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Path(id): Path<String>,
    Query(q): Query<VoiceQuery>,
) -> Result<Response, PageError> {
    let id = project_id(&id)?;
    page(&state, &v, Some(id), &q.done, None).await
}

fn project_id(raw: &str) -> Result<ProjectId, PageError> {
    raw.parse().map_err(|_| PageError::NotFound("project"))
}

/// The voice form.
#[derive(Debug, Deserialize)]
pub struct VoiceForm {
    #[serde(default)]
    voice: String,
    #[serde(default)]
    speed: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(VoiceForm);

/// `POST /voice` (requires `settings:manage`): saves the tenant's default voice, speed and
/// persona instructions; the next session uses them.
pub async fn save(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<VoiceForm>,
) -> Result<Response, PageError> {
    save_for(&state, &v, None, f).await
}

/// `POST /projects/{id}/voice` (requires `projects:manage`): saves the project's override;
/// empty fields inherit the tenant default.
pub async fn save_project(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, f): CsrfForm<VoiceForm>,
) -> Result<Response, PageError> {
    let id = project_id(&id)?;
    save_for(&state, &v, Some(id), f).await
}

async fn save_for(
    state: &PortalState,
    v: &Visitor,
    project: Option<ProjectId>,
    f: VoiceForm,
) -> Result<Response, PageError> {
    let needs = match project {
        Some(_) => Permission::ProjectsManage,
        None => Permission::SettingsManage,
    };
    if !v.scope.has(needs) {
        return Err(PageError::Forbidden(needs));
    }
    let refuse = |error: String, f: VoiceForm| Refused {
        voice: f.voice,
        speed: f.speed,
        instructions: f.instructions,
        error,
    };
    let speed = match f.speed.trim() {
        "" => None,
        raw => match raw.parse::<f64>() {
            Ok(s) => Some(s),
            Err(_) => {
                let r = refuse("speed: must be a number such as 1.0".into(), f);
                return page(state, v, project, "", Some(r)).await;
            }
        },
    };
    let some = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    match voices::save_defaults(
        &state.ctx,
        &v.scope,
        project,
        some(&f.voice),
        speed,
        some(&f.instructions),
    )
    .await
    {
        Ok(_) => {
            let back = match project {
                Some(id) => format!("/projects/{id}/voice?done=voice_saved"),
                None => "/voice?done=voice_saved".to_string(),
            };
            Ok(Redirect::to(&back).into_response())
        }
        Err(CoreError::Validation(e)) => {
            let r = refuse(format!("{}: {}", e.field, e.message), f);
            page(state, v, project, "", Some(r)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `?voice=&speed=&text=` of a preview.
#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    voice: String,
    #[serde(default)]
    speed: Option<f64>,
    #[serde(default)]
    text: Option<String>,
}

/// `GET /voice/preview` (requires `projects:view`): a sample sentence in `voice` at `speed`,
/// streamed as 16-bit mono WAV while it is synthesised. Rate-limited, metered and audited.
pub async fn preview(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, PageError> {
    let p = voices::preview(
        &state.ctx,
        &v.scope,
        &q.voice,
        q.speed.unwrap_or(1.0),
        q.text.as_deref(),
    )
    .await?;
    let body = p.into_wav_stream();
    Ok((
        [
            (header::CONTENT_TYPE, "audio/wav"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        Body::from_stream(body),
    )
        .into_response())
}
