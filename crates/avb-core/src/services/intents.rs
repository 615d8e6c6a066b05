//! Intent analytics (O5): every answered user turn records how it was answered (an OVOS
//! intent, a fallback skill, the persona's LLM, or a failure) with its utterance, skill,
//! confidence and latency; the tenant sees top intents, their success rate and confidence,
//! the utterances nothing recognised, a daily trend and a CSV export.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, SessionId, TenantId};
use avb_storage::page::{Page, PageRequest};
use avb_storage::repos::ovos as ovos_repo;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

pub use avb_storage::repos::ovos::NewIntentEvent;

/// How a turn was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A skill's intent matched.
    Intent,
    /// An OVOS fallback skill answered.
    Fallback,
    /// A persona's knowledge solver (WordNet, Wikipedia, ...) answered.
    Solver,
    /// Nothing in OVOS or the solvers answered (or neither is used): the persona's LLM did.
    Persona,
    /// The skill or the LLM failed, or did not answer in time.
    Failure,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Intent => "intent",
            Outcome::Fallback => "fallback",
            Outcome::Solver => "solver",
            Outcome::Persona => "persona",
            Outcome::Failure => "failure",
        }
    }

    /// Parses a filter value.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Outcome::Intent,
            Outcome::Fallback,
            Outcome::Solver,
            Outcome::Persona,
            Outcome::Failure,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }
}

/// Records one turn's outcome for `tenant` (the gateway's session writer calls it).
pub async fn record(
    ctx: &AppContext,
    tenant: TenantId,
    session: Option<SessionId>,
    mut event: NewIntentEvent,
) -> CoreResult<()> {
    event.session_id = session.map(|s| s.as_uuid());
    event.utterance = event.utterance.chars().take(2000).collect();
    event.error = event.error.chars().take(2000).collect();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    ovos_repo::insert_event(&tx, event).await?;
    tx.commit().await?;
    Ok(())
}

/// One recorded turn as shown and exported.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntentEventView {
    pub id: uuid::Uuid,
    pub session_id: Option<uuid::Uuid>,
    pub created_at: DateTime<Utc>,
    pub utterance: String,
    /// `intent`, `fallback`, `solver`, `persona` or `failure`.
    pub outcome: String,
    pub intent: Option<String>,
    pub skill: Option<String>,
    pub confidence: Option<f64>,
    pub latency_ms: i64,
    pub error: String,
}

fn view(e: ovos_repo::IntentEvent) -> IntentEventView {
    IntentEventView {
        id: e.id,
        session_id: e.session_id,
        created_at: e.created_at,
        utterance: e.utterance,
        outcome: e.outcome,
        intent: e.intent,
        skill: e.skill,
        confidence: e.confidence,
        latency_ms: e.latency_ms,
        error: e.error,
    }
}

/// The caller's tenant's events in `[from, to)`, newest first (requires `usage:view`).
pub async fn events(
    ctx: &AppContext,
    scope: &Scope,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    outcome: Option<Outcome>,
    page: PageRequest,
) -> CoreResult<Page<IntentEventView>> {
    let tenant = tenant_of(scope, Permission::UsageView)?;
    ctx.policy
        .authorize(scope, Permission::UsageView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = ovos_repo::events(&tx, from, to, outcome.map(Outcome::as_str), page).await?;
    tx.commit().await?;
    Ok(page.map(view))
}

/// One intent's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntentStat {
    /// The intent (`<skill>:<intent>`), `fallback:<skill>`, or `persona`.
    pub intent: String,
    pub skill: Option<String>,
    pub count: u64,
    /// Share answered without a failure, 0..1.
    pub success_rate: f64,
    /// Mean confidence where the engine gave one (adapt does; padatious does not).
    pub avg_confidence: Option<f64>,
    pub avg_latency_ms: f64,
    /// Up to five recent utterances.
    pub samples: Vec<String>,
}

/// One day of the trend.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DayStat {
    pub day: NaiveDate,
    pub total: u64,
    /// Answered by an intent or a fallback skill.
    pub recognised: u64,
    pub failures: u64,
}

/// The analytics page's figures.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntentSummary {
    pub total: u64,
    /// Events counted (at most [`SUMMARY_CAP`], the newest).
    pub capped: bool,
    pub by_outcome: BTreeMap<String, u64>,
    pub top: Vec<IntentStat>,
    /// Utterances nothing in OVOS recognised (the persona's LLM answered), newest first.
    pub unrecognised: Vec<IntentEventView>,
    pub days: Vec<DayStat>,
}

/// Events aggregated per summary at most.
pub const SUMMARY_CAP: u64 = 100_000;

/// Figures over the caller's tenant's events in `[from, to)` (requires `usage:view`).
pub async fn summary(
    ctx: &AppContext,
    scope: &Scope,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> CoreResult<IntentSummary> {
    let tenant = tenant_of(scope, Permission::UsageView)?;
    ctx.policy
        .authorize(scope, Permission::UsageView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = ovos_repo::events_for_summary(&tx, from, to, SUMMARY_CAP).await?;
    tx.commit().await?;
    Ok(summarise(rows))
}

/// The figures of `rows` (newest first).
pub fn summarise(rows: Vec<ovos_repo::IntentEvent>) -> IntentSummary {
    struct Acc {
        skill: Option<String>,
        count: u64,
        ok: u64,
        conf_sum: f64,
        conf_n: u64,
        latency_sum: i64,
        samples: Vec<String>,
    }
    let capped = rows.len() as u64 >= SUMMARY_CAP;
    let mut by_outcome: BTreeMap<String, u64> = BTreeMap::new();
    let mut per: BTreeMap<String, Acc> = BTreeMap::new();
    let mut days: BTreeMap<NaiveDate, DayStat> = BTreeMap::new();
    let mut unrecognised = Vec::new();
    for e in &rows {
        *by_outcome.entry(e.outcome.clone()).or_default() += 1;
        let key = match (&e.intent, e.outcome.as_str()) {
            (Some(i), _) => i.clone(),
            (None, o) => o.to_string(),
        };
        let acc = per.entry(key).or_insert(Acc {
            skill: e.skill.clone(),
            count: 0,
            ok: 0,
            conf_sum: 0.0,
            conf_n: 0,
            latency_sum: 0,
            samples: Vec::new(),
        });
        acc.count += 1;
        if e.outcome != "failure" {
            acc.ok += 1;
        }
        if let Some(c) = e.confidence {
            acc.conf_sum += c;
            acc.conf_n += 1;
        }
        acc.latency_sum += e.latency_ms;
        if acc.samples.len() < 5 && !acc.samples.contains(&e.utterance) {
            acc.samples.push(e.utterance.clone());
        }
        let day = e.created_at.date_naive();
        let d = days.entry(day).or_insert(DayStat {
            day,
            total: 0,
            recognised: 0,
            failures: 0,
        });
        d.total += 1;
        match e.outcome.as_str() {
            "intent" | "fallback" | "solver" => d.recognised += 1,
            "failure" => d.failures += 1,
            _ => {}
        }
        if e.outcome == "persona" && unrecognised.len() < 50 {
            unrecognised.push(view(e.clone()));
        }
    }
    let mut top: Vec<IntentStat> = per
        .into_iter()
        .map(|(intent, a)| IntentStat {
            intent,
            skill: a.skill,
            count: a.count,
            success_rate: a.ok as f64 / a.count.max(1) as f64,
            avg_confidence: (a.conf_n > 0).then(|| a.conf_sum / a.conf_n as f64),
            avg_latency_ms: a.latency_sum as f64 / a.count.max(1) as f64,
            samples: a.samples,
        })
        .collect();
    top.sort_by(|a, b| b.count.cmp(&a.count).then(a.intent.cmp(&b.intent)));
    IntentSummary {
        total: rows.len() as u64,
        capped,
        by_outcome,
        top,
        unrecognised,
        days: days.into_values().collect(),
    }
}

/// The caller's tenant's events in `[from, to)` for an export, newest first, at most
/// [`SUMMARY_CAP`] (requires `usage:view`).
pub async fn export(
    ctx: &AppContext,
    scope: &Scope,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> CoreResult<Vec<IntentEventView>> {
    let tenant = tenant_of(scope, Permission::UsageView)?;
    ctx.policy
        .authorize(scope, Permission::UsageView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let rows = ovos_repo::events_for_summary(&tx, from, to, SUMMARY_CAP).await?;
    tx.commit().await?;
    Ok(rows.into_iter().map(view).collect())
}
