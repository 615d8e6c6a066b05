//! `/voice/personas`: the tenant's personas (list with usage counts and the default badge),
//! the create/edit form (inline errors; solvers ordered with Up/Down buttons, the keyboard
//! alternative to dragging), the detail page (versions with roll back, publish, archive, set
//! as tenant default, test chat) and the delete confirmation. Viewing needs `projects:view`;
//! changing needs `settings:manage` (others get the read-only pages).

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::personas::{self, PersonaInput, PersonaVersionView, PersonaView, SOLVERS};
use avb_domain::Permission;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use uuid::Uuid;

const PAGE_SIZE: u64 = 20;
const BASE: &str = "/voice/personas";

/// A row of the list.
pub struct Row {
    pub id: String,
    pub name: String,
    pub description: String,
    pub status: String,
    pub voice: String,
    pub usage: u64,
    pub tenant_default: bool,
}

#[derive(Template)]
#[template(path = "personas/list.html")]
struct ListPage {
    chrome: Chrome,
    can_manage: bool,
    rows: Vec<Row>,
    next: Option<String>,
}

/// A solver line of the form, in the persona's order.
pub struct SolverRow {
    pub name: &'static str,
    pub label: &'static str,
    pub enabled: bool,
    /// Configured on this platform (`[solvers]`); an unconfigured one is skipped at run time.
    pub available: bool,
    pub first: bool,
    pub last: bool,
}

#[derive(Template)]
#[template(path = "personas/form.html")]
struct FormPage {
    chrome: Chrome,
    /// The persona being edited; none for a new one.
    id: Option<String>,
    action: String,
    name: String,
    description: String,
    instructions: String,
    voice: String,
    speed: String,
    language: String,
    solvers: Vec<SolverRow>,
    solver_order: String,
    error_field: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "personas/detail.html")]
struct DetailPage {
    chrome: Chrome,
    can_manage: bool,
    p: PersonaView,
    solver_labels: Vec<&'static str>,
    versions: Vec<PersonaVersionView>,
    chat_message: String,
    chat_reply: Option<String>,
    chat_error: Option<String>,
    /// The tenant's projects, marked where this persona is their default.
    projects: Vec<ProjectOption>,
}

/// A project of the "default for a project" form.
pub struct ProjectOption {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Template)]
#[template(path = "personas/confirm.html")]
struct ConfirmPage {
    chrome: Chrome,
    id: String,
    name: String,
    /// `delete` or `rollback`.
    kind: &'static str,
    version: i32,
    tenant_default: bool,
    projects: usize,
}

fn label(name: &str) -> &'static str {
    SOLVERS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, l)| l)
}

fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    raw.parse().map_err(|_| PageError::not_found("persona"))
}

/// `?after=<id>` (next page) and `?done=<code>` (toast).
#[derive(Debug, Deserialize)]
pub struct ListQuery {
    after: Option<String>,
    done: Option<String>,
}

/// `GET /voice/personas` (requires `projects:view`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Query(q): Query<ListQuery>,
) -> Result<Response, PageError> {
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after: q.after.as_deref().and_then(|a| a.parse().ok()),
    };
    let listed = personas::list(&state.ctx, &v.scope, None, request).await?;
    let page = ListPage {
        chrome: v.chrome(BASE, q.done.as_deref()),
        can_manage: v.scope.has(Permission::SettingsManage),
        rows: listed
            .items
            .into_iter()
            .map(|p| Row {
                id: p.id.to_string(),
                name: p.name,
                description: p.description,
                status: p.status,
                voice: p.voice,
                usage: p.usage_count,
                tenant_default: p.tenant_default,
            })
            .collect(),
        next: listed.next.map(|id| id.to_string()),
    };
    Ok(render(&page, StatusCode::OK))
}

/// The persona form as posted. Solvers: `solver_order` holds every solver in the chosen order,
/// a checked `solver_<name>` enables one, and a `move` button (`up:<name>` / `down:<name>`)
/// reorders without saving.
#[derive(Debug, Default, Deserialize)]
pub struct PersonaForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    instructions: String,
    #[serde(default)]
    voice: String,
    #[serde(default)]
    speed: String,
    #[serde(default)]
    language: String,
    #[serde(default)]
    solver_order: String,
    solver_wikipedia: Option<String>,
    solver_duckduckgo: Option<String>,
    solver_wolfram_alpha: Option<String>,
    solver_wordnet: Option<String>,
    #[serde(rename = "move")]
    move_: Option<String>,
    #[serde(default)]
    csrf: String,
}
has_csrf!(PersonaForm);

impl PersonaForm {
    fn enabled(&self, name: &str) -> bool {
        match name {
            "wikipedia" => self.solver_wikipedia.is_some(),
            "duckduckgo" => self.solver_duckduckgo.is_some(),
            "wolfram_alpha" => self.solver_wolfram_alpha.is_some(),
            "wordnet" => self.solver_wordnet.is_some(),
            _ => false,
        }
    }

    /// Every known solver once, in the posted order (unknown names dropped, missing appended).
    fn order(&self) -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for part in self.solver_order.split(',') {
            if let Some((n, _)) = SOLVERS.iter().find(|(n, _)| *n == part.trim())
                && !out.contains(n)
            {
                out.push(n);
            }
        }
        for (n, _) in SOLVERS {
            if !out.contains(n) {
                out.push(n);
            }
        }
        out
    }

    fn apply_move(&mut self) {
        let Some(m) = self.move_.take() else {
            return;
        };
        let mut order = self.order();
        if let Some((dir, name)) = m.split_once(':')
            && let Some(i) = order.iter().position(|n| *n == name)
        {
            match dir {
                "up" if i > 0 => order.swap(i, i - 1),
                "down" if i + 1 < order.len() => order.swap(i, i + 1),
                _ => {}
            }
        }
        self.solver_order = order.join(",");
    }

    fn input(&self) -> Result<PersonaInput, (String, String)> {
        let speed = match self.speed.trim() {
            "" => None,
            s => Some(
                s.parse::<f64>()
                    .map_err(|_| ("speed".to_string(), "speed: must be a number".to_string()))?,
            ),
        };
        let lang = self.language.trim();
        Ok(PersonaInput {
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            instructions: Some(self.instructions.clone()),
            voice: Some(self.voice.clone()),
            speed,
            language: (!lang.is_empty()).then(|| lang.to_string()),
            solvers: Some(
                self.order()
                    .into_iter()
                    .filter(|n| self.enabled(n))
                    .map(str::to_string)
                    .collect(),
            ),
        })
    }
}

fn form_page(
    ctx: &avb_core::AppContext,
    v: &Visitor,
    id: Option<Uuid>,
    f: &PersonaForm,
    error: Option<(String, String)>,
) -> FormPage {
    let order = f.order();
    let n = order.len();
    let (error_field, error) = match error {
        Some((field, m)) => (field, Some(m)),
        None => (String::new(), None),
    };
    FormPage {
        chrome: v.chrome(BASE, None),
        id: id.map(|i| i.to_string()),
        action: id.map_or_else(|| BASE.to_string(), |i| format!("{BASE}/{i}")),
        name: f.name.clone(),
        description: f.description.clone(),
        instructions: f.instructions.clone(),
        voice: f.voice.clone(),
        speed: f.speed.clone(),
        language: f.language.clone(),
        solver_order: order.join(","),
        solvers: order
            .iter()
            .enumerate()
            .map(|(i, name)| SolverRow {
                name,
                label: label(name),
                enabled: f.enabled(name),
                available: ctx.solvers.has(name),
                first: i == 0,
                last: i + 1 == n,
            })
            .collect(),
        error_field,
        error,
    }
}

/// `GET /voice/personas/new` (requires `settings:manage`).
pub async fn new_form(
    State(state): State<PortalState>,
    v: Require<perm::SettingsManage>,
) -> Result<Response, PageError> {
    let f = PersonaForm {
        speed: "1.0".into(),
        language: "en".into(),
        ..PersonaForm::default()
    };
    Ok(render(
        &form_page(&state.ctx, &v, None, &f, None),
        StatusCode::OK,
    ))
}

/// `GET /voice/personas/{id}/edit` (requires `settings:manage`).
pub async fn edit_form(
    State(state): State<PortalState>,
    v: Require<perm::SettingsManage>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let p = personas::get(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    let mut f = PersonaForm {
        name: p.name,
        description: p.description,
        instructions: p.instructions,
        voice: p.voice,
        speed: p.speed.to_string(),
        language: p.language,
        ..PersonaForm::default()
    };
    let mut order: Vec<String> = p.solvers.clone();
    for (n, _) in SOLVERS {
        if !order.iter().any(|o| o == n) {
            order.push((*n).to_string());
        }
    }
    f.solver_order = order.join(",");
    for s in &p.solvers {
        let on = Some("on".to_string());
        match s.as_str() {
            "wikipedia" => f.solver_wikipedia = on,
            "duckduckgo" => f.solver_duckduckgo = on,
            "wolfram_alpha" => f.solver_wolfram_alpha = on,
            "wordnet" => f.solver_wordnet = on,
            _ => {}
        }
    }
    Ok(render(
        &form_page(&state.ctx, &v, Some(id), &f, None),
        StatusCode::OK,
    ))
}

async fn save(
    state: &PortalState,
    v: &Visitor,
    id: Option<Uuid>,
    mut form: PersonaForm,
) -> Result<Response, PageError> {
    if form.move_.is_some() {
        form.apply_move();
        return Ok(render(
            &form_page(&state.ctx, v, id, &form, None),
            StatusCode::OK,
        ));
    }
    let input = match form.input() {
        Ok(i) => i,
        Err(e) => {
            return Ok(render(
                &form_page(&state.ctx, v, id, &form, Some(e)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ));
        }
    };
    let res = match id {
        None => personas::create(&state.ctx, &v.scope, input).await,
        Some(id) => personas::update(&state.ctx, &v.scope, id, input).await,
    };
    match res {
        Ok(p) => {
            let done = if id.is_some() {
                "persona_saved"
            } else {
                "persona_created"
            };
            Ok(Redirect::to(&format!("{BASE}/{}?done={done}", p.id)).into_response())
        }
        Err(CoreError::Validation(e)) => {
            let err = (e.field.clone(), format!("{}: {}", e.field, e.message));
            Ok(render(
                &form_page(&state.ctx, v, id, &form, Some(err)),
                StatusCode::UNPROCESSABLE_ENTITY,
            ))
        }
        Err(CoreError::Conflict(m)) => Ok(render(
            &form_page(
                &state.ctx,
                v,
                id,
                &form,
                Some(("name".into(), format!("name: {m}"))),
            ),
            StatusCode::CONFLICT,
        )),
        Err(e) => Err(e.into()),
    }
}

/// `POST /voice/personas` (requires `settings:manage`): creates a draft.
pub async fn create(
    State(state): State<PortalState>,
    CsrfForm(v, form): CsrfForm<PersonaForm>,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::SettingsManage) {
        return Err(PageError::Forbidden(Permission::SettingsManage));
    }
    save(&state, &v, None, form).await
}

/// `POST /voice/personas/{id}` (requires `settings:manage`): saves the draft.
pub async fn update(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, form): CsrfForm<PersonaForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    if !v.scope.has(Permission::SettingsManage) {
        return Err(PageError::Forbidden(Permission::SettingsManage));
    }
    save(&state, &v, Some(id), form).await
}

/// `?done=<code>` (toast).
#[derive(Debug, Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
}

async fn detail_page(
    state: &PortalState,
    v: &Visitor,
    id: Uuid,
    done: Option<&str>,
    chat: (String, Option<String>, Option<String>),
) -> Result<Response, PageError> {
    let p = personas::get(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    let versions = personas::versions(&state.ctx, &v.scope, id).await?;
    let request = avb_core::PageRequest {
        limit: 200,
        after: None,
    };
    let projects = avb_core::services::projects::list(&state.ctx, &v.scope, None, request)
        .await?
        .items
        .into_iter()
        .map(|pv| ProjectOption {
            is_default: p.default_for_projects.contains(&pv.project.id.as_uuid()),
            id: pv.project.id.to_string(),
            name: pv.project.name,
        })
        .collect();
    let page = DetailPage {
        chrome: v.chrome(BASE, done),
        can_manage: v.scope.has(Permission::SettingsManage),
        solver_labels: p.solvers.iter().map(|s| label(s)).collect(),
        p,
        versions,
        chat_message: chat.0,
        chat_reply: chat.1,
        chat_error: chat.2,
        projects,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /voice/personas/{id}` (requires `projects:view`).
pub async fn detail(
    State(state): State<PortalState>,
    v: Require<perm::ProjectsView>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    detail_page(
        &state,
        &v,
        id,
        q.done.as_deref(),
        (String::new(), None, None),
    )
    .await
}

fn done(id: Uuid, code: &str) -> Response {
    Redirect::to(&format!("{BASE}/{id}?done={code}")).into_response()
}

/// `POST /voice/personas/{id}/publish` (requires `settings:manage`).
pub async fn publish(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    personas::publish(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    Ok(done(id, "persona_published"))
}

/// `POST /voice/personas/{id}/archive` (requires `settings:manage`).
pub async fn archive(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    personas::archive(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    Ok(done(id, "persona_archived"))
}

/// `POST /voice/personas/{id}/default` (requires `settings:manage`): the tenant default.
pub async fn make_default(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    match personas::set_default(&state.ctx, &v.scope, None, Some(id)).await {
        Ok(()) => Ok(done(id, "persona_default")),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            detail_page(&state, &v, id, None, (String::new(), None, Some(msg))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The "default for a project" form.
#[derive(Debug, Deserialize)]
pub struct ProjectDefaultForm {
    #[serde(default)]
    project_id: String,
    /// `set` or `clear`.
    #[serde(default)]
    op: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ProjectDefaultForm);

/// `POST /voice/personas/{id}/project-default` (requires `settings:manage`): makes it the
/// default persona of one project (`op=set`), or clears that project's default (`op=clear`) so
/// the tenant default applies there.
pub async fn project_default(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, form): CsrfForm<ProjectDefaultForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let project = form
        .project_id
        .parse::<Uuid>()
        .ok()
        .map(avb_domain::ProjectId::from);
    let res = match project {
        None => Err(CoreError::Validation(avb_domain::ValidationError::new(
            "project_id",
            "choose a project",
        ))),
        Some(p) => {
            let persona = (form.op != "clear").then_some(id);
            personas::set_default(&state.ctx, &v.scope, Some(p), persona).await
        }
    };
    match res {
        Ok(()) => Ok(done(id, "persona_project_default")),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            detail_page(&state, &v, id, None, (String::new(), None, Some(msg))).await
        }
        Err(e) => Err(e.into()),
    }
}

/// `?version=<n>` of the roll back confirmation.
#[derive(Debug, Deserialize)]
pub struct VersionQuery {
    version: i32,
}

async fn confirm_page(
    state: &PortalState,
    v: &Visitor,
    id: Uuid,
    kind: &'static str,
    version: i32,
) -> Result<Response, PageError> {
    let p = personas::get(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    let page = ConfirmPage {
        chrome: v.chrome(BASE, None),
        id: p.id.to_string(),
        name: p.name,
        kind,
        version,
        tenant_default: p.tenant_default,
        projects: p.default_for_projects.len(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /voice/personas/{id}/rollback?version=N` (requires `settings:manage`): confirmation.
pub async fn confirm_rollback(
    State(state): State<PortalState>,
    v: Require<perm::SettingsManage>,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Response, PageError> {
    confirm_page(&state, &v, parse_id(&id)?, "rollback", q.version).await
}

/// The roll back form.
#[derive(Debug, Deserialize)]
pub struct RollbackForm {
    #[serde(default)]
    version: i32,
    #[serde(default)]
    csrf: String,
}
has_csrf!(RollbackForm);

/// `POST /voice/personas/{id}/rollback` (requires `settings:manage`).
pub async fn rollback(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, form): CsrfForm<RollbackForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    match personas::rollback(&state.ctx, &v.scope, id, form.version).await {
        Ok(_) => Ok(done(id, "persona_rolled_back")),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            detail_page(&state, &v, id, None, (String::new(), None, Some(msg))).await
        }
        Err(e) => Err(PageError::or_not_found("persona")(e)),
    }
}

/// `GET /voice/personas/{id}/delete` (requires `settings:manage`): confirmation.
pub async fn confirm_delete(
    State(state): State<PortalState>,
    v: Require<perm::SettingsManage>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    confirm_page(&state, &v, parse_id(&id)?, "delete", 0).await
}

/// `POST /voice/personas/{id}/delete` (requires `settings:manage`).
pub async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    personas::delete(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    Ok(Redirect::to(&format!("{BASE}?done=persona_deleted")).into_response())
}

/// The test chat form.
#[derive(Debug, Deserialize)]
pub struct ChatForm {
    #[serde(default)]
    message: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ChatForm);

/// `POST /voice/personas/{id}/chat` (requires `projects:view`): one text turn of the test chat.
pub async fn chat(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, form): CsrfForm<ChatForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let persona = personas::for_test_chat(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("persona"))?;
    let message = form.message.trim().to_string();
    let result = if message.is_empty() {
        Err("message: type something to send".to_string())
    } else if message.chars().count() > 4000 {
        Err("message: must be at most 4000 characters".to_string())
    } else {
        // The LLM console's path: the model sessions use, the per-tenant test budget, an audit
        // row and metering, with the persona's instructions.
        match avb_core::services::voice_console::llm_test_collect_as(
            &state.ctx,
            &v.scope,
            &message,
            Some(persona.instructions.clone()),
        )
        .await
        {
            Ok(Ok(r)) => Ok(r.reply),
            Ok(Err(failure)) => Err(failure.to_string()),
            Err(avb_core::CoreError::RateLimited(secs)) => Err(format!(
                "Too many test calls for this organisation: retry in {secs} s."
            )),
            Err(avb_core::CoreError::Validation(e)) => Err(format!("{}: {}", e.field, e.message)),
            Err(e) => return Err(e.into()),
        }
    };
    let chat = match result {
        Ok(reply) => (message, Some(reply), None),
        Err(e) => (message, None, Some(e)),
    };
    detail_page(&state, &v, id, None, chat).await
}
