//! Voice engines behind traits, with adapters that speak OpenAI-compatible HTTP so that
//! OpenAI, Groq, Ollama, vLLM and llama.cpp's server all plug in by URL and key.

pub mod llm;
pub mod sse;

pub use llm::{ChatMessage, ChatModel, ChatRequest, ChatStream, EngineError, LlmDelta, OpenAiChat};
