//! Monitoring from this process: service probes (database, Redis, engines, work queue) with an
//! uptime history, and request/stage latency read from the process's own Prometheus registry
//! (the text `/metrics` serves), summarised into counts, error rates and p50/p95/p99.

use crate::context::AppContext;
use avb_domain::ProbeStatus;
use std::collections::{BTreeMap, VecDeque};

/// The Prometheus reader (`avb-prometheus`), under the names the callers have always used.
pub use avb_prometheus::{Sample, Summary, counter_by, histograms, parse, quantile};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

/// Histogram buckets (seconds) of every latency metric: exported as Prometheus histograms so that
/// quantiles can be computed across replicas and time windows.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

type MetricsText = Box<dyn Fn() -> String + Send + Sync>;

/// One app's monitoring state (a field of [`AppContext`], so two apps in one process, as in the
/// tests, do not share it): where its metrics text comes from, its services' uptime history,
/// its recent log lines and what its alert evaluator remembers between checks.
#[derive(Default)]
pub struct Monitor {
    source: OnceLock<(MetricsText, std::time::Instant)>,
    /// Up/down history of each service (the probe job records into it).
    pub uptime: UptimeHistory,
    /// Recent log lines (the logging layer of `avb serve` feeds it).
    pub logs: Arc<LogRing>,
    /// The alert evaluator's memory between checks.
    pub(crate) alerts: crate::services::alerts::EvalMemory,
}

impl Monitor {
    /// A monitor whose log view reads `logs` (the ring a logging layer writes).
    pub fn with_logs(logs: Arc<LogRing>) -> Self {
        Self {
            logs,
            ..Self::default()
        }
    }

    /// Registers where this app's metrics text comes from (the installed Prometheus recorder,
    /// global to the process, is read through its handle). Only the first registration counts.
    pub fn set_metrics_source(&self, f: impl Fn() -> String + Send + Sync + 'static) {
        let _ = self.source.set((Box::new(f), std::time::Instant::now()));
    }

    /// Minutes the registry has been counting for this app (for per-minute rates).
    pub fn registry_minutes(&self) -> f64 {
        self.source
            .get()
            .map(|(_, t)| t.elapsed().as_secs_f64() / 60.0)
            .unwrap_or(0.0)
            .max(1.0 / 60.0)
    }

    /// The current metrics text, when a source is registered.
    pub fn scrape(&self) -> Option<String> {
        self.source.get().map(|(f, _)| f())
    }
}

/// One service's probe.
#[derive(Debug, Clone)]
pub struct Probe {
    pub service: String,
    /// `up`, `down` or `not_configured`.
    pub status: ProbeStatus,
    pub latency_ms: Option<f64>,
    pub detail: String,
}

/// Probes the database, Redis (when configured), the engines and the work queue.
pub async fn probe_all(ctx: &AppContext) -> Vec<Probe> {
    let mut out = Vec::new();
    let started = std::time::Instant::now();
    let db = ctx.store.ping().await;
    out.push(Probe {
        service: format!("Database ({:?})", ctx.store.backend()).replace("Sqlite", "SQLite"),
        status: ProbeStatus::from_ok(db.is_ok()),
        latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
        detail: db.err().map(|e| e.to_string()).unwrap_or_default(),
    });
    if let Some(redis) = ctx.redis_ping().await {
        out.push(Probe {
            service: "Redis".into(),
            status: ProbeStatus::from_ok(redis.is_ok()),
            latency_ms: redis.as_ref().ok().map(|d| d.as_secs_f64() * 1000.0),
            detail: redis.err().unwrap_or_default(),
        });
    }
    // Identity providers, when configured: their discovery documents must answer.
    let issuers = [
        ("Keycloak", ctx.config.keycloak.issuer.clone()),
        ("OpenID provider", ctx.config.oidc.issuer.clone()),
    ];
    for (name, issuer) in issuers {
        let Some(issuer) = issuer else { continue };
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let started = std::time::Instant::now();
        let res = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .map_err(|e| e.to_string());
        let res = match res {
            Ok(c) => c
                .get(&url)
                .send()
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r.error_for_status().map_err(|e| e.to_string())),
            Err(e) => Err(e),
        };
        out.push(Probe {
            service: name.into(),
            status: ProbeStatus::from_ok(res.is_ok()),
            latency_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            detail: res.err().unwrap_or(issuer),
        });
    }
    if let Some(kafka) = &ctx.kafka {
        let round_trip = kafka.probe().await;
        let lag = crate::services::events::lag(ctx).await;
        let backlog = match &lag {
            Ok(l) => match l.oldest {
                Some(t) => format!(
                    "outbox: {} waiting, oldest {} s",
                    l.waiting,
                    (chrono::Utc::now() - t).num_seconds().max(0)
                ),
                None => "outbox: nothing waiting".into(),
            },
            Err(e) => format!("outbox: {e}"),
        };
        out.push(Probe {
            service: "Kafka".into(),
            status: ProbeStatus::from_ok(round_trip.is_ok()),
            latency_ms: round_trip.as_ref().ok().map(|d| d.as_secs_f64() * 1000.0),
            detail: match round_trip {
                Ok(_) => format!("topic {} · {backlog}", ctx.config.kafka.topic),
                Err(e) => format!("{e} · {backlog}"),
            },
        });
    }
    out.push(Probe {
        service: "Gateway".into(),
        status: ProbeStatus::Up,
        latency_ms: None,
        detail: "serving this page".into(),
    });
    for e in crate::engine_health::probe_engines(&ctx.config.engines).await {
        out.push(Probe {
            service: match e.engine {
                "llm" => "LLM worker".to_string(),
                "stt" => "STT worker".to_string(),
                "tts" => "TTS worker".to_string(),
                other => other.to_string(),
            },
            status: e.status,
            latency_ms: e.latency_ms,
            detail: e.error.unwrap_or(e.model),
        });
    }
    out
}

/// The work queue's state when it runs on Redis: jobs waiting, taken but unfinished, dead.
#[derive(Debug, Clone, Default)]
pub struct QueueDepth {
    pub waiting: u64,
    pub pending: u64,
    pub dead: u64,
}

/// Reads the Redis work queue's depth (`None` with the in-process queue or without Redis).
pub async fn queue_depth(ctx: &AppContext) -> Option<Result<QueueDepth, String>> {
    if ctx.config.queue.backend != crate::config::QueueBackend::Redis {
        return None;
    }
    let client = ctx.redis.as_ref()?;
    let keys = crate::redis_keys::QueueKeys::new(&ctx.config.queue.namespace);
    let res = async {
        let mut c = client.get_multiplexed_async_connection().await?;
        let waiting: u64 = redis::cmd("XLEN")
            .arg(&keys.jobs)
            .query_async(&mut c)
            .await?;
        let dead: u64 = redis::cmd("XLEN")
            .arg(&keys.dead)
            .query_async(&mut c)
            .await?;
        // XPENDING summary: [count, first id, last id, consumers]; no group yet -> error.
        let pending: u64 = redis::cmd("XPENDING")
            .arg(&keys.jobs)
            .arg(crate::work_queue::GROUP)
            .query_async::<(u64, redis::Value, redis::Value, redis::Value)>(&mut c)
            .await
            .map(|r| r.0)
            .unwrap_or(0);
        redis::RedisResult::Ok(QueueDepth {
            waiting,
            pending,
            dead,
        })
    }
    .await;
    Some(res.map_err(|e| e.to_string()))
}

/// Up/down history of each service, sampled by the background job (kept for 24 h).
#[derive(Default)]
pub struct UptimeHistory {
    samples: Mutex<BTreeMap<String, VecDeque<bool>>>,
}

/// Samples kept per service: 24 h at one per 30 s.
const HISTORY: usize = 2880;
/// How often the background job samples.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(30);

impl UptimeHistory {
    /// Records one round of probes (services not configured are skipped).
    pub fn record(&self, probes: &[Probe]) {
        let mut s = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for p in probes
            .iter()
            .filter(|p| p.status != ProbeStatus::NotConfigured)
        {
            let h = s.entry(p.service.clone()).or_default();
            if h.len() == HISTORY {
                h.pop_front();
            }
            h.push_back(p.status == ProbeStatus::Up);
        }
    }

    /// Percentage of samples up, and how many samples, per service.
    pub fn uptime(&self) -> BTreeMap<String, (f64, usize)> {
        let s = self
            .samples
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        s.iter()
            .map(|(k, h)| {
                let up = h.iter().filter(|b| **b).count();
                (
                    k.clone(),
                    (100.0 * up as f64 / h.len().max(1) as f64, h.len()),
                )
            })
            .collect()
    }
}

/// Where the figures came from, for the page to say.
#[derive(Debug, Clone)]
pub enum FiguresSource {
    /// This process's registry, cumulative since it started.
    Local,
    /// A Prometheus server, over the last `minutes`.
    Prometheus { url: String, minutes: u32 },
}

/// The PromQL queries whose results stand in for the local histogram and counter series.
fn remote_queries(minutes: u32) -> Vec<(&'static str, String)> {
    let w = format!("{minutes}m");
    vec![
        (
            "avb_http_request_duration_seconds_bucket",
            format!(
                "sum by (method, route, le) (increase(avb_http_request_duration_seconds_bucket[{w}]))"
            ),
        ),
        (
            "avb_http_request_duration_seconds_count",
            format!(
                "sum by (method, route) (increase(avb_http_request_duration_seconds_count[{w}]))"
            ),
        ),
        (
            "avb_http_requests_total",
            format!("sum by (method, route, status) (increase(avb_http_requests_total[{w}]))"),
        ),
        (
            "avb_realtime_stage_seconds_bucket",
            format!(
                "sum by (stage, tenant, le) (increase(avb_realtime_stage_seconds_bucket[{w}]))"
            ),
        ),
        (
            "avb_realtime_stage_errors_total",
            format!("sum by (stage, tenant) (increase(avb_realtime_stage_errors_total[{w}]))"),
        ),
        (
            "avb_realtime_stage_seconds_count",
            format!("sum by (stage, tenant) (increase(avb_realtime_stage_seconds_count[{w}]))"),
        ),
    ]
}

/// The request and stage series: from Prometheus when `[monitoring] prometheus_url` is set
/// (increases over the window, across every replica it scrapes), else from this process.
pub async fn samples(ctx: &AppContext) -> Result<(FiguresSource, Vec<Sample>), String> {
    let Some(url) = ctx.config.monitoring.prometheus_url.clone() else {
        let local = ctx.monitor.scrape().map(|t| parse(&t)).unwrap_or_default();
        return Ok((FiguresSource::Local, local));
    };
    let minutes = ctx.config.monitoring.window_minutes.max(1);
    let base = url.trim_end_matches('/');
    let out = avb_prometheus::query_samples(base, &remote_queries(minutes), Duration::from_secs(5))
        .await?;
    Ok((
        FiguresSource::Prometheus {
            url: base.to_string(),
            minutes,
        },
        out,
    ))
}

/// One log line kept for the monitoring page.
#[derive(Debug, Clone)]
pub struct LogLine {
    pub at: chrono::DateTime<chrono::Utc>,
    pub level: String,
    pub target: String,
    pub message: String,
}

/// The most recent log lines of this process (the logging layer of `avb serve` feeds it).
#[derive(Default)]
pub struct LogRing {
    lines: Mutex<VecDeque<LogLine>>,
}

/// Lines kept.
const LOG_LINES: usize = 2000;

impl LogRing {
    /// Keeps a line, dropping the oldest beyond the limit.
    pub fn push(&self, line: LogLine) {
        let mut l = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if l.len() == LOG_LINES {
            l.pop_front();
        }
        l.push_back(line);
    }

    /// Newest first: lines at `level` or worse (error > warn > info > debug > trace), whose
    /// target starts with `service`, from the last `minutes`.
    pub fn recent(&self, level: &str, service: &str, minutes: i64, limit: usize) -> Vec<LogLine> {
        let rank = |l: &str| match l {
            "ERROR" => 4,
            "WARN" => 3,
            "INFO" => 2,
            "DEBUG" => 1,
            _ => 0,
        };
        let min = rank(&level.to_ascii_uppercase());
        let since = chrono::Utc::now() - chrono::Duration::minutes(minutes.max(1));
        let l = self
            .lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        l.iter()
            .rev()
            .filter(|x| rank(&x.level) >= min && x.target.starts_with(service) && x.at >= since)
            .take(limit)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn each_app_monitors_on_its_own() {
        let (a, b) = (Monitor::default(), Monitor::default());
        a.set_metrics_source(|| "x 1".into());
        a.set_metrics_source(|| "x 2".into());
        assert_eq!(
            a.scrape().as_deref(),
            Some("x 1"),
            "the first source counts"
        );
        assert!(b.scrape().is_none());
        a.logs.push(LogLine {
            at: chrono::Utc::now(),
            level: "ERROR".into(),
            target: "avb_core".into(),
            message: "only in a".into(),
        });
        assert_eq!(a.logs.recent("error", "", 5, 10).len(), 1);
        assert!(b.logs.recent("trace", "", 5, 10).is_empty());
    }

    #[test]
    fn uptime_is_the_share_of_up_samples() {
        let h = UptimeHistory::default();
        let p = |up: bool| Probe {
            service: "db".into(),
            status: ProbeStatus::from_ok(up),
            latency_ms: None,
            detail: String::new(),
        };
        for up in [true, true, true, false] {
            h.record(&[p(up)]);
        }
        assert_eq!(h.uptime()["db"], (75.0, 4));
    }
}
