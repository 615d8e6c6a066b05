//! OVOS for one tenant (O2): whether its voice turns go through ovos-core first, in which
//! language, whether OVOS fallback skills may answer (otherwise an unmatched utterance goes
//! straight to the persona's LLM), and which skills it turned off. Skills are installed once
//! for the platform, so a tenant's choice lives in our database and reaches ovos-core only as
//! the turn's session blacklist, never as the global `skillmanager.deactivate`.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, TenantId, ValidationError};
use avb_storage::repos::{audit as audit_repo, ovos as ovos_repo};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

/// One skill of the curated catalogue: the PyPI package `scripts/ovos.sh` installs (pinned),
/// the id ovos-core loads it as, and what the portal says about it.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CatalogueSkill {
    pub package: &'static str,
    pub version: &'static str,
    pub skill_id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// Things to say that it answers.
    pub samples: &'static [&'static str],
    /// A fallback skill answers what nothing else matched.
    pub fallback: bool,
    /// Installed with ovos-core by `scripts/ovos.sh`; otherwise the SaaS admin installs it from
    /// the portal (its wheel is in the install cache).
    pub preinstalled: bool,
    /// Tenant admins may change its settings: they change nothing another tenant hears
    /// (ovos-core keeps one settings file per skill for the whole platform).
    pub tenant_configurable: bool,
}

/// The skills the platform installs (versions as pinned in `scripts/ovos.sh`).
pub const CATALOGUE: &[CatalogueSkill] = &[
    CatalogueSkill {
        package: "ovos-skill-date-time",
        version: "1.1.5",
        skill_id: "ovos-skill-date-time.openvoiceos",
        name: "Date and time",
        description: "Says the current time, date and day of the week.",
        samples: &[
            "what time is it",
            "what day is it",
            "what is the date today",
        ],
        fallback: false,
        preinstalled: true,
        tenant_configurable: true,
    },
    CatalogueSkill {
        package: "ovos-skill-hello-world",
        version: "0.2.1",
        skill_id: "ovos-skill-hello-world.openvoiceos",
        name: "Hello world",
        description: "Answers greetings; the OVOS example skill.",
        samples: &["hello world", "how are you"],
        fallback: false,
        preinstalled: true,
        tenant_configurable: false,
    },
    CatalogueSkill {
        package: "ovos-skill-parrot",
        version: "0.1.25",
        skill_id: "ovos-skill-parrot.openvoiceos",
        name: "Parrot",
        description: "Repeats what it is asked to say.",
        samples: &["say the quick brown fox", "repeat after me hello"],
        fallback: false,
        preinstalled: true,
        tenant_configurable: false,
    },
    CatalogueSkill {
        package: "ovos-skill-count",
        version: "0.0.2",
        skill_id: "ovos-skill-count.openvoiceos",
        name: "Count",
        description: "Counts up to a number.",
        samples: &["count to 5"],
        fallback: false,
        preinstalled: true,
        tenant_configurable: false,
    },
    CatalogueSkill {
        package: "ovos-skill-spelling",
        version: "0.2.6",
        skill_id: "ovos-skill-spelling.openvoiceos",
        name: "Spelling",
        description: "Spells a word letter by letter.",
        samples: &["spell cat", "how do you spell house"],
        fallback: false,
        preinstalled: true,
        tenant_configurable: false,
    },
    CatalogueSkill {
        package: "ovos-skill-wordnet",
        version: "0.2.6",
        skill_id: "ovos-skill-wordnet.openvoiceos",
        name: "Dictionary (WordNet)",
        description: "Defines words from the offline WordNet 3.0 dictionary.",
        samples: &["what is the definition of computer"],
        fallback: false,
        preinstalled: true,
        tenant_configurable: false,
    },
    CatalogueSkill {
        package: "ovos-skill-fallback-unknown",
        version: "0.1.9",
        skill_id: "ovos-skill-fallback-unknown.openvoiceos",
        name: "Unknown (fallback)",
        description: "Says it did not understand when nothing matched; only used when fallback skills are on.",
        samples: &[],
        fallback: true,
        preinstalled: true,
        tenant_configurable: false,
    },
    CatalogueSkill {
        package: "ovos-skill-randomness",
        version: "1.1.0",
        skill_id: "skill-ovos-randomness.openvoiceos",
        name: "Randomness",
        description: "Flips coins, rolls dice and picks random numbers.",
        samples: &["flip a coin", "roll a die"],
        fallback: false,
        preinstalled: false,
        tenant_configurable: false,
    },
];

/// Intent stages for a tenant's turns; fallback stages only when the tenant allows OVOS
/// fallback skills (otherwise an unmatched utterance is the persona's LLM's to answer).
pub fn pipeline(fallback_skills: bool) -> Vec<String> {
    let mut p = vec![
        "stop_high",
        "converse",
        "padatious_high",
        "adapt_high",
        "stop_medium",
        "padatious_medium",
        "adapt_medium",
    ];
    if fallback_skills {
        p.insert(4, "fallback_high");
        p.push("adapt_low");
        p.push("fallback_low");
    }
    p.into_iter().map(str::to_string).collect()
}

/// A tenant's OVOS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TenantOvos {
    /// Voice and text turns go through ovos-core before the LLM.
    pub enabled: bool,
    /// Language sent with each utterance (BCP-47, e.g. `en-US`).
    pub lang: String,
    /// Whether OVOS fallback skills may answer what no intent matched.
    pub fallback_skills: bool,
    /// Skill ids turned off for this tenant.
    pub disabled_skills: Vec<String>,
}

impl Default for TenantOvos {
    fn default() -> Self {
        Self {
            enabled: false,
            lang: "en-US".into(),
            fallback_skills: false,
            disabled_skills: Vec::new(),
        }
    }
}

impl TenantOvos {
    /// The ovos-core request for one of this tenant's turns.
    pub fn turn(&self, session_id: String, utterance: &str) -> avb_ovos::TurnRequest {
        avb_ovos::TurnRequest {
            session_id,
            lang: self.lang.clone(),
            utterance: utterance.to_string(),
            pipeline: Some(pipeline(self.fallback_skills)),
            blacklisted_skills: self.disabled_skills.clone(),
            blacklisted_intents: Vec::new(),
        }
    }
}

fn from_row(row: Option<ovos_repo::OvosSettings>) -> TenantOvos {
    row.map(|r| TenantOvos {
        enabled: r.enabled,
        lang: r.lang,
        fallback_skills: r.fallback_skills,
        disabled_skills: serde_json::from_str(&r.disabled_skills).unwrap_or_default(),
    })
    .unwrap_or_default()
}

/// The settings of `tenant` as a session starts (no permission check: the gateway calls it
/// after authenticating the connection for that tenant).
pub(crate) async fn for_session(tx: &avb_storage::TenantTx) -> CoreResult<Option<TenantOvos>> {
    Ok(Some(from_row(ovos_repo::settings(tx).await?)).filter(|s| s.enabled))
}

/// The caller's tenant's OVOS settings (requires `projects:view`).
pub async fn settings(ctx: &AppContext, scope: &Scope) -> CoreResult<TenantOvos> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let row = ovos_repo::settings(&tx).await?;
    tx.commit().await?;
    Ok(from_row(row))
}

fn check(s: &TenantOvos) -> Result<(), ValidationError> {
    let lang_ok = {
        let mut parts = s.lang.split('-');
        let primary = parts.next().unwrap_or_default();
        (2..=3).contains(&primary.len())
            && primary.chars().all(|c| c.is_ascii_lowercase())
            && parts
                .all(|p| (2..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
    };
    if !lang_ok {
        return Err(ValidationError::new(
            "lang",
            "must be a language tag such as en-US",
        ));
    }
    if s.disabled_skills.len() > 200 {
        return Err(ValidationError::new(
            "disabled_skills",
            "must list at most 200 skills",
        ));
    }
    for id in &s.disabled_skills {
        if id.is_empty()
            || id.len() > 128
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(ValidationError::new(
                "disabled_skills",
                format!("'{id}' is not a skill id (letters, digits, - _ .)"),
            ));
        }
    }
    Ok(())
}

/// Saves the caller's tenant's OVOS settings (requires `settings:manage`; audited). Applies
/// to sessions that start afterwards.
pub async fn save_settings(
    ctx: &AppContext,
    scope: &Scope,
    mut s: TenantOvos,
) -> CoreResult<TenantOvos> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    s.lang = s.lang.trim().to_string();
    s.disabled_skills.sort();
    s.disabled_skills.dedup();
    check(&s)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let before = from_row(ovos_repo::settings(&tx).await?);
    ovos_repo::put_settings(
        &tx,
        s.enabled,
        &s.lang,
        s.fallback_skills,
        &s.disabled_skills,
    )
    .await?;
    audit_repo::append(
        &tx,
        crate::audit::entry(
            scope,
            Some(tenant),
            "ovos.settings.update",
            "ovos_settings",
            tenant,
            json!({"before": before, "after": s}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(s)
}

/// Turns one skill on or off for the caller's tenant (requires `settings:manage`; audited).
pub async fn set_skill(
    ctx: &AppContext,
    scope: &Scope,
    skill_id: &str,
    enabled: bool,
) -> CoreResult<TenantOvos> {
    let mut s = settings(ctx, scope).await?;
    s.disabled_skills.retain(|id| id != skill_id);
    if !enabled {
        s.disabled_skills.push(skill_id.to_string());
    }
    save_settings(ctx, scope, s).await
}

/// One skill as the tenant sees it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkillRow {
    pub skill_id: String,
    pub name: String,
    pub package: Option<String>,
    pub version: Option<String>,
    pub description: String,
    /// Loaded and active in ovos-core (platform-wide).
    pub loaded: bool,
    /// Not turned off by this tenant.
    pub enabled_for_tenant: bool,
    pub fallback: bool,
    /// Tenant admins may change its settings (per-tenant safe).
    pub tenant_configurable: bool,
    /// Its intents as ovos-core registered them.
    pub intents: Vec<String>,
    pub samples: Vec<String>,
}

/// The skills page: what ovos-core has loaded (or the catalogue alone when it is not
/// reachable, with why).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkillsView {
    pub settings: TenantOvos,
    pub core_connected: bool,
    /// Why the live list is missing, if it is.
    pub unavailable: Option<String>,
    pub skills: Vec<SkillRow>,
}

const ADMIN_TIMEOUT: Duration = Duration::from_secs(2);

/// What ovos-core reports: loaded skill ids (with their active flag) and intent names.
async fn loaded(bus: &avb_ovos::Bus) -> Option<(Vec<(String, bool)>, Vec<String>)> {
    let mut me = bus.attach("avb-skills");
    let list = avb_ovos::request(
        &mut me,
        "skillmanager.list",
        json!({}),
        "avb-skills",
        "mycroft.skills.list",
        ADMIN_TIMEOUT,
    )
    .await?;
    let skills = list
        .as_object()?
        .iter()
        .map(|(id, v)| (id.clone(), v["active"].as_bool().unwrap_or(true)))
        .collect();
    let mut intents: Vec<String> = Vec::new();
    if let Some(p) = avb_ovos::request(
        &mut me,
        "intent.service.padatious.manifest.get",
        json!({}),
        "avb-skills",
        "intent.service.padatious.manifest",
        ADMIN_TIMEOUT,
    )
    .await
    {
        intents.extend(
            p["intents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i.as_str().map(str::to_string)),
        );
    }
    if let Some(a) = avb_ovos::request(
        &mut me,
        "intent.service.adapt.manifest.get",
        json!({}),
        "avb-skills",
        "intent.service.adapt.manifest",
        ADMIN_TIMEOUT,
    )
    .await
    {
        intents.extend(
            a["intents"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["name"].as_str().map(str::to_string)),
        );
    }
    Some((skills, intents))
}

pub(crate) fn core_bus(ctx: &AppContext) -> Result<&avb_ovos::Bus, String> {
    let bus = ctx
        .ovos_bus
        .as_ref()
        .ok_or("the OVOS bus is not enabled on this platform ([ovos] enabled)")?;
    if bus.bridged_to().is_none() && !bus.is_connected(&ctx.config.ovos.core_client_id) {
        return Err("ovos-core is not connected to the bus".into());
    }
    Ok(bus)
}

/// Sample utterances ovos-core registered, by intent (`padatious:register_intent`, sent when a
/// skill loads; the latest registration wins).
fn registrations() -> &'static std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>> {
    static REGISTERED: std::sync::OnceLock<
        std::sync::Mutex<std::collections::BTreeMap<String, Vec<String>>>,
    > = std::sync::OnceLock::new();
    REGISTERED.get_or_init(Default::default)
}

/// How many of an intent's registered samples are kept (they are the expanded templates,
/// often hundreds).
const SAMPLES_KEPT: usize = 3;

/// Listens on `bus` for the intents skills register and keeps a few of their sample
/// utterances for the skills page; runs until the bus goes away. Start it before ovos-core,
/// which registers its skills' intents as it loads them.
pub async fn watch_registrations(bus: avb_ovos::Bus) {
    let mut me = bus.attach("avb-intent-samples");
    while let Some(frame) = me.recv().await {
        if !frame.contains("padatious:register_intent") {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&frame) else {
            continue;
        };
        if v["type"] != "padatious:register_intent" {
            continue;
        }
        let (Some(name), Some(samples)) =
            (v["data"]["name"].as_str(), v["data"]["samples"].as_array())
        else {
            continue;
        };
        let mut kept: Vec<String> = Vec::new();
        // Templates with slots ("{location}") are not things to say as they are.
        for s in samples
            .iter()
            .filter_map(|s| s.as_str())
            .filter(|s| !s.contains('{'))
        {
            let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
            if !s.is_empty() && s.len() <= 120 && !kept.contains(&s) {
                kept.push(s);
            }
            if kept.len() == SAMPLES_KEPT {
                break;
            }
        }
        if let Ok(mut m) = registrations().lock() {
            m.insert(name.to_string(), kept);
        }
    }
}

/// The samples ovos-core registered for `intent` (`<skill_id>:<name>`), if seen.
pub fn registered_samples(intent: &str) -> Vec<String> {
    registrations()
        .lock()
        .ok()
        .and_then(|m| m.get(intent).cloned())
        .unwrap_or_default()
}

/// The skills for the caller's tenant (requires `projects:view`).
pub async fn skills(ctx: &AppContext, scope: &Scope) -> CoreResult<SkillsView> {
    let settings = settings(ctx, scope).await?;
    let live = match core_bus(ctx) {
        Ok(bus) => loaded(bus)
            .await
            .ok_or_else(|| "ovos-core did not answer skillmanager.list".to_string()),
        Err(e) => Err(e),
    };
    let enabled = |id: &str| !settings.disabled_skills.iter().any(|d| d == id);
    let row = |id: &str, loaded: bool, intents: Vec<String>| {
        let known = CATALOGUE.iter().find(|c| c.skill_id == id);
        SkillRow {
            skill_id: id.to_string(),
            name: known
                .map(|c| c.name.to_string())
                .unwrap_or_else(|| id.to_string()),
            package: known.map(|c| c.package.to_string()),
            version: known.map(|c| c.version.to_string()),
            description: known.map(|c| c.description.to_string()).unwrap_or_default(),
            loaded,
            enabled_for_tenant: enabled(id),
            fallback: known.is_some_and(|c| c.fallback) || id.contains("fallback"),
            tenant_configurable: known.is_some_and(|c| c.tenant_configurable),
            samples: {
                // What the skill registered (one per intent), else the catalogue's examples.
                let registered: Vec<String> = intents
                    .iter()
                    .flat_map(|i| registered_samples(&format!("{id}:{i}")).into_iter().take(1))
                    .take(6)
                    .collect();
                if registered.is_empty() {
                    known
                        .map(|c| c.samples.iter().map(|s| s.to_string()).collect())
                        .unwrap_or_default()
                } else {
                    registered
                }
            },
            intents,
        }
    };
    let (core_connected, unavailable, mut skills) = match live {
        Ok((loaded, intents)) => {
            let rows = loaded
                .iter()
                .map(|(id, active)| {
                    let prefix = format!("{id}:");
                    let mine = intents
                        .iter()
                        .filter(|i| i.starts_with(&prefix))
                        .map(|i| i[prefix.len()..].to_string())
                        .collect();
                    row(id, *active, mine)
                })
                .collect::<Vec<_>>();
            (true, None, rows)
        }
        Err(why) => (
            core_bus(ctx).is_ok(),
            Some(why),
            CATALOGUE
                .iter()
                .filter(|c| c.preinstalled)
                .map(|c| row(c.skill_id, false, Vec::new()))
                .collect(),
        ),
    };
    skills.sort_by_key(|s| s.name.to_lowercase());
    Ok(SkillsView {
        settings,
        core_connected,
        unavailable,
        skills,
    })
}

/// What the test box shows.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SkillTest {
    pub utterance: String,
    /// `intent`, `fallback`, `unmatched`, `skill_error` or `timeout`.
    pub outcome: String,
    pub intent: Option<String>,
    pub skill: Option<String>,
    pub confidence: Option<f64>,
    /// What the skill said.
    pub answer: Option<String>,
    pub error: Option<String>,
    pub elapsed_ms: u64,
}

/// Sends `utterance` through ovos-core with this tenant's language, pipeline and disabled
/// skills, as a voice turn would (requires `projects:view`). Nothing is recorded.
pub async fn test_utterance(
    ctx: &AppContext,
    scope: &Scope,
    utterance: &str,
) -> CoreResult<SkillTest> {
    let settings = settings(ctx, scope).await?;
    let tenant: TenantId = tenant_of(scope, Permission::ProjectsView)?;
    let utterance = utterance.trim();
    if utterance.is_empty() || utterance.chars().count() > 500 {
        return Err(ValidationError::new("utterance", "must be 1 to 500 characters").into());
    }
    let bus = core_bus(ctx).map_err(CoreError::Conflict)?;
    let mut me = bus.attach("avb-skill-test");
    let started = std::time::Instant::now();
    let request = settings.turn(format!("{tenant}:test:{}", uuid::Uuid::now_v7()), utterance);
    let outcome = avb_ovos::ask(
        &mut me,
        &request,
        Duration::from_millis(ctx.config.ovos.turn_deadline_ms.max(2000)),
    )
    .await;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    let mut t = SkillTest {
        utterance: utterance.to_string(),
        outcome: String::new(),
        intent: None,
        skill: None,
        confidence: None,
        answer: None,
        error: None,
        elapsed_ms,
    };
    match outcome {
        avb_ovos::TurnOutcome::Answered {
            intent,
            skill,
            said,
            confidence,
            ..
        } => {
            t.outcome = if intent.starts_with("fallback:") {
                "fallback"
            } else {
                "intent"
            }
            .into();
            t.intent = Some(intent);
            t.skill = Some(skill);
            t.confidence = confidence;
            t.answer = Some(said.join(" "));
        }
        avb_ovos::TurnOutcome::Unmatched => t.outcome = "unmatched".into(),
        avb_ovos::TurnOutcome::SkillError { intent, error } => {
            t.outcome = "skill_error".into();
            t.intent = intent;
            t.error = Some(error);
        }
        avb_ovos::TurnOutcome::TimedOut { intent } => {
            t.outcome = "timeout".into();
            t.intent = intent;
            t.error = Some(format!("no answer within {elapsed_ms} ms"));
        }
    }
    Ok(t)
}

/// Where an install from the catalogue stands.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub enum InstallState {
    /// `ovos.pip.install` sent; pip runs.
    Installing,
    /// Installed; waiting for ovos-core to load it (its next scan, up to about 30 s).
    Loading,
    /// Loaded: its intents answer.
    Done,
    Failed(String),
}

/// The installs of this process (they are global to ovos-core, so this is shared by all).
fn installs() -> &'static std::sync::Mutex<std::collections::BTreeMap<String, InstallState>> {
    static INSTALLS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::BTreeMap<String, InstallState>>,
    > = std::sync::OnceLock::new();
    INSTALLS.get_or_init(Default::default)
}

/// The state of each install started here, by package.
pub fn install_states() -> std::collections::BTreeMap<String, InstallState> {
    installs().lock().map(|m| m.clone()).unwrap_or_default()
}

fn set_state(package: &str, state: InstallState) {
    if let Ok(mut m) = installs().lock() {
        m.insert(package.to_string(), state);
    }
}

/// Installs `package` from the catalogue into ovos-core (requires `platform:tenants`;
/// audited): `ovos.pip.install` of the pinned version, then waits in the background until
/// ovos-core lists the skill; [`install_states`] shows the progress.
pub async fn install(ctx: &AppContext, scope: &Scope, package: &str) -> CoreResult<()> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let skill = CATALOGUE
        .iter()
        .find(|c| c.package == package)
        .copied()
        .ok_or_else(|| ValidationError::new("package", "is not in the catalogue"))?;
    let bus = core_bus(ctx).map_err(CoreError::Conflict)?.clone();
    if matches!(
        install_states().get(package),
        Some(InstallState::Installing | InstallState::Loading)
    ) {
        return Err(CoreError::Conflict(format!("{package} is being installed")));
    }
    let tx = ctx.store.platform_tx(true).await?;
    audit_repo::append(
        &tx,
        crate::audit::entry(
            scope,
            None,
            "ovos.skill.install",
            "ovos_skill",
            skill.skill_id,
            json!({"package": skill.package, "version": skill.version}),
        ),
    )
    .await?;
    tx.commit().await?;
    set_state(package, InstallState::Installing);
    tokio::spawn(async move {
        let outcome = run_install(&bus, skill).await;
        if let Err(e) = &outcome {
            tracing::error!(package = skill.package, error = %e, "skill install failed");
        }
        set_state(
            skill.package,
            outcome.map_or_else(InstallState::Failed, |_| InstallState::Done),
        );
    });
    Ok(())
}

async fn run_install(bus: &avb_ovos::Bus, skill: CatalogueSkill) -> Result<(), String> {
    let mut me = bus.attach("avb-installer");
    let pinned = format!("{}=={}", skill.package, skill.version);
    me.send(&avb_ovos::message(
        "ovos.pip.install",
        json!({"packages": [pinned]}),
        json!({"source": "avb-installer", "destination": ["skills"]}),
    ))
    .map_err(|e| e.to_string())?;
    let answer = tokio::time::timeout(Duration::from_secs(180), async {
        while let Some(frame) = me.recv().await {
            let v: serde_json::Value = serde_json::from_str(&frame).unwrap_or_default();
            match v["type"].as_str() {
                Some("ovos.pip.install.complete") => return Ok(()),
                Some("ovos.pip.install.failed") => {
                    return Err(v["data"]["error"]
                        .as_str()
                        .unwrap_or("pip failed")
                        .to_string());
                }
                _ => {}
            }
        }
        Err("the bus closed".to_string())
    })
    .await
    .map_err(|_| "pip did not finish within 3 minutes".to_string())?;
    answer?;
    set_state(skill.package, InstallState::Loading);
    // Skills whose runtime needs the network load only once it was announced.
    for kind in ["mycroft.network.connected", "mycroft.internet.connected"] {
        let _ = me.send(&avb_ovos::message(
            kind,
            json!({}),
            json!({"source": "avb-installer"}),
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while tokio::time::Instant::now() < deadline {
        if let Some((skills, _)) = loaded(bus).await
            && skills.iter().any(|(id, _)| id == skill.skill_id)
        {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    Err("installed, but ovos-core did not load the skill within 2 minutes".into())
}

/// One catalogue skill as the SaaS admin sees it.
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueRow {
    pub skill: CatalogueSkill,
    /// ovos-core has it loaded.
    pub loaded: bool,
    /// An install started from this server, if any.
    pub state: Option<InstallState>,
}

/// The catalogue with what ovos-core has loaded (requires `platform:tenants`); the problem
/// when ovos-core cannot be asked.
pub async fn catalogue(
    ctx: &AppContext,
    scope: &Scope,
) -> CoreResult<(Option<String>, Vec<CatalogueRow>)> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let live = match core_bus(ctx) {
        Ok(bus) => loaded(bus)
            .await
            .ok_or_else(|| "ovos-core did not answer skillmanager.list".to_string()),
        Err(e) => Err(e),
    };
    let states = install_states();
    let (problem, ids) = match live {
        Ok((skills, _)) => (None, skills.into_iter().map(|(id, _)| id).collect()),
        Err(e) => (Some(e), Vec::new()),
    };
    Ok((
        problem,
        CATALOGUE
            .iter()
            .map(|c| CatalogueRow {
                skill: *c,
                loaded: ids.iter().any(|id| id == c.skill_id),
                state: states.get(c.package).cloned(),
            })
            .collect(),
    ))
}
