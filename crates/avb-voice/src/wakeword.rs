//! The wake-word sidecar's client (`scripts/engines/wakeword_server.py`): openWakeWord's
//! built-in models and PocketSphinx keyword spotting for custom phrases, scoring 16 kHz mono
//! PCM in 80 ms chunks, and checking a custom phrase against the pronunciation dictionary.

use crate::EngineError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// The built-in openWakeWord models (name as the sidecar knows it, the phrase said).
pub const BUILTIN: &[(&str, &str)] = &[
    ("hey_jarvis", "hey jarvis"),
    ("hey_mycroft", "hey mycroft"),
    ("alexa", "alexa"),
    ("okay_nabu", "okay nabu"),
    ("hey_rhasspy", "hey rhasspy"),
];

/// The built-in model a phrase names, if any ("hey jarvis" or "hey_jarvis").
pub fn builtin_model(phrase: &str) -> Option<&'static str> {
    let norm = phrase.trim().to_lowercase().replace(['_', '-'], " ");
    let norm: Vec<&str> = norm.split_whitespace().collect();
    BUILTIN
        .iter()
        .find(|(_, said)| said.split(' ').collect::<Vec<_>>() == norm)
        .map(|(name, _)| *name)
}

/// One score per 80 ms chunk (`t_ms` = the chunk's end).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Score {
    pub t_ms: u64,
    pub score: f64,
}

/// One phrase's scores over the audio.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhraseScores {
    pub phrase: String,
    /// `openwakeword` or `pocketsphinx`.
    pub engine: String,
    /// `high` or `experimental`.
    pub accuracy: String,
    pub max: f64,
    pub max_t_ms: Option<u64>,
    pub scores: Vec<Score>,
}

/// The sidecar's answer to a score request.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScoreReport {
    pub duration_ms: u64,
    pub chunks: u64,
    /// CPU milliseconds per engine: `{"total", "per_chunk"}`.
    #[serde(default)]
    pub cpu_ms: serde_json::Value,
    pub results: Vec<PhraseScores>,
}

/// The dictionary check of a phrase.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhraseCheck {
    pub ok: bool,
    pub problems: Vec<String>,
    pub pronunciation: String,
    pub missing: Vec<String>,
    pub phonemes: u32,
    pub engine: String,
    pub accuracy: String,
    pub note: String,
}

/// The sidecar at a base URL.
#[derive(Clone)]
pub struct WakeWordClient {
    http: reqwest::Client,
    base: String,
}

fn failed(e: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        stage: "wakeword",
        message: e.to_string(),
    }
}

impl WakeWordClient {
    /// A client of the sidecar at `base_url` (e.g. `http://127.0.0.1:8085`).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Self {
            http,
            base: base_url.trim_end_matches('/').to_string(),
        })
    }

    async fn answer<T: serde::de::DeserializeOwned>(
        res: reqwest::Response,
    ) -> Result<T, EngineError> {
        let status = res.status();
        if status.is_success() {
            return res.json().await.map_err(failed);
        }
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        let message = body["error"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| format!("answered HTTP {}", status.as_u16()));
        Err(if status.is_client_error() {
            EngineError::Rejected {
                stage: "wakeword",
                message,
            }
        } else {
            failed(message)
        })
    }

    /// Whether the sidecar answers `/health`.
    pub async fn health(&self) -> Result<(), String> {
        match self.http.get(format!("{}/health", self.base)).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
            Err(e) => Err(format!("not reachable: {e}")),
        }
    }

    /// Scores `pcm` (16 kHz mono) for `phrases` (at most 8); `threshold` is PocketSphinx's
    /// keyword-spotting threshold for custom phrases.
    pub async fn score(
        &self,
        pcm: &[i16],
        phrases: &[String],
        threshold: Option<f64>,
    ) -> Result<ScoreReport, EngineError> {
        let mut url =
            reqwest::Url::parse(&format!("{}/v1/wakeword/score", self.base)).map_err(failed)?;
        url.query_pairs_mut()
            .append_pair("phrases", &phrases.join(","))
            .append_pair("format", "s16le");
        if let Some(t) = threshold {
            url.query_pairs_mut()
                .append_pair("threshold", &format!("{t:e}"));
        }
        let res = self
            .http
            .post(url)
            .header("content-type", "application/octet-stream")
            .body(crate::audio::pcm16_encode(pcm))
            .send()
            .await
            .map_err(failed)?;
        Self::answer(res).await
    }

    /// Checks a phrase against the pronunciation dictionary and its length.
    pub async fn validate(&self, phrase: &str) -> Result<PhraseCheck, EngineError> {
        let res = self
            .http
            .post(format!("{}/v1/wakeword/validate", self.base))
            .json(&serde_json::json!({"phrase": phrase}))
            .send()
            .await
            .map_err(failed)?;
        Self::answer(res).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_phrases_are_recognised() {
        assert_eq!(builtin_model("Hey Jarvis"), Some("hey_jarvis"));
        assert_eq!(builtin_model("hey_mycroft"), Some("hey_mycroft"));
        assert_eq!(builtin_model("okay  nabu"), Some("okay_nabu"));
        assert_eq!(builtin_model("hey computer"), None);
    }
}
