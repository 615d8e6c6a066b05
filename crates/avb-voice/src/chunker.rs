//! Splits streamed LLM text into sentences so speech can start after the first one.

/// Accumulates tokens and releases whole sentences.
#[derive(Default)]
pub struct SentenceChunker {
    buf: String,
}

/// Shortest piece worth sending to TTS on its own (avoids "Dr." style fragments).
const MIN_CHARS: usize = 12;

impl SentenceChunker {
    /// Adds text; returns the sentences it completed.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        loop {
            let cut = self.buf.char_indices().find_map(|(i, c)| {
                let end = i + c.len_utf8();
                let boundary = matches!(c, '.' | '!' | '?' | ';' | '\n')
                    && self.buf[end..]
                        .chars()
                        .next()
                        .is_some_and(char::is_whitespace);
                (boundary && self.buf[..end].trim().chars().count() >= MIN_CHARS).then_some(end)
            });
            match cut {
                Some(end) => {
                    let sentence: String = self.buf.drain(..end).collect();
                    let s = sentence.trim();
                    if !s.is_empty() {
                        out.push(s.to_string());
                    }
                }
                None => return out,
            }
        }
    }

    /// Whatever is left at the end of the stream.
    pub fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buf);
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_string())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn splits_on_sentence_ends_once_text_follows() {
        let mut c = super::SentenceChunker::default();
        let mut got = Vec::new();
        for t in [
            "Hello",
            " there, friend.",
            " How are",
            " you today? I am",
            " fine",
        ] {
            got.extend(c.push(t));
        }
        assert_eq!(got, vec!["Hello there, friend.", "How are you today?"]);
        assert_eq!(c.finish().as_deref(), Some("I am fine"));
        assert!(c.finish().is_none());
        let mut c = super::SentenceChunker::default();
        assert!(
            c.push("Hi. Ok. ").is_empty(),
            "fragments shorter than a sentence wait"
        );
    }
}
