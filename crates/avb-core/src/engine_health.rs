//! Reachability of the configured voice engines, for `/readyz` and the admin dashboard.

use crate::config::EnginesConfig;
use avb_domain::ProbeStatus;
use serde::Serialize;
use std::time::{Duration, Instant};

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// One engine's state.
#[derive(Debug, Clone, Serialize)]
pub struct EngineProbe {
    /// `llm`, `stt` or `tts`.
    pub engine: &'static str,
    /// `up`, `down` or `not_configured`.
    pub status: ProbeStatus,
    /// The base URL probed (not serialised: `/readyz` is unauthenticated).
    #[serde(skip)]
    pub url: Option<String>,
    /// The model the platform asks it for.
    pub model: String,
    /// Round trip of the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<f64>,
    /// Why it is down.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Probes every engine concurrently: `GET {base}/models`; any answer below 500 counts as up
/// (servers that do not list models still answer 404 quickly when alive).
pub async fn probe_engines(cfg: &EnginesConfig) -> Vec<EngineProbe> {
    let client = reqwest::Client::builder()
        .timeout(PROBE_TIMEOUT)
        .build()
        .unwrap_or_default();
    let engines = [
        ("llm", cfg.llm_url.clone(), cfg.llm_model.clone()),
        ("stt", cfg.stt_url.clone(), cfg.stt_model.clone()),
        ("tts", cfg.tts_url.clone(), cfg.tts_model.clone()),
    ];
    futures::future::join_all(
        engines
            .into_iter()
            .map(|(engine, url, model)| probe(&client, engine, url, model)),
    )
    .await
}

async fn probe(
    client: &reqwest::Client,
    engine: &'static str,
    url: Option<String>,
    model: String,
) -> EngineProbe {
    let Some(url) = url else {
        return EngineProbe {
            engine,
            status: ProbeStatus::NotConfigured,
            url: None,
            model,
            latency_ms: None,
            error: None,
        };
    };
    let start = Instant::now();
    let res = client
        .get(format!("{}/models", url.trim_end_matches('/')))
        .send()
        .await;
    let latency_ms = Some(start.elapsed().as_secs_f64() * 1000.0);
    let (status, error) = match res {
        Ok(r) if r.status().as_u16() < 500 => (ProbeStatus::Up, None),
        Ok(r) => (ProbeStatus::Down, Some(format!("answered {}", r.status()))),
        Err(e) => (ProbeStatus::Down, Some(e.to_string())),
    };
    EngineProbe {
        engine,
        status,
        url: Some(url),
        model,
        latency_ms,
        error,
    }
}
