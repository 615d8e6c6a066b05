//! The client of voicelab, the local sidecar that fits a blend of stock Kokoro voices to a
//! sample: `POST {base}/v1/voice-fits?budget_s=<n>&lang=en-us` with the WAV as the body answers
//! `application/x-ndjson`, one JSON object a line: `progress` lines, then one `done` or `error`.

use super::{FitProgress, MadeVoice, STAGE, VoiceMaker, VoiceMethod, failed};
use crate::llm::EngineError;
use futures::StreamExt;
use serde_json::Value;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// Makes voices as blends of stock voices through voicelab.
pub struct StockBlendMaker {
    base_url: String,
    budget_secs: u32,
    timeout: Duration,
    http: reqwest::Client,
}

impl StockBlendMaker {
    /// A client of voicelab at `base_url` that lets a fit search for `budget_secs` and gives the
    /// whole request (upload, search, report) at most `timeout`.
    pub fn new(base_url: &str, budget_secs: u32, timeout: Duration) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            budget_secs,
            timeout,
            http,
        })
    }

    /// Sends the sample and reads the fit's report lines to the final one.
    async fn fit(
        &self,
        sample_wav: Vec<u8>,
        progress: &UnboundedSender<FitProgress>,
    ) -> Result<MadeVoice, EngineError> {
        let res = self
            .http
            .post(format!("{}/v1/voice-fits", self.base_url))
            .query(&[
                ("budget_s", self.budget_secs.to_string().as_str()),
                ("lang", "en-us"),
            ])
            .header(reqwest::header::CONTENT_TYPE, "audio/wav")
            .body(sample_wav)
            .send()
            .await
            .map_err(|e| failed(format!("the voice engine is unreachable: {e}")))?;
        let status = res.status();
        if !status.is_success() {
            let body = res.text().await.unwrap_or_default();
            return Err(refusal(status, &body));
        }
        let mut lines = NdjsonLines::default();
        let mut body = res.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk =
                chunk.map_err(|e| failed(format!("the voice engine's answer broke off: {e}")))?;
            for line in lines.push(&chunk) {
                if let Some(made) = report_line(&line, progress)? {
                    return Ok(made);
                }
            }
        }
        if let Some(line) = lines.finish()
            && let Some(made) = report_line(&line, progress)?
        {
            return Ok(made);
        }
        Err(failed("the voice engine stopped before finishing"))
    }
}

#[async_trait::async_trait]
impl VoiceMaker for StockBlendMaker {
    fn method(&self) -> VoiceMethod {
        VoiceMethod::StockBlend
    }

    async fn make(
        &self,
        _name: &str,
        sample_wav: Vec<u8>,
        progress: UnboundedSender<FitProgress>,
    ) -> Result<MadeVoice, EngineError> {
        tokio::time::timeout(self.timeout, self.fit(sample_wav, &progress))
            .await
            .map_err(|_| EngineError::Timeout(STAGE))?
    }

    async fn remove(&self, _engine_voice: &str) -> Result<(), EngineError> {
        Ok(())
    }
}

/// The error for a non-2xx answer: 400 `{"error": ".."}` is a refusal of the sample, the rest
/// are failures.
fn refusal(status: reqwest::StatusCode, body: &str) -> EngineError {
    if status == reqwest::StatusCode::BAD_REQUEST {
        let message = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_string))
            .unwrap_or_else(|| body.chars().take(300).collect());
        return EngineError::Rejected {
            stage: STAGE,
            message,
        };
    }
    failed(format!(
        "HTTP {status}: {}",
        body.chars().take(300).collect::<String>()
    ))
}

/// Handles one report line: forwards progress, returns the voice of a `done` line, fails on an
/// `error` line or one that is not JSON; ignores blank lines and types it does not know.
fn report_line(
    line: &str,
    progress: &UnboundedSender<FitProgress>,
) -> Result<Option<MadeVoice>, EngineError> {
    if line.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(line)
        .map_err(|e| failed(format!("the voice engine sent a malformed line: {e}")))?;
    match v["type"].as_str() {
        Some("progress") => {
            let _ = progress.send(FitProgress {
                fraction: v["fraction"].as_f64().unwrap_or(0.0).clamp(0.0, 1.0) as f32,
                stage: v["stage"].as_str().unwrap_or_default().to_string(),
            });
            Ok(None)
        }
        Some("done") => done(v).map(Some),
        Some("error") => Err(failed(
            v["message"]
                .as_str()
                .unwrap_or("the voice engine failed without saying why")
                .to_string(),
        )),
        _ => Ok(None),
    }
}

/// The voice of a `done` report.
fn done(v: Value) -> Result<MadeVoice, EngineError> {
    let voice = v["voice"].as_str().unwrap_or_default();
    if !is_blend(voice) {
        return Err(failed(format!(
            "the voice engine reported an unusable voice {:?}",
            voice.chars().take(100).collect::<String>()
        )));
    }
    Ok(MadeVoice {
        engine_voice: voice.to_string(),
        similarity: v["similarity"].as_f64(),
        best_stock_voice: v["best_single"]["voice"].as_str().map(str::to_string),
        best_stock_similarity: v["best_single"]["similarity"].as_f64(),
        details: v,
    })
}

/// Whether `voice` is a Kokoro blend, `name(w)+name(w)..`: one or more stock names of `[a-z_]`,
/// each with an optional positive decimal weight in parentheses.
fn is_blend(voice: &str) -> bool {
    voice.len() <= 200
        && voice.split('+').all(|term| {
            let (name, weight) = match term.split_once('(') {
                Some((n, rest)) => match rest.strip_suffix(')') {
                    Some(w) => (n, Some(w)),
                    None => return false,
                },
                None => (term, None),
            };
            let name_ok =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
            let weight_ok = weight.is_none_or(|w| {
                !w.is_empty()
                    && w.bytes().all(|b| b.is_ascii_digit() || b == b'.')
                    && w.parse::<f64>().is_ok_and(|x| x > 0.0)
            });
            name_ok && weight_ok
        })
}

/// Splits a byte stream into lines, whatever the chunk boundaries (bytes are kept until a line
/// is complete, so a character split across chunks survives).
#[derive(Default)]
struct NdjsonLines {
    buf: Vec<u8>,
}

impl NdjsonLines {
    /// Feeds bytes; returns the lines they complete, without their line ends.
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.buf.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=end).collect();
            out.push(String::from_utf8_lossy(&line).trim_end().to_string());
        }
        out
    }

    /// The last line when the stream ended without a line end.
    fn finish(&mut self) -> Option<String> {
        let rest = String::from_utf8_lossy(&std::mem::take(&mut self.buf))
            .trim()
            .to_string();
        (!rest.is_empty()).then_some(rest)
    }
}

#[cfg(test)]
mod tests;
