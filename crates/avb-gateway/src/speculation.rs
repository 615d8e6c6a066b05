//! Speculation while the VAD waits out the silence that ends a turn: the user's speech is
//! transcribed early, and once the words are known the answer starts too, its events held
//! back. When the turn ends they go out at once; when speech resumes all of it is dropped and
//! the client never sees any of it (and nothing is metered).

use crate::emitter::Emitter;
use crate::error::{GatewayError, Stage};
use crate::response::Partial;
use avb_voice::stt::Transcript;
use futures::FutureExt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;

/// A transcription and how long the engine took.
pub(crate) type Transcribed = (Result<Transcript, GatewayError>, Duration);

/// A speculative transcription of the input buffer's first `audio_len` bytes.
pub(crate) struct EarlyStt {
    pub audio_len: usize,
    state: EarlyState,
}

enum EarlyState {
    Running(JoinHandle<Transcribed>),
    Done(Transcribed),
    Taken,
}

impl EarlyStt {
    pub(crate) fn running(audio_len: usize, task: JoinHandle<Transcribed>) -> Self {
        Self {
            audio_len,
            state: EarlyState::Running(task),
        }
    }

    /// The words, once the transcription has finished with some.
    pub(crate) fn words(&mut self) -> Option<(String, Duration)> {
        if let EarlyState::Running(task) = &mut self.state {
            if !task.is_finished() {
                return None;
            }
            let done = joined(task.now_or_never()?);
            self.state = EarlyState::Done(done);
        }
        match &self.state {
            EarlyState::Done((Ok(t), took)) if !t.text.trim().is_empty() => {
                Some((t.text.clone(), *took))
            }
            _ => None,
        }
    }

    /// The transcription (waiting for it if it still runs).
    pub(crate) async fn result(mut self) -> Transcribed {
        early_outcome("used");
        match std::mem::replace(&mut self.state, EarlyState::Taken) {
            EarlyState::Running(task) => joined(task.await),
            EarlyState::Done(done) => done,
            EarlyState::Taken => (
                Err(GatewayError::failed(
                    Stage::Stt,
                    "the transcription was already used",
                )),
                Duration::ZERO,
            ),
        }
    }
}

/// A finished transcription task's result (a task that panicked or was aborted failed).
fn joined(r: Result<Transcribed, tokio::task::JoinError>) -> Transcribed {
    r.unwrap_or_else(|e| (Err(GatewayError::task(Stage::Stt, e)), Duration::ZERO))
}

impl Drop for EarlyStt {
    /// An unused transcription stops (its HTTP request is dropped), and is counted as wasted.
    fn drop(&mut self) {
        match &self.state {
            EarlyState::Running(t) => {
                t.abort();
                early_outcome("wasted");
            }
            EarlyState::Done(_) => early_outcome("wasted"),
            EarlyState::Taken => {}
        }
    }
}

/// Counts early transcriptions by outcome (`used`: the turn ended on the speech it heard;
/// `wasted`: speech resumed, or the session moved on):
/// `avb_realtime_early_transcriptions_total{outcome}`.
fn early_outcome(outcome: &'static str) {
    metrics::counter!("avb_realtime_early_transcriptions_total", "outcome" => outcome).increment(1);
}

/// When, in a pause, the early transcription starts. Earlier overlaps more of the silence
/// window with the transcription (a CPU whisper needs 0.35-0.5 s, most of a 550 ms window);
/// later wastes less on pauses inside a sentence (speech that resumes cancels it, but the
/// engine still finishes the clip it was sent). It starts a tenth into the window (40 to
/// 200 ms), and each pause the speaker went on after raises that for the session to just past
/// that pause, at most a third of the window: a speaker's mid-sentence pauses waste a few
/// transcriptions, not one each.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct EarlyStart {
    /// Learned from pauses that speech resumed after (0: none yet).
    learned_ms: u64,
}

impl EarlyStart {
    /// Milliseconds of silence after which a turn with a `silence_ms` window is transcribed.
    pub(crate) fn after_ms(&self, silence_ms: u64) -> u64 {
        let first = (silence_ms / 10).clamp(40, 200);
        first.max(self.learned_ms.min(silence_ms / 3))
    }

    /// Speech resumed after a pause of `pause_ms` that had started an early transcription.
    pub(crate) fn resumed_after(&mut self, pause_ms: u64) {
        self.learned_ms = self.learned_ms.max(pause_ms + MARGIN_MS);
    }
}

/// How far past a mid-sentence pause the next early transcription waits.
const MARGIN_MS: u64 = 60;

/// A response started before its turn was committed, its events held.
pub(crate) struct Speculation {
    /// The user item the turn will commit.
    pub item_id: String,
    pub response_id: String,
    pub out: Emitter,
    pub partial: Arc<Mutex<Partial>>,
    handle: Option<JoinHandle<()>>,
}

impl Speculation {
    pub(crate) fn new(
        item_id: String,
        response_id: String,
        out: Emitter,
        partial: Arc<Mutex<Partial>>,
        handle: JoinHandle<()>,
    ) -> Self {
        Self {
            item_id,
            response_id,
            out,
            partial,
            handle: Some(handle),
        }
    }

    /// The running task, for the session to own once the turn is committed.
    pub(crate) fn into_handle(mut self) -> JoinHandle<()> {
        self.handle.take().expect("a speculation owns its task")
    }
}

impl Drop for Speculation {
    /// A speculation that was not used stops, and is counted as wasted.
    fn drop(&mut self) {
        if let Some(h) = self.handle.take() {
            h.abort();
            outcome("wasted");
        }
    }
}

/// Counts speculations by outcome (`used`, `wasted`):
/// `avb_realtime_speculations_total{outcome}`.
pub(crate) fn outcome(outcome: &'static str) {
    metrics::counter!("avb_realtime_speculations_total", "outcome" => outcome).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_moves_past_the_pauses_a_speaker_goes_on_after() {
        let mut start = EarlyStart::default();
        assert_eq!(start.after_ms(550), 55);
        assert_eq!(start.after_ms(200), 40);
        assert_eq!(start.after_ms(3000), 200);
        start.resumed_after(60);
        assert_eq!(start.after_ms(550), 120);
        start.resumed_after(30);
        assert_eq!(start.after_ms(550), 120, "a shorter pause teaches nothing");
        start.resumed_after(300);
        assert_eq!(start.after_ms(550), 183, "at most a third of the window");
        assert_eq!(start.after_ms(1500), 360);
    }
}
