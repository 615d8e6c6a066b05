//! `/voice/playground` (requires `projects:view`; talking requires `realtime:connect`): a
//! signed-in user talks to the agent from the browser. The page's script
//! (`assets/playground.js`, with its audio worklet `assets/playground-worklet.js`) asks
//! `POST /voice/playground/secret` for an `ek_` client secret minted for the user (and the
//! chosen project), opens `/v1/realtime` with it (GA dialect), streams the microphone as 24 kHz
//! PCM, plays the answer, and shows the transcript and each turn's latency marks. The session
//! is recorded like any other; `/voice/playground/sessions/{realtime_id}` leads to its record.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::voices::VoiceEntry;
use avb_core::services::{projects, realtime, sessions, voice_profiles, voices};
use avb_domain::{Permission, ProjectId};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;

/// How long a playground secret may wait for its socket.
const SECRET_TTL_SECS: u64 = 60;

#[derive(Template)]
#[template(path = "playground/show.html")]
struct PlaygroundShowPage {
    chrome: Chrome,
    /// Whether the visitor may open realtime sessions (`realtime:connect`).
    can_talk: bool,
    /// The tenant's projects: (id, name).
    projects: Vec<(String, String)>,
    voices: Vec<VoiceEntry>,
    /// The tenant's default voice (pre-selected).
    default_voice: String,
    /// The tenant's persona instructions (the placeholder of the override field).
    default_instructions: String,
    /// Published personas: their current version, offered as a whole (instructions, voice,
    /// speed) for the session.
    personas: Vec<PersonaChoice>,
    problem: Option<String>,
    /// The model named in the socket's URL.
    model: String,
    /// Whether the visitor may open the recorded sessions.
    can_view_sessions: bool,
}

/// A published persona the session may take its instructions, voice and speed from.
struct PersonaChoice {
    id: String,
    name: String,
    version: i32,
    instructions: String,
    voice: String,
    speed: f64,
}

/// `GET /voice/playground` (requires `projects:view`; without `realtime:connect` the page
/// explains why there is nothing to start, with status 403).
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
) -> Result<Response, PageError> {
    let ctx = &state.ctx;
    let can_talk = v.scope.has(Permission::RealtimeConnect);
    let chrome = v.chrome("/voice/playground", None);
    if !can_talk {
        let page = PlaygroundShowPage {
            chrome,
            can_talk,
            projects: Vec::new(),
            voices: Vec::new(),
            default_voice: String::new(),
            default_instructions: String::new(),
            personas: Vec::new(),
            problem: None,
            model: String::new(),
            can_view_sessions: false,
        };
        return Ok(render(&page, StatusCode::FORBIDDEN));
    }
    let request = avb_core::PageRequest {
        limit: 200,
        after: None,
    };
    let (mut catalogue, profile, listed, custom, all_personas) = tokio::try_join!(
        voices::catalogue(ctx, &v.scope),
        voice_profiles::get(ctx, &v.scope, None),
        projects::list(ctx, &v.scope, None, request),
        avb_core::services::custom_voices::ready(ctx, &v.scope),
        avb_core::services::personas::all(ctx, &v.scope)
    )?;
    let custom = custom.iter().map(|c| c.catalogue_entry());
    catalogue.voices.splice(0..0, custom);
    let mut personas = Vec::new();
    for p in all_personas
        .into_iter()
        .filter(|p| p.status == "published" && p.published_version.is_some())
    {
        let versions = avb_core::services::personas::versions(ctx, &v.scope, p.id).await?;
        if let Some(current) = versions.into_iter().find(|v| v.current) {
            personas.push(PersonaChoice {
                id: p.id.to_string(),
                name: p.name,
                version: current.version,
                instructions: current.instructions,
                voice: current.voice,
                speed: current.speed,
            });
        }
    }
    let page = PlaygroundShowPage {
        chrome,
        can_talk,
        projects: listed
            .items
            .into_iter()
            .map(|p| (p.project.id.to_string(), p.project.name))
            .collect(),
        voices: catalogue.voices,
        default_voice: profile.voice.unwrap_or_default(),
        default_instructions: profile.instructions.unwrap_or_default(),
        personas,
        problem: catalogue.problem,
        model: ctx.config.engines.llm_model.clone(),
        can_view_sessions: v.scope.has(Permission::SessionsView),
    };
    Ok(render(&page, StatusCode::OK))
}

/// The secret request (form-encoded, as the page's script sends it).
#[derive(Debug, Deserialize)]
pub struct SecretForm {
    /// A project id, or empty for none.
    #[serde(default)]
    project: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(SecretForm);

fn json_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"message": message}}))).into_response()
}

/// `POST /voice/playground/secret` (requires `realtime:connect`, CSRF-checked): mints a
/// single-use `ek_` secret for the signed-in user and the chosen project, valid for a minute;
/// answers `{value, expires_at}` as JSON. Audited as `realtime.client_secret.create`.
pub async fn secret(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<SecretForm>,
) -> Response {
    if !v.scope.has(Permission::RealtimeConnect) {
        return json_error(
            StatusCode::FORBIDDEN,
            "Talking to the agent needs the realtime:connect permission.",
        );
    }
    let project = match f.project.trim() {
        "" => None,
        raw => match raw.parse::<ProjectId>() {
            Ok(p) => Some(p),
            Err(_) => return json_error(StatusCode::NOT_FOUND, "No such project."),
        },
    };
    let session = json!({"type": "realtime"});
    match realtime::create_user_client_secret(
        &state.ctx,
        &v.scope,
        project,
        "ga",
        session,
        SECRET_TTL_SECS,
    )
    .await
    {
        Ok(s) => {
            Json(json!({"value": s.value, "expires_at": s.expires_at.timestamp()})).into_response()
        }
        Err(CoreError::NotFound) => json_error(StatusCode::NOT_FOUND, "No such project."),
        Err(CoreError::Forbidden(p)) => json_error(
            StatusCode::FORBIDDEN,
            &format!("This needs the {} permission.", p.as_str()),
        ),
        Err(CoreError::TenantSuspended) => {
            json_error(StatusCode::FORBIDDEN, "The tenant is suspended.")
        }
        Err(CoreError::RateLimited(secs)) => json_error(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many attempts: retry in {secs} s."),
        ),
        Err(e) => {
            tracing::error!(error = %e, "playground: minting a client secret failed");
            json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The secret could not be created. Retry in a moment.",
            )
        }
    }
}

/// `GET /voice/playground/sessions/{realtime_id}` (requires `sessions:view`): the recorded
/// session the playground's socket opened, by the `sess_...` id its client saw.
pub async fn session(
    State(state): State<PortalState>,
    v: Require<perm::SessionsView>,
    Path(realtime_id): Path<String>,
) -> Result<Response, PageError> {
    let s = sessions::find_by_realtime_id(&state.ctx, &v.scope, &realtime_id)
        .await
        .map_err(PageError::or_not_found("session"))?;
    Ok(Redirect::to(&format!("/sessions/{}", s.id)).into_response())
}
