//! Word error rate and the audio checks of a test upload (format sniffing, WAV duration).

// ---------------------------------------------------------------------------------------------
// Word error rate, audio sniffing

/// Lowercase words with punctuation removed (apostrophes inside words kept).
pub fn normalise_words(s: &str) -> Vec<String> {
    s.to_lowercase()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '\'' {
                c
            } else {
                ' '
            }
        })
        .collect::<String>()
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_string())
        .filter(|w| !w.is_empty())
        .collect()
}

/// Word error rate: word-level Levenshtein distance (substitutions + deletions + insertions)
/// over the number of reference words, on normalised lowercase words. `None` for an empty
/// reference.
pub fn word_error_rate(reference: &str, hypothesis: &str) -> Option<f64> {
    let r = normalise_words(reference);
    let h = normalise_words(hypothesis);
    if r.is_empty() {
        return None;
    }
    let mut prev: Vec<usize> = (0..=h.len()).collect();
    for (i, rw) in r.iter().enumerate() {
        let mut cur = vec![i + 1; h.len() + 1];
        for (j, hw) in h.iter().enumerate() {
            let sub = prev[j] + usize::from(rw != hw);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    Some(prev[h.len()] as f64 / r.len() as f64)
}

/// The audio container of `b` from its first bytes: `(format, mime)` for WAV (RIFF/WAVE),
/// MP3 (ID3 tag or MPEG frame sync), Ogg (`OggS`) and WebM (EBML `1A 45 DF A3`).
pub fn sniff_audio(b: &[u8]) -> Option<(&'static str, &'static str)> {
    if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WAVE" {
        Some(("wav", "audio/wav"))
    } else if b.starts_with(b"ID3") || (b.len() >= 2 && b[0] == 0xFF && b[1] & 0xE0 == 0xE0) {
        Some(("mp3", "audio/mpeg"))
    } else if b.starts_with(b"OggS") {
        Some(("ogg", "audio/ogg"))
    } else if b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        Some(("webm", "audio/webm"))
    } else {
        None
    }
}

/// Seconds of audio in a WAV file, from its `fmt ` byte rate and `data` size.
pub fn wav_duration(b: &[u8]) -> Option<f64> {
    let mut pos = 12;
    let mut byte_rate = None;
    while pos + 8 <= b.len() {
        let id = &b[pos..pos + 4];
        let size = u32::from_le_bytes(b[pos + 4..pos + 8].try_into().ok()?) as usize;
        let body = pos + 8;
        if id == b"fmt " && body + 12 <= b.len() {
            byte_rate = Some(u32::from_le_bytes(b[body + 8..body + 12].try_into().ok()?));
        } else if id == b"data" {
            let rate = f64::from(byte_rate.filter(|r| *r > 0)?);
            let len = size.min(b.len() - body);
            return Some(len as f64 / rate);
        }
        pos = body.checked_add(size)?.checked_add(size % 2)?;
    }
    None
}
