//! The voice pipeline as the SaaS admin sees it (O6): Audio -> STT -> Intent/Skill -> LLM ->
//! TTS -> Audio over a window, from the recorded turns of every tenant: per-stage latency
//! percentiles, success rate and error breakdown, the stage over its alert threshold (the
//! `stage_p99_ms` alert rules) highlighted, a per-tenant table, time series of throughput,
//! error rate and one stage's percentiles, and the most recent turns with their waterfall.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use crate::views::TurnRecord;
use avb_domain::Permission;
use avb_storage::repos::{ovos as ovos_repo, realtime_records, tenants as tenants_repo};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

/// Stages with a per-turn time: key (the metric's `stage` label), label.
pub const STAGES: &[(&str, &str)] = &[
    ("stt", "Speech to text"),
    ("skill", "Intent + skill"),
    ("llm_first_token", "LLM first token"),
    ("tts_first_byte", "TTS first byte"),
    ("voice_to_voice", "Voice to voice"),
];

/// Rows read per view at most (newest first).
pub const CAP: u64 = 200_000;

/// How far back the view looks, and its chart's bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    /// `1h`, `24h` or `7d` (anything else: the last 24 hours).
    pub fn parse(s: &str) -> Self {
        match s {
            "1h" => Window::Hour,
            "7d" => Window::Week,
            _ => Window::Day,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Window::Hour => "1h",
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }

    fn span(self) -> Duration {
        match self {
            Window::Hour => Duration::hours(1),
            Window::Day => Duration::hours(24),
            Window::Week => Duration::days(7),
        }
    }

    fn bucket(self) -> Duration {
        match self {
            Window::Hour => Duration::minutes(1),
            Window::Day => Duration::minutes(30),
            Window::Week => Duration::hours(3),
        }
    }
}

/// One stage's figures over the window.
#[derive(Debug, Clone, Serialize)]
pub struct StageFigures {
    pub key: &'static str,
    pub label: &'static str,
    /// Turns that measured this stage.
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub failures: u64,
    /// Share of attempts without a failure; `None` when nothing was attempted.
    pub success_rate: Option<f64>,
    /// The lowest `stage_p99_ms` alert threshold for this stage (or `*`).
    pub threshold_ms: Option<f64>,
    /// p99 over the threshold, or failures in the window.
    pub unhealthy: bool,
    /// Failures by cause, most frequent first.
    pub errors: Vec<(String, u64)>,
}

/// One tenant's line.
#[derive(Debug, Clone, Serialize)]
pub struct TenantLine {
    pub tenant_id: Uuid,
    pub name: String,
    pub turns: u64,
    pub failed: u64,
    pub voice_to_voice_p95: Option<f64>,
    pub skill_turns: u64,
    pub skill_failures: u64,
}

/// Chart data: bucket starts (unix seconds) and one value per bucket.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Series {
    pub x: Vec<i64>,
    /// Turns per minute.
    pub throughput: Vec<f64>,
    /// Failed turns, percent of turns (`None`: no turns).
    pub error_rate: Vec<Option<f64>>,
    /// The chosen stage's percentiles per bucket.
    pub p50: Vec<Option<f64>>,
    pub p95: Vec<Option<f64>>,
    pub p99: Vec<Option<f64>>,
}

/// A recent turn and whose it is.
#[derive(Debug, Clone)]
pub struct RecentTurn {
    pub tenant: String,
    pub turn: TurnRecord,
}

/// The page.
#[derive(Debug, Clone)]
pub struct PipelineView {
    pub window: Window,
    /// The stage whose percentiles are charted.
    pub stage: &'static str,
    pub turns: u64,
    pub capped: bool,
    pub stages: Vec<StageFigures>,
    pub tenants: Vec<TenantLine>,
    pub series: Series,
    pub recent: Vec<RecentTurn>,
}

/// The value at quantile `q` of sorted `v` (nearest rank).
fn quantile(v: &[i64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    Some(v[rank - 1] as f64)
}

fn stage_ms(t: &avb_storage::entities::realtime_turn::Model, key: &str) -> Option<i64> {
    match key {
        "stt" => t.stt_ms,
        "skill" => t.skill_ms,
        "llm_first_token" => t.llm_first_token_ms,
        "tts_first_byte" => t.tts_first_byte_ms,
        "voice_to_voice" => t.voice_to_voice_ms,
        _ => None,
    }
}

/// Which stage a failed turn failed at: before any token, the LLM; after, TTS.
fn failed_stage(t: &avb_storage::entities::realtime_turn::Model) -> &'static str {
    if t.llm_first_token_ms.is_none() {
        "llm_first_token"
    } else {
        "tts_first_byte"
    }
}

/// The pipeline over `window`, charting `stage` (requires `platform:tenants`).
pub async fn view(
    ctx: &AppContext,
    scope: &Scope,
    window: Window,
    stage: &str,
) -> CoreResult<PipelineView> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let stage = STAGES
        .iter()
        .map(|(k, _)| *k)
        .find(|k| *k == stage)
        .unwrap_or("voice_to_voice");
    let to = Utc::now();
    let from = to - window.span();
    let tx = ctx.store.platform_tx(false).await?;
    let turns = realtime_records::turns_between(&tx, from, to, CAP).await?;
    let events = ovos_repo::events_between(&tx, from, to, CAP).await?;
    let ids: Vec<Uuid> = turns
        .iter()
        .map(|t| t.tenant_id)
        .chain(events.iter().map(|e| e.tenant_id))
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let names = tenants_repo::names(&tx, &ids).await?;
    tx.commit().await?;
    let rules = crate::services::alerts::rules(ctx, scope).await?;
    Ok(assemble(
        window, stage, from, to, turns, events, &names, &rules,
    ))
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    window: Window,
    stage: &'static str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    turns: Vec<avb_storage::entities::realtime_turn::Model>,
    events: Vec<ovos_repo::IntentEvent>,
    names: &HashMap<Uuid, String>,
    rules: &[crate::views::AlertRule],
) -> PipelineView {
    let capped = turns.len() as u64 >= CAP;
    let failed = |t: &avb_storage::entities::realtime_turn::Model| t.status == "failed";
    // Per stage: latencies, failures and their causes.
    let mut stages = Vec::new();
    for (key, label) in STAGES {
        let mut ms: Vec<i64> = turns.iter().filter_map(|t| stage_ms(t, key)).collect();
        ms.sort_unstable();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut attempts = ms.len() as u64;
        match *key {
            "stt" => {
                for e in turns.iter().filter_map(|t| t.stt_error.as_deref()) {
                    let cause: String = e.chars().take(80).collect();
                    *errors.entry(cause).or_default() += 1;
                }
                attempts = turns
                    .iter()
                    .filter(|t| t.stt_ms.is_some() || t.stt_error.is_some())
                    .count() as u64;
            }
            "skill" => {
                for e in events
                    .iter()
                    .filter(|e| e.outcome == "failure" && !e.error.starts_with("the LLM failed"))
                {
                    let cause: String = e.error.chars().take(80).collect();
                    *errors.entry(cause).or_default() += 1;
                }
            }
            "llm_first_token" | "tts_first_byte" => {
                let n = turns
                    .iter()
                    .filter(|t| failed(t) && failed_stage(t) == *key)
                    .count() as u64;
                if n > 0 {
                    errors.insert(format!("failed turn ({label})"), n);
                    attempts += n;
                }
            }
            _ => {}
        }
        let failures: u64 = errors.values().sum();
        let threshold_ms = rules
            .iter()
            .filter(|r| {
                r.enabled && r.metric == "stage_p99_ms" && (r.target == *key || r.target == "*")
            })
            .map(|r| r.threshold)
            .reduce(f64::min);
        let p99 = quantile(&ms, 0.99);
        let mut errors: Vec<(String, u64)> = errors.into_iter().collect();
        errors.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        stages.push(StageFigures {
            key,
            label,
            count: ms.len() as u64,
            p50: quantile(&ms, 0.5),
            p95: quantile(&ms, 0.95),
            p99,
            failures,
            success_rate: (attempts > 0)
                .then(|| (attempts.saturating_sub(failures)) as f64 / attempts as f64),
            unhealthy: failures > 0 || matches!((p99, threshold_ms), (Some(p), Some(t)) if p > t),
            threshold_ms,
            errors,
        });
    }
    // Per tenant.
    let mut per: BTreeMap<Uuid, (u64, u64, Vec<i64>, u64, u64)> = BTreeMap::new();
    for t in &turns {
        let e = per.entry(t.tenant_id).or_default();
        e.0 += 1;
        e.1 += u64::from(failed(t));
        if let Some(v) = t.voice_to_voice_ms {
            e.2.push(v);
        }
        e.3 += u64::from(t.skill_ms.is_some());
    }
    for ev in &events {
        let e = per.entry(ev.tenant_id).or_default();
        if ev.outcome == "failure" && !ev.error.starts_with("the LLM failed") {
            e.4 += 1;
        }
    }
    let mut tenants: Vec<TenantLine> = per
        .into_iter()
        .map(
            |(id, (turns, failed, mut v2v, skill_turns, skill_failures))| {
                v2v.sort_unstable();
                TenantLine {
                    tenant_id: id,
                    name: names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
                    turns,
                    failed,
                    voice_to_voice_p95: quantile(&v2v, 0.95),
                    skill_turns,
                    skill_failures,
                }
            },
        )
        .collect();
    tenants.sort_by(|a, b| b.turns.cmp(&a.turns).then(a.name.cmp(&b.name)));
    // Time series.
    let bucket = window.bucket();
    let n = ((to - from).num_seconds() / bucket.num_seconds()).max(1) as usize;
    let mut series = Series::default();
    let mut counts = vec![0u64; n];
    let mut fails = vec![0u64; n];
    let mut values: Vec<Vec<i64>> = vec![Vec::new(); n];
    for t in &turns {
        let i = ((t.created_at - from).num_seconds() / bucket.num_seconds()) as usize;
        let Some(i) = (i < n).then_some(i) else {
            continue;
        };
        counts[i] += 1;
        fails[i] += u64::from(failed(t));
        if let Some(v) = stage_ms(t, stage) {
            values[i].push(v);
        }
    }
    let minutes = bucket.num_seconds() as f64 / 60.0;
    for i in 0..n {
        series.x.push((from + bucket * i as i32).timestamp());
        series.throughput.push(counts[i] as f64 / minutes);
        series
            .error_rate
            .push((counts[i] > 0).then(|| fails[i] as f64 * 100.0 / counts[i] as f64));
        values[i].sort_unstable();
        series.p50.push(quantile(&values[i], 0.5));
        series.p95.push(quantile(&values[i], 0.95));
        series.p99.push(quantile(&values[i], 0.99));
    }
    let recent = turns
        .iter()
        .take(10)
        .map(|t| RecentTurn {
            tenant: names
                .get(&t.tenant_id)
                .cloned()
                .unwrap_or_else(|| t.tenant_id.to_string()),
            turn: TurnRecord::from(t.clone()),
        })
        .collect();
    PipelineView {
        window,
        stage,
        turns: turns.len() as u64,
        capped,
        stages,
        tenants,
        series,
        recent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.95), Some(95.0));
        assert_eq!(quantile(&v, 0.99), Some(99.0));
        assert_eq!(quantile(&[7], 0.99), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
    }
}
