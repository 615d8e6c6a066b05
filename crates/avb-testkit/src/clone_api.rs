//! A stand-in for an ElevenLabs-compatible voice-cloning API (a paid service that cannot run
//! here), strict about what the vendor documents (see `avb_voice::custom_voice` for the sources):
//! the `xi-api-key` header (401 `invalid_api_key`), `POST /v1/voices/add` as multipart with a
//! `name` and at least one audio `files` part (WAV or MP3 by their magic bytes),
//! `POST /v1/text-to-speech/{voice_id}/stream` with a PCM `output_format`, a `text` and a
//! `voice_settings.speed` in 0.7-1.2, `DELETE /v1/voices/{voice_id}`, 404 `voice_not_found` for
//! ids it did not make. Errors carry the vendor's `{"detail": ..}` shapes. It cannot clone:
//! speech is a 220 Hz tone whose length follows the text (60 ms a character at speed 1),
//! streamed in three chunks.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::multipart::MultipartRejection;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The output formats the stand-in makes (the vendor's PCM ones, S16LE mono).
const PCM_FORMATS: [(&str, u32); 4] = [
    ("pcm_16000", 16_000),
    ("pcm_22050", 22_050),
    ("pcm_24000", 24_000),
    ("pcm_44100", 44_100),
];

/// A voice the stand-in holds.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldVoice {
    /// The id it generated.
    pub voice_id: String,
    /// The `name` sent.
    pub name: String,
    /// How many `files` parts were sent.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: usize,
}

/// One accepted speech request.
#[derive(Debug, Clone, PartialEq)]
pub struct SpeechCall {
    /// The voice spoken.
    pub voice_id: String,
    /// The text.
    pub text: String,
    /// `model_id`, when sent.
    pub model_id: Option<String>,
    /// `voice_settings.speed`, when sent.
    pub speed: Option<f64>,
    /// `output_format`.
    pub output_format: String,
}

#[derive(Default)]
struct Held {
    voices: Vec<HeldVoice>,
    speech: Vec<SpeechCall>,
}

struct Inner {
    key: String,
    held: Mutex<Held>,
}

/// A running stand-in (it stops with the test's runtime).
pub struct CloneApi {
    url: String,
    inner: Arc<Inner>,
}

impl CloneApi {
    /// Base URL, e.g. `http://127.0.0.1:43123` (no trailing slash, no `/v1`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The voices it holds now.
    pub fn voices(&self) -> Vec<HeldVoice> {
        self.inner.held.lock().unwrap().voices.clone()
    }

    /// The speech requests it accepted, oldest first.
    pub fn speech_calls(&self) -> Vec<SpeechCall> {
        self.inner.held.lock().unwrap().speech.clone()
    }
}

/// Starts the stand-in on `127.0.0.1:0`, accepting `api_key` only.
pub async fn spawn_clone_api(api_key: &str) -> CloneApi {
    let inner = Arc::new(Inner {
        key: api_key.to_string(),
        held: Mutex::default(),
    });
    let app = axum::Router::new()
        .route("/v1/voices/add", axum::routing::post(add_voice))
        .route("/v1/voices/{voice_id}", axum::routing::delete(delete_voice))
        .route(
            "/v1/text-to-speech/{voice_id}/stream",
            axum::routing::post(speak),
        )
        .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
        .with_state(inner.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    CloneApi { url, inner }
}

/// An error in the vendor's object shape: `{"detail": {"status", "message"}}`.
fn detail(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(json!({"detail": {"status": code, "message": message}})),
    )
        .into_response()
}

/// A 422 in the vendor's validation shape: `{"detail": [{"loc", "msg", "type"}]}`.
fn invalid(loc: &[&str], msg: &str) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        Json(json!({"detail": [{"loc": loc, "msg": msg, "type": "value_error"}]})),
    )
        .into_response()
}

/// The refusal of a request without the right `xi-api-key`, if it lacks it.
fn unauthorized(inner: &Inner, headers: &HeaderMap) -> Option<Response> {
    match headers.get("xi-api-key").and_then(|v| v.to_str().ok()) {
        Some(k) if k == inner.key => None,
        _ => Some(detail(
            StatusCode::UNAUTHORIZED,
            "invalid_api_key",
            "Invalid API key",
        )),
    }
}

/// Whether `bytes` start like a WAV (`RIFF....WAVE`) or an MP3 (ID3 tag or frame sync).
fn is_audio(bytes: &[u8]) -> bool {
    let wav = bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE";
    let mp3 = bytes.starts_with(b"ID3")
        || (bytes.len() >= 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0);
    wav || mp3
}

/// `POST /v1/voices/add`.
async fn add_voice(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    form: Result<Multipart, MultipartRejection>,
) -> Response {
    if let Some(r) = unauthorized(&inner, &headers) {
        return r;
    }
    let Ok(mut form) = form else {
        return invalid(&["body"], "expected a multipart/form-data body");
    };
    let (mut name, mut files, mut bytes) = (None, 0usize, 0usize);
    loop {
        let field = match form.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => return invalid(&["body"], &format!("malformed multipart body: {e}")),
        };
        match field.name() {
            Some("name") => name = field.text().await.ok(),
            Some("files") => {
                let file_name = field.file_name().unwrap_or("file").to_string();
                let Ok(data) = field.bytes().await else {
                    return invalid(&["body", "files"], "unreadable file");
                };
                if !is_audio(&data) {
                    return detail(
                        StatusCode::BAD_REQUEST,
                        "invalid_audio_file",
                        &format!("{file_name} is not an audio file this service can read"),
                    );
                }
                files += 1;
                bytes += data.len();
            }
            _ => {} // description, labels, remove_background_noise: optional
        }
    }
    let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
        return invalid(&["body", "name"], "field required");
    };
    if files == 0 {
        return invalid(&["body", "files"], "field required");
    }
    let voice_id: String = uuid::Uuid::new_v4().simple().to_string()[..20].to_string();
    inner.held.lock().unwrap().voices.push(HeldVoice {
        voice_id: voice_id.clone(),
        name,
        files,
        bytes,
    });
    Json(json!({"voice_id": voice_id, "requires_verification": false})).into_response()
}

/// 404 `voice_not_found` if the stand-in does not hold `voice_id`.
fn unknown(inner: &Inner, voice_id: &str) -> Option<Response> {
    if inner
        .held
        .lock()
        .unwrap()
        .voices
        .iter()
        .any(|v| v.voice_id == voice_id)
    {
        return None;
    }
    Some(detail(
        StatusCode::NOT_FOUND,
        "voice_not_found",
        &format!("A voice with the voice_id {voice_id} was not found."),
    ))
}

/// `DELETE /v1/voices/{voice_id}`.
async fn delete_voice(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(voice_id): Path<String>,
) -> Response {
    if let Some(r) = unauthorized(&inner, &headers).or_else(|| unknown(&inner, &voice_id)) {
        return r;
    }
    inner
        .held
        .lock()
        .unwrap()
        .voices
        .retain(|v| v.voice_id != voice_id);
    Json(json!({"status": "ok"})).into_response()
}

/// `POST /v1/text-to-speech/{voice_id}/stream`.
async fn speak(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Path(voice_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    if let Some(r) = unauthorized(&inner, &headers).or_else(|| unknown(&inner, &voice_id)) {
        return r;
    }
    let Some(format) = query.get("output_format") else {
        return invalid(
            &["query", "output_format"],
            "the stand-in makes PCM only: pass output_format=pcm_<rate>",
        );
    };
    let Some(&(_, rate)) = PCM_FORMATS.iter().find(|(f, _)| f == format) else {
        return invalid(
            &["query", "output_format"],
            "value is not a valid enumeration member",
        );
    };
    let Ok(req) = serde_json::from_slice::<Value>(&body) else {
        return invalid(&["body"], "expected a JSON body");
    };
    let text = match req["text"].as_str() {
        Some(t) if !t.is_empty() => t.to_string(),
        _ => return invalid(&["body", "text"], "field required"),
    };
    let speed = req["voice_settings"]["speed"].as_f64();
    if speed.is_some_and(|s| !(0.7..=1.2).contains(&s)) {
        return invalid(
            &["body", "voice_settings", "speed"],
            "ensure this value is between 0.7 and 1.2",
        );
    }
    inner.held.lock().unwrap().speech.push(SpeechCall {
        voice_id,
        text: text.clone(),
        model_id: req["model_id"].as_str().map(str::to_string),
        speed,
        output_format: format.clone(),
    });
    let pcm = tone(rate, speech_secs(&text, speed.unwrap_or(1.0)));
    let third = (pcm.len() / 3) & !1;
    let chunks = vec![
        pcm[..third].to_vec(),
        pcm[third..2 * third].to_vec(),
        pcm[2 * third..].to_vec(),
    ];
    let stream = futures::stream::iter(chunks).then(|c| async move {
        tokio::time::sleep(Duration::from_millis(5)).await;
        Ok::<_, std::io::Error>(Bytes::from(c))
    });
    (
        [("content-type", "application/octet-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}

/// How long the stand-in speaks `text` at `speed`: 60 ms a character.
pub fn speech_secs(text: &str, speed: f64) -> f64 {
    0.06 * text.chars().count() as f64 / speed
}

/// `secs` of a 220 Hz tone at `rate`, as 16-bit little-endian PCM.
fn tone(rate: u32, secs: f64) -> Vec<u8> {
    let n = (f64::from(rate) * secs).round() as usize;
    (0..n)
        .flat_map(|i| {
            let t = i as f64 / f64::from(rate);
            let s = (8000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()) as i16;
            s.to_le_bytes()
        })
        .collect()
}

#[cfg(test)]
mod tests;
