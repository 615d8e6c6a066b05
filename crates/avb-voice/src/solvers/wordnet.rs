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
            let index = std::fs::File::open(self.dir.join(format!("index.{pos}")))?;
            let Some(line) = std::io::BufReader::new(index)
                .lines()
                .map_while(Result::ok)
                .find(|l| l.split(' ').next() == Some(lemma.as_str()))
            else {
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
    }
}
