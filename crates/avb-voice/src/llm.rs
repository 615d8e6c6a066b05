//! Chat models: the `ChatModel` trait and the OpenAI-compatible streaming adapter
//! (`POST {base}/chat/completions` with `stream: true`).

use crate::sse::SseDecoder;
use futures::StreamExt;
use futures::stream::BoxStream;
use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// Why an engine call failed.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum EngineError {
    /// No engine is configured for this stage.
    #[error("no {0} engine is configured")]
    NotConfigured(&'static str),
    /// The engine did not answer in time.
    #[error("{0} engine timed out")]
    Timeout(&'static str),
    /// The engine failed in a way worth retrying (network, 5xx, malformed answer).
    #[error("{stage} engine failed: {message}")]
    Failed {
        stage: &'static str,
        message: String,
    },
    /// The engine refused the request (4xx): retrying will not help.
    #[error("{stage} engine refused the request: {message}")]
    Rejected {
        stage: &'static str,
        message: String,
    },
    /// Too many recent failures: calls are refused until the circuit closes.
    #[error("{0} engine is unavailable (circuit open after repeated failures)")]
    CircuitOpen(&'static str),
}

impl EngineError {
    /// What went wrong, without the "<stage> engine failed:" the display adds (for carrying
    /// the error to another process, which wraps it again).
    pub fn detail(&self) -> String {
        match self {
            EngineError::Failed { message, .. } | EngineError::Rejected { message, .. } => {
                message.clone()
            }
            other => other.to_string(),
        }
    }

    /// Whether another attempt may succeed.
    pub fn retryable(&self) -> bool {
        matches!(self, EngineError::Failed { .. } | EngineError::Timeout(_))
    }
}

/// The error for a non-success HTTP status: 4xx are refusals (except 408/429), the rest failures.
pub(crate) fn status_error(
    stage: &'static str,
    status: reqwest::StatusCode,
    body: &str,
) -> EngineError {
    let message = format!(
        "HTTP {status}: {}",
        body.chars().take(300).collect::<String>()
    );
    let retry = matches!(status.as_u16(), 408 | 429) || !status.is_client_error();
    if retry {
        EngineError::Failed { stage, message }
    } else {
        EngineError::Rejected { stage, message }
    }
}

/// One chat message.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ChatMessage {
    pub role: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
}

impl ChatMessage {
    /// A plain text message.
    pub fn text(role: &str, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: Some(content.into()),
            tool_calls: None,
            tool_call_id: None,
        }
    }
}

/// A chat request.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatRequest {
    pub model: String,
    pub messages: Vec<ChatMessage>,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// OpenAI `tools` (function definitions in chat-completions shape).
    pub tools: Vec<Value>,
}

/// A piece of a streamed answer.
#[derive(Debug, Clone, PartialEq)]
pub enum LlmDelta {
    /// Text tokens.
    Text(String),
    /// A tool call fragment: index, id and name (first fragment), arguments fragment.
    ToolCall {
        index: u32,
        id: Option<String>,
        name: Option<String>,
        arguments: String,
    },
    /// Token usage reported at the end.
    Usage {
        input_tokens: u64,
        output_tokens: u64,
    },
}

/// A stream of deltas.
pub type ChatStream = BoxStream<'static, Result<LlmDelta, EngineError>>;

/// A chat model that streams.
#[async_trait::async_trait]
pub trait ChatModel: Send + Sync {
    /// Starts a streamed completion.
    async fn stream(&self, req: ChatRequest) -> Result<ChatStream, EngineError>;
}

/// OpenAI-compatible `/chat/completions` over HTTP.
pub struct OpenAiChat {
    base_url: String,
    api_key: Option<String>,
    http: reqwest::Client,
    first_byte_timeout: Duration,
}

impl OpenAiChat {
    /// An adapter for `base_url` (e.g. `https://api.groq.com/openai/v1`, `http://127.0.0.1:8081/v1`).
    pub fn new(
        base_url: &str,
        api_key: Option<String>,
        first_byte_timeout: Duration,
    ) -> Result<Self, EngineError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| EngineError::Failed {
                stage: "llm",
                message: e.to_string(),
            })?;
        Ok(Self::with_client(
            base_url,
            api_key,
            http,
            first_byte_timeout,
        ))
    }

    /// An adapter over a client built by the caller (for tenant-chosen endpoints: a client
    /// that checks where it connects and follows no redirects).
    pub fn with_client(
        base_url: &str,
        api_key: Option<String>,
        http: reqwest::Client,
        first_byte_timeout: Duration,
    ) -> Self {
        Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key,
            http,
            first_byte_timeout,
        }
    }
}

fn parse_chunk(data: &str) -> Vec<Result<LlmDelta, EngineError>> {
    let Ok(v) = serde_json::from_str::<Value>(data) else {
        return vec![Err(EngineError::Failed {
            stage: "llm",
            message: "malformed stream chunk".into(),
        })];
    };
    let mut out = Vec::new();
    if let Some(err) = v.get("error") {
        out.push(Err(EngineError::Failed {
            stage: "llm",
            message: err.to_string(),
        }));
        return out;
    }
    if let Some(delta) = v.pointer("/choices/0/delta") {
        if let Some(text) = delta
            .get("content")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
        {
            out.push(Ok(LlmDelta::Text(text.to_string())));
        }
        for call in delta
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            out.push(Ok(LlmDelta::ToolCall {
                index: call.get("index").and_then(Value::as_u64).unwrap_or(0) as u32,
                id: call.get("id").and_then(Value::as_str).map(str::to_string),
                name: call
                    .pointer("/function/name")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                arguments: call
                    .pointer("/function/arguments")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            }));
        }
    }
    if let Some(u) = v.get("usage").filter(|u| u.is_object()) {
        out.push(Ok(LlmDelta::Usage {
            input_tokens: u.get("prompt_tokens").and_then(Value::as_u64).unwrap_or(0),
            output_tokens: u
                .get("completion_tokens")
                .and_then(Value::as_u64)
                .unwrap_or(0),
        }));
    }
    out
}

#[async_trait::async_trait]
impl ChatModel for OpenAiChat {
    async fn stream(&self, req: ChatRequest) -> Result<ChatStream, EngineError> {
        let mut body = json!({
            "model": req.model, "messages": req.messages, "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(m) = req.max_tokens {
            body["max_tokens"] = json!(m);
        }
        if !req.tools.is_empty() {
            body["tools"] = json!(req.tools);
        }
        let mut call = self
            .http
            .post(format!("{}/chat/completions", self.base_url))
            .json(&body);
        if let Some(k) = &self.api_key {
            call = call.bearer_auth(k);
        }
        let res = tokio::time::timeout(self.first_byte_timeout, call.send())
            .await
            .map_err(|_| EngineError::Timeout("llm"))?
            .map_err(|e| EngineError::Failed {
                stage: "llm",
                message: e.to_string(),
            })?;
        if !res.status().is_success() {
            let status = res.status();
            let text = res.text().await.unwrap_or_default();
            return Err(status_error("llm", status, &text));
        }
        let mut decoder = SseDecoder::default();
        let stream = res
            .bytes_stream()
            .map(move |chunk| match chunk {
                Ok(bytes) => decoder
                    .push(&bytes)
                    .into_iter()
                    .filter(|d| d != "[DONE]")
                    .flat_map(|d| parse_chunk(&d))
                    .collect::<Vec<_>>(),
                Err(e) => vec![Err(EngineError::Failed {
                    stage: "llm",
                    message: e.to_string(),
                })],
            })
            .flat_map(futures::stream::iter);
        Ok(stream.boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_text_tool_calls_and_usage() {
        let d = parse_chunk(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#);
        assert_eq!(d, vec![Ok(LlmDelta::Text("Hel".into()))]);
        let d = parse_chunk(
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"id":"call_1","function":{"name":"get_weather","arguments":"{\"ci"}}]}}]}"#,
        );
        assert_eq!(
            d,
            vec![Ok(LlmDelta::ToolCall {
                index: 0,
                id: Some("call_1".into()),
                name: Some("get_weather".into()),
                arguments: "{\"ci".into()
            })]
        );
        let d = parse_chunk(r#"{"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":3}}"#);
        assert_eq!(
            d,
            vec![Ok(LlmDelta::Usage {
                input_tokens: 12,
                output_tokens: 3
            })]
        );
        assert!(parse_chunk("nope")[0].is_err());
    }
}
