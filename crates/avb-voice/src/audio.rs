//! Audio on the wire: PCM16 little-endian, G.711 µ-law and A-law, linear resampling, WAV.

/// Decodes little-endian 16-bit PCM bytes (an odd trailing byte is ignored).
pub fn pcm16_decode(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Encodes samples as little-endian 16-bit PCM.
pub fn pcm16_encode(samples: &[i16]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// G.711 µ-law byte to a linear sample (ITU-T G.711, as in the Sun reference code).
pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u as i32;
    let t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

fn segment(value: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|e| value <= *e).unwrap_or(8)
}

/// A linear sample to a G.711 µ-law byte.
pub fn linear_to_ulaw(sample: i16) -> u8 {
    const ENDS: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];
    let mut v = (sample as i32) >> 2;
    let mask = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    let v = v.min(8159) + 0x21;
    let seg = segment(v, &ENDS);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    ((((seg as i32) << 4) | ((v >> (seg + 1)) & 0x0f)) ^ mask) as u8
}

/// G.711 A-law byte to a linear sample.
pub fn alaw_to_linear(a: u8) -> i16 {
    let a = (a ^ 0x55) as i32;
    let mut t = (a & 0x0f) << 4;
    let seg = (a & 0x70) >> 4;
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => t = (t + 0x108) << (seg - 1),
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

/// A linear sample to a G.711 A-law byte.
pub fn linear_to_alaw(sample: i16) -> u8 {
    const ENDS: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
    let mut v = (sample as i32) >> 3;
    let mask = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &ENDS);
    if seg >= 8 {
        return (0x7F ^ mask) as u8;
    }
    let q = if seg < 2 {
        (v >> 1) & 0x0f
    } else {
        (v >> seg) & 0x0f
    };
    (((seg as i32) << 4 | q) ^ mask) as u8
}

/// Resamples by linear interpolation (adequate for speech between 8, 16 and 24 kHz).
pub fn resample(samples: &[i16], from_hz: u32, to_hz: u32) -> Vec<i16> {
    if from_hz == to_hz || samples.is_empty() {
        return samples.to_vec();
    }
    let out_len = (samples.len() as u64 * to_hz as u64 / from_hz as u64) as usize;
    let step = from_hz as f64 / to_hz as f64;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let idx = pos as usize;
            let frac = pos - idx as f64;
            let a = samples[idx.min(samples.len() - 1)] as f64;
            let b = samples[(idx + 1).min(samples.len() - 1)] as f64;
            (a + (b - a) * frac).round() as i16
        })
        .collect()
}

/// A streaming linear resampler: chunks may split anywhere, the output is the same as for the
/// whole signal at once.
pub struct Resampler {
    step: f64,
    t: f64,
    prev: Option<i16>,
}

impl Resampler {
    /// Converts from `from_hz` to `to_hz`.
    pub fn new(from_hz: u32, to_hz: u32) -> Self {
        Self {
            step: from_hz as f64 / to_hz.max(1) as f64,
            t: 0.0,
            prev: None,
        }
    }

    /// Resamples the next chunk.
    pub fn process(&mut self, input: &[i16]) -> Vec<i16> {
        if (self.step - 1.0).abs() < f64::EPSILON {
            return input.to_vec();
        }
        let mut buf = Vec::with_capacity(input.len() + 1);
        buf.extend(self.prev);
        buf.extend_from_slice(input);
        let mut out = Vec::with_capacity((input.len() as f64 / self.step) as usize + 1);
        while (self.t as usize) + 1 < buf.len() {
            let i = self.t as usize;
            let f = self.t - i as f64;
            out.push((buf[i] as f64 + (buf[i + 1] as f64 - buf[i] as f64) * f).round() as i16);
            self.t += self.step;
        }
        if let Some(last) = buf.last() {
            self.t -= (buf.len() - 1) as f64;
            self.prev = Some(*last);
        }
        out
    }
}

/// A mono 16-bit PCM WAV file.
pub fn wav(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_len = (samples.len() * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes());
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&pcm16_encode(samples));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_round_trips_within_quantisation_error() {
        for s in [-32000i16, -1000, -100, -1, 0, 1, 100, 1000, 8000, 32000] {
            let u = ulaw_to_linear(linear_to_ulaw(s));
            let a = alaw_to_linear(linear_to_alaw(s));
            let tolerance = (s as i32).abs() / 16 + 16;
            assert!((u as i32 - s as i32).abs() <= tolerance, "ulaw {s} -> {u}");
            assert!((a as i32 - s as i32).abs() <= tolerance, "alaw {s} -> {a}");
        }
        // Every code decodes to a value that encodes back to itself.
        for code in 0..=255u8 {
            if code != 0x7F {
                // 0x7F and 0xFF both mean zero in µ-law.
                assert_eq!(linear_to_ulaw(ulaw_to_linear(code)), code, "ulaw {code}");
            }
            assert_eq!(linear_to_alaw(alaw_to_linear(code)), code, "alaw {code}");
        }
    }

    #[test]
    fn pcm_and_resample() {
        let s = vec![0i16, 1000, -1000, i16::MAX, i16::MIN];
        assert_eq!(pcm16_decode(&pcm16_encode(&s)), s);
        let tone: Vec<i16> = (0..2400)
            .map(|i| ((i as f64 / 10.0).sin() * 8000.0) as i16)
            .collect();
        assert_eq!(resample(&tone, 24_000, 8_000).len(), 800);
        assert_eq!(resample(&tone, 24_000, 16_000).len(), 1600);
        let whole = Resampler::new(24_000, 8_000).process(&tone);
        let mut r = Resampler::new(24_000, 8_000);
        let pieces: Vec<i16> = tone.chunks(333).flat_map(|c| r.process(c)).collect();
        assert_eq!(pieces, whole, "chunking does not change the result");
        assert_eq!(whole.len(), 800);
        let w = wav(&tone, 24_000);
        assert_eq!(&w[0..4], b"RIFF");
        assert_eq!(w.len(), 44 + 4800);
    }
}
