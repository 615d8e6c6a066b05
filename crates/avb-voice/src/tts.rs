//! Text to speech: the trait and the OpenAI-compatible `/audio/speech` adapter with streamed raw
//! PCM (OpenAI, Kokoro servers such as fastkokoro).

use crate::llm::EngineError;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde_json::json;
use std::time::Duration;

/// Streamed 16-bit little-endian mono PCM.
pub type PcmStream = BoxStream<'static, Result<Vec<u8>, EngineError>>;

/// Speaks text.
#[async_trait::async_trait]
pub trait TextToSpeech: Send + Sync {
    /// Starts synthesis of `text`; PCM arrives as it is made.
    async fn speak(&self, text: &str, voice: &str, speed: f64) -> Result<PcmStream, EngineError>;
    /// Sample rate of the PCM this engine returns.
    fn sample_rate(&self) -> u32;
    /// The voice names the engine serves. Engines that cannot list them answer
    /// [`EngineError::Rejected`] (the default).
    async fn voices(&self) -> Result<Vec<String>, EngineError> {
        Err(EngineError::Rejected {
            stage: "tts",
            message: "this engine does not list its voices".into(),
        })
    }
}

/// `GET {base}/audio/voices` as Kokoro servers answer it: `{"voices": ["af_heart", ...]}`.
#[derive(serde::Deserialize)]
struct VoiceList {
    voices: Vec<String>,
}

/// OpenAI-compatible `POST {base}/audio/speech` with `response_format: "pcm"`, streamed.
pub struct OpenAiSpeech {
    base_url: String,
    api_key: Option<String>,
    model: String,
    rate: u32,
    http: reqwest::Client,
    first_byte_timeout: Duration,
}

impl OpenAiSpeech {
    /// An adapter for `base_url` returning PCM at `rate` Hz (24000 for OpenAI and Kokoro).
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        model: &str,
        rate: u32,
        first_byte_timeout: Duration,
    ) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| EngineError::Failed {
                stage: "tts",
                message: e.to_string(),
            })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            model: model.to_string(),
            rate,
            http,
            first_byte_timeout,
        })
    }
}

impl OpenAiSpeech {
    /// Sends `req` with the engine's key, waiting at most the first-byte timeout for the answer;
    /// a non-2xx answer becomes the matching [`EngineError`].
    async fn send(
        &self,
        mut req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, EngineError> {
        if let Some(k) = &self.api_key {
            req = req.bearer_auth(k);
        }
        let res = tokio::time::timeout(self.first_byte_timeout, req.send())
            .await
            .map_err(|_| EngineError::Timeout("tts"))?
            .map_err(|e| EngineError::Failed {
                stage: "tts",
                message: e.to_string(),
            })?;
        if !res.status().is_success() {
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            return Err(crate::llm::status_error("tts", status, &text));
        }
        Ok(res)
    }
}

#[async_trait::async_trait]
impl TextToSpeech for OpenAiSpeech {
    async fn speak(&self, text: &str, voice: &str, speed: f64) -> Result<PcmStream, EngineError> {
        let body = json!({"model": self.model, "input": text, "voice": voice, "speed": speed, "response_format": "pcm", "stream": true});
        let req = self
            .http
            .post(format!("{}/audio/speech", self.base_url))
            .json(&body);
        let res = self.send(req).await?;
        Ok(res
            .bytes_stream()
            .map(|chunk| {
                chunk.map(|b| b.to_vec()).map_err(|e| EngineError::Failed {
                    stage: "tts",
                    message: e.to_string(),
                })
            })
            .boxed())
    }

    fn sample_rate(&self) -> u32 {
        self.rate
    }

    async fn voices(&self) -> Result<Vec<String>, EngineError> {
        let req = self.http.get(format!("{}/audio/voices", self.base_url));
        let res = self.send(req).await?;
        let list: VoiceList = res.json().await.map_err(|e| EngineError::Failed {
            stage: "tts",
            message: format!("unexpected voice list: {e}"),
        })?;
        Ok(list.voices)
    }
}
