//! Client events (the same names in both dialects) and server event names per dialect.

use crate::dialect::Dialect;
use crate::error::{ErrorCode, ProtocolError};
use serde_json::{Map, Value};

/// A parsed client event.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientEvent {
    SessionUpdate {
        session: Value,
    },
    TranscriptionSessionUpdate {
        session: Value,
    },
    InputAudioBufferAppend {
        audio: String,
    },
    InputAudioBufferCommit,
    InputAudioBufferClear,
    ConversationItemCreate {
        item: Value,
        previous_item_id: Option<String>,
    },
    ConversationItemRetrieve {
        item_id: String,
    },
    ConversationItemTruncate {
        item_id: String,
        content_index: u32,
        audio_end_ms: u32,
    },
    ConversationItemDelete {
        item_id: String,
    },
    ResponseCreate {
        response: Option<Value>,
    },
    ResponseCancel {
        response_id: Option<String>,
    },
    OutputAudioBufferClear,
}

/// Parses one text frame. Errors carry the client's `event_id` when it sent one.
pub fn parse_client_event(text: &str) -> Result<(ClientEvent, Option<String>), ProtocolError> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(
            ErrorCode::InvalidJson,
            format!("The event is not valid JSON: {e}"),
        )
    })?;
    let obj = value.as_object().ok_or_else(|| {
        ProtocolError::new(ErrorCode::InvalidEvent, "An event must be a JSON object.")
    })?;
    let event_id = obj
        .get("event_id")
        .and_then(Value::as_str)
        .map(str::to_string);
    let ty = obj
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| ProtocolError::missing("type").for_event(event_id.clone()))?;
    parse_typed(ty, obj)
        .map(|e| (e, event_id.clone()))
        .map_err(|e| e.for_event(event_id))
}

fn string(obj: &Map<String, Value>, key: &str) -> Result<String, ProtocolError> {
    match obj.get(key) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(ProtocolError::invalid(key, "expected a string")),
        None => Err(ProtocolError::missing(key)),
    }
}

fn opt_string(obj: &Map<String, Value>, key: &str) -> Result<Option<String>, ProtocolError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(ProtocolError::invalid(key, "expected a string")),
    }
}

fn uint(obj: &Map<String, Value>, key: &str) -> Result<u32, ProtocolError> {
    match obj.get(key) {
        Some(v) => v
            .as_u64()
            .filter(|n| *n <= u32::MAX as u64)
            .map(|n| n as u32)
            .ok_or_else(|| ProtocolError::invalid(key, "expected a non-negative integer")),
        None => Err(ProtocolError::missing(key)),
    }
}

fn object(obj: &Map<String, Value>, key: &str) -> Result<Value, ProtocolError> {
    match obj.get(key) {
        Some(v @ Value::Object(_)) => Ok(v.clone()),
        Some(_) => Err(ProtocolError::invalid(key, "expected an object")),
        None => Err(ProtocolError::missing(key)),
    }
}

fn parse_typed(ty: &str, obj: &Map<String, Value>) -> Result<ClientEvent, ProtocolError> {
    Ok(match ty {
        "session.update" => ClientEvent::SessionUpdate {
            session: object(obj, "session")?,
        },
        "transcription_session.update" => ClientEvent::TranscriptionSessionUpdate {
            session: object(obj, "session")?,
        },
        "input_audio_buffer.append" => ClientEvent::InputAudioBufferAppend {
            audio: string(obj, "audio")?,
        },
        "input_audio_buffer.commit" => ClientEvent::InputAudioBufferCommit,
        "input_audio_buffer.clear" => ClientEvent::InputAudioBufferClear,
        "conversation.item.create" => ClientEvent::ConversationItemCreate {
            item: object(obj, "item")?,
            previous_item_id: opt_string(obj, "previous_item_id")?,
        },
        "conversation.item.retrieve" => ClientEvent::ConversationItemRetrieve {
            item_id: string(obj, "item_id")?,
        },
        "conversation.item.truncate" => ClientEvent::ConversationItemTruncate {
            item_id: string(obj, "item_id")?,
            content_index: uint(obj, "content_index")?,
            audio_end_ms: uint(obj, "audio_end_ms")?,
        },
        "conversation.item.delete" => ClientEvent::ConversationItemDelete {
            item_id: string(obj, "item_id")?,
        },
        "response.create" => ClientEvent::ResponseCreate {
            response: match obj.get("response") {
                None | Some(Value::Null) => None,
                Some(v @ Value::Object(_)) => Some(v.clone()),
                Some(_) => return Err(ProtocolError::invalid("response", "expected an object")),
            },
        },
        "response.cancel" => ClientEvent::ResponseCancel {
            response_id: opt_string(obj, "response_id")?,
        },
        "output_audio_buffer.clear" => ClientEvent::OutputAudioBufferClear,
        other => {
            return Err(ProtocolError::new(
                ErrorCode::UnknownEventType,
                format!("Invalid value: '{other}'. Supported values are the Realtime client event types."),
            )
            .param("type"));
        }
    })
}

/// Declares the server event names and `ALL`, the list of every one of them.
macro_rules! server_event_kinds {
    ($(#[$doc:meta])* pub enum $name:ident { $($(#[$vdoc:meta])* $variant:ident,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every server event.
            pub const ALL: &[$name] = &[$($name::$variant,)*];
        }
    };
}

server_event_kinds! {
    /// The server events, by name: what [`crate::ServerEvent`] is called in each dialect.
    pub enum ServerEventKind {
        SessionCreated,
        SessionUpdated,
        ConversationCreated,
        /// beta `conversation.item.created`, GA `conversation.item.added`.
        ItemAdded,
        /// GA only: `conversation.item.done`.
        ItemDone,
        ItemRetrieved,
        ItemDeleted,
        ItemTruncated,
        InputTranscriptionCompleted,
        InputTranscriptionFailed,
        BufferCommitted,
        BufferCleared,
        SpeechStarted,
        SpeechStopped,
        OutputAudioBufferCleared,
        RateLimitsUpdated,
        ResponseCreated,
        ResponseDone,
        OutputItemAdded,
        OutputItemDone,
        ContentPartAdded,
        ContentPartDone,
        TextDelta,
        TextDone,
        AudioDelta,
        AudioDone,
        AudioTranscriptDelta,
        AudioTranscriptDone,
        FunctionCallArgumentsDelta,
        FunctionCallArgumentsDone,
    }
}

impl ServerEventKind {
    /// The event's `type` in `dialect`, or `None` when the dialect has no such event.
    pub fn name(&self, dialect: Dialect) -> Option<&'static str> {
        use Dialect::*;
        use ServerEventKind::*;
        Some(match (self, dialect) {
            (SessionCreated, _) => "session.created",
            (SessionUpdated, _) => "session.updated",
            (ConversationCreated, _) => "conversation.created",
            (ItemAdded, Beta) => "conversation.item.created",
            (ItemAdded, Ga) => "conversation.item.added",
            (ItemDone, Beta) => return None,
            (ItemDone, Ga) => "conversation.item.done",
            (ItemRetrieved, _) => "conversation.item.retrieved",
            (ItemDeleted, _) => "conversation.item.deleted",
            (ItemTruncated, _) => "conversation.item.truncated",
            (InputTranscriptionCompleted, _) => {
                "conversation.item.input_audio_transcription.completed"
            }
            (InputTranscriptionFailed, _) => "conversation.item.input_audio_transcription.failed",
            (BufferCommitted, _) => "input_audio_buffer.committed",
            (BufferCleared, _) => "input_audio_buffer.cleared",
            (SpeechStarted, _) => "input_audio_buffer.speech_started",
            (SpeechStopped, _) => "input_audio_buffer.speech_stopped",
            (OutputAudioBufferCleared, _) => "output_audio_buffer.cleared",
            (RateLimitsUpdated, _) => "rate_limits.updated",
            (ResponseCreated, _) => "response.created",
            (ResponseDone, _) => "response.done",
            (OutputItemAdded, _) => "response.output_item.added",
            (OutputItemDone, _) => "response.output_item.done",
            (ContentPartAdded, _) => "response.content_part.added",
            (ContentPartDone, _) => "response.content_part.done",
            (TextDelta, Beta) => "response.text.delta",
            (TextDelta, Ga) => "response.output_text.delta",
            (TextDone, Beta) => "response.text.done",
            (TextDone, Ga) => "response.output_text.done",
            (AudioDelta, Beta) => "response.audio.delta",
            (AudioDelta, Ga) => "response.output_audio.delta",
            (AudioDone, Beta) => "response.audio.done",
            (AudioDone, Ga) => "response.output_audio.done",
            (AudioTranscriptDelta, Beta) => "response.audio_transcript.delta",
            (AudioTranscriptDelta, Ga) => "response.output_audio_transcript.delta",
            (AudioTranscriptDone, Beta) => "response.audio_transcript.done",
            (AudioTranscriptDone, Ga) => "response.output_audio_transcript.done",
            (FunctionCallArgumentsDelta, _) => "response.function_call_arguments.delta",
            (FunctionCallArgumentsDone, _) => "response.function_call_arguments.done",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sdk_events_without_event_id() {
        let (e, id) = parse_client_event(r#"{"type":"response.create"}"#)
            .map_err(|e| e.message)
            .unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(
            (e, id),
            (ClientEvent::ResponseCreate { response: None }, None)
        );
        let (e, id) = parse_client_event(r#"{"type":"conversation.item.truncate","event_id":"c1","item_id":"i","content_index":0,"audio_end_ms":1500}"#)
            .map_err(|e| e.message)
            .unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(
            e,
            ClientEvent::ConversationItemTruncate {
                item_id: "i".into(),
                content_index: 0,
                audio_end_ms: 1500
            }
        );
        assert_eq!(id.as_deref(), Some("c1"));
    }

    #[test]
    fn bad_events_are_typed_errors_echoing_the_event_id() {
        let cases = [
            ("not json", ErrorCode::InvalidJson, None),
            ("[1]", ErrorCode::InvalidEvent, None),
            (
                r#"{"event_id":"e1"}"#,
                ErrorCode::MissingRequiredParameter,
                Some("e1"),
            ),
            (
                r#"{"type":"session.explode","event_id":"e2"}"#,
                ErrorCode::UnknownEventType,
                Some("e2"),
            ),
            (
                r#"{"type":"input_audio_buffer.append","audio":5}"#,
                ErrorCode::InvalidValue,
                None,
            ),
            (
                r#"{"type":"conversation.item.truncate","item_id":"i","content_index":0,"audio_end_ms":-1}"#,
                ErrorCode::InvalidValue,
                None,
            ),
        ];
        for (text, code, id) in cases {
            let e = parse_client_event(text)
                .err()
                .unwrap_or_else(|| panic!("{text} parsed"));
            assert_eq!((e.code, e.event_id.as_deref()), (code, id), "{text}");
        }
    }

    #[test]
    fn names_follow_the_dialect() {
        assert_eq!(
            ServerEventKind::AudioDelta.name(Dialect::Beta),
            Some("response.audio.delta")
        );
        assert_eq!(
            ServerEventKind::AudioDelta.name(Dialect::Ga),
            Some("response.output_audio.delta")
        );
        assert_eq!(
            ServerEventKind::ItemAdded.name(Dialect::Beta),
            Some("conversation.item.created")
        );
        assert_eq!(ServerEventKind::ItemDone.name(Dialect::Beta), None);
    }
}
