//! `/voice/skills` (requires `projects:view`; changes require `settings:manage`): OVOS for the
//! tenant: on or off, language, whether fallback skills may answer, the skills ovos-core has
//! loaded with their intents and sample utterances, turning a skill off for this tenant only,
//! and a test box that sends an utterance through ovos-core as a voice turn would.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Visitor, has_csrf};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::skills::{self, SkillTest, SkillsView};
use avb_domain::Permission;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "voice/skills.html")]
struct SkillsPage {
    chrome: Chrome,
    can_manage: bool,
    view: SkillsView,
    settings_error: Option<String>,
    utterance: String,
    result: Option<SkillTest>,
    test_error: Option<String>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: Option<&str>,
    settings_error: Option<String>,
    test: (String, Option<SkillTest>, Option<String>),
    status: StatusCode,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::ProjectsView) {
        return Err(PageError::Forbidden(Permission::ProjectsView));
    }
    let view = skills::skills(&state.ctx, &v.scope).await?;
    let page = SkillsPage {
        chrome: v.chrome("/voice/skills", done),
        can_manage: v.scope.has(Permission::SettingsManage) && v.impersonating.is_none(),
        view,
        settings_error,
        utterance: test.0,
        result: test.1,
        test_error: test.2,
    };
    Ok(render(&page, status))
}

/// `GET /voice/skills`.
pub async fn show(
    State(state): State<PortalState>,
    v: Visitor,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    page(
        &state,
        &v,
        Some(&q.done),
        None,
        (String::new(), None, None),
        StatusCode::OK,
    )
    .await
}

/// The settings form (checkboxes are absent when unticked).
#[derive(Debug, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    lang: String,
    #[serde(default)]
    fallback_skills: Option<String>,
    #[serde(default)]
    csrf: String,
}
has_csrf!(SettingsForm);

/// `POST /voice/skills/settings` (requires `settings:manage`).
pub async fn save(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<SettingsForm>,
) -> Result<Response, PageError> {
    let mut s = skills::settings(&state.ctx, &v.scope).await?;
    s.enabled = f.enabled.is_some();
    s.lang = f.lang;
    s.fallback_skills = f.fallback_skills.is_some();
    match skills::save_settings(&state.ctx, &v.scope, s).await {
        Ok(_) => Ok(Redirect::to("/voice/skills?done=ovos_saved").into_response()),
        Err(CoreError::Validation(e)) => {
            page(
                &state,
                &v,
                None,
                Some(format!("{}: {}", e.field, e.message)),
                (String::new(), None, None),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// Turning one skill on or off.
#[derive(Debug, Deserialize)]
pub struct ToggleForm {
    skill: String,
    /// `on` or `off`.
    turn: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ToggleForm);

/// `POST /voice/skills/toggle` (requires `settings:manage`): for this tenant only.
pub async fn toggle(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<ToggleForm>,
) -> Result<Response, PageError> {
    let on = match f.turn.as_str() {
        "on" => true,
        "off" => false,
        _ => {
            return Err(PageError::Invalid("turn: must be on or off".into()));
        }
    };
    skills::set_skill(&state.ctx, &v.scope, &f.skill, on).await?;
    let done = if on {
        "skill_enabled"
    } else {
        "skill_disabled"
    };
    Ok(Redirect::to(&format!("/voice/skills?done={done}")).into_response())
}

/// An utterance to try.
#[derive(Debug, Deserialize)]
pub struct TestForm {
    #[serde(default)]
    utterance: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(TestForm);

/// `POST /voice/skills/test` (requires `projects:view`).
pub async fn test(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<TestForm>,
) -> Result<Response, PageError> {
    let (result, error, status) =
        match skills::test_utterance(&state.ctx, &v.scope, &f.utterance).await {
            Ok(r) => (Some(r), None, StatusCode::OK),
            Err(CoreError::Validation(e)) => (
                None,
                Some(format!("{}: {}", e.field, e.message)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            Err(CoreError::Conflict(why)) => (None, Some(why), StatusCode::CONFLICT),
            Err(e) => return Err(e.into()),
        };
    page(&state, &v, None, None, (f.utterance, result, error), status).await
}
