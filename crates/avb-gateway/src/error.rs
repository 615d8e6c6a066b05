//! What goes wrong in a turn: a stage (speech to text, the LLM, text to speech, an OVOS skill,
//! a knowledge solver) fails, or the client's request is refused. One type carries both, counts
//! and logs a stage failure ([`GatewayError::report`]) and says it to the client as an
//! `engine_unavailable` error ([`GatewayError::client_error`]).

use avb_realtime::{ErrorCode, ProtocolError};
use avb_voice::EngineError;

/// A stage of a voice turn, as named in metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Speech to text.
    Stt,
    /// The chat model.
    Llm,
    /// Text to speech.
    Tts,
    /// An OVOS skill, asked before the LLM.
    Skill,
    /// A persona's knowledge solver, asked before the LLM.
    Solver,
}

impl Stage {
    /// The `stage` label of `avb_realtime_stage_errors_total` and of the log line.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Stage::Stt => "stt",
            Stage::Llm => "llm",
            Stage::Tts => "tts",
            Stage::Skill => "skill",
            Stage::Solver => "solver",
        }
    }

    /// What an `error` event says failed, for the stages whose failure does not end the
    /// response (so nothing else tells the client which stage it was).
    fn client_prefix(self) -> Option<&'static str> {
        match self {
            Stage::Stt => Some("speech to text"),
            Stage::Tts => Some("text to speech"),
            Stage::Llm | Stage::Skill | Stage::Solver => None,
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure of one stage of a turn, or of the protocol.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum GatewayError {
    /// No engine is configured for the stage.
    #[error("{}", not_configured(*.0))]
    NotConfigured(Stage),
    /// The stage failed; `message` says how (an engine's error as the engine words it).
    #[error("{message}")]
    Stage { stage: Stage, message: String },
    /// The client's request was refused.
    #[error(transparent)]
    Protocol(ProtocolError),
}

/// What a stage without an engine means for the turn.
fn not_configured(stage: Stage) -> &'static str {
    match stage {
        Stage::Stt => "no speech-to-text engine is configured",
        Stage::Llm => "no LLM engine is configured (engines.llm_url)",
        Stage::Tts => {
            "no text-to-speech engine is configured; the answer is sent as its transcript only"
        }
        Stage::Skill => "ovos-core is not configured",
        Stage::Solver => "no knowledge solver is configured",
    }
}

impl GatewayError {
    /// `stage` failed as `message` says.
    pub(crate) fn stage(stage: Stage, message: impl Into<String>) -> Self {
        Self::Stage {
            stage,
            message: message.into(),
        }
    }

    /// `stage`'s engine failed. The stage is the caller's, not the engine error's: speech to
    /// text through the work queue fails as `queue`, and is still the `stt` stage.
    pub(crate) fn engine(stage: Stage, error: EngineError) -> Self {
        Self::stage(stage, error.to_string())
    }

    /// `stage` failed in the engines' words: "<stage> engine failed: <why>".
    pub(crate) fn failed(stage: Stage, why: impl std::fmt::Display) -> Self {
        Self::stage(stage, format!("{stage} engine failed: {why}"))
    }

    /// A spawned task of `stage` that panicked or was aborted.
    pub(crate) fn task(stage: Stage, error: tokio::task::JoinError) -> Self {
        Self::failed(stage, error)
    }

    /// The stage that failed; none for a protocol error.
    pub(crate) fn failed_stage(&self) -> Option<Stage> {
        match self {
            Self::NotConfigured(stage) | Self::Stage { stage, .. } => Some(*stage),
            Self::Protocol(_) => None,
        }
    }

    /// Counts and logs a stage failure for `tenant` (see [`crate::metrics::stage_failed`]); a
    /// protocol error is the client's, not a stage's, and is not counted.
    pub(crate) fn report(&self, tenant: &str) {
        if let Some(stage) = self.failed_stage() {
            crate::metrics::stage_failed(stage, tenant, self);
        }
    }

    /// The error for an `error` event: `engine_unavailable`, naming speech to text or text to
    /// speech (the LLM's failure is the response's own); a protocol error as it is.
    pub(crate) fn client_error(&self) -> ProtocolError {
        match self {
            Self::Stage { stage, message } => match stage.client_prefix() {
                Some(prefix) => engine_unavailable(format!("{prefix}: {message}")),
                None => engine_unavailable(message.clone()),
            },
            Self::NotConfigured(_) => engine_unavailable(self.to_string()),
            Self::Protocol(e) => e.clone(),
        }
    }

    /// The error inside an event that already names the stage (the input transcription's
    /// `failed` event): `engine_unavailable` with the bare message.
    pub(crate) fn stage_event_error(&self) -> ProtocolError {
        match self {
            Self::Protocol(e) => e.clone(),
            _ => engine_unavailable(self.to_string()),
        }
    }
}

fn engine_unavailable(message: String) -> ProtocolError {
    ProtocolError::new(ErrorCode::EngineUnavailable, message)
}

impl From<ProtocolError> for GatewayError {
    fn from(e: ProtocolError) -> Self {
        Self::Protocol(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_keep_their_metric_names() {
        let names: Vec<&str> = [
            Stage::Stt,
            Stage::Llm,
            Stage::Tts,
            Stage::Skill,
            Stage::Solver,
        ]
        .into_iter()
        .map(Stage::as_str)
        .collect();
        assert_eq!(names, ["stt", "llm", "tts", "skill", "solver"]);
        assert_eq!(Stage::Tts.to_string(), "tts");
    }

    #[test]
    fn an_engine_error_keeps_its_words_and_takes_the_callers_stage() {
        let e = GatewayError::engine(
            Stage::Stt,
            EngineError::Failed {
                stage: "queue",
                message: "connection refused".into(),
            },
        );
        assert_eq!(e.failed_stage(), Some(Stage::Stt));
        assert_eq!(e.to_string(), "queue engine failed: connection refused");
        let timeout = GatewayError::engine(Stage::Llm, EngineError::Timeout("llm"));
        assert_eq!(timeout.to_string(), "llm engine timed out");
    }

    #[test]
    fn the_client_is_told_which_stage_failed_unless_it_is_the_llm() {
        let failed = |stage| GatewayError::failed(stage, "HTTP 500").client_error();
        let stt = failed(Stage::Stt);
        assert_eq!(stt.code, ErrorCode::EngineUnavailable);
        assert_eq!(stt.message, "speech to text: stt engine failed: HTTP 500");
        assert_eq!(
            failed(Stage::Tts).message,
            "text to speech: tts engine failed: HTTP 500"
        );
        let llm = failed(Stage::Llm);
        assert_eq!(llm.code, ErrorCode::EngineUnavailable);
        assert_eq!(llm.message, "llm engine failed: HTTP 500");
        assert_eq!(
            GatewayError::failed(Stage::Stt, "HTTP 500")
                .stage_event_error()
                .message,
            "stt engine failed: HTTP 500"
        );
    }

    #[test]
    fn a_missing_engine_says_what_the_turn_does_without_it() {
        let llm = GatewayError::NotConfigured(Stage::Llm);
        assert_eq!(llm.failed_stage(), Some(Stage::Llm));
        assert_eq!(
            llm.client_error().message,
            "no LLM engine is configured (engines.llm_url)"
        );
        assert_eq!(llm.client_error().code, ErrorCode::EngineUnavailable);
        assert_eq!(
            GatewayError::NotConfigured(Stage::Tts)
                .client_error()
                .message,
            "no text-to-speech engine is configured; the answer is sent as its transcript only"
        );
        assert_eq!(
            GatewayError::NotConfigured(Stage::Stt)
                .stage_event_error()
                .message,
            "no speech-to-text engine is configured"
        );
    }

    #[test]
    fn a_protocol_error_passes_through_and_names_no_stage() {
        let refused = ProtocolError::invalid("response.instructions", "expected a string");
        let e = GatewayError::from(refused.clone());
        assert_eq!(e.failed_stage(), None);
        assert_eq!(e.client_error(), refused);
        assert_eq!(e.stage_event_error(), refused);
        assert_eq!(e.to_string(), refused.message);
    }

    #[tokio::test]
    async fn a_task_that_died_fails_its_stage() {
        let task = tokio::spawn(std::future::pending::<()>());
        task.abort();
        let Err(join) = task.await else {
            panic!("an aborted task has no result");
        };
        let e = GatewayError::task(Stage::Stt, join);
        assert_eq!(e.failed_stage(), Some(Stage::Stt));
        assert!(
            e.to_string().starts_with("stt engine failed: task ")
                && e.to_string().ends_with("was cancelled"),
            "{e}"
        );
        assert!(
            e.client_error()
                .message
                .starts_with("speech to text: stt engine failed: "),
            "{e}"
        );
    }
}
