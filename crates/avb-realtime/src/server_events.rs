//! Server events as typed values: each variant carries the event's fields and renders them in
//! either dialect, with the dialect's `type` and a fresh `event_id`.

use crate::dialect::Dialect;
use crate::error::{ErrorCode, ProtocolError};
use crate::events::ServerEventKind as Kind;
use crate::ids::new_id;
use crate::item::{ContentPart, Item, ItemKind, Role};
use crate::session::SessionConfig;
use serde_json::{Map, Value, json};

/// A server event with its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerEvent {
    SessionCreated {
        session: Box<SessionConfig>,
    },
    SessionUpdated {
        session: Box<SessionConfig>,
    },
    /// Sent by beta sessions after `session.created`.
    ConversationCreated {
        conversation_id: String,
    },
    /// beta `conversation.item.created`, GA `conversation.item.added`.
    ItemAdded {
        /// `None` leaves the key out (a response's output items); `Some(None)` is `null` (the
        /// item is first in the conversation).
        previous_item_id: Option<Option<String>>,
        item: Item,
    },
    /// GA only: `conversation.item.done`.
    ItemDone {
        /// As in [`ServerEvent::ItemAdded`].
        previous_item_id: Option<Option<String>>,
        item: Item,
    },
    ItemRetrieved {
        item: Item,
    },
    ItemDeleted {
        item_id: String,
    },
    ItemTruncated {
        item_id: String,
        content_index: u32,
        audio_end_ms: u32,
    },
    InputTranscriptionCompleted {
        item_id: String,
        content_index: u32,
        transcript: String,
        usage: TranscriptionUsage,
    },
    InputTranscriptionFailed {
        item_id: String,
        content_index: u32,
        error: ProtocolError,
    },
    BufferCommitted {
        item_id: String,
        /// `null` when the item is first in the conversation.
        previous_item_id: Option<String>,
    },
    BufferCleared,
    SpeechStarted {
        audio_start_ms: u64,
        item_id: String,
    },
    SpeechStopped {
        audio_end_ms: u64,
        item_id: String,
    },
    OutputAudioBufferCleared {
        /// The response whose audio was cleared; `null` when none was active.
        response_id: Option<String>,
    },
    RateLimitsUpdated {
        rate_limits: Vec<RateLimit>,
    },
    ResponseCreated {
        response: Response,
    },
    ResponseDone {
        response: Response,
    },
    OutputItemAdded {
        response_id: String,
        output_index: u32,
        item: Item,
    },
    OutputItemDone {
        response_id: String,
        output_index: u32,
        item: Item,
    },
    /// The part is named `text`/`audio` in both dialects (the SDKs' models say so; only an
    /// item's content says `output_text`/`output_audio` in GA).
    ContentPartAdded {
        at: PartRef,
        part: ContentPart,
    },
    /// As [`ServerEvent::ContentPartAdded`].
    ContentPartDone {
        at: PartRef,
        part: ContentPart,
    },
    TextDelta {
        at: PartRef,
        delta: String,
    },
    TextDone {
        at: PartRef,
        text: String,
    },
    AudioDelta {
        at: PartRef,
        /// Base64 audio in the session's output format.
        delta: String,
    },
    AudioDone {
        at: PartRef,
    },
    AudioTranscriptDelta {
        at: PartRef,
        delta: String,
    },
    AudioTranscriptDone {
        at: PartRef,
        transcript: String,
    },
    FunctionCallArgumentsDelta {
        response_id: String,
        item_id: String,
        output_index: u32,
        call_id: String,
        delta: String,
    },
    FunctionCallArgumentsDone {
        response_id: String,
        item_id: String,
        output_index: u32,
        call_id: String,
        name: String,
        arguments: String,
    },
}

/// Where a content part sits: its response, output item, the item's place in the response's
/// output and the part's place in the item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartRef {
    pub response_id: String,
    pub item_id: String,
    pub output_index: u32,
    pub content_index: u32,
}

/// What a transcription used.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TranscriptionUsage {
    /// Seconds of audio transcribed.
    Duration { seconds: f64 },
}

/// Which budget a [`RateLimit`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitName {
    Requests,
    Tokens,
}

/// One entry of `rate_limits.updated`.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub name: RateLimitName,
    pub limit: u64,
    pub remaining: u64,
    pub reset_seconds: f64,
}

/// Where a response stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStatus {
    InProgress,
    Completed,
    Cancelled,
    Failed,
}

/// Why a response was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelReason {
    /// The user started speaking (turn detection with `interrupt_response`).
    TurnDetected,
    /// The client sent `response.cancel`.
    ClientCancelled,
}

/// Why a response ended as it did (`status_details`).
#[derive(Debug, Clone, PartialEq)]
pub enum StatusDetails {
    Cancelled {
        reason: CancelReason,
    },
    /// Rendered as `{type, code, message}` of the error.
    Failed {
        error: ProtocolError,
    },
}

/// LLM tokens a response used.
///
/// Every token is a text token: no model here consumes or produces audio tokens (speech to text
/// and text to speech are separate engines), so `audio_tokens` are always 0, and nothing is
/// cached (`cached_tokens` 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// The `response` of `response.created` and `response.done`.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub id: String,
    pub status: ResponseStatus,
    pub status_details: Option<StatusDetails>,
    pub output: Vec<Item>,
    pub usage: Option<Usage>,
}

impl Response {
    /// A response just started.
    pub fn in_progress(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            status: ResponseStatus::InProgress,
            status_details: None,
            output: Vec::new(),
            usage: None,
        }
    }

    /// A response that finished with `output`.
    pub fn completed(id: impl Into<String>, output: Vec<Item>, usage: Usage) -> Self {
        Self {
            id: id.into(),
            status: ResponseStatus::Completed,
            status_details: None,
            output,
            usage: Some(usage),
        }
    }

    /// A cancelled response with what it produced so far.
    pub fn cancelled(
        id: impl Into<String>,
        reason: CancelReason,
        output: Vec<Item>,
        usage: Usage,
    ) -> Self {
        Self {
            id: id.into(),
            status: ResponseStatus::Cancelled,
            status_details: Some(StatusDetails::Cancelled { reason }),
            output,
            usage: Some(usage),
        }
    }

    /// A response that failed; it reports no output and no usage.
    pub fn failed(id: impl Into<String>, error: ProtocolError) -> Self {
        Self {
            id: id.into(),
            status: ResponseStatus::Failed,
            status_details: Some(StatusDetails::Failed { error }),
            output: Vec::new(),
            usage: None,
        }
    }

    fn render(&self, dialect: Dialect) -> Value {
        json!({
            "id": self.id,
            "object": "realtime.response",
            "status": self.status.as_str(),
            "status_details": self.status_details.as_ref().map(StatusDetails::render),
            "output": self.output.iter().map(|i| i.render(dialect)).collect::<Vec<_>>(),
            "usage": self.usage.map(|u| u.render()),
            "metadata": null,
            "conversation_id": null,
        })
    }
}

impl ResponseStatus {
    fn as_str(&self) -> &'static str {
        match self {
            ResponseStatus::InProgress => "in_progress",
            ResponseStatus::Completed => "completed",
            ResponseStatus::Cancelled => "cancelled",
            ResponseStatus::Failed => "failed",
        }
    }
}

impl CancelReason {
    fn as_str(&self) -> &'static str {
        match self {
            CancelReason::TurnDetected => "turn_detected",
            CancelReason::ClientCancelled => "client_cancelled",
        }
    }
}

impl StatusDetails {
    fn render(&self) -> Value {
        match self {
            StatusDetails::Cancelled { reason } => {
                json!({"type": "cancelled", "reason": reason.as_str()})
            }
            StatusDetails::Failed { error } => json!({"type": "failed", "error": {
                "type": error.code.error_type(), "code": error.code.as_str(), "message": error.message,
            }}),
        }
    }
}

impl Usage {
    /// The total of input and output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    fn render(&self) -> Value {
        json!({
            "total_tokens": self.total_tokens(),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "input_token_details": {
                "text_tokens": self.input_tokens, "audio_tokens": 0, "cached_tokens": 0,
            },
            "output_token_details": {"text_tokens": self.output_tokens, "audio_tokens": 0},
        })
    }
}

impl TranscriptionUsage {
    fn render(&self) -> Value {
        match self {
            TranscriptionUsage::Duration { seconds } => {
                json!({"type": "duration", "seconds": seconds})
            }
        }
    }
}

impl RateLimit {
    fn render(&self) -> Value {
        let name = match self.name {
            RateLimitName::Requests => "requests",
            RateLimitName::Tokens => "tokens",
        };
        json!({"name": name, "limit": self.limit, "remaining": self.remaining,
               "reset_seconds": self.reset_seconds})
    }
}

impl PartRef {
    fn fields(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("response_id".into(), json!(self.response_id));
        m.insert("item_id".into(), json!(self.item_id));
        m.insert("output_index".into(), json!(self.output_index));
        m.insert("content_index".into(), json!(self.content_index));
        m
    }

    fn with(&self, key: &str, value: impl Into<Value>) -> Value {
        let mut m = self.fields();
        m.insert(key.into(), value.into());
        Value::Object(m)
    }
}

/// `{"item": …}` with `previous_item_id` when it is given.
fn item_fields(previous_item_id: &Option<Option<String>>, item: &Item, dialect: Dialect) -> Value {
    let mut v = json!({"item": item.render(dialect)});
    if let Some(previous) = previous_item_id {
        v["previous_item_id"] = json!(previous);
    }
    v
}

impl ServerEvent {
    /// Which event this is.
    pub fn kind(&self) -> Kind {
        use ServerEvent as E;
        match self {
            E::SessionCreated { .. } => Kind::SessionCreated,
            E::SessionUpdated { .. } => Kind::SessionUpdated,
            E::ConversationCreated { .. } => Kind::ConversationCreated,
            E::ItemAdded { .. } => Kind::ItemAdded,
            E::ItemDone { .. } => Kind::ItemDone,
            E::ItemRetrieved { .. } => Kind::ItemRetrieved,
            E::ItemDeleted { .. } => Kind::ItemDeleted,
            E::ItemTruncated { .. } => Kind::ItemTruncated,
            E::InputTranscriptionCompleted { .. } => Kind::InputTranscriptionCompleted,
            E::InputTranscriptionFailed { .. } => Kind::InputTranscriptionFailed,
            E::BufferCommitted { .. } => Kind::BufferCommitted,
            E::BufferCleared => Kind::BufferCleared,
            E::SpeechStarted { .. } => Kind::SpeechStarted,
            E::SpeechStopped { .. } => Kind::SpeechStopped,
            E::OutputAudioBufferCleared { .. } => Kind::OutputAudioBufferCleared,
            E::RateLimitsUpdated { .. } => Kind::RateLimitsUpdated,
            E::ResponseCreated { .. } => Kind::ResponseCreated,
            E::ResponseDone { .. } => Kind::ResponseDone,
            E::OutputItemAdded { .. } => Kind::OutputItemAdded,
            E::OutputItemDone { .. } => Kind::OutputItemDone,
            E::ContentPartAdded { .. } => Kind::ContentPartAdded,
            E::ContentPartDone { .. } => Kind::ContentPartDone,
            E::TextDelta { .. } => Kind::TextDelta,
            E::TextDone { .. } => Kind::TextDone,
            E::AudioDelta { .. } => Kind::AudioDelta,
            E::AudioDone { .. } => Kind::AudioDone,
            E::AudioTranscriptDelta { .. } => Kind::AudioTranscriptDelta,
            E::AudioTranscriptDone { .. } => Kind::AudioTranscriptDone,
            E::FunctionCallArgumentsDelta { .. } => Kind::FunctionCallArgumentsDelta,
            E::FunctionCallArgumentsDone { .. } => Kind::FunctionCallArgumentsDone,
        }
    }

    /// The event as the client sees it in `dialect`, with `type` and a fresh `event_id`;
    /// `None` when the dialect has no such event.
    pub fn render(&self, dialect: Dialect) -> Option<Value> {
        let name = self.kind().name(dialect)?;
        let mut fields = match self.fields(dialect) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        fields.insert("type".into(), Value::String(name.into()));
        fields.insert("event_id".into(), Value::String(new_id("event")));
        Some(Value::Object(fields))
    }

    fn fields(&self, dialect: Dialect) -> Value {
        use ServerEvent as E;
        match self {
            E::SessionCreated { session } | E::SessionUpdated { session } => {
                json!({"session": session.render(dialect)})
            }
            E::ConversationCreated { conversation_id } => {
                json!({"conversation": {"id": conversation_id, "object": "realtime.conversation"}})
            }
            E::ItemAdded {
                previous_item_id,
                item,
            }
            | E::ItemDone {
                previous_item_id,
                item,
            } => item_fields(previous_item_id, item, dialect),
            E::ItemRetrieved { item } => json!({"item": item.render(dialect)}),
            E::ItemDeleted { item_id } => json!({"item_id": item_id}),
            E::ItemTruncated {
                item_id,
                content_index,
                audio_end_ms,
            } => json!({"item_id": item_id, "content_index": content_index,
                        "audio_end_ms": audio_end_ms}),
            E::InputTranscriptionCompleted {
                item_id,
                content_index,
                transcript,
                usage,
            } => json!({"item_id": item_id, "content_index": content_index,
                        "transcript": transcript, "usage": usage.render()}),
            E::InputTranscriptionFailed {
                item_id,
                content_index,
                error,
            } => json!({"item_id": item_id, "content_index": content_index, "error": {
                "type": error.code.error_type(), "code": error.code.as_str(),
                "message": error.message, "param": error.param,
            }}),
            E::BufferCommitted {
                item_id,
                previous_item_id,
            } => json!({"item_id": item_id, "previous_item_id": previous_item_id}),
            E::BufferCleared => json!({}),
            E::SpeechStarted {
                audio_start_ms,
                item_id,
            } => json!({"audio_start_ms": audio_start_ms, "item_id": item_id}),
            E::SpeechStopped {
                audio_end_ms,
                item_id,
            } => json!({"audio_end_ms": audio_end_ms, "item_id": item_id}),
            E::OutputAudioBufferCleared { response_id } => json!({"response_id": response_id}),
            E::RateLimitsUpdated { rate_limits } => json!({
                "rate_limits": rate_limits.iter().map(RateLimit::render).collect::<Vec<_>>(),
            }),
            E::ResponseCreated { response } | E::ResponseDone { response } => {
                json!({"response": response.render(dialect)})
            }
            E::OutputItemAdded {
                response_id,
                output_index,
                item,
            }
            | E::OutputItemDone {
                response_id,
                output_index,
                item,
            } => json!({"response_id": response_id, "output_index": output_index,
                        "item": item.render(dialect)}),
            E::ContentPartAdded { at, part } | E::ContentPartDone { at, part } => {
                at.with("part", part.render(Dialect::Beta))
            }
            E::TextDelta { at, delta }
            | E::AudioDelta { at, delta }
            | E::AudioTranscriptDelta { at, delta } => at.with("delta", delta.as_str()),
            E::TextDone { at, text } => at.with("text", text.as_str()),
            E::AudioDone { at } => Value::Object(at.fields()),
            E::AudioTranscriptDone { at, transcript } => at.with("transcript", transcript.as_str()),
            E::FunctionCallArgumentsDelta {
                response_id,
                item_id,
                output_index,
                call_id,
                delta,
            } => json!({"response_id": response_id, "item_id": item_id,
                        "output_index": output_index, "call_id": call_id, "delta": delta}),
            E::FunctionCallArgumentsDone {
                response_id,
                item_id,
                output_index,
                call_id,
                name,
                arguments,
            } => {
                let mut done = json!({"response_id": response_id, "item_id": item_id,
                        "output_index": output_index, "call_id": call_id,
                        "arguments": arguments});
                // GA added the function's name; the beta event has none (its SDK types
                // refuse it), see spec/realtime-protocol.md.
                if dialect == Dialect::Ga {
                    done["name"] = json!(name);
                }
                done
            }
        }
    }
}

/// Events of `kind` as the gateway sends them, covering the shapes that matter (text and audio
/// parts, message and function-call items, completed, cancelled and failed responses).
fn samples_of(kind: Kind) -> Vec<ServerEvent> {
    use ServerEvent as E;
    let response_id = "resp_sample".to_string();
    let message = |status: &'static str, part: ContentPart| Item {
        id: "item_message".into(),
        kind: ItemKind::Message {
            role: Role::Assistant,
            content: vec![part],
        },
        status,
    };
    let text = message("completed", ContentPart::Text("Hello there.".into()));
    let audio = message(
        "completed",
        ContentPart::Audio {
            transcript: "Hello there.".into(),
        },
    );
    let empty = Item {
        id: "item_message".into(),
        kind: ItemKind::Message {
            role: Role::Assistant,
            content: vec![],
        },
        status: "in_progress",
    };
    let user = Item {
        id: "item_user".into(),
        kind: ItemKind::Message {
            role: Role::User,
            content: vec![ContentPart::InputAudio {
                transcript: Some("What time is it?".into()),
            }],
        },
        status: "completed",
    };
    let user_text = Item {
        id: "item_user_text".into(),
        kind: ItemKind::Message {
            role: Role::User,
            content: vec![ContentPart::InputText("Hi".into())],
        },
        status: "completed",
    };
    let call = |arguments: &str, status: &'static str| Item {
        id: "item_call".into(),
        kind: ItemKind::FunctionCall {
            name: "get_time".into(),
            call_id: "call_sample".into(),
            arguments: arguments.into(),
        },
        status,
    };
    let call_output = Item {
        id: "item_call_output".into(),
        kind: ItemKind::FunctionCallOutput {
            call_id: "call_sample".into(),
            output: "{\"time\":\"12:00\"}".into(),
        },
        status: "completed",
    };
    let at = PartRef {
        response_id: response_id.clone(),
        item_id: "item_message".into(),
        output_index: 0,
        content_index: 0,
    };
    let usage = Usage {
        input_tokens: 120,
        output_tokens: 12,
    };
    let session = || {
        // A model both dialects' SDK types name (beta's types list only the preview models).
        let mut s = SessionConfig::new("gpt-4o-realtime-preview", 1_760_000_000);
        s.id = "sess_sample".into();
        Box::new(s)
    };
    let items = [
        user.clone(),
        user_text.clone(),
        text.clone(),
        audio.clone(),
        call("{}", "completed"),
        call_output.clone(),
    ];
    let item_events = |make: fn(Option<Option<String>>, Item) -> E| {
        let mut out = vec![
            make(Some(None), user.clone()),
            make(Some(Some("item_user".into())), user_text.clone()),
            make(None, empty.clone()),
            make(None, call("", "in_progress")),
        ];
        out.extend(
            items
                .iter()
                .map(|i| make(Some(Some("item_x".into())), i.clone())),
        );
        out
    };
    let output_item_events = |make: fn(String, u32, Item) -> E| {
        vec![
            make(response_id.clone(), 0, empty.clone()),
            make(response_id.clone(), 1, call("", "in_progress")),
            make(response_id.clone(), 0, text.clone()),
            make(response_id.clone(), 0, audio.clone()),
            make(
                response_id.clone(),
                1,
                call("{\"tz\":\"UTC\"}", "completed"),
            ),
        ]
    };
    let parts = |make: fn(PartRef, ContentPart) -> E, text: &str| {
        vec![
            make(at.clone(), ContentPart::Text(text.into())),
            make(
                at.clone(),
                ContentPart::Audio {
                    transcript: text.into(),
                },
            ),
        ]
    };
    match kind {
        Kind::SessionCreated => vec![E::SessionCreated { session: session() }],
        Kind::SessionUpdated => {
            let mut s = session();
            s.text_only = true;
            s.turn_detection = None;
            vec![E::SessionUpdated { session: s }]
        }
        Kind::ConversationCreated => vec![E::ConversationCreated {
            conversation_id: "conv_sample".into(),
        }],
        Kind::ItemAdded => item_events(|previous_item_id, item| E::ItemAdded {
            previous_item_id,
            item,
        }),
        Kind::ItemDone => item_events(|previous_item_id, item| E::ItemDone {
            previous_item_id,
            item,
        }),
        Kind::ItemRetrieved => items
            .iter()
            .map(|i| E::ItemRetrieved { item: i.clone() })
            .collect(),
        Kind::ItemDeleted => vec![E::ItemDeleted {
            item_id: "item_user".into(),
        }],
        Kind::ItemTruncated => vec![E::ItemTruncated {
            item_id: "item_message".into(),
            content_index: 0,
            audio_end_ms: 1500,
        }],
        Kind::InputTranscriptionCompleted => vec![E::InputTranscriptionCompleted {
            item_id: "item_user".into(),
            content_index: 0,
            transcript: "What time is it?".into(),
            usage: TranscriptionUsage::Duration { seconds: 1.68 },
        }],
        Kind::InputTranscriptionFailed => vec![E::InputTranscriptionFailed {
            item_id: "item_user".into(),
            content_index: 0,
            error: ProtocolError::new(
                ErrorCode::EngineUnavailable,
                "no speech-to-text engine is configured",
            ),
        }],
        Kind::BufferCommitted => vec![
            E::BufferCommitted {
                item_id: "item_user".into(),
                previous_item_id: None,
            },
            E::BufferCommitted {
                item_id: "item_user".into(),
                previous_item_id: Some("item_message".into()),
            },
        ],
        Kind::BufferCleared => vec![E::BufferCleared],
        Kind::SpeechStarted => vec![E::SpeechStarted {
            audio_start_ms: 420,
            item_id: "item_user".into(),
        }],
        Kind::SpeechStopped => vec![E::SpeechStopped {
            audio_end_ms: 2100,
            item_id: "item_user".into(),
        }],
        Kind::OutputAudioBufferCleared => vec![E::OutputAudioBufferCleared {
            response_id: Some(response_id.clone()),
        }],
        Kind::RateLimitsUpdated => vec![E::RateLimitsUpdated {
            rate_limits: vec![
                RateLimit {
                    name: RateLimitName::Requests,
                    limit: 1000,
                    remaining: 999,
                    reset_seconds: 60.0,
                },
                RateLimit {
                    name: RateLimitName::Tokens,
                    limit: 50_000,
                    remaining: 49_868,
                    reset_seconds: 12.5,
                },
            ],
        }],
        Kind::ResponseCreated => vec![E::ResponseCreated {
            response: Response::in_progress(response_id),
        }],
        Kind::ResponseDone => {
            let incomplete = message(
                "incomplete",
                ContentPart::Audio {
                    transcript: "Hello".into(),
                },
            );
            [
                Response::completed(response_id.clone(), vec![text.clone()], usage),
                Response::completed(
                    response_id.clone(),
                    vec![audio.clone(), call("{}", "completed")],
                    usage,
                ),
                Response::completed(response_id.clone(), vec![], Usage::default()),
                Response::cancelled(
                    response_id.clone(),
                    CancelReason::TurnDetected,
                    vec![incomplete],
                    Usage {
                        input_tokens: 120,
                        output_tokens: 1,
                    },
                ),
                Response::cancelled(
                    response_id.clone(),
                    CancelReason::ClientCancelled,
                    vec![],
                    Usage::default(),
                ),
                Response::failed(
                    response_id.clone(),
                    ProtocolError::new(ErrorCode::EngineUnavailable, "connection refused"),
                ),
            ]
            .into_iter()
            .map(|response| E::ResponseDone { response })
            .collect()
        }
        Kind::OutputItemAdded => {
            output_item_events(|response_id, output_index, item| E::OutputItemAdded {
                response_id,
                output_index,
                item,
            })
        }
        Kind::OutputItemDone => {
            output_item_events(|response_id, output_index, item| E::OutputItemDone {
                response_id,
                output_index,
                item,
            })
        }
        Kind::ContentPartAdded => parts(|at, part| E::ContentPartAdded { at, part }, ""),
        Kind::ContentPartDone => parts(|at, part| E::ContentPartDone { at, part }, "Hello there."),
        Kind::TextDelta => vec![E::TextDelta {
            at,
            delta: "Hello".into(),
        }],
        Kind::TextDone => vec![E::TextDone {
            at,
            text: "Hello there.".into(),
        }],
        Kind::AudioDelta => vec![E::AudioDelta {
            at,
            delta: "AAAAAA==".into(),
        }],
        Kind::AudioDone => vec![E::AudioDone { at }],
        Kind::AudioTranscriptDelta => vec![E::AudioTranscriptDelta {
            at,
            delta: "Hello".into(),
        }],
        Kind::AudioTranscriptDone => vec![E::AudioTranscriptDone {
            at,
            transcript: "Hello there.".into(),
        }],
        Kind::FunctionCallArgumentsDelta => vec![E::FunctionCallArgumentsDelta {
            response_id,
            item_id: "item_call".into(),
            output_index: 1,
            call_id: "call_sample".into(),
            delta: "{\"tz\":".into(),
        }],
        Kind::FunctionCallArgumentsDone => vec![E::FunctionCallArgumentsDone {
            response_id,
            item_id: "item_call".into(),
            output_index: 1,
            call_id: "call_sample".into(),
            name: "get_time".into(),
            arguments: "{\"tz\":\"UTC\"}".into(),
        }],
    }
}

/// Instances of every server event the gateway sends, in the shapes that matter; for
/// conformance tests against the official SDKs.
#[doc(hidden)]
pub fn samples() -> Vec<ServerEvent> {
    Kind::ALL.iter().flat_map(|k| samples_of(*k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `event` without its `event_id` (fresh on every render).
    fn rendered(event: &ServerEvent, dialect: Dialect) -> Value {
        let mut v = event.render(dialect).unwrap_or_default();
        let id = v.as_object_mut().and_then(|o| o.remove("event_id"));
        assert!(
            id.as_ref()
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("event_")),
            "{v}"
        );
        v
    }

    #[test]
    fn every_kind_has_samples_of_that_kind() {
        for kind in Kind::ALL {
            let samples = samples_of(*kind);
            assert!(!samples.is_empty(), "{kind:?}");
            assert!(samples.iter().all(|s| s.kind() == *kind), "{kind:?}");
        }
    }

    #[test]
    fn samples_render_in_both_dialects_with_the_dialects_names() {
        for sample in samples() {
            for dialect in [Dialect::Beta, Dialect::Ga] {
                let name = sample.kind().name(dialect);
                match sample.render(dialect) {
                    None => assert_eq!((sample.kind(), dialect), (Kind::ItemDone, Dialect::Beta)),
                    Some(v) => {
                        assert_eq!(v["type"].as_str(), name, "{v}");
                        rendered(&sample, dialect);
                    }
                }
            }
        }
        let delta = &samples_of(Kind::AudioDelta)[0];
        assert_eq!(
            rendered(delta, Dialect::Ga)["type"],
            "response.output_audio.delta"
        );
        assert_eq!(
            rendered(delta, Dialect::Beta)["type"],
            "response.audio.delta"
        );
        let added = &samples_of(Kind::ItemAdded)[0];
        assert_eq!(
            rendered(added, Dialect::Beta)["type"],
            "conversation.item.created"
        );
        assert_eq!(
            rendered(added, Dialect::Ga)["type"],
            "conversation.item.added"
        );
    }

    #[test]
    fn only_ga_names_the_function_when_its_arguments_are_done() {
        let done = &samples_of(Kind::FunctionCallArgumentsDone)[0];
        assert!(rendered(done, Dialect::Ga)["name"].is_string());
        assert!(rendered(done, Dialect::Beta).get("name").is_none());
    }

    #[test]
    fn a_completed_response_reports_its_usage() {
        let done = ServerEvent::ResponseDone {
            response: Response::completed(
                "resp_1",
                vec![Item {
                    id: "item_1".into(),
                    kind: ItemKind::Message {
                        role: Role::Assistant,
                        content: vec![ContentPart::Text("Hi.".into())],
                    },
                    status: "completed",
                }],
                Usage {
                    input_tokens: 10,
                    output_tokens: 2,
                },
            ),
        };
        assert_eq!(
            rendered(&done, Dialect::Ga),
            json!({"type": "response.done", "response": {
                "id": "resp_1", "object": "realtime.response", "status": "completed",
                "status_details": null, "metadata": null, "conversation_id": null,
                "output": [{"id": "item_1", "object": "realtime.item", "type": "message",
                            "status": "completed", "role": "assistant",
                            "content": [{"type": "output_text", "text": "Hi."}]}],
                "usage": {"total_tokens": 12, "input_tokens": 10, "output_tokens": 2,
                          "input_token_details": {"text_tokens": 10, "audio_tokens": 0, "cached_tokens": 0},
                          "output_token_details": {"text_tokens": 2, "audio_tokens": 0}},
            }})
        );
    }

    #[test]
    fn cancelled_and_failed_responses_say_why() {
        let cancelled = ServerEvent::ResponseDone {
            response: Response::cancelled(
                "r",
                CancelReason::TurnDetected,
                vec![],
                Usage::default(),
            ),
        };
        let v = rendered(&cancelled, Dialect::Beta);
        assert_eq!(v["response"]["status"], "cancelled");
        assert_eq!(
            v["response"]["status_details"],
            json!({"type": "cancelled", "reason": "turn_detected"})
        );
        assert_eq!(v["response"]["usage"]["total_tokens"], 0);
        let failed = ServerEvent::ResponseDone {
            response: Response::failed(
                "r",
                ProtocolError::new(ErrorCode::EngineUnavailable, "down"),
            ),
        };
        let v = rendered(&failed, Dialect::Ga);
        assert_eq!(
            v["response"]["status_details"],
            json!({"type": "failed", "error": {"type": "server_error", "code": "engine_unavailable", "message": "down"}})
        );
        assert_eq!(v["response"]["usage"], Value::Null);
    }

    #[test]
    fn content_parts_say_text_and_audio_in_both_dialects() {
        let at = PartRef {
            response_id: "r".into(),
            item_id: "i".into(),
            output_index: 1,
            content_index: 0,
        };
        let added = ServerEvent::ContentPartAdded {
            at: at.clone(),
            part: ContentPart::Audio {
                transcript: String::new(),
            },
        };
        assert_eq!(
            rendered(&added, Dialect::Ga),
            json!({"type": "response.content_part.added", "response_id": "r", "item_id": "i",
                   "output_index": 1, "content_index": 0, "part": {"type": "audio", "transcript": ""}})
        );
        let done = ServerEvent::ContentPartDone {
            at,
            part: ContentPart::Text("Hi".into()),
        };
        assert_eq!(
            rendered(&done, Dialect::Ga)["part"],
            json!({"type": "text", "text": "Hi"})
        );
    }

    #[test]
    fn item_events_carry_previous_item_id_only_when_given() {
        let item = Item {
            id: "item_1".into(),
            kind: ItemKind::FunctionCallOutput {
                call_id: "c".into(),
                output: "ok".into(),
            },
            status: "completed",
        };
        let first = ServerEvent::ItemAdded {
            previous_item_id: Some(None),
            item: item.clone(),
        };
        assert_eq!(
            rendered(&first, Dialect::Beta),
            json!({"type": "conversation.item.created", "previous_item_id": null, "item": {
                "id": "item_1", "object": "realtime.item", "type": "function_call_output",
                "status": "completed", "call_id": "c", "output": "ok"}})
        );
        let output = ServerEvent::ItemDone {
            previous_item_id: None,
            item,
        };
        let v = rendered(&output, Dialect::Ga);
        assert_eq!(v["type"], "conversation.item.done");
        assert!(v.get("previous_item_id").is_none(), "{v}");
        assert_eq!(output.render(Dialect::Beta), None);
    }

    #[test]
    fn transcription_and_rate_limit_events() {
        let done = ServerEvent::InputTranscriptionCompleted {
            item_id: "i".into(),
            content_index: 0,
            transcript: "hello".into(),
            usage: TranscriptionUsage::Duration { seconds: 1.5 },
        };
        assert_eq!(
            rendered(&done, Dialect::Ga),
            json!({"type": "conversation.item.input_audio_transcription.completed", "item_id": "i",
                   "content_index": 0, "transcript": "hello", "usage": {"type": "duration", "seconds": 1.5}})
        );
        let failed = ServerEvent::InputTranscriptionFailed {
            item_id: "i".into(),
            content_index: 0,
            error: ProtocolError::new(ErrorCode::EngineUnavailable, "down"),
        };
        assert_eq!(
            rendered(&failed, Dialect::Beta)["error"],
            json!({"type": "server_error", "code": "engine_unavailable", "message": "down", "param": null})
        );
        let limits = &samples_of(Kind::RateLimitsUpdated)[0];
        assert_eq!(
            rendered(limits, Dialect::Ga),
            json!({"type": "rate_limits.updated", "rate_limits": [
                {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 60.0},
                {"name": "tokens", "limit": 50000, "remaining": 49868, "reset_seconds": 12.5},
            ]})
        );
    }
}
