//! The Realtime `error` event and the codes OpenAI uses.

use crate::ids::new_id;
use serde_json::{Value, json};

/// Error codes (as observed from OpenAI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidJson,
    InvalidEvent,
    UnknownEventType,
    MissingRequiredParameter,
    UnknownParameter,
    InvalidValue,
    InputAudioBufferCommitEmpty,
    ConversationAlreadyHasActiveResponse,
    ResponseCancelNotActive,
    ItemNotFound,
    SessionExpired,
    SessionClosed,
    EngineUnavailable,
    RateLimitExceeded,
    Internal,
}

impl ErrorCode {
    /// The `code` string.
    pub fn as_str(&self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidEvent => "invalid_event",
            ErrorCode::UnknownEventType => "unknown_event_type",
            ErrorCode::MissingRequiredParameter => "missing_required_parameter",
            ErrorCode::UnknownParameter => "unknown_parameter",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InputAudioBufferCommitEmpty => "input_audio_buffer_commit_empty",
            ErrorCode::ConversationAlreadyHasActiveResponse => {
                "conversation_already_has_active_response"
            }
            ErrorCode::ResponseCancelNotActive => "response_cancel_not_active",
            ErrorCode::ItemNotFound => "item_not_found",
            ErrorCode::SessionExpired => "session_expired",
            ErrorCode::SessionClosed => "session_closed",
            ErrorCode::EngineUnavailable => "engine_unavailable",
            ErrorCode::RateLimitExceeded => "rate_limit_exceeded",
            ErrorCode::Internal => "internal_error",
        }
    }

    /// The error `type` field for this code.
    pub fn error_type(&self) -> &'static str {
        match self {
            ErrorCode::Internal | ErrorCode::EngineUnavailable => "server_error",
            ErrorCode::RateLimitExceeded => "rate_limit_error",
            _ => "invalid_request_error",
        }
    }
}

/// A protocol error to report to the client in an `error` event; the socket stays open.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProtocolError {
    pub code: ErrorCode,
    pub message: String,
    pub param: Option<String>,
    /// The client `event_id` that caused it, if the client sent one.
    pub event_id: Option<String>,
}

impl ProtocolError {
    /// A new error.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            param: None,
            event_id: None,
        }
    }

    /// Names the offending parameter.
    pub fn param(mut self, p: impl Into<String>) -> Self {
        self.param = Some(p.into());
        self
    }

    /// Echoes the client's event id.
    pub fn for_event(mut self, id: Option<String>) -> Self {
        self.event_id = id;
        self
    }

    /// A missing required parameter.
    pub fn missing(param: &str) -> Self {
        Self::new(
            ErrorCode::MissingRequiredParameter,
            format!("Missing required parameter: '{param}'."),
        )
        .param(param)
    }

    /// An invalid value.
    pub fn invalid(param: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            ErrorCode::InvalidValue,
            format!("Invalid value for '{param}': {why}"),
        )
        .param(param)
    }

    /// The `error` server event (same shape in both dialects).
    pub fn to_event(&self) -> Value {
        json!({
            "type": "error",
            "event_id": new_id("event"),
            "error": {
                "type": self.code.error_type(),
                "code": self.code.as_str(),
                "message": self.message,
                "param": self.param,
                "event_id": self.event_id,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_every_field() {
        let e = ProtocolError::missing("session.type")
            .for_event(Some("evt_1".into()))
            .to_event();
        assert_eq!(e["type"], "error");
        assert!(
            e["event_id"]
                .as_str()
                .is_some_and(|s| s.starts_with("event_"))
        );
        assert_eq!(e["error"]["type"], "invalid_request_error");
        assert_eq!(e["error"]["code"], "missing_required_parameter");
        assert_eq!(e["error"]["param"], "session.type");
        assert_eq!(e["error"]["event_id"], "evt_1");
    }
}
