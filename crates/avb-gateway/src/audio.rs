//! Converting between the session's wire formats and engine PCM.

use avb_realtime::AudioFormat;
use avb_voice::audio;

/// Decodes client audio into samples and their rate.
pub fn decode_input(format: AudioFormat, bytes: &[u8]) -> (Vec<i16>, u32) {
    match format {
        AudioFormat::Pcm16 => (audio::pcm16_decode(bytes), 24_000),
        AudioFormat::G711Ulaw => (
            bytes.iter().map(|b| audio::ulaw_to_linear(*b)).collect(),
            8_000,
        ),
        AudioFormat::G711Alaw => (
            bytes.iter().map(|b| audio::alaw_to_linear(*b)).collect(),
            8_000,
        ),
    }
}

/// Encodes a stream of engine PCM into the session's output format.
pub struct OutputEncoder {
    format: AudioFormat,
    resampler: audio::Resampler,
}

impl OutputEncoder {
    /// An encoder for PCM at `rate` Hz.
    pub fn new(format: AudioFormat, rate: u32) -> Self {
        let target = if format == AudioFormat::Pcm16 {
            24_000
        } else {
            8_000
        };
        Self {
            format,
            resampler: audio::Resampler::new(rate, target),
        }
    }

    /// Encodes the next chunk.
    pub fn encode(&mut self, samples: &[i16]) -> Vec<u8> {
        let s = self.resampler.process(samples);
        match self.format {
            AudioFormat::Pcm16 => audio::pcm16_encode(&s),
            AudioFormat::G711Ulaw => s.into_iter().map(audio::linear_to_ulaw).collect(),
            AudioFormat::G711Alaw => s.into_iter().map(audio::linear_to_alaw).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_output_is_8khz_one_byte_per_sample() {
        let samples = vec![1000i16; 2400];
        assert_eq!(
            OutputEncoder::new(AudioFormat::G711Ulaw, 24_000)
                .encode(&samples)
                .len(),
            800
        );
        assert_eq!(
            OutputEncoder::new(AudioFormat::Pcm16, 24_000)
                .encode(&samples)
                .len(),
            4800
        );
        let alaw = OutputEncoder::new(AudioFormat::G711Alaw, 24_000).encode(&samples);
        let (decoded, rate) = decode_input(AudioFormat::G711Alaw, &alaw);
        assert_eq!((decoded.len(), rate), (800, 8_000));
    }
}
