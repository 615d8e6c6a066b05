//! `/voice/intents` (requires `usage:view`): how the tenant's user turns were answered (O5):
//! outcomes, top intents with success rate, confidence and latency, the utterances nothing in
//! OVOS recognised, a daily trend chart, a date-range filter and a CSV export.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{Require, perm};
use askama::Template;
use avb_core::services::intents::{self, IntentSummary};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::Deserialize;

/// `?from=YYYY-MM-DD&to=YYYY-MM-DD` (UTC days, both included; default the last 30 days).
#[derive(Debug, Default, Deserialize)]
pub struct RangeQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

/// The days asked for, and why a bad value was ignored.
struct Range {
    first: NaiveDate,
    last: NaiveDate,
    error: Option<String>,
}

impl RangeQuery {
    fn range(&self) -> Range {
        let today = Utc::now().date_naive();
        let parse = |raw: &str| NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d").ok();
        let mut error = None;
        let last = match self.to.trim() {
            "" => today,
            raw => parse(raw).unwrap_or_else(|| {
                error = Some("To must be a date such as 2026-11-30; showing up to today.".into());
                today
            }),
        };
        let first = match self.from.trim() {
            "" => last - Duration::days(29),
            raw => parse(raw).unwrap_or_else(|| {
                error = Some("From must be a date such as 2026-11-01; showing 30 days.".into());
                last - Duration::days(29)
            }),
        };
        if first > last {
            return Range {
                first: last - Duration::days(29),
                last,
                error: Some("From is after To; showing the 30 days up to To.".into()),
            };
        }
        Range { first, last, error }
    }
}

impl Range {
    fn bounds(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let at = |d: NaiveDate| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc());
        (at(self.first), at(self.last + Duration::days(1)))
    }
}

#[derive(Template)]
#[template(path = "voice/intents.html")]
struct IntentsPage {
    chrome: Chrome,
    from: String,
    to: String,
    range_error: Option<String>,
    summary: IntentSummary,
    outcomes: Vec<(&'static str, u64)>,
    /// The trend chart's data (see `assets/charts.js`).
    trend_json: String,
    query: String,
}

/// The trend as the chart script reads it: days as unix seconds, three series.
fn trend(summary: &IntentSummary) -> String {
    let series =
        |f: fn(&intents::DayStat) -> u64| summary.days.iter().map(|d| Some(f(d) as f64)).collect();
    crate::charts::chart_json(
        &crate::charts::day_starts(summary.days.iter().map(|d| d.day)),
        &[
            ("Turns", series(|d| d.total)),
            ("Recognised", series(|d| d.recognised)),
            ("Failures", series(|d| d.failures)),
        ],
    )
}

/// `GET /voice/intents`.
pub async fn show(
    State(state): State<PortalState>,
    v: Require<perm::UsageView>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let range = q.range();
    let (from, to) = range.bounds();
    let summary = intents::summary(&state.ctx, &v.scope, from, to).await?;
    let outcomes = ["intent", "fallback", "solver", "persona", "failure"]
        .into_iter()
        .map(|o| (o, summary.by_outcome.get(o).copied().unwrap_or(0)))
        .collect();
    let (first, last) = (range.first.to_string(), range.last.to_string());
    let page = IntentsPage {
        chrome: v.chrome("/voice/intents", None),
        query: format!("from={first}&to={last}"),
        from: first,
        to: last,
        range_error: range.error,
        trend_json: trend(&summary),
        outcomes,
        summary,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /voice/intents/export.csv?from=&to=`: every recorded turn of the range.
pub async fn export(
    State(state): State<PortalState>,
    v: Require<perm::UsageView>,
    Query(q): Query<RangeQuery>,
) -> Result<Response, PageError> {
    let (from, to) = q.range().bounds();
    let rows = intents::export(&state.ctx, &v.scope, from, to).await?;
    let mut out = String::new();
    crate::csv::row(
        &mut out,
        &[
            "created_at",
            "session_id",
            "utterance",
            "outcome",
            "intent",
            "skill",
            "confidence",
            "latency_ms",
            "error",
        ]
        .map(String::from),
    );
    for e in rows {
        crate::csv::row(
            &mut out,
            &[
                e.created_at.to_rfc3339(),
                e.session_id.map(|s| s.to_string()).unwrap_or_default(),
                e.utterance,
                e.outcome,
                e.intent.unwrap_or_default(),
                e.skill.unwrap_or_default(),
                e.confidence.map(|c| format!("{c:.3}")).unwrap_or_default(),
                e.latency_ms.to_string(),
                e.error,
            ],
        );
    }
    let mut res = (StatusCode::OK, out).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"intents.csv\""),
    );
    Ok(res)
}
