//! Personas: named assistant configurations of a tenant (system instructions, voice, speed,
//! language and an ordered list of knowledge solvers) with immutable published versions.
//!
//! - The persona row holds an editable **draft**. `publish` snapshots the draft as the next
//!   immutable version (1, 2, ...) and makes it the published one; `rollback` makes an earlier
//!   version the published one again in one action. Versions are never updated.
//! - Sessions use the **published version** of the effective persona: the project's default
//!   persona over the tenant's default (a default that is archived or never published is
//!   skipped). The session record stores the persona id and version.
//! - Precedence when a Realtime session starts: a field explicitly set in the voice profile
//!   (project over tenant) > the persona's published version > the server default; the client's
//!   `session.update` then overrides per session as before. The persona's language feeds the
//!   transcription language (its primary subtag) when the profile sets none.
//! - Deleting a persona clears it wherever it was a default (projects then fall back to the
//!   tenant default, the tenant to none); recorded sessions keep their persona id and version.
//! - Solvers are stored and validated here; running them belongs to the OVOS integration.
//!
//! Permissions: viewing needs `projects:view`, every change `settings:manage`. Every mutation is
//! audited in the same transaction.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, ProjectId, TenantId, ValidationError};
use avb_storage::entities::persona::Model;
use avb_storage::entities::persona_version::Model as VersionModel;
use avb_storage::repos::personas::PersonaFields;
use avb_storage::repos::{audit as audit_repo, personas, projects};
use avb_storage::store::TenantTx;
use avb_storage::{Page, PageRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Knowledge solvers a persona may list (stored name, display name).
pub const SOLVERS: &[(&str, &str)] = &[
    ("wikipedia", "Wikipedia"),
    ("duckduckgo", "DuckDuckGo"),
    ("wolfram_alpha", "Wolfram Alpha"),
    ("wordnet", "WordNet"),
];

/// Persona statuses.
pub const STATUSES: &[&str] = &["draft", "published", "archived"];

/// Speed used when a new persona names none.
pub const DEFAULT_SPEED: f64 = 1.0;
/// Language used when a new persona names none.
pub const DEFAULT_LANGUAGE: &str = "en";

/// Fields of a persona as written by the API: on create `name` and `voice` are required and
/// the rest default; on update absent fields keep their value.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonaInput {
    /// 1 to 80 characters, unique in the tenant.
    pub name: Option<String>,
    /// At most 500 characters.
    pub description: Option<String>,
    /// System instructions, at most 16,000 characters.
    pub instructions: Option<String>,
    /// TTS voice, e.g. `af_heart`; at most 64 characters.
    pub voice: Option<String>,
    /// Speech speed, 0.5 to 2.0 (default 1.0).
    pub speed: Option<f64>,
    /// BCP-47 language tag such as `en` or `en-US` (default `en`).
    pub language: Option<String>,
    /// Knowledge solvers in execution order, each at most once: `wikipedia`, `duckduckgo`,
    /// `wolfram_alpha`, `wordnet`.
    pub solvers: Option<Vec<String>>,
}

/// A persona as the API shows it (its draft, status and published version).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonaView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    /// `draft`, `published` or `archived`.
    pub status: String,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub language: String,
    pub solvers: Vec<String>,
    /// The version sessions use; null before the first publish.
    pub published_version: Option<i32>,
    /// Realtime sessions recorded with this persona.
    pub usage_count: u64,
    /// Whether it is the tenant's default persona.
    pub tenant_default: bool,
    /// Projects whose default persona it is.
    pub default_for_projects: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// One immutable published version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PersonaVersionView {
    pub version: i32,
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub language: String,
    pub solvers: Vec<String>,
    pub created_at: DateTime<Utc>,
    /// Who published it.
    pub created_by: String,
    /// Whether sessions use this version now.
    pub current: bool,
}

/// The tenant's default persona and the projects' defaults.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct PersonaDefaults {
    pub tenant: Option<Uuid>,
    /// (project id, persona id) pairs.
    pub projects: Vec<ProjectDefault>,
}

/// A project's default persona.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ProjectDefault {
    pub project_id: Uuid,
    pub persona_id: Uuid,
}

/// What a session takes from its persona.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionPersona {
    pub id: Uuid,
    pub version: i32,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub language: String,
    pub solvers: Vec<String>,
}

fn parse_solvers(raw: &str) -> Vec<String> {
    serde_json::from_str(raw).unwrap_or_default()
}

fn version_view(v: VersionModel, current: Option<i32>) -> PersonaVersionView {
    PersonaVersionView {
        current: current == Some(v.version),
        version: v.version,
        solvers: parse_solvers(&v.solvers),
        name: v.name,
        description: v.description,
        instructions: v.instructions,
        voice: v.voice,
        speed: v.speed,
        language: v.language,
        created_at: v.created_at,
        created_by: v.created_by,
    }
}

fn text(field: &str, v: String, max: usize, multiline: bool) -> Result<String, ValidationError> {
    let v = v.trim().to_string();
    if v.chars().count() > max {
        return Err(ValidationError::new(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars()
        .any(|c| c.is_control() && !(multiline && (c == '\n' || c == '\r' || c == '\t')))
    {
        return Err(ValidationError::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v)
}

/// Whether `s` looks like a BCP-47 tag: a 2-3 letter primary language, then subtags of 1 to 8
/// letters or digits (`en`, `en-US`, `zh-Hant-TW`).
pub fn is_language_tag(s: &str) -> bool {
    let mut parts = s.split('-');
    let Some(primary) = parts.next() else {
        return false;
    };
    (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// Validates a full persona configuration.
fn check(f: PersonaFieldsInput) -> Result<PersonaFields, ValidationError> {
    let name = text("name", f.name, 80, false)?;
    if name.is_empty() {
        return Err(ValidationError::new("name", "is required"));
    }
    let description = text("description", f.description, 500, true)?;
    let instructions = text("instructions", f.instructions, 16_000, true)?;
    let voice = text("voice", f.voice, 64, false)?;
    if voice.is_empty() {
        return Err(ValidationError::new("voice", "is required"));
    }
    if !voice
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/".contains(c))
    {
        return Err(ValidationError::new(
            "voice",
            "may contain only letters, digits and - _ . : /",
        ));
    }
    if !(f.speed.is_finite() && (0.5..=2.0).contains(&f.speed)) {
        return Err(ValidationError::new("speed", "must be between 0.5 and 2.0"));
    }
    let language = f.language.trim().to_string();
    if !is_language_tag(&language) || language.len() > 35 {
        return Err(ValidationError::new(
            "language",
            "must be a language tag such as en or en-US",
        ));
    }
    let mut solvers: Vec<String> = Vec::new();
    for s in f.solvers {
        let s = s.trim().to_ascii_lowercase();
        if !SOLVERS.iter().any(|(name, _)| *name == s) {
            return Err(ValidationError::new(
                "solvers",
                "each must be one of wikipedia, duckduckgo, wolfram_alpha, wordnet",
            ));
        }
        if solvers.contains(&s) {
            return Err(ValidationError::new(
                "solvers",
                format!("lists {s} more than once"),
            ));
        }
        solvers.push(s);
    }
    Ok(PersonaFields {
        name,
        description,
        instructions,
        voice,
        speed: f.speed,
        language,
        solvers: serde_json::to_string(&solvers).unwrap_or_else(|_| "[]".into()),
    })
}

/// A complete configuration before validation.
struct PersonaFieldsInput {
    name: String,
    description: String,
    instructions: String,
    voice: String,
    speed: f64,
    language: String,
    solvers: Vec<String>,
}

impl PersonaFieldsInput {
    fn new(input: PersonaInput) -> Self {
        Self {
            name: input.name.unwrap_or_default(),
            description: input.description.unwrap_or_default(),
            instructions: input.instructions.unwrap_or_default(),
            voice: input.voice.unwrap_or_default(),
            speed: input.speed.unwrap_or(DEFAULT_SPEED),
            language: input
                .language
                .unwrap_or_else(|| DEFAULT_LANGUAGE.to_string()),
            solvers: input.solvers.unwrap_or_default(),
        }
    }

    fn merged(m: &Model, input: PersonaInput) -> Self {
        Self {
            name: input.name.unwrap_or_else(|| m.name.clone()),
            description: input.description.unwrap_or_else(|| m.description.clone()),
            instructions: input.instructions.unwrap_or_else(|| m.instructions.clone()),
            voice: input.voice.unwrap_or_else(|| m.voice.clone()),
            speed: input.speed.unwrap_or(m.speed),
            language: input.language.unwrap_or_else(|| m.language.clone()),
            solvers: input.solvers.unwrap_or_else(|| parse_solvers(&m.solvers)),
        }
    }
}

/// Validates `input` as a new persona without saving it (for forms that re-show errors).
pub fn validate_new(input: PersonaInput) -> Result<(), ValidationError> {
    check(PersonaFieldsInput::new(input)).map(|_| ())
}

fn authorize(ctx: &AppContext, scope: &Scope, perm: Permission) -> CoreResult<TenantId> {
    let tenant = tenant_of(scope, perm)?;
    ctx.policy.authorize(scope, perm, Some(tenant))?;
    Ok(tenant)
}

async fn views(tx: &TenantTx, rows: Vec<Model>) -> CoreResult<Vec<PersonaView>> {
    let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
    let counts = personas::usage_counts(tx, &ids).await?;
    let defaults = personas::defaults(tx).await?;
    Ok(rows
        .into_iter()
        .map(|m| PersonaView {
            usage_count: counts.get(&m.id).copied().unwrap_or(0),
            tenant_default: defaults.iter().any(|(p, id)| p.is_none() && *id == m.id),
            default_for_projects: defaults
                .iter()
                .filter(|(_, id)| *id == m.id)
                .filter_map(|(p, _)| *p)
                .collect(),
            solvers: parse_solvers(&m.solvers),
            id: m.id,
            name: m.name,
            description: m.description,
            status: m.status,
            instructions: m.instructions,
            voice: m.voice,
            speed: m.speed,
            language: m.language,
            published_version: m.published_version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        })
        .collect())
}

async fn view(tx: &TenantTx, m: Model) -> CoreResult<PersonaView> {
    views(tx, vec![m])
        .await?
        .pop()
        .ok_or_else(|| CoreError::Internal("persona view".into()))
}

/// Lists the tenant's personas, newest first, optionally by status.
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    status: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<PersonaView>> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    if let Some(s) = status
        && !STATUSES.contains(&s)
    {
        return Err(ValidationError::new("status", "must be draft, published or archived").into());
    }
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page_rows = personas::list(&tx, status, page).await?;
    let items = views(&tx, page_rows.items).await?;
    tx.commit().await?;
    Ok(Page {
        items,
        next: page_rows.next,
    })
}

/// Every persona of the tenant by name (for pickers).
pub async fn all(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<PersonaView>> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = personas::all(&tx).await?;
    let out = views(&tx, rows).await?;
    tx.commit().await?;
    Ok(out)
}

/// One persona.
pub async fn get(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<PersonaView> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let m = personas::get(&tx, id).await?;
    let v = view(&tx, m).await?;
    tx.commit().await?;
    Ok(v)
}

/// The persona's published versions, newest first.
pub async fn versions(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
) -> CoreResult<Vec<PersonaVersionView>> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let m = personas::get(&tx, id).await?;
    let rows = personas::versions(&tx, id).await?;
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(|v| version_view(v, m.published_version))
        .collect())
}

async fn ensure_unique_name(tx: &TenantTx, name: &str, except: Option<Uuid>) -> CoreResult<()> {
    if let Some(other) = personas::find_by_name(tx, name).await?
        && Some(other.id) != except
    {
        return Err(CoreError::Conflict(format!(
            "a persona named {name} already exists"
        )));
    }
    Ok(())
}

fn summary(f: &PersonaFields) -> serde_json::Value {
    serde_json::json!({
        "name": f.name,
        "voice": f.voice,
        "speed": f.speed,
        "language": f.language,
        "solvers": parse_solvers(&f.solvers),
        "instructions_chars": f.instructions.chars().count(),
        "description_chars": f.description.chars().count(),
    })
}

/// Creates a draft persona; audited.
pub async fn create(
    ctx: &AppContext,
    scope: &Scope,
    input: PersonaInput,
) -> CoreResult<PersonaView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let fields = check(PersonaFieldsInput::new(input))?;
    super::voices::check_voice(ctx, tenant, &fields.voice).await?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    ensure_unique_name(&tx, &fields.name, None).await?;
    let s = summary(&fields);
    let m = personas::insert(&tx, fields).await?;
    audit_repo::append(
        &tx,
        audit::entry(scope, Some(tenant), "persona.create", "persona", m.id, s),
    )
    .await?;
    let v = view(&tx, m).await?;
    tx.commit().await?;
    Ok(v)
}

/// Changes the draft (absent fields keep their value); sessions keep using the published
/// version until the next publish. Audited.
pub async fn update(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    input: PersonaInput,
) -> CoreResult<PersonaView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    if let Some(voice) = input.voice.as_deref() {
        super::voices::check_voice(ctx, tenant, voice.trim()).await?;
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let current = personas::get(&tx, id).await?;
    let fields = check(PersonaFieldsInput::merged(&current, input))?;
    ensure_unique_name(&tx, &fields.name, Some(id)).await?;
    let s = summary(&fields);
    let m = personas::update_draft(&tx, id, fields).await?;
    audit_repo::append(
        &tx,
        audit::entry(scope, Some(tenant), "persona.update", "persona", id, s),
    )
    .await?;
    let v = view(&tx, m).await?;
    tx.commit().await?;
    Ok(v)
}

/// Snapshots the draft as the next immutable version and makes it the one sessions use.
pub async fn publish(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<PersonaView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = personas::get(&tx, id).await?;
    let fields = PersonaFields {
        name: m.name.clone(),
        description: m.description.clone(),
        instructions: m.instructions.clone(),
        voice: m.voice.clone(),
        speed: m.speed,
        language: m.language.clone(),
        solvers: m.solvers.clone(),
    };
    let v = personas::insert_version(&tx, id, fields, &scope.actor().label()).await?;
    let m = personas::set_state(&tx, id, "published", Some(v.version)).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "persona.publish",
            "persona",
            id,
            serde_json::json!({"version": v.version}),
        ),
    )
    .await?;
    let out = view(&tx, m).await?;
    tx.commit().await?;
    Ok(out)
}

/// Makes an earlier (or any existing) version the published one again; audited.
pub async fn rollback(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
    version: i32,
) -> CoreResult<PersonaView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = personas::get(&tx, id).await?;
    if personas::version(&tx, id, version).await?.is_none() {
        return Err(ValidationError::new("version", "no such version of this persona").into());
    }
    let from = m.published_version;
    let m = personas::set_state(&tx, id, "published", Some(version)).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "persona.rollback",
            "persona",
            id,
            serde_json::json!({"from_version": from, "to_version": version}),
        ),
    )
    .await?;
    let out = view(&tx, m).await?;
    tx.commit().await?;
    Ok(out)
}

/// Archives a persona: sessions stop using it (where it is a default, the next default
/// applies); publishing it again restores it. Audited.
pub async fn archive(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<PersonaView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = personas::get(&tx, id).await?;
    let m = personas::set_state(&tx, id, "archived", m.published_version).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "persona.archive",
            "persona",
            id,
            serde_json::json!({}),
        ),
    )
    .await?;
    let out = view(&tx, m).await?;
    tx.commit().await?;
    Ok(out)
}

/// Deletes a persona and its versions. Where it was a default the default is cleared, so
/// projects fall back to the tenant default; recorded sessions keep their persona record.
pub async fn delete(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<()> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = personas::get(&tx, id).await?;
    let cleared: Vec<Option<Uuid>> = personas::defaults(&tx)
        .await?
        .into_iter()
        .filter(|(_, p)| *p == id)
        .map(|(project, _)| project)
        .collect();
    personas::delete(&tx, id).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "persona.delete",
            "persona",
            id,
            serde_json::json!({
                "name": m.name,
                "was_tenant_default": cleared.iter().any(Option::is_none),
                "defaults_cleared_for_projects": cleared.iter().flatten().collect::<Vec<_>>(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// The tenant's and the projects' default personas.
pub async fn defaults(ctx: &AppContext, scope: &Scope) -> CoreResult<PersonaDefaults> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = personas::defaults(&tx).await?;
    tx.commit().await?;
    let mut out = PersonaDefaults::default();
    for (project, persona) in rows {
        match project {
            None => out.tenant = Some(persona),
            Some(p) => out.projects.push(ProjectDefault {
                project_id: p,
                persona_id: persona,
            }),
        }
    }
    Ok(out)
}

/// Sets (or with `None` clears) the default persona of the tenant or of one project; audited.
pub async fn set_default(
    ctx: &AppContext,
    scope: &Scope,
    project: Option<ProjectId>,
    persona: Option<Uuid>,
) -> CoreResult<()> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(p) = project {
        match projects::get(&tx, p).await {
            Ok(_) => {}
            Err(avb_storage::StorageError::NotFound) => {
                return Err(ValidationError::new("project_id", "no such project").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(id) = persona {
        match personas::get(&tx, id).await {
            Ok(m) if m.status == "archived" => {
                return Err(ValidationError::new(
                    "persona_id",
                    "is archived; publish it again first",
                )
                .into());
            }
            Ok(_) => {}
            Err(avb_storage::StorageError::NotFound) => {
                return Err(ValidationError::new("persona_id", "no such persona").into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    personas::set_default(&tx, project, persona).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "persona.set_default",
            "persona",
            persona.map_or_else(String::new, |p| p.to_string()),
            serde_json::json!({
                "project_id": project.map(|p| p.as_uuid()),
                "persona_id": persona,
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn usable(tx: &TenantTx, id: Uuid) -> CoreResult<Option<SessionPersona>> {
    let m = match personas::get(tx, id).await {
        Ok(m) => m,
        Err(avb_storage::StorageError::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(version) = m.published_version.filter(|_| m.status == "published") else {
        return Ok(None);
    };
    Ok(personas::version(tx, id, version)
        .await?
        .map(|v| SessionPersona {
            id,
            version: v.version,
            solvers: parse_solvers(&v.solvers),
            instructions: v.instructions,
            voice: v.voice,
            speed: v.speed,
            language: v.language,
        }))
}

/// The published persona version a session of `project` starts with: the project's default
/// over the tenant's (defaults that are archived or unpublished are skipped).
pub(crate) async fn effective(
    tx: &TenantTx,
    project: Option<ProjectId>,
) -> CoreResult<Option<SessionPersona>> {
    if let Some(p) = project
        && let Some(id) = personas::default_of(tx, Some(p)).await?
        && let Some(found) = usable(tx, id).await?
    {
        return Ok(Some(found));
    }
    match personas::default_of(tx, None).await? {
        Some(id) => usable(tx, id).await,
        None => Ok(None),
    }
}

/// The persona a session of `scope` would use now (for the test chat): a given persona's
/// published version, else its draft.
pub async fn for_test_chat(
    ctx: &AppContext,
    scope: &Scope,
    id: Uuid,
) -> CoreResult<SessionPersona> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let m = personas::get(&tx, id).await?;
    let out = match m.published_version {
        Some(v) => personas::version(&tx, id, v).await?,
        None => None,
    };
    tx.commit().await?;
    Ok(match out {
        Some(v) => SessionPersona {
            id,
            version: v.version,
            solvers: parse_solvers(&v.solvers),
            instructions: v.instructions,
            voice: v.voice,
            speed: v.speed,
            language: v.language,
        },
        None => SessionPersona {
            id,
            version: 0,
            solvers: parse_solvers(&m.solvers),
            instructions: m.instructions,
            voice: m.voice,
            speed: m.speed,
            language: m.language,
        },
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn base() -> PersonaInput {
        PersonaInput {
            name: Some("Helper".into()),
            voice: Some("af_heart".into()),
            ..PersonaInput::default()
        }
    }

    fn field(f: fn(&mut PersonaInput)) -> String {
        let mut i = base();
        f(&mut i);
        validate_new(i).err().unwrap().field
    }

    #[test]
    fn accepts_a_minimal_persona() {
        validate_new(base()).unwrap();
    }

    #[test]
    fn rejects_bad_values_naming_the_field() {
        assert_eq!(field(|i| i.name = Some(" ".into())), "name");
        assert_eq!(field(|i| i.name = Some("x".repeat(81))), "name");
        assert_eq!(
            field(|i| i.description = Some("x".repeat(501))),
            "description"
        );
        assert_eq!(
            field(|i| i.instructions = Some("x".repeat(16_001))),
            "instructions"
        );
        assert_eq!(field(|i| i.speed = Some(2.5)), "speed");
        assert_eq!(field(|i| i.speed = Some(0.4)), "speed");
        assert_eq!(field(|i| i.speed = Some(f64::NAN)), "speed");
        assert_eq!(field(|i| i.language = Some("english!".into())), "language");
        assert_eq!(field(|i| i.voice = Some(String::new())), "voice");
        assert_eq!(field(|i| i.voice = Some("v".repeat(65))), "voice");
        assert_eq!(
            field(|i| i.solvers = Some(vec!["google".into()])),
            "solvers"
        );
        assert_eq!(
            field(|i| i.solvers = Some(vec!["wordnet".into(), "wordnet".into()])),
            "solvers"
        );
    }

    #[test]
    fn language_tags() {
        for ok in ["en", "en-US", "zh-Hant-TW", "fil"] {
            assert!(is_language_tag(ok), "{ok}");
        }
        for bad in ["", "e", "english", "en_US", "en-", "12"] {
            assert!(!is_language_tag(bad), "{bad}");
        }
    }
}
