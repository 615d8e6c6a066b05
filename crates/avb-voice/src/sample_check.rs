//! Checks a voice sample before a custom voice is made from it: format, length, clipping, level
//! and signal-to-noise, each failure with guidance on recording a better one (B13.6).

use crate::audio::pcm16_decode;

/// Shortest and longest sample accepted, in seconds (B13.2).
pub const SAMPLE_SECONDS: (f64, f64) = (10.0, 300.0);
/// Share of samples at full scale above which the sample counts as clipped.
const CLIPPED_SHARE: f64 = 0.001;
/// Speech level window (RMS of the voiced part, dBFS).
const LEVEL_DBFS: (f64, f64) = (-35.0, -6.0);
/// Least signal-to-noise ratio accepted, dB.
const MIN_SNR_DB: f64 = 15.0;

/// What was measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleReport {
    pub seconds: f64,
    pub sample_rate: u32,
    /// Share of samples at full scale.
    pub clipped_share: f64,
    /// RMS level of the loud (voiced) frames, dBFS.
    pub level_dbfs: f64,
    /// Loud frames against the quiet floor, dB.
    pub snr_db: f64,
}

/// Why a sample cannot be used, with what to do about it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleProblem {
    #[error("{0}. Upload a WAV (16-bit PCM) or MP3 recording")]
    Format(String),
    #[error("the sample is {0:.1} s long; it must be 10 s to 5 min. Record a few sentences more")]
    TooShort(f64),
    #[error("the sample is {0:.0} s long; it must be 10 s to 5 min. Trim it to the best minutes")]
    TooLong(f64),
    #[error(
        "{:.2}% of the sample is clipped (at full scale). Record again with the input gain lower or further from the microphone", .0 * 100.0
    )]
    Clipped(f64),
    #[error(
        "the speech is too quiet ({0:.0} dBFS). Speak closer to the microphone or raise the input gain"
    )]
    TooQuiet(f64),
    #[error("the speech is too loud ({0:.0} dBFS). Lower the input gain")]
    TooLoud(f64),
    #[error(
        "there is too much background noise (signal-to-noise {0:.0} dB, at least 15 dB needed). Record in a quiet room without music or fans"
    )]
    Noisy(f64),
}

/// The 16-bit PCM samples (mixed to mono) and the rate of a RIFF/WAVE file.
pub fn read_wav(bytes: &[u8]) -> Result<(Vec<i16>, u32), SampleProblem> {
    let bad = |why: &str| SampleProblem::Format(why.to_string());
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file (no RIFF/WAVE header)"));
    }
    let (mut pos, mut format, mut data) = (12usize, None, None);
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = &bytes[pos + 8..(pos + 8 + size).min(bytes.len())];
        match id {
            b"fmt " if body.len() >= 16 => {
                let tag = u16::from_le_bytes([body[0], body[1]]);
                let channels = u16::from_le_bytes([body[2], body[3]]);
                let rate = u32::from_le_bytes([body[4], body[5], body[6], body[7]]);
                let bits = u16::from_le_bytes([body[14], body[15]]);
                format = Some((tag, channels, rate, bits));
            }
            b"data" => data = Some(body),
            _ => {}
        }
        pos += 8 + size + (size & 1);
    }
    let (tag, channels, rate, bits) =
        format.ok_or_else(|| bad("the WAV file has no format chunk"))?;
    if tag != 1 && tag != 0xFFFE || bits != 16 {
        return Err(bad(&format!(
            "the WAV file is not 16-bit PCM (format {tag}, {bits} bits per sample)"
        )));
    }
    if channels == 0 || rate == 0 {
        return Err(bad("the WAV file states no channels or no sample rate"));
    }
    let frames = pcm16_decode(data.ok_or_else(|| bad("the WAV file has no audio data"))?);
    let mono = frames
        .chunks(channels as usize)
        .map(|c| (c.iter().map(|&s| i32::from(s)).sum::<i32>() / c.len() as i32) as i16)
        .collect();
    Ok((mono, rate))
}

/// The 16-bit PCM samples (mixed to mono) and the rate of a WAV or MP3 file, told apart by
/// their first bytes. Decoding stops once the audio is longer than a sample may be.
pub fn read_audio(bytes: &[u8]) -> Result<(Vec<i16>, u32), SampleProblem> {
    if bytes.starts_with(b"RIFF") {
        read_wav(bytes)
    } else if looks_like_mp3(bytes) {
        read_mp3(bytes)
    } else {
        Err(SampleProblem::Format(
            "the file is neither WAV nor MP3".into(),
        ))
    }
}

/// An ID3 tag or an MPEG audio frame sync at the start.
fn looks_like_mp3(bytes: &[u8]) -> bool {
    bytes.starts_with(b"ID3") || (bytes.len() > 2 && bytes[0] == 0xFF && bytes[1] & 0xE0 == 0xE0)
}

/// Decodes an MP3 file with symphonia, mixing channels to mono.
fn read_mp3(bytes: &[u8]) -> Result<(Vec<i16>, u32), SampleProblem> {
    use symphonia::core::audio::SampleBuffer;
    use symphonia::core::errors::Error;
    use symphonia::core::io::MediaSourceStream;
    let bad = |why: String| SampleProblem::Format(why);
    let source = MediaSourceStream::new(
        Box::new(std::io::Cursor::new(bytes.to_vec())),
        Default::default(),
    );
    let mut hint = symphonia::core::probe::Hint::new();
    hint.with_extension("mp3");
    let probed = symphonia::default::get_probe()
        .format(&hint, source, &Default::default(), &Default::default())
        .map_err(|e| bad(format!("not a readable MP3 file ({e})")))?;
    let mut format = probed.format;
    let track = format
        .default_track()
        .ok_or_else(|| bad("the MP3 file has no audio track".into()))?;
    let (track_id, mut rate) = (track.id, track.codec_params.sample_rate.unwrap_or(0));
    let mut decoder = symphonia::default::get_codecs()
        .make(&track.codec_params, &Default::default())
        .map_err(|e| bad(format!("the MP3 audio cannot be decoded ({e})")))?;
    let mut mono = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            Err(Error::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(bad(format!("the MP3 file is damaged ({e})"))),
        };
        if packet.track_id() != track_id {
            continue;
        }
        let decoded = match decoder.decode(&packet) {
            Ok(d) => d,
            // A damaged frame is skipped, as players do.
            Err(Error::DecodeError(_)) => continue,
            Err(e) => return Err(bad(format!("the MP3 audio cannot be decoded ({e})"))),
        };
        let spec = *decoded.spec();
        rate = spec.rate;
        let channels = spec.channels.count().max(1);
        let mut buf = SampleBuffer::<i16>::new(decoded.capacity() as u64, spec);
        buf.copy_interleaved_ref(decoded);
        mono.extend(buf.samples().chunks(channels).map(|frame| {
            (frame.iter().map(|&s| i32::from(s)).sum::<i32>() / channels as i32) as i16
        }));
        if rate > 0 && mono.len() as f64 / f64::from(rate) > SAMPLE_SECONDS.1 {
            return Err(SampleProblem::TooLong(mono.len() as f64 / f64::from(rate)));
        }
    }
    if mono.is_empty() || rate == 0 {
        return Err(bad("the MP3 file holds no audio".into()));
    }
    Ok((mono, rate))
}

/// Measures `samples` at `rate` and says whether a voice can be made from them.
pub fn check(samples: &[i16], rate: u32) -> Result<SampleReport, SampleProblem> {
    let seconds = samples.len() as f64 / f64::from(rate.max(1));
    if seconds < SAMPLE_SECONDS.0 {
        return Err(SampleProblem::TooShort(seconds));
    }
    if seconds > SAMPLE_SECONDS.1 {
        return Err(SampleProblem::TooLong(seconds));
    }
    let clipped = samples
        .iter()
        .filter(|&&s| s == i16::MAX || s <= -i16::MAX)
        .count();
    let clipped_share = clipped as f64 / samples.len() as f64;
    if clipped_share > CLIPPED_SHARE {
        return Err(SampleProblem::Clipped(clipped_share));
    }
    // RMS per 30 ms frame; the loudest tenth is the voice, the quietest tenth the noise floor.
    let frame = (rate as usize * 30 / 1000).max(1);
    let mut rms: Vec<f64> = samples
        .chunks(frame)
        .map(|c| (c.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / c.len() as f64).sqrt())
        .collect();
    rms.sort_by(f64::total_cmp);
    let at = |q: f64| rms[((rms.len() - 1) as f64 * q).round() as usize].max(1.0);
    let (voice, floor) = (at(0.9), at(0.1));
    let level_dbfs = 20.0 * (voice / 32768.0).log10();
    let snr_db = 20.0 * (voice / floor).log10();
    if level_dbfs < LEVEL_DBFS.0 {
        return Err(SampleProblem::TooQuiet(level_dbfs));
    }
    if level_dbfs > LEVEL_DBFS.1 {
        return Err(SampleProblem::TooLoud(level_dbfs));
    }
    if snr_db < MIN_SNR_DB {
        return Err(SampleProblem::Noisy(snr_db));
    }
    Ok(SampleReport {
        seconds,
        sample_rate: rate,
        clipped_share,
        level_dbfs,
        snr_db,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Speech-like: 0.6 s bursts of a tone at `amp`, 0.4 s pauses with noise at `noise`.
    fn speechlike(secs: f64, amp: f64, noise: f64) -> Vec<i16> {
        let rate = 16_000.0;
        let mut seed = 7u32;
        (0..(secs * rate) as usize)
            .map(|n| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                let hiss = ((seed >> 16) as f64 / 32768.0 - 1.0) * noise;
                let t = n as f64 / rate;
                let voiced = t % 1.0 < 0.6;
                let tone = if voiced {
                    amp * (2.0 * std::f64::consts::PI * 180.0 * t).sin()
                } else {
                    0.0
                };
                (tone + hiss).clamp(-32767.0, 32767.0) as i16
            })
            .collect()
    }

    #[test]
    fn a_clean_sample_passes_and_reports_its_figures() {
        let r = check(&speechlike(20.0, 8000.0, 30.0), 16_000).unwrap();
        assert!((r.seconds - 20.0).abs() < 0.01);
        assert!(
            r.level_dbfs > -16.0 && r.level_dbfs < -14.5,
            "a 8000 sine is -15.3 dBFS: {r:?}"
        );
        assert!(r.snr_db > 30.0, "{r:?}");
    }

    #[test]
    fn each_problem_is_named_with_guidance() {
        assert!(matches!(
            check(&speechlike(5.0, 8000.0, 30.0), 16_000),
            Err(SampleProblem::TooShort(_))
        ));
        assert!(matches!(
            check(&speechlike(301.0, 8000.0, 30.0), 16_000),
            Err(SampleProblem::TooLong(_))
        ));
        assert!(matches!(
            check(&speechlike(20.0, 60000.0, 30.0), 16_000),
            Err(SampleProblem::Clipped(_))
        ));
        assert!(matches!(
            check(&speechlike(20.0, 200.0, 5.0), 16_000),
            Err(SampleProblem::TooQuiet(_))
        ));
        let noisy = check(&speechlike(20.0, 8000.0, 4000.0), 16_000);
        assert!(matches!(noisy, Err(SampleProblem::Noisy(_))), "{noisy:?}");
        let text = noisy.unwrap_err().to_string();
        assert!(text.contains("quiet room"), "{text}");
    }

    #[test]
    fn wav_files_are_read_and_other_files_refused() {
        let pcm: Vec<i16> = (0..1600).map(|i| (i % 100) as i16).collect();
        let (back, rate) = read_wav(&crate::audio::wav(&pcm, 16_000)).unwrap();
        assert_eq!((back, rate), (pcm, 16_000));
        assert!(matches!(
            read_wav(b"ID3\x04not a wav"),
            Err(SampleProblem::Format(_))
        ));
    }

    #[test]
    fn mp3_files_are_decoded_and_checked() {
        // 13.9 s of espeak-ng speech at 22,050 Hz, encoded at 32 kbit/s (lamejs 1.2.1).
        let mp3 = include_bytes!("fixtures/espeak-14s-32kbps.mp3");
        let (pcm, rate) = read_audio(mp3).unwrap();
        assert_eq!(rate, 22_050);
        let seconds = pcm.len() as f64 / f64::from(rate);
        assert!((13.5..14.5).contains(&seconds), "{seconds}");
        let report = check(&pcm, rate).unwrap();
        assert!(report.level_dbfs > -35.0, "{report:?}");
        let cut = read_audio(&mp3[..3]);
        assert!(matches!(cut, Err(SampleProblem::Format(_))), "{cut:?}");
        let text = read_audio(b"hello, this is text").unwrap_err().to_string();
        assert!(text.contains("neither WAV nor MP3"), "{text}");
    }
}
