//! Knowledge solvers a persona consults, in its order, before the LLM (O3): WordNet from the
//! Debian data files (offline), and Wikipedia, DuckDuckGo and Wolfram Alpha through their public
//! APIs behind configurable base URLs (no redirects followed, each call under a deadline). A
//! solver answers a question with a short spoken sentence or passes (`Ok(None)`); one that is
//! not configured or not reachable says so in [`Solvers::status`].

mod web;
mod wordnet;

pub use web::{DuckDuckGo, Wikipedia, WolframAlpha};
pub use wordnet::WordNet;

use crate::EngineError;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// One knowledge source.
#[async_trait::async_trait]
pub trait Solver: Send + Sync {
    /// An answer to `question`, or `None` when this source has none.
    async fn answer(&self, question: &str, lang: &str) -> Result<Option<String>, EngineError>;

    /// Whether it can be asked now (configured and reachable), or why not.
    async fn check(&self) -> Result<(), String>;
}

/// The configured solvers by name (`wordnet`, `wikipedia`, `duckduckgo`, `wolfram_alpha`).
#[derive(Clone, Default)]
pub struct Solvers {
    by_name: BTreeMap<&'static str, Arc<dyn Solver>>,
    deadline: Duration,
}

/// What a persona's solvers gave.
#[derive(Debug, Clone, PartialEq)]
pub enum SolverOutcome {
    /// `solver` answered.
    Answered { solver: String, text: String },
    /// None had an answer; the errors of those that failed, by solver.
    Passed { errors: Vec<(String, String)> },
}

impl Solvers {
    /// No solvers yet; each call waits at most `deadline`.
    pub fn new(deadline: Duration) -> Self {
        Self {
            by_name: BTreeMap::new(),
            deadline,
        }
    }

    /// Adds `solver` under `name`.
    pub fn with(mut self, name: &'static str, solver: Arc<dyn Solver>) -> Self {
        self.by_name.insert(name, solver);
        self
    }

    /// Whether `name` is configured.
    pub fn has(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// Asks `order`'s solvers in turn until one answers; unconfigured names are skipped.
    pub async fn ask(&self, order: &[String], question: &str, lang: &str) -> SolverOutcome {
        let mut errors = Vec::new();
        for name in order {
            let Some(solver) = self.by_name.get(name.as_str()) else {
                continue;
            };
            match tokio::time::timeout(self.deadline, solver.answer(question, lang)).await {
                Ok(Ok(Some(text))) if !text.trim().is_empty() => {
                    return SolverOutcome::Answered {
                        solver: name.clone(),
                        text,
                    };
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => errors.push((name.clone(), e.to_string())),
                Err(_) => errors.push((
                    name.clone(),
                    format!("no answer within {} ms", self.deadline.as_millis()),
                )),
            }
        }
        SolverOutcome::Passed { errors }
    }

    /// Each known solver's state: `Ok` when it can be asked, else why not.
    pub async fn status(&self, names: &[&str]) -> Vec<(String, Result<(), String>)> {
        let mut out = Vec::new();
        for name in names {
            let state = match self.by_name.get(name) {
                None => Err("not configured on this platform".to_string()),
                Some(s) => match tokio::time::timeout(self.deadline, s.check()).await {
                    Ok(r) => r,
                    Err(_) => Err("not reachable in time".to_string()),
                },
            };
            out.push((name.to_string(), state));
        }
        out
    }
}

/// The subject of a question ("what is a computer?" -> "computer"), for sources that look up
/// a term; the question itself when it has no known opening.
pub fn subject(question: &str) -> String {
    let q = question.trim().trim_end_matches(['?', '.', '!']).trim();
    const OPENINGS: &[&str] = &[
        "what is the meaning of ",
        "what's the meaning of ",
        "what is the definition of ",
        "what does the word ",
        "tell me about ",
        "what does ",
        "who was ",
        "who is ",
        "who are ",
        "what was ",
        "what is ",
        "what's ",
        "what are ",
        "meaning of ",
        "definition of ",
        "define ",
    ];
    // Case-insensitive openings, keeping the subject's own case (titles need it).
    fn strip<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
        s.get(..prefix.len())
            .filter(|head| head.eq_ignore_ascii_case(prefix))
            .map(|_| &s[prefix.len()..])
    }
    let mut s = q;
    if let Some(rest) = OPENINGS.iter().find_map(|o| strip(s, o)) {
        s = rest;
    }
    if s.len() > 5 && s[s.len() - 5..].eq_ignore_ascii_case(" mean") {
        s = &s[..s.len() - 5];
    }
    if let Some(rest) = ["a ", "an ", "the "].iter().find_map(|a| strip(s, a)) {
        s = rest;
    }
    s.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_of_questions() {
        assert_eq!(subject("What is a computer?"), "computer");
        assert_eq!(subject("who was Ada Lovelace"), "Ada Lovelace");
        assert_eq!(subject("Define serendipity"), "serendipity");
        assert_eq!(subject("what does ephemeral mean?"), "ephemeral");
        assert_eq!(subject("tell me about the Roman Empire"), "Roman Empire");
        assert_eq!(subject("Paris"), "Paris");
    }
}
