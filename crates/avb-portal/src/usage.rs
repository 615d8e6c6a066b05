//! `/usage`: the tenant's metered usage over 7, 30 or 90 days: totals by engine, a daily chart,
//! a project filter and CSV export.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{Require, Visitor, perm};
use askama::Template;
use avb_core::services::{projects, usage};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use uuid::Uuid;

/// Metrics a chart can show: key, label.
const CHARTABLE: &[(&str, &str)] = &[
    ("requests", "Requests"),
    ("audio_minutes_input", "Audio minutes in (STT)"),
    ("audio_minutes_output", "Audio minutes out (TTS)"),
    ("llm_tokens_input", "LLM tokens in"),
    ("llm_tokens_output", "LLM tokens out"),
];

/// `?period=7d|30d|90d&project=<id>&metric=<metric>`.
#[derive(Debug, Default, Deserialize)]
pub struct UsageQuery {
    #[serde(default)]
    period: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    metric: String,
}

/// The window a query asks for: `[from, to)` covering whole UTC days up to today.
struct Window {
    days: i64,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    first_day: NaiveDate,
}

impl UsageQuery {
    fn window(&self) -> Window {
        let days = match self.period.as_str() {
            "7d" => 7,
            "90d" => 90,
            _ => 30,
        };
        let today = Utc::now().date_naive();
        let first_day = today - Duration::days(days - 1);
        let from = first_day.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        let to = (today + Duration::days(1))
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc());
        let now = Utc::now();
        Window {
            days,
            from: from.unwrap_or(now - Duration::days(days)),
            to: to.unwrap_or(now),
            first_day,
        }
    }

    fn project(&self) -> Option<Uuid> {
        self.project.parse().ok()
    }

    fn metric(&self) -> &'static str {
        CHARTABLE
            .iter()
            .find(|(k, _)| *k == self.metric)
            .map(|(k, _)| *k)
            .unwrap_or("requests")
    }
}

/// One `<option>` or tab.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// One bar of the daily chart.
pub struct DayBar {
    pub x: i64,
    pub y: i64,
    pub width: i64,
    pub height: i64,
    pub title: String,
}

/// One engine's line of the breakdown.
pub struct Breakdown {
    pub engine: &'static str,
    pub what: &'static str,
    pub amount: String,
}

#[derive(Template)]
#[template(path = "usage/show.html")]
struct UsageShowPage {
    chrome: Chrome,
    periods: Vec<Choice>,
    projects: Vec<Choice>,
    metrics: Vec<Choice>,
    project: String,
    metric_label: &'static str,
    requests: String,
    breakdown: Vec<Breakdown>,
    bars: Vec<DayBar>,
    peak: String,
    first_day: String,
    last_day: String,
    any_usage: bool,
    export_query: String,
}

const CHART_W: i64 = 720;
const CHART_H: i64 = 160;

fn bars(values: &[f64], first_day: NaiveDate, metric: &str) -> Vec<DayBar> {
    let max = values.iter().copied().fold(0.0f64, f64::max);
    let slot = CHART_W / values.len().max(1) as i64;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let height = if max > 0.0 {
                ((v / max) * CHART_H as f64).round() as i64
            } else {
                0
            };
            let day = first_day + Duration::days(i as i64);
            DayBar {
                x: i as i64 * slot + 1,
                y: CHART_H - height,
                width: (slot - 2).max(1),
                height,
                title: format!("{day}: {} {metric}", amount(*v)),
            }
        })
        .collect()
}

fn amount(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

async fn project_choices(state: &PortalState, v: &Visitor, selected: &str) -> Vec<Choice> {
    let request = avb_core::PageRequest {
        limit: 100,
        after: None,
    };
    match projects::list(&state.ctx, &v.scope, None, request).await {
        Ok(p) => p
            .items
            .into_iter()
            .map(|p| Choice {
                selected: p.project.id.to_string() == selected,
                value: p.project.id.to_string(),
                label: p.project.name,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// `GET /usage` (requires `usage:view`).
pub async fn page(
    State(state): State<PortalState>,
    v: Require<perm::UsageView>,
    Query(q): Query<UsageQuery>,
) -> Result<Response, PageError> {
    let w = q.window();
    let rows = usage::daily(&state.ctx, &v.scope, w.from, w.to, q.project()).await?;
    let metric = q.metric();
    let mut totals: BTreeMap<&str, f64> = BTreeMap::new();
    let mut series = vec![0.0; w.days as usize];
    for r in &rows {
        if let Some((k, _)) = CHARTABLE.iter().find(|(k, _)| *k == r.metric) {
            *totals.entry(k).or_default() += r.total;
        }
        if r.metric == metric
            && let Ok(day) = NaiveDate::parse_from_str(&r.day, "%Y-%m-%d")
        {
            let i = (day - w.first_day).num_days();
            if (0..w.days).contains(&i) {
                series[i as usize] += r.total;
            }
        }
    }
    let t = |k: &str| totals.get(k).copied().unwrap_or(0.0);
    let period = match w.days {
        7 => "7d",
        90 => "90d",
        _ => "30d",
    };
    let mut export_query = format!("period={period}");
    if let Some(p) = q.project() {
        let _ = write!(export_query, "&project={p}");
    }
    let page = UsageShowPage {
        chrome: v.chrome("/usage", None),
        periods: [("7d", "7 days"), ("30d", "30 days"), ("90d", "90 days")]
            .iter()
            .map(|(value, label)| Choice {
                value: value.to_string(),
                label: label.to_string(),
                selected: *value == period,
            })
            .collect(),
        projects: project_choices(&state, &v, &q.project).await,
        metrics: CHARTABLE
            .iter()
            .map(|(k, label)| Choice {
                value: k.to_string(),
                label: label.to_string(),
                selected: *k == metric,
            })
            .collect(),
        project: q.project().map(|p| p.to_string()).unwrap_or_default(),
        metric_label: CHARTABLE
            .iter()
            .find(|(k, _)| *k == metric)
            .map(|(_, l)| *l)
            .unwrap_or("Requests"),
        requests: amount(t("requests")),
        breakdown: vec![
            Breakdown {
                engine: "Speech to text",
                what: "audio minutes in",
                amount: amount(t("audio_minutes_input")),
            },
            Breakdown {
                engine: "Text to speech",
                what: "audio minutes out",
                amount: amount(t("audio_minutes_output")),
            },
            Breakdown {
                engine: "LLM",
                what: "tokens in / out",
                amount: format!(
                    "{} / {}",
                    amount(t("llm_tokens_input")),
                    amount(t("llm_tokens_output"))
                ),
            },
        ],
        peak: amount(series.iter().copied().fold(0.0, f64::max)),
        bars: bars(&series, w.first_day, metric),
        first_day: w.first_day.to_string(),
        last_day: (w.first_day + Duration::days(w.days - 1)).to_string(),
        any_usage: !rows.is_empty(),
        export_query,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /usage/export.csv` (requires `usage:view`): one row per day and metric of the chosen window.
pub async fn export_csv(
    State(state): State<PortalState>,
    v: Require<perm::UsageView>,
    Query(q): Query<UsageQuery>,
) -> Result<Response, PageError> {
    let w = q.window();
    let mut rows = usage::daily(&state.ctx, &v.scope, w.from, w.to, q.project()).await?;
    rows.sort_by(|a, b| (&a.day, &a.metric).cmp(&(&b.day, &b.metric)));
    let mut out = String::from("day,metric,total\n");
    for r in rows {
        let _ = writeln!(out, "{},{},{}", r.day, r.metric, r.total);
    }
    let mut res = (StatusCode::OK, out).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"usage.csv\""),
    );
    Ok(res)
}
