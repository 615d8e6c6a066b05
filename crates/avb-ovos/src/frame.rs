//! OVOS messages: a text frame holding one JSON object with a string `type`, and optional
//! `data` and `context` objects.

use serde_json::{Value, json};

/// A frame that passed the checks, kept as received (relayed verbatim) with its type.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: String,
    pub text: std::sync::Arc<str>,
}

impl Frame {
    /// Checks `text` is an OVOS message; the reason when it is not.
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let v: Value = serde_json::from_str(text).map_err(|_| "not JSON")?;
        let kind = v
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty() && t.len() <= 256)
            .ok_or("no message type")?;
        for k in ["data", "context"] {
            if v.get(k).is_some_and(|d| !d.is_object() && !d.is_null()) {
                return Err("data and context must be objects");
            }
        }
        Ok(Self {
            kind: kind.to_string(),
            text: text.into(),
        })
    }
}

/// An OVOS message as text.
pub fn message(kind: &str, data: Value, context: Value) -> String {
    json!({"type": kind, "data": data, "context": context}).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_ovos_messages_pass() {
        assert_eq!(
            Frame::parse(r#"{"type":"speak","data":{},"context":{}}"#)
                .unwrap()
                .kind,
            "speak"
        );
        assert!(Frame::parse(r#"{"type":"avb.nodata"}"#).is_ok());
        assert_eq!(Frame::parse("this is not json").unwrap_err(), "not JSON");
        assert_eq!(
            Frame::parse(r#"{"data":{}}"#).unwrap_err(),
            "no message type"
        );
        assert!(Frame::parse(r#"{"type":"x","data":[1]}"#).is_err());
    }
}
