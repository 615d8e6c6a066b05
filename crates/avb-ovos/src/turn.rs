//! One voice turn through ovos-core, as the gateway sends it (spec/ovos.md 3.1): the utterance
//! with the turn's own session (its id is the only correlation key; the tenant's pipeline and
//! blacklists ride in it), then the replies of that session until the turn is handled: the
//! matched intent, what the skill says (the gateway plays the audio service, answering each
//! `speak` with `audio_output_start`/`_end`), a fallback skill, a complete failure, a skill
//! error, or nothing before the deadline.

use crate::bus::Attached;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// What the gateway asks.
#[derive(Debug, Clone)]
pub struct TurnRequest {
    /// Unique per turn, e.g. `<tenant>:<session>:<n>`.
    pub session_id: String,
    pub lang: String,
    pub utterance: String,
    /// Intent stages for this tenant; `None` keeps ovos-core's configured pipeline.
    pub pipeline: Option<Vec<String>>,
    pub blacklisted_skills: Vec<String>,
    pub blacklisted_intents: Vec<String>,
}

/// How the turn went.
#[derive(Debug, Clone, PartialEq)]
pub enum TurnOutcome {
    /// A skill answered: its intent (`<skill_id>:<intent>` or `fallback:<skill_id>`), what it
    /// said (one entry per `speak`), adapt's confidence when given, and ms to the first words.
    Answered {
        intent: String,
        skill: String,
        said: Vec<String>,
        confidence: Option<f64>,
        first_speak_ms: u64,
    },
    /// No intent matched and no fallback answered (`complete_intent_failure`).
    Unmatched,
    /// The skill failed (`mycroft.skill.handler.error`).
    SkillError {
        intent: Option<String>,
        error: String,
    },
    /// Nothing conclusive before the deadline.
    TimedOut { intent: Option<String> },
}

/// The match a message type reveals: `<skill_id>:<intent>` or `fallback:<skill_id>`.
pub fn intent_of(kind: &str) -> Option<String> {
    if let Some(skill) = kind
        .strip_prefix("ovos.skills.fallback.")
        .and_then(|k| k.strip_suffix(".request"))
    {
        return Some(format!("fallback:{skill}"));
    }
    let (head, _) = kind.split_once(':')?;
    (head.contains('.') && !head.starts_with("ovos.") && !head.starts_with("mycroft."))
        .then(|| kind.to_string())
}

/// After a skill's last `speak`, how long more words may take before the turn counts as
/// answered (its handler may still run: skills that speak with `wait=True`).
const SPEAK_GAP: std::time::Duration = std::time::Duration::from_millis(300);

/// Sends the turn and follows its session's replies until handled (or its words are out and
/// the skill went quiet), or `deadline`.
pub async fn ask(client: &mut Attached, req: &TurnRequest, deadline: Duration) -> TurnOutcome {
    let mut session = json!({"session_id": req.session_id, "lang": req.lang,
        "blacklisted_skills": req.blacklisted_skills, "blacklisted_intents": req.blacklisted_intents});
    if let Some(p) = &req.pipeline {
        session["pipeline"] = json!(p);
    }
    let utterance = json!({"type": "recognizer_loop:utterance",
        "data": {"utterances": [req.utterance], "lang": req.lang},
        "context": {"session": session, "source": "avb-gateway", "destination": ["skills"]}});
    let started = Instant::now();
    if client.send(&utterance.to_string()).is_err() {
        return TurnOutcome::TimedOut { intent: None };
    }
    let mut intent: Option<String> = None;
    let mut confidence = None;
    let mut said = Vec::new();
    let mut first_speak_ms = 0;
    let end = tokio::time::Instant::now() + deadline;
    let mut last_speak: Option<tokio::time::Instant> = None;
    loop {
        // Once the skill has spoken, a pause of SPEAK_GAP ends the turn: skills that speak with
        // `wait=True` may hold their handler long after their words are out.
        let until = last_speak.map_or(end, |t| (t + SPEAK_GAP).min(end));
        let frame = match tokio::time::timeout_at(until, client.recv()).await {
            Ok(Some(frame)) => frame,
            Err(_) if last_speak.is_some() => {
                return match intent {
                    Some(i) => TurnOutcome::Answered {
                        skill: skill_of(&i),
                        intent: i,
                        said,
                        confidence,
                        first_speak_ms,
                    },
                    None => TurnOutcome::TimedOut { intent: None },
                };
            }
            _ => return TurnOutcome::TimedOut { intent },
        };
        let Ok(v) = serde_json::from_str::<Value>(&frame) else {
            continue;
        };
        if v["context"]["session"]["session_id"] != req.session_id.as_str()
            || v["context"]["source"] == "avb-gateway"
        {
            continue;
        }
        let kind = v["type"].as_str().unwrap_or_default();
        if intent.is_none()
            && let Some(found) = intent_of(kind)
        {
            confidence = v["data"]["confidence"].as_f64();
            intent = Some(found);
        }
        match kind {
            "speak" => {
                last_speak = Some(tokio::time::Instant::now());
                if said.is_empty() {
                    first_speak_ms = started.elapsed().as_millis() as u64;
                }
                said.push(
                    v["data"]["utterance"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                );
                // The audio service's part, so skills that wait for playback go on.
                let mut context = v["context"].clone();
                context["source"] = json!("avb-gateway");
                for t in [
                    "recognizer_loop:audio_output_start",
                    "recognizer_loop:audio_output_end",
                ] {
                    let _ = client
                        .send(&json!({"type": t, "data": {}, "context": context}).to_string());
                }
            }
            "complete_intent_failure" => return TurnOutcome::Unmatched,
            "mycroft.skill.handler.error" => {
                return TurnOutcome::SkillError {
                    intent,
                    error: v["data"]["exception"]
                        .as_str()
                        .unwrap_or("the skill failed")
                        .to_string(),
                };
            }
            "ovos.utterance.handled" => {
                return match intent {
                    Some(i) if !said.is_empty() => TurnOutcome::Answered {
                        skill: skill_of(&i),
                        intent: i,
                        said,
                        confidence,
                        first_speak_ms,
                    },
                    _ => TurnOutcome::Unmatched,
                };
            }
            _ => {}
        }
    }
}

/// Sends `kind` with `data` from `source` and returns the data of the first `reply` message
/// before `timeout` (ovos-core's admin requests carry no id: one request at a time per client).
pub async fn request(
    client: &mut Attached,
    kind: &str,
    data: Value,
    source: &str,
    reply: &str,
    timeout: Duration,
) -> Option<Value> {
    let ask = crate::frame::message(
        kind,
        data,
        json!({"source": source, "destination": ["skills"]}),
    );
    client.send(&ask).ok()?;
    tokio::time::timeout(timeout, async {
        while let Some(frame) = client.recv().await {
            let Ok(mut v) = serde_json::from_str::<Value>(&frame) else {
                continue;
            };
            if v["type"] == reply {
                return Some(v["data"].take());
            }
        }
        None
    })
    .await
    .ok()
    .flatten()
}

fn skill_of(intent: &str) -> String {
    intent
        .strip_prefix("fallback:")
        .unwrap_or_else(|| intent.split(':').next().unwrap_or(intent))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intents_and_fallbacks_are_recognised() {
        assert_eq!(
            intent_of("ovos-skill-date-time.openvoiceos:what.time.is.it.intent").as_deref(),
            Some("ovos-skill-date-time.openvoiceos:what.time.is.it.intent")
        );
        assert_eq!(
            intent_of("ovos.skills.fallback.ovos-skill-fallback-unknown.openvoiceos.request")
                .as_deref(),
            Some("fallback:ovos-skill-fallback-unknown.openvoiceos")
        );
        assert_eq!(intent_of("mycroft.skill.handler.start"), None);
        assert_eq!(intent_of("recognizer_loop:utterance"), None);
        assert_eq!(intent_of("ovos.utterance.handled"), None);
        assert_eq!(skill_of("fallback:x.openvoiceos"), "x.openvoiceos");
        assert_eq!(skill_of("x.openvoiceos:y.intent"), "x.openvoiceos");
    }
}
