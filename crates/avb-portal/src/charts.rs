//! The data islands the chart script reads (`assets/charts.js`): x as unix seconds, one or more
//! labelled series with `null` for gaps.

use serde_json::json;

/// A chart's data island; `</` escaped so it cannot end its `<script>` element.
pub(crate) fn chart_json(x: &[i64], series: &[(&str, Vec<Option<f64>>)]) -> String {
    json!({"x": x, "series": series.iter().map(|(label, values)| json!({"label": label, "values": values})).collect::<Vec<_>>()})
        .to_string()
        .replace("</", "<\\/")
}

/// Midnight (UTC) of each day, as unix seconds: the x of a per-day chart.
pub(crate) fn day_starts(days: impl Iterator<Item = chrono::NaiveDate>) -> Vec<i64> {
    days.filter_map(|d| d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()))
        .collect()
}
