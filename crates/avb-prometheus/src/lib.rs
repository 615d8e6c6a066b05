//! Reading Prometheus: the text exposition format (what a `/metrics` endpoint serves) parsed
//! into samples, histograms summarised into counts and p50/p95/p99 the way PromQL's
//! `histogram_quantile` does, counters summed by label, and instant queries against a
//! Prometheus server's HTTP API returning the same samples. No knowledge of which metrics the
//! platform exports.

use std::collections::BTreeMap;
use std::time::Duration;

/// One sample of the text exposition format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses the Prometheus text format (comments skipped; malformed lines ignored).
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (head, value) = line.rsplit_once(' ')?;
    let value: f64 = match value.trim() {
        "+Inf" => f64::INFINITY,
        v => v.parse().ok()?,
    };
    let (name, labels) = match head.split_once('{') {
        None => (head.trim().to_string(), BTreeMap::new()),
        Some((name, rest)) => {
            let body = rest.strip_suffix('}')?;
            let mut labels = BTreeMap::new();
            let mut rest = body;
            while !rest.is_empty() {
                let (k, after) = rest.split_once("=\"")?;
                let mut val = String::new();
                let mut chars = after.char_indices();
                let mut end = None;
                while let Some((i, c)) = chars.next() {
                    match c {
                        '\\' => {
                            if let Some((_, n)) = chars.next() {
                                val.push(match n {
                                    'n' => '\n',
                                    other => other,
                                });
                            }
                        }
                        '"' => {
                            end = Some(i);
                            break;
                        }
                        c => val.push(c),
                    }
                }
                let end = end?;
                labels.insert(k.trim_start_matches(',').trim().to_string(), val);
                rest = after[end + 1..].trim_start_matches(',');
            }
            (name.trim().to_string(), labels)
        }
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A histogram summarised for one label set.
#[derive(Debug, Clone)]
pub struct Summary {
    pub labels: BTreeMap<String, String>,
    pub count: f64,
    pub sum: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
}

/// The quantile `q` of cumulative buckets `(upper bound, count)` sorted by bound, interpolated
/// linearly inside the bucket as Prometheus' `histogram_quantile` does.
pub fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let Some(&(_, total)) = buckets.last() else {
        return f64::NAN;
    };
    if total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, c) in buckets {
        if c >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            let span = c - prev.1;
            let frac = if span > 0.0 {
                (rank - prev.1) / span
            } else {
                1.0
            };
            return prev.0 + (le - prev.0) * frac;
        }
        prev = (le, c);
    }
    prev.0
}

/// Every label set of histogram `name`, grouped by `by` (other labels summed).
pub fn histograms(samples: &[Sample], name: &str, by: &[&str]) -> Vec<Summary> {
    let key = |labels: &BTreeMap<String, String>| -> BTreeMap<String, String> {
        by.iter()
            .map(|k| (k.to_string(), labels.get(*k).cloned().unwrap_or_default()))
            .collect()
    };
    let mut buckets: BTreeMap<BTreeMap<String, String>, BTreeMap<u64, (f64, f64)>> =
        BTreeMap::new();
    let mut totals: BTreeMap<BTreeMap<String, String>, (f64, f64)> = BTreeMap::new();
    let bucket_name = format!("{name}_bucket");
    let sum_name = format!("{name}_sum");
    let count_name = format!("{name}_count");
    for s in samples {
        if s.name == bucket_name {
            let Some(le) = s.labels.get("le").and_then(|l| match l.as_str() {
                "+Inf" => Some(f64::INFINITY),
                l => l.parse::<f64>().ok(),
            }) else {
                continue;
            };
            let e = buckets
                .entry(key(&s.labels))
                .or_default()
                .entry(le.to_bits())
                .or_insert((le, 0.0));
            e.1 += s.value;
        } else if s.name == sum_name {
            totals.entry(key(&s.labels)).or_default().1 += s.value;
        } else if s.name == count_name {
            totals.entry(key(&s.labels)).or_default().0 += s.value;
        }
    }
    totals
        .into_iter()
        .map(|(labels, (count, sum))| {
            let mut b: Vec<(f64, f64)> = buckets
                .get(&labels)
                .map(|m| m.values().copied().collect())
                .unwrap_or_default();
            b.sort_by(|x, y| x.0.total_cmp(&y.0));
            Summary {
                p50: quantile(&b, 0.5),
                p95: quantile(&b, 0.95),
                p99: quantile(&b, 0.99),
                labels,
                count,
                sum,
            }
        })
        .collect()
}

/// Sum of counter `name` per value of label `by`, for samples where `filter` holds.
pub fn counter_by(
    samples: &[Sample],
    name: &str,
    by: &[&str],
    filter: impl Fn(&BTreeMap<String, String>) -> bool,
) -> BTreeMap<Vec<String>, f64> {
    let mut out = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name == name && filter(&s.labels))
    {
        let k: Vec<String> = by
            .iter()
            .map(|b| s.labels.get(*b).cloned().unwrap_or_default())
            .collect();
        *out.entry(k).or_default() += s.value;
    }
    out
}

#[derive(serde::Deserialize)]
struct PromResponse {
    status: String,
    data: Option<PromData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(serde::Deserialize)]
struct PromData {
    result: Vec<PromSeries>,
}

#[derive(serde::Deserialize)]
struct PromSeries {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Runs each PromQL instant query against the Prometheus server at `url` (its
/// `/api/v1/query`) and returns every series of the answers as a sample named by the query's
/// name, in order. The first failure ends it, as `Prometheus at <url>: <cause>`.
pub async fn query_samples(
    url: &str,
    queries: &[(&str, String)],
    timeout: Duration,
) -> Result<Vec<Sample>, String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())?;
    let base = url.trim_end_matches('/');
    let mut out = Vec::new();
    for (name, query) in queries {
        let res: PromResponse = client
            .get(format!("{base}/api/v1/query"))
            .query(&[("query", query.as_str())])
            .send()
            .await
            .map_err(|e| format!("Prometheus at {base}: {e}"))?
            .json()
            .await
            .map_err(|e| format!("Prometheus at {base}: {e}"))?;
        if res.status != "success" {
            return Err(format!(
                "Prometheus at {base}: {}",
                res.error.unwrap_or(res.status)
            ));
        }
        for series in res.data.map(|d| d.result).unwrap_or_default() {
            let value = match series.value.1.as_str() {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or(0.0),
            };
            out.push(Sample {
                name: name.to_string(),
                labels: series.metric,
                value,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# TYPE avb_http_request_duration_seconds histogram
avb_http_request_duration_seconds_bucket{method="GET",route="/a",le="0.005"} 50
avb_http_request_duration_seconds_bucket{method="GET",route="/a",le="0.01"} 90
avb_http_request_duration_seconds_bucket{method="GET",route="/a",le="0.1"} 100
avb_http_request_duration_seconds_bucket{method="GET",route="/a",le="+Inf"} 100
avb_http_request_duration_seconds_sum{method="GET",route="/a"} 0.6
avb_http_request_duration_seconds_count{method="GET",route="/a"} 100
avb_http_requests_total{method="GET",route="/a",status="200"} 97
avb_http_requests_total{method="GET",route="/a",status="503"} 3
odd_label{x="a \"quoted\" value, with comma"} 1
"#;

    #[test]
    fn histograms_are_summarised_like_histogram_quantile() {
        let samples = parse(TEXT);
        let h = histograms(&samples, "avb_http_request_duration_seconds", &["route"]);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].count, 100.0);
        assert!((h[0].p50 - 0.005).abs() < 1e-9, "{}", h[0].p50);
        assert!((h[0].p95 - 0.055).abs() < 1e-9, "{}", h[0].p95);
        let errors = counter_by(&samples, "avb_http_requests_total", &["route"], |l| {
            l.get("status").is_some_and(|s| s.starts_with('5'))
        });
        assert_eq!(errors[&vec!["/a".to_string()]], 3.0);
        let odd = samples.iter().find(|s| s.name == "odd_label").unwrap();
        assert_eq!(odd.labels["x"], "a \"quoted\" value, with comma");
    }

    #[test]
    fn quantile_of_nothing_is_nan() {
        assert!(quantile(&[], 0.5).is_nan());
        assert!(quantile(&[(1.0, 0.0)], 0.5).is_nan());
        assert_eq!(parse_line("up 1").map(|s| s.value), Some(1.0));
        assert!(parse_line("garbage").is_none());
    }

    #[test]
    fn query_answers_become_samples() {
        let r: PromResponse = serde_json::from_str(
            r#"{"status":"success","data":{"result":[{"metric":{"route":"/a"},"value":[1.5,"+Inf"]}]}}"#,
        )
        .unwrap();
        let series = &r.data.unwrap().result[0];
        assert_eq!(series.metric["route"], "/a");
        assert_eq!(series.value.1, "+Inf");
    }
}
