//! Custom voices (B13): a job turns a tenant's voice sample into a voice an engine can speak
//! with. Two makers sit behind [`VoiceMaker`]: [`StockBlendMaker`] (the local voicelab sidecar
//! finds the closest blend of stock Kokoro voices) and [`RemoteCloneMaker`] (an
//! ElevenLabs-compatible cloning API). [`VoiceRouter`] sends each voice to the engine that
//! speaks it.

mod remote_clone;
mod router;
mod stock_blend;

pub use remote_clone::{REMOTE_PREFIX, RemoteCloneMaker, RemoteCloneSpeech};
pub use router::VoiceRouter;
pub use stock_blend::StockBlendMaker;

use crate::llm::EngineError;

/// How a custom voice is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VoiceMethod {
    /// The closest blend of stock voices, made locally by voicelab.
    StockBlend,
    /// A clone made by a remote cloning API.
    RemoteClone,
}

impl VoiceMethod {
    /// The stored name: `"stock_blend"` or `"remote_clone"`.
    pub fn as_str(self) -> &'static str {
        match self {
            VoiceMethod::StockBlend => "stock_blend",
            VoiceMethod::RemoteClone => "remote_clone",
        }
    }
}

impl std::fmt::Display for VoiceMethod {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for VoiceMethod {
    type Err = String;

    /// Parses a stored name (see [`VoiceMethod::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "stock_blend" => Ok(VoiceMethod::StockBlend),
            "remote_clone" => Ok(VoiceMethod::RemoteClone),
            other => Err(format!("unknown voice method {other:?}")),
        }
    }
}

/// One progress report of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct FitProgress {
    /// How far the job is, 0.0 to 1.0.
    pub fraction: f32,
    /// What it is doing, for people.
    pub stage: String,
}

/// What a maker produced.
#[derive(Debug, Clone, PartialEq)]
pub struct MadeVoice {
    /// What [`crate::TextToSpeech::speak`] receives as `voice`.
    pub engine_voice: String,
    /// Speaker similarity reached (stock blend: on the unseen check sentence).
    pub similarity: Option<f64>,
    /// The single stock voice closest to the sample, when the engine reports it.
    pub best_stock_voice: Option<String>,
    /// That stock voice's similarity.
    pub best_stock_similarity: Option<f64>,
    /// The engine's full final report.
    pub details: serde_json::Value,
}

/// Makes custom voices from voice samples.
#[async_trait::async_trait]
pub trait VoiceMaker: Send + Sync {
    /// How this maker makes voices.
    fn method(&self) -> VoiceMethod;
    /// Makes a voice named `name` from a WAV sample, reporting progress on `progress` (send
    /// errors ignored).
    async fn make(
        &self,
        name: &str,
        sample_wav: Vec<u8>,
        progress: tokio::sync::mpsc::UnboundedSender<FitProgress>,
    ) -> Result<MadeVoice, EngineError>;
    /// Removes what `make` created on the engine (stock blends: nothing to do).
    async fn remove(&self, engine_voice: &str) -> Result<(), EngineError>;
}

/// The error stage of voice making.
const STAGE: &str = "voice";

/// A [`EngineError::Failed`] of voice making.
fn failed(message: impl Into<String>) -> EngineError {
    EngineError::Failed {
        stage: STAGE,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::VoiceMethod;

    #[test]
    fn method_names_round_trip() {
        for m in [VoiceMethod::StockBlend, VoiceMethod::RemoteClone] {
            assert_eq!(m.as_str().parse::<VoiceMethod>(), Ok(m));
        }
        assert!("clone".parse::<VoiceMethod>().is_err());
    }
}
