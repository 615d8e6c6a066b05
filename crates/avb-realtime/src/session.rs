//! The session: one canonical configuration, read from and rendered to either dialect
//! (beta is flat, GA nests audio settings under `audio.input` / `audio.output`).

use crate::dialect::Dialect;
use crate::error::{ErrorCode, ProtocolError};
use crate::ids::new_id;
use serde_json::{Map, Value, json};

/// Audio encodings on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AudioFormat {
    /// 16-bit little-endian PCM, 24 kHz, mono.
    Pcm16,
    /// G.711 µ-law, 8 kHz.
    G711Ulaw,
    /// G.711 A-law, 8 kHz.
    G711Alaw,
}

impl AudioFormat {
    fn beta_name(&self) -> &'static str {
        match self {
            AudioFormat::Pcm16 => "pcm16",
            AudioFormat::G711Ulaw => "g711_ulaw",
            AudioFormat::G711Alaw => "g711_alaw",
        }
    }

    fn ga_value(&self) -> Value {
        match self {
            AudioFormat::Pcm16 => json!({"type": "audio/pcm", "rate": 24000}),
            AudioFormat::G711Ulaw => json!({"type": "audio/pcmu"}),
            AudioFormat::G711Alaw => json!({"type": "audio/pcma"}),
        }
    }

    fn parse_beta(param: &str, v: &Value) -> Result<Self, ProtocolError> {
        match v.as_str() {
            Some("pcm16") => Ok(AudioFormat::Pcm16),
            Some("g711_ulaw") => Ok(AudioFormat::G711Ulaw),
            Some("g711_alaw") => Ok(AudioFormat::G711Alaw),
            _ => Err(ProtocolError::invalid(
                param,
                "expected pcm16, g711_ulaw or g711_alaw",
            )),
        }
    }

    fn parse_ga(param: &str, v: &Value) -> Result<Self, ProtocolError> {
        match v.get("type").and_then(Value::as_str) {
            Some("audio/pcm") => match v.get("rate").and_then(Value::as_u64) {
                None | Some(24000) => Ok(AudioFormat::Pcm16),
                Some(_) => Err(ProtocolError::invalid(
                    &format!("{param}.rate"),
                    "only 24000 is supported",
                )),
            },
            Some("audio/pcmu") => Ok(AudioFormat::G711Ulaw),
            Some("audio/pcma") => Ok(AudioFormat::G711Alaw),
            _ => Err(ProtocolError::invalid(
                &format!("{param}.type"),
                "expected audio/pcm, audio/pcmu or audio/pcma",
            )),
        }
    }

    /// Bytes per second of this format.
    pub fn bytes_per_second(&self) -> u32 {
        match self {
            AudioFormat::Pcm16 => 48_000,
            AudioFormat::G711Ulaw | AudioFormat::G711Alaw => 8_000,
        }
    }
}

/// Voice activity detection settings.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnDetection {
    /// Energy/model VAD with silence timing.
    ServerVad {
        threshold: f64,
        prefix_padding_ms: u32,
        silence_duration_ms: u32,
        idle_timeout_ms: Option<u32>,
        create_response: bool,
        interrupt_response: bool,
    },
    /// Accepted; served by the same VAD with eagerness mapped to silence timing.
    SemanticVad {
        eagerness: String,
        create_response: bool,
        interrupt_response: bool,
    },
}

impl TurnDetection {
    /// OpenAI's defaults for `server_vad`.
    pub fn default_server_vad() -> Self {
        TurnDetection::ServerVad {
            threshold: 0.5,
            prefix_padding_ms: 300,
            silence_duration_ms: 500,
            idle_timeout_ms: None,
            create_response: true,
            interrupt_response: true,
        }
    }

    fn parse(param: &str, v: &Value) -> Result<Option<Self>, ProtocolError> {
        if v.is_null() {
            return Ok(None);
        }
        let obj = v
            .as_object()
            .ok_or_else(|| ProtocolError::invalid(param, "expected an object or null"))?;
        let flag = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(true);
        match obj.get("type").and_then(Value::as_str) {
            Some("server_vad") => {
                let threshold = obj.get("threshold").and_then(Value::as_f64).unwrap_or(0.5);
                if !(0.0..=1.0).contains(&threshold) {
                    return Err(ProtocolError::invalid(
                        &format!("{param}.threshold"),
                        "must be between 0 and 1",
                    ));
                }
                let ms = |k: &str, d: u32| -> Result<u32, ProtocolError> {
                    match obj.get(k) {
                        None | Some(Value::Null) => Ok(d),
                        Some(v) => v
                            .as_u64()
                            .filter(|n| *n <= 60_000)
                            .map(|n| n as u32)
                            .ok_or_else(|| {
                                ProtocolError::invalid(
                                    &format!("{param}.{k}"),
                                    "must be 0..60000 ms",
                                )
                            }),
                    }
                };
                let idle = match obj.get("idle_timeout_ms") {
                    None | Some(Value::Null) => None,
                    Some(_) => Some(ms("idle_timeout_ms", 0)?),
                };
                Ok(Some(TurnDetection::ServerVad {
                    threshold,
                    prefix_padding_ms: ms("prefix_padding_ms", 300)?,
                    silence_duration_ms: ms("silence_duration_ms", 500)?,
                    idle_timeout_ms: idle,
                    create_response: flag("create_response"),
                    interrupt_response: flag("interrupt_response"),
                }))
            }
            Some("semantic_vad") => {
                let eagerness = obj
                    .get("eagerness")
                    .and_then(Value::as_str)
                    .unwrap_or("auto");
                if !matches!(eagerness, "low" | "medium" | "high" | "auto") {
                    return Err(ProtocolError::invalid(
                        &format!("{param}.eagerness"),
                        "expected low, medium, high or auto",
                    ));
                }
                Ok(Some(TurnDetection::SemanticVad {
                    eagerness: eagerness.to_string(),
                    create_response: flag("create_response"),
                    interrupt_response: flag("interrupt_response"),
                }))
            }
            Some(_) => Err(ProtocolError::invalid(
                &format!("{param}.type"),
                "expected server_vad or semantic_vad",
            )),
            None => Err(ProtocolError::missing(&format!("{param}.type"))),
        }
    }

    fn render(&self, dialect: Dialect) -> Value {
        match self {
            TurnDetection::ServerVad {
                threshold,
                prefix_padding_ms,
                silence_duration_ms,
                idle_timeout_ms,
                create_response,
                interrupt_response,
            } => {
                let mut v = json!({
                    "type": "server_vad", "threshold": threshold, "prefix_padding_ms": prefix_padding_ms,
                    "silence_duration_ms": silence_duration_ms, "create_response": create_response,
                    "interrupt_response": interrupt_response,
                });
                if dialect == Dialect::Ga {
                    v["idle_timeout_ms"] = json!(idle_timeout_ms);
                }
                v
            }
            TurnDetection::SemanticVad {
                eagerness,
                create_response,
                interrupt_response,
            } => json!({
                "type": "semantic_vad", "eagerness": eagerness,
                "create_response": create_response, "interrupt_response": interrupt_response,
            }),
        }
    }

    /// Whether a finished turn should start a response by itself.
    pub fn creates_response(&self) -> bool {
        match self {
            TurnDetection::ServerVad {
                create_response, ..
            }
            | TurnDetection::SemanticVad {
                create_response, ..
            } => *create_response,
        }
    }
}

/// The effective session configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionConfig {
    pub id: String,
    pub model: String,
    /// `["text"]` when true, otherwise audio (with its transcript).
    pub text_only: bool,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub input_format: AudioFormat,
    pub output_format: AudioFormat,
    /// `{model, language, prompt}` or none.
    pub transcription: Option<Value>,
    pub noise_reduction: Option<Value>,
    pub turn_detection: Option<TurnDetection>,
    pub tools: Vec<Value>,
    pub tool_choice: Value,
    pub temperature: f64,
    /// `None` means `"inf"`.
    pub max_output_tokens: Option<u32>,
    /// Unix seconds.
    pub expires_at: i64,
}

/// Fields the SDKs may send that we accept and keep no state for.
const ACCEPTED_EXTRAS: &[&str] = &[
    "tracing",
    "include",
    "prompt",
    "truncation",
    "client_secret",
    "object",
    "id",
    "expires_at",
];

impl SessionConfig {
    /// Defaults for a new session of `model`, expiring at `expires_at`.
    pub fn new(model: &str, expires_at: i64) -> Self {
        Self {
            id: new_id("sess"),
            model: model.to_string(),
            text_only: false,
            instructions: String::new(),
            voice: "alloy".into(),
            speed: 1.0,
            input_format: AudioFormat::Pcm16,
            output_format: AudioFormat::Pcm16,
            transcription: None,
            noise_reduction: None,
            turn_detection: Some(TurnDetection::default_server_vad()),
            tools: Vec::new(),
            tool_choice: json!("auto"),
            temperature: 0.8,
            max_output_tokens: None,
            expires_at,
        }
    }

    /// Applies a `session.update` (or the `session` of a token request) in `dialect`. Nothing
    /// changes unless every field is valid.
    pub fn apply_update(&mut self, dialect: Dialect, session: &Value) -> Result<(), ProtocolError> {
        let obj = session
            .as_object()
            .ok_or_else(|| ProtocolError::invalid("session", "expected an object"))?;
        let mut next = self.clone();
        match dialect {
            Dialect::Beta => next.apply_beta(obj)?,
            Dialect::Ga => next.apply_ga(obj)?,
        }
        *self = next;
        Ok(())
    }

    fn common(&mut self, key: &str, v: &Value, param: &str) -> Result<bool, ProtocolError> {
        match key {
            "model" => self.model = str_of(param, v)?.to_string(),
            "instructions" => self.instructions = str_of(param, v)?.to_string(),
            "tools" => {
                let tools = v
                    .as_array()
                    .ok_or_else(|| ProtocolError::invalid(param, "expected an array"))?;
                for (i, t) in tools.iter().enumerate() {
                    if t.get("type").and_then(Value::as_str) != Some("function") {
                        return Err(ProtocolError::invalid(
                            &format!("{param}[{i}].type"),
                            "only function tools are supported",
                        ));
                    }
                    if t.get("name")
                        .and_then(Value::as_str)
                        .is_none_or(str::is_empty)
                    {
                        return Err(ProtocolError::missing(&format!("{param}[{i}].name")));
                    }
                }
                self.tools = tools.clone();
            }
            "tool_choice" => {
                let ok = matches!(v.as_str(), Some("auto" | "none" | "required"))
                    || v.is_object()
                    || v.is_string();
                if !ok {
                    return Err(ProtocolError::invalid(
                        param,
                        "expected auto, none, required or a function",
                    ));
                }
                self.tool_choice = v.clone();
            }
            _ if ACCEPTED_EXTRAS.contains(&key) => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn apply_beta(&mut self, obj: &Map<String, Value>) -> Result<(), ProtocolError> {
        for (k, v) in obj {
            let param = format!("session.{k}");
            if self.common(k, v, &param)? {
                continue;
            }
            match k.as_str() {
                "modalities" => self.text_only = modalities(&param, v)?,
                "voice" => self.voice = str_of(&param, v)?.to_string(),
                "speed" => self.speed = speed(&param, v)?,
                "input_audio_format" => self.input_format = AudioFormat::parse_beta(&param, v)?,
                "output_audio_format" => self.output_format = AudioFormat::parse_beta(&param, v)?,
                "input_audio_transcription" => self.transcription = nullable_object(&param, v)?,
                "input_audio_noise_reduction" => self.noise_reduction = nullable_object(&param, v)?,
                "turn_detection" => self.turn_detection = TurnDetection::parse(&param, v)?,
                "temperature" => {
                    let t = v.as_f64().filter(|t| (0.0..=2.0).contains(t));
                    self.temperature =
                        t.ok_or_else(|| ProtocolError::invalid(&param, "must be between 0 and 2"))?;
                }
                "max_response_output_tokens" => self.max_output_tokens = max_tokens(&param, v)?,
                _ => return Err(unknown(&param)),
            }
        }
        Ok(())
    }

    fn apply_ga(&mut self, obj: &Map<String, Value>) -> Result<(), ProtocolError> {
        match obj.get("type").and_then(Value::as_str) {
            Some("realtime") => {}
            Some("transcription") => {
                return Err(ProtocolError::invalid(
                    "session.type",
                    "transcription sessions are not supported yet",
                ));
            }
            Some(_) => return Err(ProtocolError::invalid("session.type", "expected realtime")),
            None => return Err(ProtocolError::missing("session.type")),
        }
        for (k, v) in obj {
            let param = format!("session.{k}");
            if k == "type" || self.common(k, v, &param)? {
                continue;
            }
            match k.as_str() {
                "output_modalities" => self.text_only = modalities(&param, v)?,
                "max_output_tokens" => self.max_output_tokens = max_tokens(&param, v)?,
                "audio" => self.apply_ga_audio(v)?,
                _ => return Err(unknown(&param)),
            }
        }
        Ok(())
    }

    fn apply_ga_audio(&mut self, v: &Value) -> Result<(), ProtocolError> {
        let audio = v
            .as_object()
            .ok_or_else(|| ProtocolError::invalid("session.audio", "expected an object"))?;
        for (k, v) in audio {
            let side = v.as_object().ok_or_else(|| {
                ProtocolError::invalid(&format!("session.audio.{k}"), "expected an object")
            })?;
            for (f, v) in side {
                let param = format!("session.audio.{k}.{f}");
                match (k.as_str(), f.as_str()) {
                    ("input", "format") => self.input_format = AudioFormat::parse_ga(&param, v)?,
                    ("input", "transcription") => self.transcription = nullable_object(&param, v)?,
                    ("input", "noise_reduction") => {
                        self.noise_reduction = nullable_object(&param, v)?
                    }
                    ("input", "turn_detection") => {
                        self.turn_detection = TurnDetection::parse(&param, v)?
                    }
                    ("output", "format") => self.output_format = AudioFormat::parse_ga(&param, v)?,
                    ("output", "voice") => {
                        self.voice = match v {
                            Value::String(s) => s.clone(),
                            Value::Object(o) => o
                                .get("id")
                                .and_then(Value::as_str)
                                .unwrap_or_default()
                                .to_string(),
                            _ => {
                                return Err(ProtocolError::invalid(
                                    &param,
                                    "expected a voice name",
                                ));
                            }
                        }
                    }
                    ("output", "speed") => self.speed = speed(&param, v)?,
                    _ => return Err(unknown(&param)),
                }
            }
        }
        Ok(())
    }

    /// The session object for `session.created` / `session.updated` in `dialect`.
    pub fn render(&self, dialect: Dialect) -> Value {
        let max = self
            .max_output_tokens
            .map(|n| json!(n))
            .unwrap_or(json!("inf"));
        let td = self.turn_detection.as_ref().map(|t| t.render(dialect));
        match dialect {
            Dialect::Beta => json!({
                "id": self.id, "object": "realtime.session", "model": self.model, "expires_at": self.expires_at,
                "modalities": if self.text_only { json!(["text"]) } else { json!(["text", "audio"]) },
                "instructions": self.instructions, "voice": self.voice, "speed": self.speed,
                "input_audio_format": self.input_format.beta_name(),
                "output_audio_format": self.output_format.beta_name(),
                "input_audio_transcription": self.transcription,
                "input_audio_noise_reduction": self.noise_reduction,
                "turn_detection": td, "tools": self.tools, "tool_choice": self.tool_choice,
                "temperature": self.temperature, "max_response_output_tokens": max,
                "client_secret": null, "include": null,
            }),
            Dialect::Ga => json!({
                "type": "realtime", "id": self.id, "object": "realtime.session", "model": self.model,
                "expires_at": self.expires_at,
                "output_modalities": if self.text_only { json!(["text"]) } else { json!(["audio"]) },
                "instructions": self.instructions,
                "audio": {
                    "input": {
                        "format": self.input_format.ga_value(),
                        "noise_reduction": self.noise_reduction,
                        "transcription": self.transcription,
                        "turn_detection": td,
                    },
                    "output": {"format": self.output_format.ga_value(), "voice": self.voice, "speed": self.speed},
                },
                "include": null, "tools": self.tools, "tool_choice": self.tool_choice, "max_output_tokens": max,
                "tracing": null, "truncation": "auto", "prompt": null,
            }),
        }
    }
}

fn unknown(param: &str) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::UnknownParameter,
        format!("Unknown parameter: '{param}'."),
    )
    .param(param)
}

fn str_of<'a>(param: &str, v: &'a Value) -> Result<&'a str, ProtocolError> {
    v.as_str()
        .ok_or_else(|| ProtocolError::invalid(param, "expected a string"))
}

fn nullable_object(param: &str, v: &Value) -> Result<Option<Value>, ProtocolError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(_) => Ok(Some(v.clone())),
        _ => Err(ProtocolError::invalid(param, "expected an object or null")),
    }
}

fn modalities(param: &str, v: &Value) -> Result<bool, ProtocolError> {
    let list: Vec<&str> = v
        .as_array()
        .ok_or_else(|| ProtocolError::invalid(param, "expected an array"))?
        .iter()
        .map(|m| m.as_str().unwrap_or("?"))
        .collect();
    if list.is_empty() || list.iter().any(|m| !matches!(*m, "text" | "audio")) {
        return Err(ProtocolError::invalid(
            param,
            "expected [\"text\"], [\"audio\"] or [\"text\", \"audio\"]",
        ));
    }
    Ok(!list.contains(&"audio"))
}

fn speed(param: &str, v: &Value) -> Result<f64, ProtocolError> {
    v.as_f64()
        .filter(|s| (0.25..=1.5).contains(s))
        .ok_or_else(|| ProtocolError::invalid(param, "must be between 0.25 and 1.5"))
}

fn max_tokens(param: &str, v: &Value) -> Result<Option<u32>, ProtocolError> {
    match v {
        Value::String(s) if s == "inf" => Ok(None),
        _ => v
            .as_u64()
            .filter(|n| (1..=4096).contains(n))
            .map(|n| Some(n as u32))
            .ok_or_else(|| ProtocolError::invalid(param, "must be 1..4096 or \"inf\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beta_update_then_ga_render_use_the_rename_map() {
        let mut s = SessionConfig::new("gpt-4o-realtime-preview", 0);
        s.apply_update(
            Dialect::Beta,
            &json!({"modalities": ["text"], "voice": "echo", "input_audio_format": "g711_ulaw",
                    "turn_detection": null, "max_response_output_tokens": 256, "temperature": 0.6}),
        )
        .map_err(|e| e.message)
        .unwrap_or_default();
        let ga = s.render(Dialect::Ga);
        assert_eq!(ga["type"], "realtime");
        assert_eq!(ga["output_modalities"], json!(["text"]));
        assert_eq!(ga["audio"]["output"]["voice"], "echo");
        assert_eq!(
            ga["audio"]["input"]["format"],
            json!({"type": "audio/pcmu"})
        );
        assert!(ga["audio"]["input"]["turn_detection"].is_null());
        assert_eq!(ga["max_output_tokens"], 256);
        assert!(ga.get("temperature").is_none());
        let beta = s.render(Dialect::Beta);
        assert_eq!(beta["input_audio_format"], "g711_ulaw");
        assert_eq!(beta["temperature"], 0.6);
    }

    #[test]
    fn ga_requires_type_and_rejects_beta_fields() {
        let mut s = SessionConfig::new("m", 0);
        let e = s
            .apply_update(Dialect::Ga, &json!({"instructions": "x"}))
            .err();
        assert_eq!(
            e.map(|e| (e.code, e.param)),
            Some((
                ErrorCode::MissingRequiredParameter,
                Some("session.type".into())
            ))
        );
        let e = s
            .apply_update(Dialect::Ga, &json!({"type": "realtime", "voice": "echo"}))
            .err();
        assert_eq!(
            e.map(|e| (e.code, e.param)),
            Some((ErrorCode::UnknownParameter, Some("session.voice".into())))
        );
        assert!(
            s.apply_update(
                Dialect::Ga,
                &json!({"type": "realtime", "audio": {"output": {"voice": "marin", "speed": 1.2}}})
            )
            .is_ok()
        );
        assert_eq!((s.voice.as_str(), s.speed), ("marin", 1.2));
    }

    #[test]
    fn invalid_update_changes_nothing() {
        let mut s = SessionConfig::new("m", 0);
        let before = s.clone();
        let e = s
            .apply_update(Dialect::Beta, &json!({"instructions": "new", "speed": 9.0}))
            .err();
        assert_eq!(e.and_then(|e| e.param), Some("session.speed".into()));
        assert_eq!(s, before);
        let e = s
            .apply_update(
                Dialect::Beta,
                &json!({"turn_detection": {"type": "server_vad", "threshold": 3}}),
            )
            .err();
        assert_eq!(
            e.and_then(|e| e.param),
            Some("session.turn_detection.threshold".into())
        );
    }
}
