//! Custom voices (B13): a tenant uploads a voice sample (WAV or MP3, 10 s to 5 min), it is
//! checked (format, length, clipping, level, signal-to-noise), and a background job makes a
//! voice from it with one of two engines behind [`VoiceMaker`]:
//!
//! - `stock_blend`: the voice lab fits a blend of the TTS engine's stock voices to the sample
//!   by speaker similarity. It is **not a clone**: the page and API call it "closest stock-voice
//!   blend" and show the similarity it reached next to the best single stock voice's.
//! - `remote_clone`: an ElevenLabs-compatible cloning API makes a real clone.
//!
//! A ready voice has the id `cv_<uuid>`; settings, personas and `session.update` may name it
//! like a stock voice, and it is resolved to what the engine is sent only for its own tenant.
//! The sample is deleted when the job ends (it is biometric data). Jobs are rows leased one at
//! a time by any replica's worker; a lapsed lease is taken over, and a job tried three times
//! fails. Viewing needs `projects:view`; every change `settings:manage`, audited.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{CustomVoiceStatus, Permission, TenantId, ValidationError};
use avb_storage::entities::custom_voice::Model;
use avb_storage::repos::audit as audit_repo;
use avb_storage::repos::audit::NewAudit;
use avb_storage::repos::custom_voices::{self as repo, Made, NewVoice};
use avb_storage::store::TenantTx;
use avb_storage::{Page, PageRequest};
use avb_voice::EngineError;
use avb_voice::custom_voice::{FitProgress, VoiceMaker, VoiceMethod};
use avb_voice::sample_check::{self, SampleReport};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;
use uuid::Uuid;

/// Largest sample upload, in bytes.
pub const MAX_SAMPLE_BYTES: usize = 25 * 1024 * 1024;
/// Voices a tenant may have.
pub const MAX_VOICES: usize = 50;
/// Voices a tenant may have waiting or being made at once.
pub const MAX_PENDING: u64 = 2;
/// Longest voice name.
pub const MAX_NAME_CHARS: usize = 60;
/// Tries a job gets before the voice fails.
const MAX_ATTEMPTS: i32 = 3;
/// How long a job's lease lasts without news from the engine.
const LEASE_SECS: i64 = 60;
/// Prefix of a custom voice's id.
const ID_PREFIX: &str = "cv_";

/// The engines that make custom voices, built from `[engines]`.
#[derive(Clone, Default)]
pub struct VoiceMakers {
    pub stock_blend: Option<Arc<dyn VoiceMaker>>,
    pub remote_clone: Option<Arc<dyn VoiceMaker>>,
}

impl VoiceMakers {
    /// The maker for `method`, if configured.
    pub fn get(&self, method: VoiceMethod) -> Option<&Arc<dyn VoiceMaker>> {
        match method {
            VoiceMethod::StockBlend => self.stock_blend.as_ref(),
            VoiceMethod::RemoteClone => self.remote_clone.as_ref(),
        }
    }
}

/// A way of making a voice, as the page offers it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct MethodView {
    /// `stock_blend` or `remote_clone`.
    pub method: String,
    pub label: String,
    /// What it makes, truthfully.
    pub description: String,
    pub available: bool,
    /// Why it is not available, when it is not.
    pub reason: Option<String>,
}

/// The methods and whether this server offers them (requires `projects:view`).
pub fn methods(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<MethodView>> {
    authorize(ctx, scope, Permission::ProjectsView)?;
    Ok(offered(ctx))
}

fn offered(ctx: &AppContext) -> Vec<MethodView> {
    let makers = &ctx.voice.makers;
    vec![
        MethodView {
            method: VoiceMethod::StockBlend.as_str().into(),
            label: method_label(VoiceMethod::StockBlend).into(),
            description: "A blend of the engine's stock voices fitted to sound as close to the sample as they can. It is not a clone of the speaker: the similarity it reached is shown next to the best single stock voice's.".into(),
            available: makers.stock_blend.is_some(),
            reason: makers
                .stock_blend
                .is_none()
                .then(|| "no voice lab is configured (engines.voice_fit_url)".into()),
        },
        MethodView {
            method: VoiceMethod::RemoteClone.as_str().into(),
            label: method_label(VoiceMethod::RemoteClone).into(),
            description: "A clone of the speaker made by the configured cloning service; the sample is sent to that service.".into(),
            available: makers.remote_clone.is_some(),
            reason: makers
                .remote_clone
                .is_none()
                .then(|| "no cloning service is configured (engines.clone_url)".into()),
        },
    ]
}

fn method_label(m: VoiceMethod) -> &'static str {
    match m {
        VoiceMethod::StockBlend => "Closest stock-voice blend",
        VoiceMethod::RemoteClone => "Voice clone (remote service)",
    }
}

/// A custom voice as pages and the API show it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CustomVoiceView {
    /// The voice name settings and sessions use, `cv_<uuid>`.
    pub id: String,
    pub name: String,
    /// `stock_blend` or `remote_clone`.
    pub method: String,
    pub method_label: String,
    /// `queued`, `making`, `ready` or `failed`.
    pub status: String,
    /// 0.0-1.0.
    pub progress: f64,
    /// What the job is doing, in words.
    pub stage: String,
    /// Why the job failed.
    pub error: Option<String>,
    /// Speaker similarity the voice reached against the sample (0-1; stock blends: on a
    /// sentence the fit never saw).
    pub similarity: Option<f64>,
    /// The single stock voice closest to the sample, and its similarity, for comparison.
    pub best_stock_voice: Option<String>,
    pub best_stock_similarity: Option<f64>,
    /// Stock voices and their weights, for blends.
    pub blend: Vec<BlendPart>,
    /// Set when no blend beat the closest single stock voice, which the voice then is.
    pub single_stock_voice: bool,
    pub sample_seconds: f64,
    pub sample_level_dbfs: f64,
    pub sample_snr_db: f64,
    pub attempts: i32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Seconds from upload to ready or failed.
    pub job_seconds: Option<f64>,
}

/// One stock voice in a blend.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BlendPart {
    pub voice: String,
    pub weight: f64,
}

impl CustomVoiceView {
    fn from_model(m: Model) -> Self {
        let report: serde_json::Value = serde_json::from_str(&m.report).unwrap_or_default();
        let mut blend: Vec<BlendPart> = report
            .get("weights")
            .and_then(|w| w.as_object())
            .map(|w| {
                w.iter()
                    .filter_map(|(k, v)| {
                        Some(BlendPart {
                            voice: k.clone(),
                            weight: v.as_f64()?,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default();
        blend.sort_by(|a, b| b.weight.total_cmp(&a.weight));
        let single_stock_voice =
            report.get("chosen").and_then(|c| c.as_str()) == Some("best_single");
        let method = m.method.parse::<VoiceMethod>().ok();
        Self {
            id: voice_id(m.id),
            name: m.name,
            method_label: method.map(method_label).unwrap_or("Unknown").into(),
            method: m.method,
            status: m.status,
            progress: m.progress,
            stage: m.stage,
            error: Some(m.error).filter(|e| !e.is_empty()),
            similarity: m.similarity,
            best_stock_voice: m.best_stock_voice,
            best_stock_similarity: m.best_stock_similarity,
            blend,
            single_stock_voice,
            sample_seconds: m.sample_seconds,
            sample_level_dbfs: m.sample_level_dbfs,
            sample_snr_db: m.sample_snr_db,
            attempts: m.attempts,
            created_by: m.created_by,
            created_at: m.created_at,
            job_seconds: m
                .finished_at
                .map(|f| (f - m.created_at).num_milliseconds() as f64 / 1000.0),
            finished_at: m.finished_at,
        }
    }

    /// The voice as a catalogue entry (pickers list it with the engine's voices).
    pub fn catalogue_entry(&self) -> crate::services::voices::VoiceEntry {
        crate::services::voices::VoiceEntry {
            id: self.id.clone(),
            name: self.name.clone(),
            language: String::new(),
            accent: format!("Custom: {}", self.method_label),
            gender: "unspecified".into(),
        }
    }

    /// Whether sessions can use it.
    pub fn is_ready(&self) -> bool {
        self.status == CustomVoiceStatus::Ready.as_str()
    }
}

/// The voice name of custom voice `id`.
pub fn voice_id(id: Uuid) -> String {
    format!("{ID_PREFIX}{}", id.simple())
}

/// The custom voice a voice name refers to, if it is one (`cv_<uuid>`).
pub fn parse_voice_id(voice: &str) -> Option<Uuid> {
    voice
        .strip_prefix(ID_PREFIX)
        .and_then(|s| Uuid::try_parse(s).ok())
}

/// Whether a voice name is in the custom-voice form, whatever it refers to.
pub fn is_custom(voice: &str) -> bool {
    voice.starts_with(ID_PREFIX)
}

fn authorize(ctx: &AppContext, scope: &Scope, perm: Permission) -> CoreResult<TenantId> {
    let tenant = tenant_of(scope, perm)?;
    ctx.policy.authorize(scope, perm, Some(tenant))?;
    Ok(tenant)
}

fn check_name(name: &str) -> Result<String, ValidationError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ValidationError::new("name", "is required"));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(ValidationError::new(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_string())
}

/// Reads and checks a sample: the 16-bit mono WAV to keep, and what was measured.
pub fn check_sample(bytes: &[u8]) -> Result<(Vec<u8>, SampleReport), ValidationError> {
    if bytes.is_empty() {
        return Err(ValidationError::new("file", "is required"));
    }
    if bytes.len() > MAX_SAMPLE_BYTES {
        return Err(ValidationError::new(
            "file",
            format!(
                "is too large; the limit is {} MB",
                MAX_SAMPLE_BYTES / (1024 * 1024)
            ),
        ));
    }
    let (pcm, rate) =
        sample_check::read_audio(bytes).map_err(|e| ValidationError::new("file", e.to_string()))?;
    let report =
        sample_check::check(&pcm, rate).map_err(|e| ValidationError::new("file", e.to_string()))?;
    Ok((avb_voice::audio::wav(&pcm, rate), report))
}

/// Checks the sample and queues a voice named `name` made by `method` (requires
/// `settings:manage`; audited). Nothing is stored when any check fails.
pub async fn create(
    ctx: &AppContext,
    scope: &Scope,
    name: &str,
    method: &str,
    sample: &[u8],
) -> CoreResult<CustomVoiceView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let name = check_name(name)?;
    let method: VoiceMethod = method
        .parse()
        .map_err(|_| ValidationError::new("method", "must be stock_blend or remote_clone"))?;
    if ctx.voice.makers.get(method).is_none() {
        let why = offered(ctx)
            .into_iter()
            .find(|m| m.method == method.as_str())
            .and_then(|m| m.reason)
            .unwrap_or_default();
        return Err(ValidationError::new("method", format!("is not available: {why}")).into());
    }
    let (wav, report) = check_sample(sample)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if repo::find_by_name(&tx, &name).await?.is_some() {
        return Err(ValidationError::new("name", "is already used by another custom voice").into());
    }
    if repo::pending_count(&tx).await? >= MAX_PENDING {
        return Err(CoreError::LimitReached(format!(
            "{MAX_PENDING} voices are already being made; wait for one to finish"
        )));
    }
    if repo::list(
        &tx,
        PageRequest {
            limit: MAX_VOICES as u64,
            after: None,
        },
    )
    .await?
    .next
    .is_some()
    {
        return Err(CoreError::LimitReached(format!(
            "a tenant may have at most {MAX_VOICES} custom voices; delete one first"
        )));
    }
    let m = repo::insert(
        &tx,
        NewVoice {
            name: name.clone(),
            method: method.as_str().into(),
            sample_seconds: report.seconds,
            sample_level_dbfs: report.level_dbfs,
            sample_snr_db: report.snr_db,
            created_by: scope.actor().label(),
        },
        wav,
    )
    .await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "custom_voice.create",
            "custom_voice",
            voice_id(m.id),
            serde_json::json!({
                "name": name,
                "method": method.as_str(),
                "sample_seconds": (report.seconds * 10.0).round() / 10.0,
                "sample_level_dbfs": report.level_dbfs.round(),
                "sample_snr_db": report.snr_db.round(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(CustomVoiceView::from_model(m))
}

/// The tenant's custom voices, newest first (requires `projects:view`).
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    page: PageRequest,
) -> CoreResult<Page<CustomVoiceView>> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = repo::list(&tx, page).await?;
    tx.commit().await?;
    Ok(Page {
        items: rows
            .items
            .into_iter()
            .map(CustomVoiceView::from_model)
            .collect(),
        next: rows.next,
    })
}

/// The tenant's ready custom voices by name (for voice pickers; requires `projects:view`).
pub async fn ready(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<CustomVoiceView>> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = repo::ready(&tx).await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(CustomVoiceView::from_model).collect())
}

fn parse_id(id: &str) -> CoreResult<Uuid> {
    parse_voice_id(id)
        .or_else(|| Uuid::try_parse(id).ok())
        .ok_or(CoreError::NotFound)
}

/// One custom voice, by `cv_<uuid>` or its uuid (requires `projects:view`).
pub async fn get(ctx: &AppContext, scope: &Scope, id: &str) -> CoreResult<CustomVoiceView> {
    let tenant = authorize(ctx, scope, Permission::ProjectsView)?;
    let id = parse_id(id)?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let m = repo::get(&tx, id).await?;
    tx.commit().await?;
    Ok(CustomVoiceView::from_model(m))
}

/// Renames a custom voice (requires `settings:manage`; audited).
pub async fn rename(
    ctx: &AppContext,
    scope: &Scope,
    id: &str,
    name: &str,
) -> CoreResult<CustomVoiceView> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let id = parse_id(id)?;
    let name = check_name(name)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let before = repo::get(&tx, id).await?;
    if let Some(other) = repo::find_by_name(&tx, &name).await?
        && other.id != id
    {
        return Err(ValidationError::new("name", "is already used by another custom voice").into());
    }
    let m = repo::rename(&tx, id, &name).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "custom_voice.rename",
            "custom_voice",
            voice_id(id),
            serde_json::json!({"from": before.name, "to": name}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(CustomVoiceView::from_model(m))
}

/// Deletes a custom voice (requires `settings:manage`; audited). A voice that the tenant's
/// settings or a persona still name is refused with where it is used; a job that is running
/// stops at its next progress report. A clone is also removed from the cloning service.
pub async fn delete(ctx: &AppContext, scope: &Scope, id: &str) -> CoreResult<()> {
    let tenant = authorize(ctx, scope, Permission::SettingsManage)?;
    let id = parse_id(id)?;
    let name = voice_id(id);
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let m = repo::get(&tx, id).await?;
    let (profiles, personas) = repo::uses(&tx, &name).await?;
    if !profiles.is_empty() || !personas.is_empty() {
        let mut places = Vec::new();
        if profiles.iter().any(Option::is_none) {
            places.push("the tenant's default voice".to_string());
        }
        let projects = profiles.iter().flatten().count();
        if projects > 0 {
            places.push(format!("{projects} project voice setting(s)"));
        }
        if !personas.is_empty() {
            places.push(format!("persona(s) {}", personas.join(", ")));
        }
        return Err(CoreError::Conflict(format!(
            "'{}' is in use by {}; choose another voice there first",
            m.name,
            places.join(" and ")
        )));
    }
    repo::delete(&tx, id).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "custom_voice.delete",
            "custom_voice",
            &name,
            serde_json::json!({"name": m.name, "method": m.method, "status": m.status}),
        ),
    )
    .await?;
    tx.commit().await?;
    if let (Some(engine_voice), Some(method)) =
        (&m.engine_voice, m.method.parse::<VoiceMethod>().ok())
        && let Some(maker) = ctx.voice.makers.get(method)
        && let Err(e) = maker.remove(engine_voice).await
    {
        tracing::warn!(voice = %name, error = %e, "the voice engine did not remove a deleted voice");
    }
    Ok(())
}

/// Makes a ready custom voice the tenant's default voice, keeping the speed and instructions
/// (requires `settings:manage`; audited by the voice profile change).
pub async fn set_default(ctx: &AppContext, scope: &Scope, id: &str) -> CoreResult<()> {
    let v = get(ctx, scope, id).await?;
    if !v.is_ready() {
        return Err(CoreError::Conflict(format!(
            "'{}' is not ready yet ({})",
            v.name, v.status
        )));
    }
    let current = crate::services::voice_profiles::get(ctx, scope, None).await?;
    let mut input = current.to_input();
    input.voice = Some(v.id);
    crate::services::voice_profiles::put(ctx, scope, None, input).await?;
    Ok(())
}

/// The engine voice names of `tenant`'s ready custom voices, by voice name (sessions add
/// them to their voice map).
pub async fn engine_voices(tx: &TenantTx) -> CoreResult<BTreeMap<String, String>> {
    Ok(repo::ready(tx)
        .await?
        .into_iter()
        .filter_map(|m| Some((voice_id(m.id), m.engine_voice?)))
        .collect())
}

/// What the engine is sent for `tenant`'s custom voice `voice`, if it is a ready one.
pub async fn resolve(
    ctx: &AppContext,
    tenant: TenantId,
    voice: &str,
) -> CoreResult<Option<String>> {
    let Some(id) = parse_voice_id(voice) else {
        return Ok(None);
    };
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let found = match repo::get(&tx, id).await {
        Ok(m) if m.status == CustomVoiceStatus::Ready.as_str() => m.engine_voice,
        Ok(_) | Err(avb_storage::StorageError::NotFound) => None,
        Err(e) => return Err(e.into()),
    };
    tx.commit().await?;
    Ok(found)
}

fn job_entry(tenant: TenantId, action: &str, voice: Uuid, summary: serde_json::Value) -> NewAudit {
    NewAudit {
        tenant: Some(tenant),
        actor_type: "system".into(),
        actor_id: "custom-voice-job".into(),
        actor_label: "Custom voice job".into(),
        action: action.into(),
        resource_type: "custom_voice".into(),
        resource_id: voice_id(voice),
        ip: String::new(),
        user_agent: String::new(),
        summary,
        result: if action.ends_with("failed") {
            "failure"
        } else {
            "success"
        }
        .into(),
    }
}

/// Runs the jobs of due voices, one at a time (the background job calls this every few
/// seconds); returns how many were run. Each voice is leased first, so replicas never make one
/// twice, and the lease is extended with every progress report.
pub async fn run_due(ctx: &AppContext) -> CoreResult<usize> {
    let tx = ctx.store.platform_tx(false).await?;
    let due = repo::due(&tx, Utc::now(), 5).await?;
    tx.commit().await?;
    let mut ran = 0;
    for v in due {
        let tenant = TenantId(v.tenant_id);
        let tx = ctx.store.tenant_tx(tenant, true).await?;
        if v.attempts >= MAX_ATTEMPTS {
            let failed = repo::finish_failed(
                &tx,
                v.id,
                "the job stopped three times before finishing; upload the sample again",
            )
            .await?;
            audit_repo::append(
                &tx,
                job_entry(
                    tenant,
                    "custom_voice.failed",
                    v.id,
                    serde_json::json!({"name": failed.name, "error": failed.error}),
                ),
            )
            .await?;
            tx.commit().await?;
            continue;
        }
        if !repo::claim(&tx, &v, lease()).await? {
            continue;
        }
        tx.commit().await?;
        run_one(ctx, tenant, v).await?;
        ran += 1;
    }
    Ok(ran)
}

fn lease() -> DateTime<Utc> {
    Utc::now() + Duration::seconds(LEASE_SECS)
}

/// How a job ended.
enum Outcome {
    Made(avb_voice::custom_voice::MadeVoice),
    Failed(String),
    Retry(String),
    /// The voice was deleted while being made.
    Gone,
}

async fn run_one(ctx: &AppContext, tenant: TenantId, v: Model) -> CoreResult<()> {
    let started = std::time::Instant::now();
    let outcome = match v
        .method
        .parse::<VoiceMethod>()
        .ok()
        .and_then(|m| ctx.voice.makers.get(m).cloned())
    {
        None => Outcome::Failed(format!("this server no longer offers {} voices", v.method)),
        Some(maker) => make(ctx, tenant, &v, maker).await?,
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    match outcome {
        Outcome::Gone => {}
        Outcome::Made(made) => {
            let made = prefer_the_closer(made);
            let report = serde_json::to_string(&made.details).unwrap_or_default();
            let m = repo::finish_ready(
                &tx,
                v.id,
                Made {
                    engine_voice: made.engine_voice,
                    similarity: made.similarity,
                    best_stock_voice: made.best_stock_voice,
                    best_stock_similarity: made.best_stock_similarity,
                    report,
                },
            )
            .await?;
            tracing::info!(voice = %voice_id(v.id), seconds = started.elapsed().as_secs_f64(), similarity = ?m.similarity, "custom voice ready");
            audit_repo::append(
                &tx,
                job_entry(
                    tenant,
                    "custom_voice.ready",
                    v.id,
                    serde_json::json!({
                        "name": m.name,
                        "similarity": m.similarity,
                        "best_stock_voice": m.best_stock_voice,
                        "best_stock_similarity": m.best_stock_similarity,
                        "job_seconds": started.elapsed().as_secs(),
                    }),
                ),
            )
            .await?;
        }
        Outcome::Retry(why) if v.attempts + 1 < MAX_ATTEMPTS => {
            tracing::warn!(voice = %voice_id(v.id), error = %why, "custom voice job will be tried again");
            repo::requeue(&tx, v.id, &why, Utc::now() + Duration::seconds(30)).await?;
        }
        Outcome::Retry(why) | Outcome::Failed(why) => {
            tracing::warn!(voice = %voice_id(v.id), error = %why, "custom voice job failed");
            let m = repo::finish_failed(&tx, v.id, &why).await?;
            audit_repo::append(
                &tx,
                job_entry(
                    tenant,
                    "custom_voice.failed",
                    v.id,
                    serde_json::json!({"name": m.name, "error": why}),
                ),
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// A blend that sounds less like the sample than the closest single stock voice (on the
/// sentence the fit never saw) gives way to that voice; the report says so.
fn prefer_the_closer(
    mut made: avb_voice::custom_voice::MadeVoice,
) -> avb_voice::custom_voice::MadeVoice {
    if let (Some(blend), Some(single), Some(voice)) = (
        made.similarity,
        made.best_stock_similarity,
        made.best_stock_voice.clone(),
    ) && single > blend
    {
        made.engine_voice = voice.clone();
        made.similarity = Some(single);
        if let Some(d) = made.details.as_object_mut() {
            d.insert("blend_similarity".into(), blend.into());
            d.insert("chosen".into(), "best_single".into());
            d.insert("weights".into(), serde_json::json!({ voice: 1.0 }));
        }
    }
    made
}

/// Runs the maker, writing its progress as it comes (which also extends the lease, and stops
/// the job if the voice was deleted meanwhile).
async fn make(
    ctx: &AppContext,
    tenant: TenantId,
    v: &Model,
    maker: Arc<dyn VoiceMaker>,
) -> CoreResult<Outcome> {
    let sample = {
        let tx = ctx.store.tenant_tx(tenant, false).await?;
        let s = repo::sample(&tx, v.id).await;
        tx.commit().await?;
        match s {
            Ok(s) => s,
            Err(avb_storage::StorageError::NotFound) => {
                return Ok(Outcome::Failed(
                    "the sample is no longer stored; upload it again".into(),
                ));
            }
            Err(e) => return Err(e.into()),
        }
    };
    let (progress_tx, mut progress_rx) = tokio::sync::mpsc::unbounded_channel::<FitProgress>();
    let name = v.name.clone();
    let mut job = Box::pin(async move { maker.make(&name, sample, progress_tx).await });
    let mut heartbeat =
        tokio::time::interval(std::time::Duration::from_secs(LEASE_SECS as u64 / 3));
    let mut last = FitProgress {
        fraction: 0.0,
        stage: "starting".into(),
    };
    loop {
        tokio::select! {
            result = &mut job => {
                return Ok(match result {
                    Ok(made) => Outcome::Made(made),
                    Err(e @ EngineError::Rejected { .. }) => Outcome::Failed(describe(&e)),
                    Err(e) => Outcome::Retry(describe(&e)),
                });
            }
            Some(p) = progress_rx.recv() => last = p,
            _ = heartbeat.tick() => {}
        }
        let tx = ctx.store.tenant_tx(tenant, true).await?;
        let alive =
            repo::progress(&tx, v.id, f64::from(last.fraction), &last.stage, lease()).await?;
        tx.commit().await?;
        if !alive {
            tracing::info!(voice = %voice_id(v.id), "custom voice deleted while being made; job stopped");
            return Ok(Outcome::Gone);
        }
    }
}

fn describe(e: &EngineError) -> String {
    match e {
        EngineError::Rejected { message, .. } => {
            format!("the voice engine refused the sample: {message}")
        }
        other => format!("the voice engine failed: {other}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn voice_ids_round_trip_and_other_names_are_not_custom() {
        let id = Uuid::now_v7();
        let name = voice_id(id);
        assert!(name.starts_with("cv_") && name.len() == 35, "{name}");
        assert_eq!(parse_voice_id(&name), Some(id));
        assert_eq!(parse_voice_id("af_heart"), None);
        assert_eq!(parse_voice_id("cv_not-a-uuid"), None);
        assert!(is_custom("cv_x") && !is_custom("alloy"));
    }

    #[test]
    fn a_blend_that_loses_to_a_single_voice_gives_way_to_it() {
        use avb_voice::custom_voice::MadeVoice;
        let made = |blend: f64| MadeVoice {
            engine_voice: "am_michael(0.58)+am_liam(0.42)".into(),
            similarity: Some(blend),
            best_stock_voice: Some("am_michael".into()),
            best_stock_similarity: Some(0.7235),
            details: serde_json::json!({"weights": {"am_michael": 0.58, "am_liam": 0.42}}),
        };
        let lost = prefer_the_closer(made(0.7132));
        assert_eq!(lost.engine_voice, "am_michael");
        assert_eq!(lost.similarity, Some(0.7235));
        assert_eq!(lost.details["chosen"], "best_single");
        assert_eq!(lost.details["blend_similarity"], 0.7132);
        let won = prefer_the_closer(made(0.9313));
        assert_eq!(won.engine_voice, "am_michael(0.58)+am_liam(0.42)");
        assert!(won.details.get("chosen").is_none());
    }

    #[test]
    fn names_are_checked() {
        assert_eq!(check_name("  My voice ").unwrap(), "My voice");
        assert!(check_name(" ").is_err());
        assert!(check_name(&"x".repeat(61)).is_err());
        assert!(check_name("a\u{7}b").is_err());
    }

    #[test]
    fn samples_that_are_not_audio_or_too_short_say_why() {
        let e = check_sample(b"plain text, not audio").unwrap_err();
        assert_eq!(e.field, "file");
        assert!(
            e.message.contains("WAV") && e.message.contains("MP3"),
            "{}",
            e.message
        );
        let short = avb_voice::audio::wav(&vec![1000i16; 16_000 * 3], 16_000);
        let e = check_sample(&short).unwrap_err();
        assert!(e.message.contains("10 s to 5 min"), "{}", e.message);
        let e = check_sample(&[]).unwrap_err();
        assert_eq!(e.message, "is required");
    }
}
