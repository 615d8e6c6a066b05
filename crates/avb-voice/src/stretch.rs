//! Time stretching without a pitch change (WSOLA: waveform-similarity overlap-add), for speech
//! speeds a TTS engine cannot make itself (fastkokoro accepts 1.0-2.0 only), and the adapter that
//! applies it: the engine renders the nearest speed it supports and the rest is stretched here.

use crate::llm::EngineError;
use crate::tts::{PcmStream, TextToSpeech};
use futures::StreamExt;
use std::sync::Arc;

/// Plays `samples` `speed` times as fast (0.5 = twice as long) at the same pitch.
pub fn time_stretch(samples: &[i16], rate: u32, speed: f64) -> Vec<i16> {
    if !(speed.is_finite() && speed > 0.0) || (speed - 1.0).abs() < 1e-3 {
        return samples.to_vec();
    }
    // 30 ms frames overlapping by half; the next frame may move up to 10 ms to line up. The
    // input is padded on both sides so its first and last samples are fully covered.
    let frame = ((rate as usize) * 30 / 1000).max(16) & !1;
    let hop = frame / 2;
    let tolerance = (rate as usize) / 100;
    let window: Vec<f32> = (0..frame)
        .map(|n| 0.5 - 0.5 * (2.0 * std::f32::consts::PI * n as f32 / frame as f32).cos())
        .collect();
    let mut input = vec![0f32; hop];
    input.extend(samples.iter().map(|&s| f32::from(s)));
    input.extend(std::iter::repeat_n(0f32, frame + 2 * tolerance + hop));
    let n = samples.len();
    let frames = ((hop + n) as f64 / (hop as f64 * speed)).ceil() as usize + 1;
    let mut out = vec![0f32; frames * hop + frame];
    let mut chosen = 0usize;
    for k in 0..frames {
        let start = if k == 0 {
            0
        } else {
            let nominal = (k as f64 * hop as f64 * speed) as usize;
            best_offset(&input, chosen + hop, nominal, tolerance, frame)
        };
        for (i, w) in window.iter().enumerate() {
            if let Some(x) = input.get(start + i) {
                out[k * hop + i] += x * w;
            }
        }
        chosen = start;
    }
    // Frame centres line up (output hop + k * hop plays input hop + k * hop * speed), so the
    // padding in front stays `hop` long in the output: drop it, keep n / speed.
    let skip = hop;
    let len = (n as f64 / speed).round() as usize;
    out.into_iter()
        .skip(skip)
        .take(len)
        .map(|x| x.round().clamp(-32768.0, 32767.0) as i16)
        .collect()
}

/// The start near `nominal` whose frame best continues the waveform at `natural`.
fn best_offset(
    input: &[f32],
    natural: usize,
    nominal: usize,
    tolerance: usize,
    frame: usize,
) -> usize {
    let last = input.len().saturating_sub(frame);
    let lo = nominal.saturating_sub(tolerance).min(last);
    let hi = (nominal + tolerance).min(last);
    if natural + frame > input.len() {
        return nominal.min(last);
    }
    let target = &input[natural..natural + frame];
    let mut best = (f32::MIN, nominal.min(last));
    // Every other sample on both axes: a quarter of the work, no audible difference for speech.
    for start in (lo..=hi).step_by(2) {
        let candidate = &input[start..start + frame];
        let score: f32 = target
            .iter()
            .zip(candidate)
            .step_by(2)
            .map(|(a, b)| a * b)
            .sum();
        if score > best.0 {
            best = (score, start);
        }
    }
    best.1
}

/// A TTS engine that renders speeds outside `[min, max]` at the nearest speed it supports and
/// stretches the audio the rest of the way (buffering that one utterance).
pub struct SpeedRange {
    inner: Arc<dyn TextToSpeech>,
    min: f64,
    max: f64,
}

impl SpeedRange {
    /// Wraps `inner`, which makes speeds `min..=max` itself.
    pub fn wrap(inner: Arc<dyn TextToSpeech>, min: f64, max: f64) -> Arc<dyn TextToSpeech> {
        Arc::new(Self { inner, min, max })
    }
}

#[async_trait::async_trait]
impl TextToSpeech for SpeedRange {
    async fn speak(&self, text: &str, voice: &str, speed: f64) -> Result<PcmStream, EngineError> {
        let engine_speed = speed.clamp(self.min, self.max);
        let stream = self.inner.speak(text, voice, engine_speed).await?;
        if (engine_speed - speed).abs() < 1e-6 {
            return Ok(stream);
        }
        let chunks: Vec<Vec<u8>> = stream
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<_, _>>()?;
        let pcm = crate::audio::pcm16_decode(&chunks.concat());
        let stretched = time_stretch(&pcm, self.inner.sample_rate(), speed / engine_speed);
        let bytes = crate::audio::pcm16_encode(&stretched);
        Ok(futures::stream::once(async move { Ok(bytes) }).boxed())
    }

    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    async fn voices(&self) -> Result<Vec<String>, EngineError> {
        self.inner.voices().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, hz: f32, secs: f32) -> Vec<i16> {
        (0..(rate as f32 * secs) as usize)
            .map(|n| {
                (8000.0 * (2.0 * std::f32::consts::PI * hz * n as f32 / rate as f32).sin()) as i16
            })
            .collect()
    }

    /// Zero crossings per second: the pitch of a pure tone.
    fn crossings_per_sec(s: &[i16], rate: u32) -> f32 {
        let n = s.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
        n as f32 / (s.len() as f32 / rate as f32)
    }

    #[test]
    fn half_speed_doubles_the_length_and_keeps_the_pitch() {
        let input = tone(24_000, 220.0, 1.0);
        let out = time_stretch(&input, 24_000, 0.5);
        let ratio = out.len() as f32 / input.len() as f32;
        assert!((1.99..2.01).contains(&ratio), "length ratio {ratio}");
        let (a, b) = (
            crossings_per_sec(&input, 24_000),
            crossings_per_sec(&out, 24_000),
        );
        assert!((a - b).abs() / a < 0.05, "pitch moved: {a} -> {b}");
    }

    #[test]
    fn faster_speech_is_shorter_and_unit_speed_is_untouched() {
        let input = tone(24_000, 300.0, 1.0);
        let out = time_stretch(&input, 24_000, 1.5);
        let ratio = out.len() as f32 / input.len() as f32;
        assert!((0.66..0.67).contains(&ratio), "length ratio {ratio}");
        assert_eq!(time_stretch(&input, 24_000, 1.0), input);
        let short = time_stretch(&input[..100], 24_000, 0.5);
        assert_eq!(short.len(), 200);
        assert!(
            short.iter().any(|&s| s.abs() > 1000),
            "a short clip is not lost"
        );
    }
}
