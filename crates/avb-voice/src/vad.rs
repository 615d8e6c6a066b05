//! Turn detection (`server_vad`): WebRTC's voice activity detector on 30 ms frames at 16 kHz,
//! with OpenAI's timing rules (speech must last a few frames to start a turn; the turn ends after
//! `silence_duration_ms` of silence).

use crate::audio::Resampler;
use webrtc_vad::{SampleRate, Vad, VadMode};

/// A change of turn, in milliseconds of input audio since the session began.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TurnEvent {
    SpeechStarted { audio_start_ms: u64 },
    SpeechStopped { audio_end_ms: u64 },
}

const FRAME: usize = 480;
const FRAME_MS: u64 = 30;
/// Voiced time needed before a turn starts (filters clicks).
const START_MS: u64 = 150;

/// Tracks speech across appended audio.
pub struct TurnDetector {
    mode: u8,
    silence_ms: u64,
    resampler: Resampler,
    pending: Vec<i16>,
    processed_ms: u64,
    speaking: bool,
    voiced_run: u64,
    silent_run: u64,
}

impl TurnDetector {
    /// A detector for input at `input_rate` Hz; `threshold` (0..1) picks the aggressiveness.
    pub fn new(input_rate: u32, threshold: f64, silence_duration_ms: u32) -> Self {
        let mode = match threshold {
            t if t < 0.25 => 0,
            t if t < 0.5 => 1,
            t if t < 0.75 => 2,
            _ => 3,
        };
        Self {
            mode,
            silence_ms: silence_duration_ms.max(FRAME_MS as u32) as u64,
            resampler: Resampler::new(input_rate, 16_000),
            pending: Vec::new(),
            processed_ms: 0,
            speaking: false,
            voiced_run: 0,
            silent_run: 0,
        }
    }

    /// Whether a turn is in progress.
    pub fn speaking(&self) -> bool {
        self.speaking
    }

    /// Milliseconds of silence since the turn's last voiced frame (0 outside a turn or while
    /// voiced): a turn that has paused this long may be transcribed early.
    pub fn silent_ms(&self) -> u64 {
        if self.speaking { self.silent_run } else { 0 }
    }

    /// The configured silence that ends a turn.
    pub fn silence_duration_ms(&self) -> u64 {
        self.silence_ms
    }

    /// Classifies new audio and reports turn changes.
    pub fn push(&mut self, samples: &[i16]) -> Vec<TurnEvent> {
        self.pending.extend(self.resampler.process(samples));
        let mut events = Vec::new();
        if self.pending.len() < FRAME {
            return events;
        }
        // The detector is cheap to make and not `Send`, so it lives only inside this call.
        let mode = match self.mode {
            0 => VadMode::Quality,
            1 => VadMode::LowBitrate,
            2 => VadMode::Aggressive,
            _ => VadMode::VeryAggressive,
        };
        let mut vad = Vad::new_with_rate_and_mode(SampleRate::Rate16kHz, mode);
        let mut offset = 0;
        while self.pending.len() - offset >= FRAME {
            let voiced = vad
                .is_voice_segment(&self.pending[offset..offset + FRAME])
                .unwrap_or(false);
            offset += FRAME;
            self.processed_ms += FRAME_MS;
            if self.speaking {
                if voiced {
                    self.silent_run = 0;
                } else {
                    self.silent_run += FRAME_MS;
                    if self.silent_run >= self.silence_ms {
                        self.speaking = false;
                        events.push(TurnEvent::SpeechStopped {
                            audio_end_ms: self.processed_ms - self.silent_run,
                        });
                        self.silent_run = 0;
                        self.voiced_run = 0;
                    }
                }
            } else if voiced {
                self.voiced_run += FRAME_MS;
                if self.voiced_run >= START_MS {
                    self.speaking = true;
                    events.push(TurnEvent::SpeechStarted {
                        audio_start_ms: self.processed_ms - self.voiced_run,
                    });
                }
            } else {
                self.voiced_run = 0;
            }
        }
        self.pending.drain(..offset);
        events
    }
}

/// A voiced test signal (two harmonics plus noise) and silence, for tests and benchmarks.
pub fn synthetic_voice(ms: u64, rate: u32) -> Vec<i16> {
    let n = (ms * rate as u64 / 1000) as usize;
    let mut seed: u32 = 7;
    (0..n)
        .map(|i| {
            seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let noise = ((seed >> 16) % 2000) as f64 - 1000.0;
            let t = i as f64 / rate as f64;
            let v = (t * 2.0 * std::f64::consts::PI * 220.0).sin() * 6000.0
                + (t * 2.0 * std::f64::consts::PI * 660.0).sin() * 3000.0
                + noise;
            v as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voiced_burst_is_one_turn() {
        let mut d = TurnDetector::new(24_000, 0.5, 500);
        let mut events = Vec::new();
        let mut audio = vec![0i16; 24_000 * 6 / 10];
        audio.extend(synthetic_voice(900, 24_000));
        audio.extend(vec![0i16; 24_000]);
        for chunk in audio.chunks(1234) {
            events.extend(d.push(chunk));
        }
        assert_eq!(events.len(), 2, "{events:?}");
        match (events[0], events[1]) {
            (
                TurnEvent::SpeechStarted { audio_start_ms },
                TurnEvent::SpeechStopped { audio_end_ms },
            ) => {
                assert!((540..=690).contains(&audio_start_ms), "{audio_start_ms}");
                assert!((1440..=1590).contains(&audio_end_ms), "{audio_end_ms}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!d.speaking());
    }

    #[test]
    fn the_pause_before_the_end_of_a_turn_is_measured() {
        let mut d = TurnDetector::new(24_000, 0.5, 500);
        d.push(&synthetic_voice(600, 24_000));
        assert!(d.speaking());
        assert_eq!(d.silent_ms(), 0);
        d.push(&vec![0i16; 24_000 * 3 / 10]);
        assert!(
            (240..=330).contains(&d.silent_ms()),
            "{} ms of silence",
            d.silent_ms()
        );
        d.push(&synthetic_voice(300, 24_000));
        assert_eq!(d.silent_ms(), 0, "speech resumed");
        assert_eq!(d.silence_duration_ms(), 500);
    }

    #[test]
    fn silence_and_short_clicks_are_not_turns() {
        let mut d = TurnDetector::new(24_000, 0.5, 500);
        assert!(d.push(&vec![0i16; 48_000]).is_empty());
        let mut click = synthetic_voice(30, 24_000);
        click.extend(vec![0i16; 24_000]);
        assert!(d.push(&click).is_empty());
    }
}
