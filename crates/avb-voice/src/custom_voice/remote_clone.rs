//! A remote voice-cloning API, ElevenLabs-compatible. What the vendor documents, and so what this
//! client and the `avb_testkit::clone_api` stand-in follow:
//!
//! - Auth: every call carries the key in the `xi-api-key` header; a bad key answers 401
//!   `{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}`
//!   (<https://help.elevenlabs.io/hc/en-us/articles/19572237925521-API-Error-Code-400-or-401>).
//! - Errors: a JSON object with a `detail` property (<https://elevenlabs.io/docs/eleven-api/resources/errors>):
//!   an object `{status|code, message, ..}`, or for request validation (422) a list of
//!   `{loc, msg, type}`.
//! - Create (IVC): `POST /v1/voices/add`, a multipart form with `name` (required) and one or more
//!   `files` (required, audio recordings), answering `{"voice_id": "..", "requires_verification":
//!   false}` (<https://elevenlabs.io/docs/api-reference/voices/ivc/create>).
//! - Speak: `POST /v1/text-to-speech/{voice_id}/stream?output_format=pcm_24000` with JSON
//!   `{"text", "model_id", "voice_settings": {"speed"}}` streams the audio; `pcm_24000` is "PCM
//!   format (S16LE) with 24kHz sample rate" (<https://elevenlabs.io/docs/api-reference/text-to-speech/stream>).
//!   `voice_settings.speed` ranges 0.7-1.2. An unknown voice answers 404 `{"detail":{"status":
//!   "voice_not_found", ..}}` (<https://github.com/elevenlabs/elevenlabs-docs/pull/1317>; older
//!   answers were 400 with the same detail).
//! - Delete: `DELETE /v1/voices/{voice_id}` ("Delete voice" in the same reference) answers
//!   `{"status": "ok"}` (<https://withone.ai/knowledge/elevenlabs>, a third-party copy).

use super::{FitProgress, MadeVoice, VoiceMaker, VoiceMethod};
use crate::llm::EngineError;
use crate::tts::{PcmStream, TextToSpeech};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::sync::mpsc::UnboundedSender;

/// The prefix of engine voices that a remote cloning API speaks: `remote:<voice_id>`.
pub const REMOTE_PREFIX: &str = "remote:";

/// How long an upload or a delete may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// The HTTP side shared by the maker and the speech engine: base URL, key, a client that follows
/// no redirects (the key must not travel to another host).
#[derive(Clone)]
struct Api {
    base_url: String,
    api_key: String,
    http: reqwest::Client,
}

impl Api {
    /// A client for `base_url` (e.g. `https://api.elevenlabs.io`, without `/v1`).
    fn new(base_url: &str, api_key: &str, stage: &'static str) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| EngineError::Failed {
                stage,
                message: e.to_string(),
            })?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.to_string(),
            http,
        })
    }

    /// A request to `path` (starting `/v1/`) carrying the key.
    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base_url))
            .header("xi-api-key", &self.api_key)
    }

    /// Sends `req`; a non-2xx answer becomes the matching [`EngineError`].
    async fn send(
        req: reqwest::RequestBuilder,
        stage: &'static str,
    ) -> Result<reqwest::Response, EngineError> {
        let res = req.send().await.map_err(|e| EngineError::Failed {
            stage,
            message: format!("the cloning service is unreachable: {e}"),
        })?;
        if res.status().is_success() {
            return Ok(res);
        }
        let status = res.status();
        let body = res.text().await.unwrap_or_default();
        Err(vendor_error(stage, status, &body))
    }
}

/// The error for a vendor's non-2xx answer: a refused key, a refused request (4xx but 408/429),
/// or a failure worth retrying.
fn vendor_error(stage: &'static str, status: StatusCode, body: &str) -> EngineError {
    let detail = vendor_message(body);
    match status.as_u16() {
        401 | 403 => EngineError::Rejected {
            stage,
            message: format!("the cloning service refused the API key ({detail})"),
        },
        408 | 429 => EngineError::Failed {
            stage,
            message: format!("HTTP {status}: {detail}"),
        },
        400..=499 => EngineError::Rejected {
            stage,
            message: detail,
        },
        _ => EngineError::Failed {
            stage,
            message: format!("HTTP {status}: {detail}"),
        },
    }
}

/// The message of a vendor error body: `detail.message` (or `detail.status`), the `msg`s of a
/// validation list, a plain `detail` string, else the start of the body.
fn vendor_message(body: &str) -> String {
    let raw = || body.chars().take(300).collect::<String>();
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return raw();
    };
    match &v["detail"] {
        Value::String(s) => s.clone(),
        Value::Object(d) => d
            .get("message")
            .or_else(|| d.get("status"))
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(raw),
        Value::Array(items) => items
            .iter()
            .map(|i| {
                let at: Vec<String> = i["loc"]
                    .as_array()
                    .map(|l| l.iter().map(|p| p.to_string().replace('"', "")).collect())
                    .unwrap_or_default();
                format!(
                    "{}: {}",
                    at.join("."),
                    i["msg"].as_str().unwrap_or("invalid")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
        _ => raw(),
    }
}

/// Whether `id` can go into a URL path as a vendor voice id.
fn valid_voice_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Makes voices by uploading the sample to an ElevenLabs-compatible cloning API (instant voice
/// cloning); the voice lives on the vendor until [`VoiceMaker::remove`].
pub struct RemoteCloneMaker {
    api: Api,
    model_id: String,
}

impl RemoteCloneMaker {
    /// A maker for the API at `base_url` with `api_key`; [`RemoteCloneMaker::speech`] speaks
    /// its voices with `model_id` (e.g. `eleven_multilingual_v2`).
    pub fn new(base_url: &str, api_key: &str, model_id: &str) -> Result<Self, EngineError> {
        Ok(Self {
            api: Api::new(base_url, api_key, super::STAGE)?,
            model_id: model_id.to_string(),
        })
    }

    /// The speech engine for the voices this maker makes.
    pub fn speech(&self, first_byte_timeout: Duration) -> RemoteCloneSpeech {
        RemoteCloneSpeech {
            api: self.api.clone(),
            model_id: self.model_id.clone(),
            first_byte_timeout,
        }
    }

    /// Deletes vendor voice `id`; one the vendor no longer has (404, or 400
    /// `voice_not_found` as older answers had it) counts as deleted.
    async fn delete(&self, id: &str) -> Result<(), EngineError> {
        let res = self
            .api
            .request(reqwest::Method::DELETE, &format!("/v1/voices/{id}"))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| super::failed(format!("the cloning service is unreachable: {e}")))?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        let body = res.text().await.unwrap_or_default();
        let gone = status == StatusCode::NOT_FOUND
            || (status == StatusCode::BAD_REQUEST && body.contains("voice_not_found"));
        if gone {
            return Ok(());
        }
        Err(vendor_error(super::STAGE, status, &body))
    }
}

#[async_trait::async_trait]
impl VoiceMaker for RemoteCloneMaker {
    fn method(&self) -> VoiceMethod {
        VoiceMethod::RemoteClone
    }

    async fn make(
        &self,
        name: &str,
        sample_wav: Vec<u8>,
        progress: UnboundedSender<FitProgress>,
    ) -> Result<MadeVoice, EngineError> {
        let _ = progress.send(FitProgress {
            fraction: 0.1,
            stage: "uploading the sample to the cloning service".into(),
        });
        let file = reqwest::multipart::Part::bytes(sample_wav)
            .file_name("sample.wav")
            .mime_str("audio/wav")
            .map_err(|e| super::failed(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("name", name.to_string())
            .part("files", file);
        let req = self
            .api
            .request(reqwest::Method::POST, "/v1/voices/add")
            .multipart(form)
            .timeout(CALL_TIMEOUT);
        let res = Api::send(req, super::STAGE).await?;
        let details: Value = res.json().await.map_err(|e| {
            super::failed(format!("unexpected answer from the cloning service: {e}"))
        })?;
        let id = details["voice_id"].as_str().unwrap_or_default();
        if !valid_voice_id(id) {
            return Err(super::failed(format!(
                "the cloning service answered an unusable voice id {:?}",
                id.chars().take(80).collect::<String>()
            )));
        }
        if details["requires_verification"].as_bool() == Some(true) {
            let _ = self.delete(id).await;
            return Err(EngineError::Rejected {
                stage: super::STAGE,
                message: "the cloning service wants this voice verified before it can be used; \
                          it was not kept"
                    .into(),
            });
        }
        let _ = progress.send(FitProgress {
            fraction: 1.0,
            stage: "voice created".into(),
        });
        Ok(MadeVoice {
            engine_voice: format!("{REMOTE_PREFIX}{id}"),
            similarity: None,
            best_stock_voice: None,
            best_stock_similarity: None,
            details,
        })
    }

    async fn remove(&self, engine_voice: &str) -> Result<(), EngineError> {
        match engine_voice.strip_prefix(REMOTE_PREFIX) {
            Some(id) if valid_voice_id(id) => self.delete(id).await,
            _ => Err(EngineError::Rejected {
                stage: super::STAGE,
                message: format!("{engine_voice:?} is not a remote voice"),
            }),
        }
    }
}

/// Speaks the voices of an ElevenLabs-compatible API as 16-bit PCM at 24 kHz
/// (`output_format=pcm_24000`). `voice` is the vendor's voice id (a leading `remote:` is
/// dropped). The vendor makes speeds [`Self::SPEED_MIN`]..=[`Self::SPEED_MAX`] only; others are
/// clamped, so wrap the engine in [`crate::stretch::SpeedRange`] with that range to reach them.
pub struct RemoteCloneSpeech {
    api: Api,
    model_id: String,
    first_byte_timeout: Duration,
}

impl RemoteCloneSpeech {
    /// The sample rate of the PCM it returns.
    pub const SAMPLE_RATE: u32 = 24_000;
    /// The slowest speed the vendor makes.
    pub const SPEED_MIN: f64 = 0.7;
    /// The fastest speed the vendor makes.
    pub const SPEED_MAX: f64 = 1.2;

    /// An engine for the API at `base_url` with `api_key` and `model_id`, waiting at most
    /// `first_byte_timeout` for the answer to start.
    pub fn new(
        base_url: &str,
        api_key: &str,
        model_id: &str,
        first_byte_timeout: Duration,
    ) -> Result<Self, EngineError> {
        Ok(Self {
            api: Api::new(base_url, api_key, "tts")?,
            model_id: model_id.to_string(),
            first_byte_timeout,
        })
    }
}

#[async_trait::async_trait]
impl TextToSpeech for RemoteCloneSpeech {
    async fn speak(&self, text: &str, voice: &str, speed: f64) -> Result<PcmStream, EngineError> {
        let id = voice.strip_prefix(REMOTE_PREFIX).unwrap_or(voice);
        if !valid_voice_id(id) {
            return Err(EngineError::Rejected {
                stage: "tts",
                message: format!("{voice:?} is not a remote voice id"),
            });
        }
        let speed = if speed.is_finite() { speed } else { 1.0 };
        let body = json!({
            "text": text,
            "model_id": self.model_id,
            "voice_settings": {"speed": speed.clamp(Self::SPEED_MIN, Self::SPEED_MAX)},
        });
        let req = self
            .api
            .request(
                reqwest::Method::POST,
                &format!("/v1/text-to-speech/{id}/stream"),
            )
            .query(&[("output_format", "pcm_24000")])
            .json(&body);
        let res = tokio::time::timeout(self.first_byte_timeout, Api::send(req, "tts"))
            .await
            .map_err(|_| EngineError::Timeout("tts"))??;
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
        Self::SAMPLE_RATE
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_vendor_error_shapes() {
        let key = r#"{"detail":{"status":"invalid_api_key","message":"Invalid API key"}}"#;
        assert!(matches!(
            vendor_error("voice", StatusCode::UNAUTHORIZED, key),
            EngineError::Rejected { message, .. } if message.contains("refused the API key") && message.contains("Invalid API key")
        ));
        let list = r#"{"detail":[{"loc":["body","name"],"msg":"field required","type":"value_error.missing"}]}"#;
        assert_eq!(
            vendor_error("voice", StatusCode::UNPROCESSABLE_ENTITY, list),
            EngineError::Rejected {
                stage: "voice",
                message: "body.name: field required".into()
            }
        );
        assert!(vendor_error("tts", StatusCode::TOO_MANY_REQUESTS, "{}").retryable());
        assert!(vendor_error("tts", StatusCode::BAD_GATEWAY, "oops").retryable());
    }

    #[test]
    fn voice_ids_are_path_safe() {
        assert!(valid_voice_id("c38kUX8pkfYO2kHyqfFy"));
        assert!(!valid_voice_id(""));
        assert!(!valid_voice_id("../v1/user"));
        assert!(!valid_voice_id("a?b"));
    }
}
