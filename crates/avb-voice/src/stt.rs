//! Speech to text: the trait and the OpenAI-compatible `/audio/transcriptions` adapter (OpenAI,
//! Groq, faster-whisper-server).

use crate::llm::EngineError;
use serde_json::Value;
use std::time::Duration;

/// A transcription.
#[derive(Debug, Clone, PartialEq)]
pub struct Transcript {
    pub text: String,
}

/// Per-call transcription settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TranscribeOptions {
    /// Spoken language (ISO 639-1); none lets the engine detect it.
    pub language: Option<String>,
    /// Text that guides spelling and style.
    pub prompt: Option<String>,
    /// Model to use instead of the adapter's default (a tenant's choice).
    pub model: Option<String>,
}

/// Turns a WAV file into text.
#[async_trait::async_trait]
pub trait SpeechToText: Send + Sync {
    /// Transcribes `wav` (mono 16-bit PCM WAV).
    async fn transcribe(
        &self,
        wav: Vec<u8>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, EngineError>;
}

/// OpenAI-compatible `POST {base}/audio/transcriptions`.
pub struct OpenAiTranscriber {
    base_url: String,
    api_key: Option<String>,
    model: String,
    http: reqwest::Client,
}

impl OpenAiTranscriber {
    /// An adapter for `base_url` with `model`; every call is bounded by `timeout`.
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: &str,
        timeout: Duration,
    ) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(timeout)
            .build()
            .map_err(|e| EngineError::Failed {
                stage: "stt",
                message: e.to_string(),
            })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            model: model.to_string(),
            http,
        })
    }
}

#[async_trait::async_trait]
impl SpeechToText for OpenAiTranscriber {
    async fn transcribe(
        &self,
        wav: Vec<u8>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, EngineError> {
        let TranscribeOptions {
            language,
            prompt,
            model,
        } = opts;
        let model = model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.model.clone());
        let fail = |message: String| EngineError::Failed {
            stage: "stt",
            message,
        };
        let file = reqwest::multipart::Part::bytes(wav)
            .file_name("audio.wav")
            .mime_str("audio/wav")
            .map_err(|e| fail(e.to_string()))?;
        // faster-whisper-server reads `model_name`; OpenAI and Groq read `model`.
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", model.clone())
            .text("model_name", model)
            .text("response_format", "json");
        if let Some(l) = language.filter(|l| !l.is_empty()) {
            form = form.text("language", l);
        }
        if let Some(p) = prompt.filter(|p| !p.is_empty()) {
            form = form.text("prompt", p);
        }
        let mut req = self
            .http
            .post(format!("{}/audio/transcriptions", self.base_url))
            .multipart(form);
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                EngineError::Timeout("stt")
            } else {
                fail(e.to_string())
            }
        })?;
        let status = res.status();
        let body: Value = res
            .json()
            .await
            .map_err(|e| fail(format!("HTTP {status}: {e}")))?;
        if !status.is_success() {
            return Err(crate::llm::status_error("stt", status, &body.to_string()));
        }
        let text = body
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("the answer has no text".into()))?;
        Ok(Transcript {
            text: text.trim().to_string(),
        })
    }
}

/// A transcription with what the engine detected (`verbose_json`).
#[derive(Debug, Clone, PartialEq)]
pub struct DetailedTranscript {
    pub text: String,
    /// The spoken language the engine detected or was told (`en`, `english`...), if reported.
    pub language: Option<String>,
    /// Seconds of audio, if reported.
    pub duration: Option<f64>,
}

impl OpenAiTranscriber {
    /// Transcribes an audio file as uploaded (`file_name` and `mime` as the client sent them;
    /// faster-whisper decodes MP3, Ogg and WebM itself), asking for `verbose_json` so that the
    /// detected language and the duration come back.
    pub async fn transcribe_file(
        &self,
        bytes: Vec<u8>,
        file_name: &str,
        mime: &str,
        opts: TranscribeOptions,
    ) -> Result<DetailedTranscript, EngineError> {
        let fail = |message: String| EngineError::Failed {
            stage: "stt",
            message,
        };
        let model = opts
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.model.clone());
        let file = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_string())
            .mime_str(mime)
            .map_err(|e| fail(e.to_string()))?;
        let mut form = reqwest::multipart::Form::new()
            .part("file", file)
            .text("model", model.clone())
            .text("model_name", model)
            .text("response_format", "verbose_json");
        if let Some(l) = opts.language.filter(|l| !l.is_empty()) {
            form = form.text("language", l);
        }
        let mut req = self
            .http
            .post(format!("{}/audio/transcriptions", self.base_url))
            .multipart(form);
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let res = req.send().await.map_err(|e| {
            if e.is_timeout() {
                EngineError::Timeout("stt")
            } else {
                fail(crate::models::without_url(&e))
            }
        })?;
        let status = res.status();
        let body = res
            .text()
            .await
            .map_err(|e| fail(format!("HTTP {status}: {e}")))?;
        if !status.is_success() {
            return Err(crate::llm::status_error("stt", status, &body));
        }
        let v: Value =
            serde_json::from_str(&body).map_err(|_| fail("the answer is not JSON".into()))?;
        let text = v
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| fail("the answer has no text".into()))?;
        Ok(DetailedTranscript {
            text: text.trim().to_string(),
            language: v
                .get("language")
                .and_then(Value::as_str)
                .map(str::to_string),
            duration: v.get("duration").and_then(Value::as_f64),
        })
    }
}
