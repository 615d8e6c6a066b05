//! Voice engines behind traits, with adapters that speak OpenAI-compatible HTTP so that
//! OpenAI, Groq, Ollama, vLLM and llama.cpp's server all plug in by URL and key.

pub mod audio;
pub mod chunker;
pub mod custom_voice;
pub mod llm;
pub mod models;
pub mod resilience;
pub mod sample_check;
pub mod solvers;
pub mod sse;
pub mod stretch;
pub mod stt;
pub mod tts;
pub mod vad;
pub mod wakeword;

pub use custom_voice::{
    FitProgress, MadeVoice, RemoteCloneMaker, RemoteCloneSpeech, StockBlendMaker, VoiceMaker,
    VoiceMethod, VoiceRouter,
};
pub use llm::{ChatMessage, ChatModel, ChatRequest, ChatStream, EngineError, LlmDelta, OpenAiChat};
pub use models::list_models;
pub use stt::{DetailedTranscript, OpenAiTranscriber, SpeechToText, TranscribeOptions};
pub use tts::{OpenAiSpeech, TextToSpeech};
