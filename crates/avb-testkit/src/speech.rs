//! Test speech: sentences spoken by espeak-ng (installed by scripts/test.sh), as the pcm16
//! 24 kHz mono audio the Realtime API carries, and the local engines' addresses.

use std::process::Command;

/// The local CPU engines started by `scripts/engines.sh up`, as `scripts/test.sh` exports them
/// (`LOCAL_LLM_URL`, `LOCAL_STT_URL`, `LOCAL_TTS_URL`), or `None` when they are not running.
#[derive(Debug, Clone)]
pub struct LocalEngines {
    /// `/v1` base of the llama.cpp server.
    pub llm_url: String,
    /// `/v1` base of faster-whisper-server.
    pub stt_url: String,
    /// `/v1` base of the TTS server.
    pub tts_url: String,
    /// `kokoro` (default) or `piper` (`LOCAL_TTS_ENGINE`, as `ENGINE_TTS` for engines.sh).
    pub tts_engine: String,
    /// The voice lab (`LOCAL_VOICE_FIT_URL`), which Kokoro setups run next to the TTS engine.
    pub voice_fit_url: Option<String>,
}

impl LocalEngines {
    /// Reads the engine addresses from the environment.
    pub fn from_env() -> Option<Self> {
        Some(Self {
            llm_url: std::env::var("LOCAL_LLM_URL").ok()?,
            stt_url: std::env::var("LOCAL_STT_URL").ok()?,
            tts_url: std::env::var("LOCAL_TTS_URL").ok()?,
            tts_engine: std::env::var("LOCAL_TTS_ENGINE").unwrap_or_else(|_| "kokoro".into()),
            voice_fit_url: std::env::var("LOCAL_VOICE_FIT_URL").ok(),
        })
    }

    /// Points `config` at these engines with the models scripts/engines.sh installs.
    pub fn configure(&self, config: &mut avb_core::config::Config) {
        config.engines.llm_url = Some(self.llm_url.clone());
        config.engines.llm_model = "smollm2".into();
        config.engines.stt_url = Some(self.stt_url.clone());
        config.engines.stt_model = "tiny.en".into();
        config.engines.tts_url = Some(self.tts_url.clone());
        config.engines.voice_fit_url = self.voice_fit_url.clone();
        if self.tts_engine == "piper" {
            config.engines.tts_model = "piper".into();
            config.engines.tts_sample_rate = 22_050;
        } else {
            config.engines.tts_model = "kokoro".into();
            (config.engines.tts_speed_min, config.engines.tts_speed_max) = (1.0, 2.0);
            config.engines.tts_voice_map = KOKORO_VOICES
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect();
        }
    }
}

/// OpenAI voice names as Kokoro voices (the map scripts/engines.sh prints).
pub const KOKORO_VOICES: &[(&str, &str)] = &[
    ("alloy", "af_alloy"),
    ("ash", "am_adam"),
    ("echo", "am_echo"),
    ("marin", "af_heart"),
    ("onyx", "am_onyx"),
    ("nova", "af_nova"),
];

/// `text` spoken by espeak-ng, resampled to 24 kHz pcm16 mono.
pub fn espeak(text: &str) -> anyhow::Result<Vec<i16>> {
    let out = Command::new("espeak-ng")
        .args(["-s", "150", "--stdout", text])
        .output()
        .map_err(|e| {
            anyhow::anyhow!("espeak-ng could not run ({e}); scripts/test.sh installs it")
        })?;
    anyhow::ensure!(out.status.success(), "espeak-ng failed: {:?}", out.status);
    let (rate, samples) = parse_wav(&out.stdout)?;
    Ok(avb_voice::audio::resample(
        trim_silence(&samples),
        rate,
        24_000,
    ))
}

/// `samples` without the near-silence espeak-ng puts before and after the speech, so the
/// end of the returned audio is the end of speech.
pub fn trim_silence(samples: &[i16]) -> &[i16] {
    const FLOOR: i16 = 300;
    let loud = |s: &i16| s.unsigned_abs() > FLOOR as u16;
    let start = samples.iter().position(loud).unwrap_or(0);
    let end = samples.iter().rposition(loud).map_or(start, |e| e + 1);
    &samples[start..end]
}

/// The sample rate and samples of a mono pcm16 WAV file.
pub fn parse_wav(bytes: &[u8]) -> anyhow::Result<(u32, Vec<i16>)> {
    anyhow::ensure!(
        bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WAVE",
        "not a WAV file"
    );
    let mut pos = 12;
    let mut rate = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let declared = u32::from_le_bytes([
            bytes[pos + 4],
            bytes[pos + 5],
            bytes[pos + 6],
            bytes[pos + 7],
        ]) as usize;
        let body = &bytes[pos + 8..];
        if id == b"fmt " && body.len() >= 16 {
            anyhow::ensure!(body[2] == 1 && body[3] == 0, "WAV is not mono");
            anyhow::ensure!(body[14] == 16, "WAV is not 16-bit");
            rate = Some(u32::from_le_bytes([body[4], body[5], body[6], body[7]]));
        } else if id == b"data" {
            // espeak-ng writes to a pipe, so the data size is a placeholder: take what is there.
            let len = if declared == 0 || declared > body.len() {
                body.len()
            } else {
                declared
            };
            let rate = rate.ok_or_else(|| anyhow::anyhow!("WAV data before fmt"))?;
            let samples = body[..len - len % 2]
                .chunks_exact(2)
                .map(|c| i16::from_le_bytes([c[0], c[1]]))
                .collect();
            return Ok((rate, samples));
        }
        pos += 8 + declared + declared % 2;
    }
    anyhow::bail!("WAV has no data chunk")
}
