//! The Intent and Skill stages of a voice turn (O2, O6): before the LLM, a tenant with OVOS on
//! sends the user's words to ovos-core over the platform's bus. A matched intent's words become
//! the assistant's answer (spoken, metered and recorded like any other); no match, a skill
//! error, an absent ovos-core or no answer within `[ovos] turn_deadline_ms` leave the turn to
//! the persona's LLM, and a failure is counted against the Skill stage.

use crate::error::{GatewayError, Stage};
use avb_core::services::intents::{NewIntentEvent, Outcome};
use avb_core::services::skills::TenantOvos;
use std::time::{Duration, Instant};

/// What a response asks ovos-core first.
pub(crate) struct SkillAsk {
    pub bus: avb_ovos::Bus,
    pub core_client_id: String,
    pub request: avb_ovos::TurnRequest,
    pub deadline: Duration,
}

impl SkillAsk {
    /// The ask for one of `settings`' tenant's turns, numbered `turn` within `session`.
    pub fn new(
        ctx: &avb_core::AppContext,
        settings: &TenantOvos,
        tenant: &str,
        session: &str,
        turn: i32,
        utterance: &str,
    ) -> Option<Self> {
        let bus = ctx.ovos_bus.clone()?;
        Some(Self {
            bus,
            core_client_id: ctx.config.ovos.core_client_id.clone(),
            request: settings.turn(format!("{tenant}:{session}:{turn}"), utterance),
            deadline: Duration::from_millis(ctx.config.ovos.turn_deadline_ms),
        })
    }
}

/// What the skill stage decided: the words to say (when a skill answered) and the turn's
/// intent event so far (its outcome is final unless the LLM then fails).
pub(crate) struct SkillAnswer {
    pub words: Option<String>,
    pub event: NewIntentEvent,
}

fn event(utterance: &str, outcome: Outcome) -> NewIntentEvent {
    NewIntentEvent {
        session_id: None,
        utterance: utterance.to_string(),
        outcome: outcome.as_str().to_string(),
        intent: None,
        skill: None,
        confidence: None,
        latency_ms: 0,
        error: String::new(),
    }
}

/// The event of a turn the persona's LLM answers without asking OVOS.
pub(crate) fn persona_event(utterance: &str) -> NewIntentEvent {
    event(utterance, Outcome::Persona)
}

/// The event of a turn a persona's knowledge solver answered in `ms`.
pub(crate) fn solver_event(utterance: &str, solver: &str, ms: i64) -> NewIntentEvent {
    let mut e = event(utterance, Outcome::Solver);
    e.intent = Some(format!("solver:{solver}"));
    e.skill = Some(solver.to_string());
    e.latency_ms = ms;
    e
}

/// Whether `skill`'s answer is "I did not understand" rather than an answer.
fn says_unknown(skill: &str) -> bool {
    skill == "ovos-skill-fallback-unknown.openvoiceos"
}

/// Asks ovos-core; never fails: whatever goes wrong is the event's error and the LLM answers.
pub(crate) async fn ask(ask: SkillAsk, tenant: &str) -> SkillAnswer {
    let utterance = ask.request.utterance.clone();
    let started = Instant::now();
    let failed = |error: String, intent: Option<String>| {
        let error = GatewayError::stage(Stage::Skill, error);
        error.report(tenant);
        let mut e = event(&utterance, Outcome::Failure);
        e.intent = intent;
        e.error = error.to_string();
        e.latency_ms = started.elapsed().as_millis() as i64;
        SkillAnswer {
            words: None,
            event: e,
        }
    };
    if ask.bus.bridged_to().is_none() && !ask.bus.is_connected(&ask.core_client_id) {
        return failed("ovos-core is not connected to the bus".into(), None);
    }
    let mut client = ask.bus.attach("avb-gateway");
    let outcome = avb_ovos::ask(&mut client, &ask.request, ask.deadline).await;
    let elapsed = started.elapsed();
    match outcome {
        avb_ovos::TurnOutcome::Answered {
            intent,
            skill,
            said,
            confidence,
            first_speak_ms,
        } if !says_unknown(&skill) => {
            crate::metrics::stage("skill", tenant, Duration::from_millis(first_speak_ms));
            let outcome = if intent.starts_with("fallback:") {
                Outcome::Fallback
            } else {
                Outcome::Intent
            };
            let mut e = event(&utterance, outcome);
            e.intent = Some(intent);
            e.skill = Some(skill);
            e.confidence = confidence;
            e.latency_ms = first_speak_ms as i64;
            SkillAnswer {
                words: Some(said.join(" ")),
                event: e,
            }
        }
        avb_ovos::TurnOutcome::Answered { .. } | avb_ovos::TurnOutcome::Unmatched => {
            crate::metrics::stage("skill", tenant, elapsed);
            let mut e = persona_event(&utterance);
            e.latency_ms = elapsed.as_millis() as i64;
            SkillAnswer {
                words: None,
                event: e,
            }
        }
        avb_ovos::TurnOutcome::SkillError { intent, error } => {
            failed(format!("the skill failed: {error}"), intent)
        }
        avb_ovos::TurnOutcome::TimedOut { intent } => failed(
            format!(
                "ovos-core did not answer within {} ms",
                ask.deadline.as_millis()
            ),
            intent,
        ),
    }
}
