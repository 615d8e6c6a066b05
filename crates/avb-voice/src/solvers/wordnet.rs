//! WordNet 3.0 from its Debian data files (`wordnet-base`: `index.<pos>` and `data.<pos>` in
//! `/usr/share/wordnet`): a term's first sense, nouns first, read with one seek into the data
//! file. Answers "what is X", "define X" and bare words, as "X: <gloss>.".

use super::Solver;
use crate::EngineError;
use std::io::{BufRead, Read, Seek, SeekFrom};
use std::path::PathBuf;

/// The files' parts of speech, in the order senses are looked for.
const POS: &[&str] = &["noun", "verb", "adj", "adv"];

/// WordNet in `dir`.
pub struct WordNet {
    dir: PathBuf,
}

impl WordNet {
    /// WordNet in `dir` (it must hold `index.noun` and `data.noun`).
    pub fn new(dir: impl Into<PathBuf>) -> Result<Self, String> {
        let dir = dir.into();
        for f in ["index.noun", "data.noun"] {
            if !dir.join(f).is_file() {
                return Err(format!(
                    "{} has no {f} (apt-get install wordnet-base)",
                    dir.display()
                ));
            }
        }
        Ok(Self { dir })
    }

    /// The first sense's gloss of `term` (spaces as underscores), if WordNet knows it.
    pub fn define(&self, term: &str) -> std::io::Result<Option<String>> {
        let lemma = term.trim().to_lowercase().replace(' ', "_");
        if lemma.is_empty() || lemma.contains(char::is_control) {
            return Ok(None);
        }
        for pos in POS {
            let mut index = std::fs::File::open(self.dir.join(format!("index.{pos}")))?;
            let Some(line) = find_line(&mut index, &lemma)? else {
                continue;
            };
            // lemma pos synset_cnt p_cnt [ptr_symbol...] sense_cnt tagsense_cnt offset...
            let fields: Vec<&str> = line.split_whitespace().collect();
            let pointers: usize = fields.get(3).and_then(|n| n.parse().ok()).unwrap_or(0);
            let Some(offset) = fields.get(6 + pointers).and_then(|o| o.parse::<u64>().ok()) else {
                continue;
            };
            let mut data = std::fs::File::open(self.dir.join(format!("data.{pos}")))?;
            data.seek(SeekFrom::Start(offset))?;
            let mut buf = vec![0u8; 4096];
            let n = data.read(&mut buf)?;
            let record = String::from_utf8_lossy(&buf[..n]);
            let record = record.lines().next().unwrap_or_default();
            let Some((_, gloss)) = record.split_once(" | ") else {
                continue;
            };
            let definition = gloss.split(';').next().unwrap_or(gloss).trim();
            if !definition.is_empty() {
                return Ok(Some(definition.to_string()));
            }
        }
        Ok(None)
    }
}

/// The line of a sorted index file whose first field is `key`, by binary search over byte
/// offsets (the files are sorted bytewise; their licence header lines begin with spaces and
/// so sort first): about 17 reads of `index.noun` instead of scanning its 15 MB.
fn find_line(file: &mut std::fs::File, key: &str) -> std::io::Result<Option<String>> {
    let (mut lo, mut hi) = (0u64, file.metadata()?.len());
    let mut reader = std::io::BufReader::with_capacity(512, file);
    let mut line = Vec::new();
    // Invariant: the wanted line, if any, starts in [lo, hi).
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        reader.seek(SeekFrom::Start(mid.saturating_sub(1)))?;
        // The first line starting at or after `mid`.
        let mut start = mid;
        if mid > 0 {
            line.clear();
            start = mid - 1 + reader.read_until(b'\n', &mut line)? as u64;
        }
        if start >= hi {
            hi = mid;
            continue;
        }
        line.clear();
        let n = reader.read_until(b'\n', &mut line)? as u64;
        let field = line.split(|b| *b == b' ').next().unwrap_or_default();
        match field.cmp(key.as_bytes()) {
            std::cmp::Ordering::Equal => {
                return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string()));
            }
            std::cmp::Ordering::Less => lo = start + n.max(1),
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    Ok(None)
}

#[async_trait::async_trait]
impl Solver for WordNet {
    async fn answer(&self, question: &str, _lang: &str) -> Result<Option<String>, EngineError> {
        let term = super::subject(question);
        // WordNet defines terms, not sentences.
        if term.split_whitespace().count() > 3 {
            return Ok(None);
        }
        let dir = self.dir.clone();
        let looked_up =
            tokio::task::spawn_blocking(move || WordNet { dir }.define(&term).map(|d| (term, d)))
                .await
                .map_err(|e| EngineError::Failed {
                    stage: "solver",
                    message: e.to_string(),
                })?
                .map_err(|e| EngineError::Failed {
                    stage: "solver",
                    message: format!("WordNet could not be read: {e}"),
                })?;
        Ok(match looked_up {
            (term, Some(d)) => Some(format!("{term}: {d}.")),
            (_, None) => None,
        })
    }

    async fn check(&self) -> Result<(), String> {
        WordNet::new(self.dir.clone()).map(|_| ())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn first_noun_sense_from_the_debian_files() {
        let Ok(wn) = WordNet::new("/usr/share/wordnet") else {
            eprintln!("no WordNet here (wordnet-base): not checked");
            return;
        };
        let d = wn.define("computer").unwrap().unwrap();
        assert!(d.contains("machine for performing calculations"), "{d}");
        assert!(wn.define("ice cream").unwrap().is_some());
        assert_eq!(wn.define("blorpfizzle").unwrap(), None);
        // The first and last lemmas of the index, and one from each part of speech's file.
        assert!(wn.define("'hood").unwrap().is_some());
        assert!(wn.define("zyrian").unwrap().is_some());
        assert!(wn.define("quickly").unwrap().is_some(), "an adverb");
        assert_eq!(wn.define("").unwrap(), None);
    }

    /// Every lemma of every index file is found by the binary search (and nothing between).
    #[test]
    fn binary_search_finds_every_lemma() {
        let dir = std::path::Path::new("/usr/share/wordnet");
        if !dir.join("index.adv").is_file() {
            eprintln!("no WordNet here (wordnet-base): not checked");
            return;
        }
        for pos in ["adv", "verb"] {
            let text = std::fs::read_to_string(dir.join(format!("index.{pos}"))).unwrap();
            let mut f = std::fs::File::open(dir.join(format!("index.{pos}"))).unwrap();
            for l in text.lines().filter(|l| !l.starts_with("  ")) {
                let key = l.split(' ').next().unwrap();
                assert_eq!(
                    find_line(&mut f, key).unwrap().as_deref(),
                    Some(l.trim_end()),
                    "{key}"
                );
                let between = format!("{key}~");
                assert_eq!(find_line(&mut f, &between).unwrap(), None);
            }
        }
    }
}
