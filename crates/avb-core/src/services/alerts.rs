//! Alert rules evaluated by the server: a metric (service down, HTTP error rate, HTTP p99, a
//! voice stage's p99) over a threshold for a duration opens an incident and notifies by e-mail
//! or webhook; back under the threshold resolves it. Every change is on the incident's timeline.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::monitoring::{self, Sample};
use crate::scope::Scope;
use avb_domain::{AlertRuleId, Email, IncidentId, Permission, ValidationError};
use avb_storage::repos::alerts as repo;
use avb_storage::repos::audit as audit_repo;
use avb_storage::{Page, PageRequest};
use chrono::Utc;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;
use uuid::Uuid;

use avb_storage::repos::alerts::{AlertRule as RuleRow, Incident as IncidentRow};

pub use crate::views::{AlertRule, Incident, IncidentEvent};

/// Metrics a rule can watch: name, what it measures.
pub const METRICS: &[(&str, &str)] = &[
    (
        "service_down",
        "1 when the target service's probe fails (target: a service name or *)",
    ),
    (
        "http_error_rate",
        "percent of HTTP responses that were 5xx since the last check (target: a route or *)",
    ),
    (
        "http_p99_ms",
        "p99 HTTP latency in ms since the last check (target: a route or *)",
    ),
    (
        "stage_p99_ms",
        "p99 of a voice pipeline stage in ms since the last check (target: stt, skill, llm_first_token, tts_first_byte, first_audio, voice_to_voice or *)",
    ),
];

/// A rule as entered.
#[derive(Debug, Clone, Default)]
pub struct RuleInput {
    pub name: String,
    pub metric: String,
    pub target: String,
    pub threshold: String,
    pub for_secs: String,
    pub channel: String,
    pub destination: String,
}

fn check(ctx: &AppContext, input: &RuleInput) -> Result<RuleRow, ValidationError> {
    let name = input.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ValidationError::new("name", "must be 1 to 100 characters"));
    }
    if !METRICS.iter().any(|(m, _)| *m == input.metric) {
        return Err(ValidationError::new(
            "metric",
            format!(
                "must be one of {}",
                METRICS
                    .iter()
                    .map(|(m, _)| *m)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let target = match input.target.trim() {
        "" => "*",
        t if t.len() > 200 => {
            return Err(ValidationError::new(
                "target",
                "must be at most 200 characters",
            ));
        }
        t => t,
    };
    let threshold: f64 = match input.threshold.trim() {
        "" if input.metric == "service_down" => 0.0,
        t => t
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite() && *v >= 0.0)
            .ok_or_else(|| ValidationError::new("threshold", "must be a number of at least 0"))?,
    };
    let for_secs: i32 = match input.for_secs.trim() {
        "" => 0,
        s => s
            .parse()
            .ok()
            .filter(|v| (0..=86_400).contains(v))
            .ok_or_else(|| ValidationError::new("for_secs", "must be 0 to 86400 seconds"))?,
    };
    let destination = match input.channel.as_str() {
        "email" => Email::parse("destination", &input.destination)?
            .as_str()
            .to_string(),
        "webhook" => crate::services::webhooks::check_url(
            &input.destination,
            ctx.config.webhooks.allow_private_urls,
        )
        .map_err(|e| ValidationError::new("destination", e.message))?,
        _ => return Err(ValidationError::new("channel", "must be email or webhook")),
    };
    Ok(RuleRow {
        id: Uuid::now_v7(),
        name: name.to_string(),
        metric: input.metric.clone(),
        target: target.to_string(),
        threshold,
        for_secs,
        channel: input.channel.clone(),
        destination,
        enabled: true,
        created_at: Utc::now(),
    })
}

/// Adds a rule (requires `platform:tenants`; audited).
pub async fn create_rule(
    ctx: &AppContext,
    scope: &Scope,
    input: RuleInput,
) -> CoreResult<AlertRule> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let mut rule = check(ctx, &input)?;
    if rule.channel == "webhook" {
        rule.destination = crate::services::webhooks::check_url_resolved(
            &rule.destination,
            ctx.config.webhooks.allow_private_urls,
        )
        .await
        .map_err(|e| ValidationError::new("destination", e.message))?;
    }
    let tx = ctx.store.platform_tx(true).await?;
    let rule = repo::insert_rule(&tx, rule).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "alert_rule.create",
            "alert_rule",
            rule.id,
            serde_json::json!({"name": rule.name, "metric": rule.metric, "target": rule.target,
                "threshold": rule.threshold, "for_secs": rule.for_secs, "channel": rule.channel}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(rule.into())
}

/// Every rule (requires `platform:tenants`).
pub async fn rules(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<AlertRule>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let out = repo::rules(&tx).await?;
    tx.commit().await?;
    Ok(out.into_iter().map(AlertRule::from).collect())
}

/// Deletes a rule and its incidents (requires `platform:tenants`; audited).
pub async fn delete_rule(ctx: &AppContext, scope: &Scope, id: AlertRuleId) -> CoreResult<()> {
    let id = id.as_uuid();
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(true).await?;
    let rule = repo::delete_rule(&tx, id).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "alert_rule.delete",
            "alert_rule",
            id,
            serde_json::json!({"name": rule.name}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Incidents, newest first (requires `platform:tenants`).
pub async fn incidents(
    ctx: &AppContext,
    scope: &Scope,
    open_only: bool,
    page: PageRequest,
) -> CoreResult<Page<Incident>> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let out = repo::incidents(&tx, open_only, page).await?;
    tx.commit().await?;
    Ok(out.map(Incident::from))
}

/// One incident with its timeline (requires `platform:tenants`).
pub async fn incident(
    ctx: &AppContext,
    scope: &Scope,
    id: IncidentId,
) -> CoreResult<(Incident, Vec<IncidentEvent>)> {
    let id = id.as_uuid();
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let (inc, events) = repo::incident(&tx, id).await?;
    tx.commit().await?;
    Ok((
        inc.into(),
        events.into_iter().map(IncidentEvent::from).collect(),
    ))
}

/// What the evaluator remembers between checks: cumulative counters of the last check (for
/// windowed rates and quantiles) and when each rule started breaching.
#[derive(Default)]
struct EvalState {
    last: Vec<Sample>,
    breaching_since: HashMap<Uuid, Instant>,
}

/// One app's evaluator memory (held by its [`crate::monitoring::Monitor`]).
#[derive(Default)]
pub(crate) struct EvalMemory(Mutex<EvalState>);

/// `now - before` per series (a counter reset counts from zero).
fn delta(now: &[Sample], before: &[Sample]) -> Vec<Sample> {
    let prev: HashMap<(&str, &BTreeMap<String, String>), f64> = before
        .iter()
        .map(|s| ((s.name.as_str(), &s.labels), s.value))
        .collect();
    now.iter()
        .map(|s| {
            let p = prev
                .get(&(s.name.as_str(), &s.labels))
                .copied()
                .unwrap_or(0.0);
            let mut d = s.clone();
            d.value = if s.value >= p { s.value - p } else { s.value };
            d
        })
        .collect()
}

fn matches(target: &str, value: Option<&String>) -> bool {
    target == "*" || value.is_some_and(|v| v.eq_ignore_ascii_case(target))
}

/// The rule's metric now (`None` when there is nothing to measure yet).
fn measure(rule: &RuleRow, window: &[Sample], probes: &[monitoring::Probe]) -> Option<f64> {
    match rule.metric.as_str() {
        "service_down" => Some(
            if probes.iter().any(|p| {
                p.status == avb_domain::ProbeStatus::Down
                    && (rule.target == "*" || p.service.eq_ignore_ascii_case(&rule.target))
            }) {
                1.0
            } else {
                0.0
            },
        ),
        "http_error_rate" => {
            let (mut all, mut errors) = (0.0, 0.0);
            for s in window
                .iter()
                .filter(|s| s.name == "avb_http_requests_total")
                .filter(|s| matches(&rule.target, s.labels.get("route")))
            {
                all += s.value;
                if s.labels.get("status").is_some_and(|c| c.starts_with('5')) {
                    errors += s.value;
                }
            }
            (all > 0.0).then(|| 100.0 * errors / all)
        }
        "http_p99_ms" | "stage_p99_ms" => {
            let (name, label) = if rule.metric == "http_p99_ms" {
                ("avb_http_request_duration_seconds", "route")
            } else {
                ("avb_realtime_stage_seconds", "stage")
            };
            let picked: Vec<Sample> = window
                .iter()
                .filter(|s| matches(&rule.target, s.labels.get(label)))
                .cloned()
                .collect();
            let h = monitoring::histograms(&picked, name, &[]);
            h.first()
                .filter(|h| h.count > 0.0 && !h.p99.is_nan())
                .map(|h| h.p99 * 1000.0)
        }
        _ => None,
    }
}

/// Checks every enabled rule once (the background job calls this every 15 s): opens incidents
/// for rules breached long enough, resolves those back to normal; returns how many changed.
pub async fn evaluate(ctx: &AppContext) -> CoreResult<usize> {
    let tx = ctx.store.platform_tx(false).await?;
    let rules = repo::rules(&tx).await?;
    tx.commit().await?;
    let rules: Vec<RuleRow> = rules.into_iter().filter(|r| r.enabled).collect();
    if rules.is_empty() {
        return Ok(0);
    }
    let probes = if rules.iter().any(|r| r.metric == "service_down") {
        monitoring::probe_all(ctx).await
    } else {
        Vec::new()
    };
    // With Prometheus configured, its increases over the window are already a window across
    // every replica; otherwise the window is what this process counted since the last check.
    let (remote, now_samples) = match monitoring::samples(ctx).await {
        Ok((monitoring::FiguresSource::Prometheus { .. }, samples)) => (true, samples),
        Ok((monitoring::FiguresSource::Local, samples)) => (false, samples),
        Err(e) => {
            tracing::warn!(error = %e, "alert rules: metrics unavailable");
            (false, Vec::new())
        }
    };
    let (window, decisions) = {
        let mut st = ctx
            .monitor
            .alerts
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let window = if remote {
            now_samples
        } else {
            let w = delta(&now_samples, &st.last);
            st.last = now_samples;
            w
        };
        let mut decisions = Vec::new();
        for r in &rules {
            let value = measure(r, &window, &probes);
            let breached = value.is_some_and(|v| v > r.threshold);
            if breached {
                let since = *st.breaching_since.entry(r.id).or_insert_with(Instant::now);
                let long_enough = since.elapsed().as_secs() >= r.for_secs as u64;
                decisions.push((r.clone(), value, long_enough));
            } else {
                st.breaching_since.remove(&r.id);
                decisions.push((r.clone(), value, false));
            }
        }
        (window, decisions)
    };
    let _ = window;
    let mut changed = 0;
    for (rule, value, fire) in decisions {
        let tx = ctx.store.platform_tx(true).await?;
        let open = repo::open_incident(&tx, rule.id).await?;
        match (open, fire) {
            (None, true) => {
                let v = value.unwrap_or(0.0);
                let summary = format!(
                    "{}: {} on {} is {v:.2} (threshold {})",
                    rule.name, rule.metric, rule.target, rule.threshold
                );
                let inc = repo::open(&tx, rule.id, &summary, v).await?;
                notify(ctx, &tx, &rule, &inc, "opened").await?;
                tx.commit().await?;
                changed += 1;
            }
            (Some(inc), false) if value.is_some_and(|v| v <= rule.threshold) => {
                let detail = format!(
                    "{} back to {:.2} (threshold {})",
                    rule.metric,
                    value.unwrap_or(0.0),
                    rule.threshold
                );
                let inc = repo::resolve(&tx, inc, &detail).await?;
                notify(ctx, &tx, &rule, &inc, "resolved").await?;
                tx.commit().await?;
                changed += 1;
            }
            _ => tx.commit().await?,
        }
    }
    Ok(changed)
}

/// Sends the rule's notification and records it on the timeline.
async fn notify(
    ctx: &AppContext,
    tx: &avb_storage::store::Tx,
    rule: &RuleRow,
    inc: &IncidentRow,
    what: &str,
) -> CoreResult<()> {
    let subject = format!("[AgentVoiceBox] incident {what}: {}", rule.name);
    match rule.channel.as_str() {
        "email" => {
            let body = format!(
                "{}\n\nIncident {} {what} at {}.\n",
                inc.summary,
                inc.id,
                Utc::now()
            );
            ctx.mailer
                .queue(tx, &rule.destination, &subject, &body)
                .await?;
            repo::event(
                tx,
                inc.id,
                "notified",
                &format!("e-mail to {} queued", rule.destination),
            )
            .await?;
        }
        _ => {
            let payload = serde_json::json!({
                "type": format!("incident.{what}"),
                "incident": {"id": inc.id, "status": inc.status, "summary": inc.summary,
                    "value": inc.value, "opened_at": inc.opened_at, "resolved_at": inc.resolved_at},
                "rule": {"id": rule.id, "name": rule.name, "metric": rule.metric,
                    "target": rule.target, "threshold": rule.threshold},
            });
            let allow_private = ctx.config.webhooks.allow_private_urls;
            let client = crate::egress::tenant_client(allow_private)
                .timeout(std::time::Duration::from_secs(5))
                .build()
                .map_err(|e| CoreError::Internal(e.to_string()))?;
            let sent = match crate::egress::check_literal(&rule.destination, allow_private) {
                Ok(()) => client.post(&rule.destination).json(&payload).send().await,
                Err(_) => {
                    repo::event(tx, inc.id, "notify_failed", "webhook unreachable").await?;
                    return Ok(());
                }
            };
            let (kind, detail) = match sent {
                Ok(r) if r.status().is_success() => (
                    "notified",
                    format!("webhook answered HTTP {}", r.status().as_u16()),
                ),
                Ok(r) => (
                    "notify_failed",
                    format!("webhook answered HTTP {}", r.status().as_u16()),
                ),
                Err(e) => ("notify_failed", format!("webhook unreachable: {e}")),
            };
            repo::event(tx, inc.id, kind, &detail).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn windows_subtract_the_previous_check() {
        let before = monitoring::parse("c{route=\"/a\",status=\"500\"} 3\n");
        let now = monitoring::parse(
            "c{route=\"/a\",status=\"500\"} 5\nc{route=\"/b\",status=\"200\"} 2\n",
        );
        let d = delta(&now, &before);
        assert_eq!(d[0].value, 2.0);
        assert_eq!(d[1].value, 2.0);
        let reset = delta(&before, &now);
        assert_eq!(reset[0].value, 3.0, "a counter reset counts from zero");
    }
}
