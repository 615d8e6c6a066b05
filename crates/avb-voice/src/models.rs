//! `GET {base}/models` of an OpenAI-compatible server (OpenAI, Groq, Ollama, llama.cpp,
//! faster-whisper-server, our `stt_server.py`): the model ids it serves.

use crate::llm::{EngineError, status_error};
use serde_json::Value;

/// The ids listed by `GET {base_url}/models` (`{"data": [{"id": ...}]}`), in the server's order.
/// `stage` names the engine in errors (`stt`, `llm`).
pub async fn list_models(
    http: &reqwest::Client,
    base_url: &str,
    api_key: Option<&str>,
    stage: &'static str,
) -> Result<Vec<String>, EngineError> {
    let fail = |message: String| EngineError::Failed { stage, message };
    let mut req = http.get(format!("{}/models", base_url.trim_end_matches('/')));
    if let Some(k) = api_key.filter(|k| !k.is_empty()) {
        req = req.bearer_auth(k);
    }
    let res = req.send().await.map_err(|e| {
        if e.is_timeout() {
            EngineError::Timeout(stage)
        } else {
            fail(without_url(&e))
        }
    })?;
    let status = res.status();
    let body = res.text().await.map_err(|e| fail(without_url(&e)))?;
    if !status.is_success() {
        return Err(status_error(stage, status, &body));
    }
    let v: Value = serde_json::from_str(&body)
        .map_err(|_| fail("the answer to /models is not JSON".into()))?;
    let data = v
        .get("data")
        .or_else(|| v.get("models"))
        .and_then(Value::as_array)
        .ok_or_else(|| fail("the answer to /models has no data list".into()))?;
    Ok(data
        .iter()
        .filter_map(|m| {
            m.get("id")
                .or_else(|| m.get("name"))
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .collect())
}

/// A reqwest error's text with its causes, without the URL (the caller names the engine).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut msg = if e.is_connect() {
        "connection failed".to_string()
    } else if e.is_timeout() {
        "timed out".to_string()
    } else {
        "request failed".to_string()
    };
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = format!("{msg}: {s}");
        src = s.source();
    }
    msg
}
