//! Splits streamed LLM text into speakable pieces so speech starts early: whole sentences, or
//! a clause (at a comma, colon or dash) once it is long enough, shorter for the first piece
//! since time to first audio grows with its length; a run-on piece is cut at a word boundary.

/// Accumulates tokens and releases sentences and long clauses.
#[derive(Default)]
pub struct SentenceChunker {
    buf: String,
    /// Pieces released so far.
    released: usize,
}

/// Shortest piece worth sending to TTS on its own (avoids "Dr." style fragments).
const MIN_CHARS: usize = 12;
/// A clause is released on its own from this length (the first piece of a response).
const FIRST_CLAUSE_CHARS: usize = 16;
/// ... and from this length later, when audio is already playing.
const CLAUSE_CHARS: usize = 60;
/// Longest piece without any boundary; it is cut at the last space.
const MAX_CHARS: usize = 160;
/// Longest first piece: a first sentence longer than this is cut between phrases (before a
/// word like "and", "of", "is"), or else at a space, since speech cannot start before the
/// whole first piece is synthesised.
const FIRST_PIECE_CHARS: usize = 40;
/// Words that open a phrase: a cut before one keeps the prosody of both halves.
const PHRASE_OPENERS: &[&str] = &[
    "and", "but", "or", "because", "so", "which", "that", "who", "when", "where", "while", "with",
    "from", "of", "in", "on", "at", "for", "to", "by", "is", "are", "was", "were", "as",
];

fn followed_by_space(buf: &str, end: usize) -> bool {
    buf[end..].chars().next().is_some_and(char::is_whitespace)
}

impl SentenceChunker {
    /// Adds text; returns the pieces it completed.
    pub fn push(&mut self, text: &str) -> Vec<String> {
        self.buf.push_str(text);
        let mut out = Vec::new();
        while let Some(end) = self.next_cut() {
            let piece: String = self.buf.drain(..end).collect();
            let piece = piece.trim();
            if !piece.is_empty() {
                out.push(piece.to_string());
                self.released += 1;
            }
        }
        out
    }

    /// Where the next piece ends, if one is complete.
    fn next_cut(&self) -> Option<usize> {
        let buf = &self.buf;
        let long_enough = |end: usize, min: usize| buf[..end].trim().chars().count() >= min;
        let sentence = buf.char_indices().find_map(|(i, c)| {
            let end = i + c.len_utf8();
            (matches!(c, '.' | '!' | '?' | ';' | '\n')
                && followed_by_space(buf, end)
                && long_enough(end, MIN_CHARS))
            .then_some(end)
        });
        let first = self.released == 0;
        let fits = |end: usize| !first || buf[..end].chars().count() <= FIRST_PIECE_CHARS;
        if let Some(end) = sentence.filter(|&e| fits(e)) {
            return Some(end);
        }
        let clause_min = if self.released == 0 {
            FIRST_CLAUSE_CHARS
        } else {
            CLAUSE_CHARS
        };
        let clause = buf.char_indices().find_map(|(i, c)| {
            let end = i + c.len_utf8();
            (matches!(c, ',' | ':' | '\u{2014}')
                && followed_by_space(buf, end)
                && long_enough(end, clause_min))
            .then_some(end)
        });
        if let Some(end) = clause.filter(|&e| fits(e)) {
            return Some(end);
        }
        if first && buf.chars().count() > FIRST_PIECE_CHARS {
            let limit = buf
                .char_indices()
                .nth(FIRST_PIECE_CHARS)
                .map_or(buf.len(), |(i, _)| i);
            let spaces: Vec<usize> = buf[..limit]
                .char_indices()
                .filter(|(i, c)| c.is_whitespace() && long_enough(*i, MIN_CHARS))
                .map(|(i, _)| i)
                .collect();
            let before_opener = spaces.iter().rev().copied().find(|&i| {
                let next = buf[i..].split_whitespace().next().unwrap_or("");
                PHRASE_OPENERS.contains(&next.to_lowercase().as_str())
            });
            if let Some(cut) = before_opener.or(spaces.last().copied()) {
                return Some(cut);
            }
        }
        if let Some(end) = sentence.or(clause) {
            return Some(end);
        }
        if buf.chars().count() > MAX_CHARS {
            // The last space inside the limit (never in the middle of a word).
            let limit = buf
                .char_indices()
                .nth(MAX_CHARS)
                .map_or(buf.len(), |(i, _)| i);
            return buf[..limit].rfind(char::is_whitespace).filter(|&i| i > 0);
        }
        None
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

    #[test]
    fn long_clauses_start_speech_early_and_run_ons_are_cut_at_spaces() {
        let mut c = super::SentenceChunker::default();
        let got = c.push("The capital of France is Paris, which is known for the Eiffel Tower, ");
        assert_eq!(
            got,
            vec!["The capital of France is Paris,"],
            "the first clause goes alone"
        );
        assert!(
            c.push("art, ").is_empty(),
            "later clauses wait until they are long"
        );
        let mut c = super::SentenceChunker::default();
        let got = c.push("Bees make honey from the nectar of the flowers they visit every day. ");
        assert_eq!(
            got,
            vec![
                "Bees make honey from the nectar",
                "of the flowers they visit every day."
            ],
            "a long first sentence is cut before a phrase"
        );
        let mut c = super::SentenceChunker::default();
        assert_eq!(
            c.push("The capital of France is Paris. "),
            vec!["The capital of France is Paris."],
            "a short one goes whole"
        );
        let mut c = super::SentenceChunker::default();
        let run_on = "word ".repeat(60);
        let got = c.push(&run_on);
        assert_eq!(got.len(), 2);
        assert!(got[0].chars().count() <= 40, "{got:?}");
        assert!(
            got.iter()
                .all(|p| p.chars().count() <= 160 && p.ends_with("word"))
        );
    }
}
