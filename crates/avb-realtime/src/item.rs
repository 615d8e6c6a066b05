//! Conversation items: parsed from `conversation.item.create`, rendered per dialect (assistant
//! parts are `text`/`audio` in beta and `output_text`/`output_audio` in GA).

use crate::dialect::Dialect;
use crate::error::ProtocolError;
use crate::ids::new_id;
use serde_json::{Value, json};

/// Who said it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
    System,
}

impl Role {
    fn as_str(&self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
            Role::System => "system",
        }
    }
}

/// A part of a message.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentPart {
    /// User or system text.
    InputText(String),
    /// User audio; the transcript fills in after speech-to-text.
    InputAudio { transcript: Option<String> },
    /// Assistant text.
    Text(String),
    /// Assistant audio with what it says.
    Audio { transcript: String },
}

impl ContentPart {
    /// The part as the client sees it.
    pub fn render(&self, dialect: Dialect) -> Value {
        match (self, dialect) {
            (ContentPart::InputText(t), _) => json!({"type": "input_text", "text": t}),
            (ContentPart::InputAudio { transcript }, _) => {
                json!({"type": "input_audio", "transcript": transcript})
            }
            (ContentPart::Text(t), Dialect::Beta) => json!({"type": "text", "text": t}),
            (ContentPart::Text(t), Dialect::Ga) => json!({"type": "output_text", "text": t}),
            (ContentPart::Audio { transcript }, Dialect::Beta) => {
                json!({"type": "audio", "transcript": transcript})
            }
            (ContentPart::Audio { transcript }, Dialect::Ga) => {
                json!({"type": "output_audio", "transcript": transcript})
            }
        }
    }

    /// The text this part contributes to a chat prompt.
    pub fn text(&self) -> Option<&str> {
        match self {
            ContentPart::InputText(t) | ContentPart::Text(t) => Some(t),
            ContentPart::InputAudio { transcript } => transcript.as_deref(),
            ContentPart::Audio { transcript } => Some(transcript),
        }
    }
}

/// What an item is.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemKind {
    Message {
        role: Role,
        content: Vec<ContentPart>,
    },
    FunctionCall {
        name: String,
        call_id: String,
        arguments: String,
    },
    FunctionCallOutput {
        call_id: String,
        output: String,
    },
}

/// A conversation item.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub id: String,
    pub kind: ItemKind,
    /// `completed`, `incomplete` or `in_progress`.
    pub status: &'static str,
}

impl Item {
    /// A new item with a server id.
    pub fn new(kind: ItemKind, status: &'static str) -> Self {
        Self {
            id: new_id("item"),
            kind,
            status,
        }
    }

    /// Parses the `item` of `conversation.item.create`.
    pub fn from_client(v: &Value) -> Result<Self, ProtocolError> {
        let obj = v
            .as_object()
            .ok_or_else(|| ProtocolError::invalid("item", "expected an object"))?;
        let id = match obj.get("id").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && id.len() <= 64 => id.to_string(),
            Some(_) => {
                return Err(ProtocolError::invalid(
                    "item.id",
                    "must be 1..64 characters",
                ));
            }
            None => new_id("item"),
        };
        let text_of = |p: &str, v: Option<&Value>| -> Result<String, ProtocolError> {
            v.and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| ProtocolError::missing(p))
        };
        let kind = match obj.get("type").and_then(Value::as_str) {
            Some("message") => {
                let role = match obj.get("role").and_then(Value::as_str) {
                    Some("user") => Role::User,
                    Some("assistant") => Role::Assistant,
                    Some("system") => Role::System,
                    Some(_) => {
                        return Err(ProtocolError::invalid(
                            "item.role",
                            "expected user, assistant or system",
                        ));
                    }
                    None => return Err(ProtocolError::missing("item.role")),
                };
                let parts = obj
                    .get("content")
                    .and_then(Value::as_array)
                    .ok_or_else(|| ProtocolError::missing("item.content"))?;
                let mut content = Vec::with_capacity(parts.len());
                for (i, p) in parts.iter().enumerate() {
                    let param = format!("item.content[{i}]");
                    let text = p.get("text").and_then(Value::as_str).map(str::to_string);
                    let transcript = p
                        .get("transcript")
                        .and_then(Value::as_str)
                        .map(str::to_string);
                    content.push(match (p.get("type").and_then(Value::as_str), role) {
                        (Some("input_text"), Role::User | Role::System) => ContentPart::InputText(
                            text.ok_or_else(|| ProtocolError::missing(&format!("{param}.text")))?,
                        ),
                        (Some("input_audio"), Role::User) => ContentPart::InputAudio { transcript },
                        (Some("text" | "output_text"), Role::Assistant) => ContentPart::Text(
                            text.ok_or_else(|| ProtocolError::missing(&format!("{param}.text")))?,
                        ),
                        (Some("audio" | "output_audio"), Role::Assistant) => ContentPart::Audio {
                            transcript: transcript.unwrap_or_default(),
                        },
                        _ => {
                            return Err(ProtocolError::invalid(
                                &format!("{param}.type"),
                                "not a valid part for this role",
                            ));
                        }
                    });
                }
                ItemKind::Message { role, content }
            }
            Some("function_call") => ItemKind::FunctionCall {
                name: text_of("item.name", obj.get("name"))?,
                call_id: obj
                    .get("call_id")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| new_id("call")),
                arguments: text_of("item.arguments", obj.get("arguments"))?,
            },
            Some("function_call_output") => ItemKind::FunctionCallOutput {
                call_id: text_of("item.call_id", obj.get("call_id"))?,
                output: text_of("item.output", obj.get("output"))?,
            },
            Some(_) => {
                return Err(ProtocolError::invalid(
                    "item.type",
                    "expected message, function_call or function_call_output",
                ));
            }
            None => return Err(ProtocolError::missing("item.type")),
        };
        Ok(Self {
            id,
            kind,
            status: "completed",
        })
    }

    /// The item as the client sees it.
    pub fn render(&self, dialect: Dialect) -> Value {
        let mut v = json!({"id": self.id, "object": "realtime.item", "status": self.status});
        match &self.kind {
            ItemKind::Message { role, content } => {
                v["type"] = json!("message");
                v["role"] = json!(role.as_str());
                v["content"] = Value::Array(content.iter().map(|c| c.render(dialect)).collect());
            }
            ItemKind::FunctionCall {
                name,
                call_id,
                arguments,
            } => {
                v["type"] = json!("function_call");
                v["name"] = json!(name);
                v["call_id"] = json!(call_id);
                v["arguments"] = json!(arguments);
            }
            ItemKind::FunctionCallOutput { call_id, output } => {
                v["type"] = json!("function_call_output");
                v["call_id"] = json!(call_id);
                v["output"] = json!(output);
            }
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_round_trips_and_assistant_parts_follow_the_dialect() {
        let item = Item::from_client(&json!({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}))
            .map_err(|e| e.message)
            .unwrap_or_else(|m| panic!("{m}"));
        assert_eq!(
            item.render(Dialect::Ga)["content"][0],
            json!({"type": "input_text", "text": "hi"})
        );
        let a = Item::new(
            ItemKind::Message {
                role: Role::Assistant,
                content: vec![ContentPart::Text("yo".into())],
            },
            "completed",
        );
        assert_eq!(a.render(Dialect::Beta)["content"][0]["type"], "text");
        assert_eq!(a.render(Dialect::Ga)["content"][0]["type"], "output_text");
    }

    #[test]
    fn bad_items_name_the_field() {
        let cases = [
            (json!({"role": "user"}), "item.type"),
            (json!({"type": "message", "content": []}), "item.role"),
            (
                json!({"type": "message", "role": "user", "content": [{"type": "output_text", "text": "x"}]}),
                "item.content[0].type",
            ),
            (
                json!({"type": "function_call_output", "output": "x"}),
                "item.call_id",
            ),
        ];
        for (v, param) in cases {
            assert_eq!(
                Item::from_client(&v).err().and_then(|e| e.param),
                Some(param.to_string()),
                "{v}"
            );
        }
    }
}
