//! The input audio buffer: client frames decoded once, as they arrive, into the samples that
//! the VAD, the (early) transcription and wake-word scoring all read.

use avb_realtime::{AudioFormat, ErrorCode, ProtocolError};

/// Shortest buffer that can be committed.
const MIN_COMMIT_MS: u64 = 100;
/// Longest buffer kept: 15 minutes.
const MAX_MS: u64 = 15 * 60 * 1000;

/// Decoded input audio awaiting commit.
pub(crate) struct InputBuffer {
    format: AudioFormat,
    samples: Vec<i16>,
}

impl InputBuffer {
    pub(crate) fn new(format: AudioFormat) -> Self {
        Self {
            format,
            samples: Vec::new(),
        }
    }

    pub(crate) fn format(&self) -> AudioFormat {
        self.format
    }

    /// Samples per second of the decoded audio.
    pub(crate) fn rate(&self) -> u32 {
        if self.format == AudioFormat::Pcm16 {
            24_000
        } else {
            8_000
        }
    }

    /// Decodes and appends one frame; returns where its samples start (for the VAD).
    pub(crate) fn append(&mut self, bytes: &[u8]) -> Result<usize, ProtocolError> {
        let (decoded, _) = crate::audio::decode_input(self.format, bytes);
        let after = (self.samples.len() + decoded.len()) as u64 * 1000 / self.rate() as u64;
        if after > MAX_MS {
            return Err(ProtocolError::invalid(
                "audio",
                "the input audio buffer is full; commit or clear it",
            ));
        }
        let from = self.samples.len();
        self.samples.extend(decoded);
        Ok(from)
    }

    /// The samples so far.
    pub(crate) fn samples(&self) -> &[i16] {
        &self.samples
    }

    /// Milliseconds of audio held.
    pub(crate) fn ms(&self) -> u64 {
        self.samples.len() as u64 * 1000 / self.rate() as u64
    }

    /// Takes the audio for a commit (`input_audio_buffer_commit_empty` below 100 ms).
    pub(crate) fn take(&mut self) -> Result<Vec<i16>, ProtocolError> {
        let ms = self.ms();
        if ms < MIN_COMMIT_MS {
            return Err(ProtocolError::new(
                ErrorCode::InputAudioBufferCommitEmpty,
                format!(
                    "Expected at least 100ms of audio, but buffer only has {ms:.2}ms of audio."
                ),
            ));
        }
        Ok(std::mem::take(&mut self.samples))
    }

    pub(crate) fn clear(&mut self) {
        self.samples.clear();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_decoded_once_and_short_commits_refused() {
        let mut b = InputBuffer::new(AudioFormat::Pcm16);
        let frame: Vec<u8> = [1000i16, -1000]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        let from = b.append(&frame).unwrap();
        assert_eq!(&b.samples()[from..], &[1000, -1000]);
        assert_eq!(
            b.take().unwrap_err().code,
            ErrorCode::InputAudioBufferCommitEmpty
        );
        let mut g711 = InputBuffer::new(AudioFormat::G711Ulaw);
        g711.append(&[0xff; 800]).unwrap();
        assert_eq!(g711.ms(), 100);
        assert_eq!(g711.take().unwrap().len(), 800);
        assert_eq!(g711.ms(), 0);
    }
}
