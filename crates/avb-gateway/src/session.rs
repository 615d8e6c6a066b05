//! One Realtime session: the conversation state and the loop that answers client events.

mod answers;
mod client_events;
mod turns;

use crate::GatewayState;
use crate::engines::Engines;
use crate::error::{GatewayError, Stage};
use crate::limits::Budget;
use crate::records::{RecordOp, Recorder};
use crate::response::{self, Finished, Partial, ResponseJob};
use avb_core::Scope;
use avb_core::services::sessions;
use avb_core::services::voice_profiles::ResolvedProfile;
use avb_realtime::server_events::{CancelReason, RateLimit, RateLimitName, TranscriptionUsage};
use avb_realtime::{
    AudioFormat, ClientEvent, ContentPart, Dialect, ErrorCode, Item, ItemKind, ProtocolError, Role,
    ServerEvent, SessionConfig, TurnDetection, parse_client_event,
};
use avb_voice::TranscribeOptions;
use avb_voice::vad::{TurnDetector, TurnEvent};
use axum::extract::ws::{Message, WebSocket};
use base64::Engine as _;
use futures::StreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

/// A tenant's last allowance check: when, and why its sessions must end (if they must).
type AllowanceChecks =
    std::collections::HashMap<avb_domain::TenantId, (std::time::Instant, Option<String>)>;

/// The last allowance check per tenant in this process, shared by its sessions so that many
/// sessions of one tenant cost one check per interval.
static ALLOWANCE: std::sync::LazyLock<std::sync::Mutex<AllowanceChecks>> =
    std::sync::LazyLock::new(Default::default);

/// Why `tenant`'s sessions must end now (the plan's minutes are used up), checked at most once
/// per `realtime.allowance_check_secs` per tenant.
async fn allowance_spent(
    ctx: &avb_core::AppContext,
    tenant: avb_domain::TenantId,
) -> avb_core::CoreResult<Option<String>> {
    if let Some((at, why)) = ALLOWANCE.lock().expect("allowance lock").get(&tenant)
        && at.elapsed() < Duration::from_secs(ctx.config.realtime.allowance_check_secs.max(1))
    {
        return Ok(why.clone());
    }
    let why = avb_core::services::subscriptions::live_allowance_spent(ctx, tenant).await?;
    let mut cache = ALLOWANCE.lock().expect("allowance lock");
    if cache.len() > 10_000 {
        cache.clear();
    }
    cache.insert(tenant, (std::time::Instant::now(), why.clone()));
    Ok(why)
}

pub(crate) use crate::emitter::{Emitter, Outgoing};

struct Active {
    id: String,
    handle: JoinHandle<()>,
    partial: Arc<Mutex<Partial>>,
}

/// The state of one connection.
pub struct Session {
    state: GatewayState,
    scope: Scope,
    dialect: Dialect,
    config: SessionConfig,
    conversation: Conversation,
    /// The input audio buffer, decoded.
    input: InputBuffer,
    active: Option<Active>,
    responses: i32,
    vad: Option<TurnDetector>,
    turn_item: Option<String>,
    /// When the user's last turn ended (for voice-to-voice timing).
    turn_ended: Option<std::time::Instant>,
    /// The stored session record.
    record: Option<avb_domain::SessionId>,
    /// How long the last transcription took.
    last_stt_ms: Option<i64>,
    /// Why the last transcription failed (recorded with the turn that answers it).
    last_stt_error: Option<String>,
    /// Writes the session's records in the background.
    recorder: Option<Recorder>,
    /// The engines and model choices of this session (the tenant's profile applied).
    engines: Engines,
    /// The tenant's rate budget (from its plan).
    budget: Budget,
    /// A transcription started while the VAD waits out a turn's final silence.
    early_stt: Option<EarlyStt>,
    /// When in a pause the early transcription starts (learned from this speaker's pauses).
    early_start: EarlyStart,
    /// The current pause's silence so far (ms), as of the last audio.
    pause_ms: u64,
    /// The answer to that transcription, started before the turn ends, its events held.
    speculation: Option<Speculation>,
    /// The persona (id, published version) the profile resolved, recorded with the session.
    persona: Option<(uuid::Uuid, i32)>,
    /// The tenant's OVOS settings when its turns go through ovos-core first.
    ovos: Option<avb_core::services::skills::TenantOvos>,
    /// The persona's knowledge solvers, asked in order before the LLM.
    solvers: Vec<String>,
    /// The tenant's enabled wake words when the session started: while there are any, each
    /// voice turn is scored (for the words as they are then) in the background.
    wake_words: Vec<avb_core::services::wake_words::WakeWord>,
}

use crate::conversation::Conversation;
use crate::input::InputBuffer;
use crate::speculation::{EarlyStart, EarlyStt, Speculation};

/// The user's words a response answers: the last item's text when it is a user message
/// and the response is the conversation's own (no out-of-band instructions or input).
fn user_turn(items: &[Item], overrides: Option<&Value>) -> Option<String> {
    if overrides.is_some_and(|o| {
        ["instructions", "input", "tools", "conversation"]
            .iter()
            .any(|k| !o[*k].is_null())
    }) {
        return None;
    }
    let ItemKind::Message {
        role: Role::User,
        content,
    } = &items.last()?.kind
    else {
        return None;
    };
    let text: Vec<&str> = content.iter().filter_map(ContentPart::text).collect();
    Some(text.join(" ").trim().to_string()).filter(|t| !t.is_empty())
}

/// What the handshake resolved for a new session: the tenant's voice profile, the engines it
/// implies, and the plan's rate budget.
pub struct SessionStart<'a> {
    pub profile: &'a ResolvedProfile,
    pub engines: Engines,
    pub budget: Budget,
}

/// The `rate_limits` of `rate_limits.updated`.
fn rate_limits(r: &crate::limits::Remaining) -> Vec<RateLimit> {
    vec![
        RateLimit {
            name: RateLimitName::Requests,
            limit: r.requests_limit,
            remaining: r.requests,
            reset_seconds: r.reset_seconds,
        },
        RateLimit {
            name: RateLimitName::Tokens,
            limit: r.tokens_limit,
            remaining: r.tokens,
            reset_seconds: r.reset_seconds,
        },
    ]
}

/// The turn detector the session's `turn_detection` asks for.
fn turn_detector(config: &SessionConfig) -> Option<TurnDetector> {
    let rate = if config.input_format == AudioFormat::Pcm16 {
        24_000
    } else {
        8_000
    };
    match &config.turn_detection {
        Some(TurnDetection::ServerVad {
            threshold,
            silence_duration_ms,
            ..
        }) => Some(TurnDetector::new(rate, *threshold, *silence_duration_ms)),
        Some(TurnDetection::SemanticVad { eagerness, .. }) => {
            // Eagerness maps to how long a pause ends the turn.
            let silence = match eagerness.as_str() {
                "high" => 300,
                "low" => 1200,
                _ => 700,
            };
            Some(TurnDetector::new(rate, 0.5, silence))
        }
        None => None,
    }
}

/// Session defaults from the tenant's voice profile (unset fields keep the protocol defaults).
fn apply_profile(config: &mut SessionConfig, profile: &ResolvedProfile) {
    if let Some(v) = &profile.voice {
        config.voice = v.clone();
    }
    if let Some(s) = profile.speed {
        config.speed = s;
    }
    if let Some(i) = &profile.instructions {
        config.instructions = i.clone();
    }
    if let Some(t) = profile.temperature {
        config.temperature = t;
    }
    if let Some(m) = profile.max_output_tokens {
        config.max_output_tokens = u32::try_from(m).ok();
    }
    // VAD filtering off: the session starts without turn detection (the client commits).
    if profile.stt_vad == Some(false) {
        config.turn_detection = None;
    }
}

impl Session {
    /// A new session for an authenticated caller. It starts from the tenant's voice `profile`,
    /// then `stored` (the session configuration carried by an ephemeral client secret); the
    /// client's `session.update` overrides both.
    pub fn new(
        state: GatewayState,
        scope: Scope,
        dialect: Dialect,
        model: String,
        stored: Option<(Dialect, Value)>,
        start: SessionStart<'_>,
    ) -> Self {
        let expires_at =
            chrono::Utc::now().timestamp() + state.ctx.config.realtime.max_session_secs as i64;
        let mut config = SessionConfig::new(&model, expires_at);
        apply_profile(&mut config, start.profile);
        if let Some((stored_dialect, session)) = stored {
            // It was validated when the secret was minted.
            if let Err(e) = config.apply_update(stored_dialect, &session) {
                tracing::warn!(error = %e, "stored session configuration no longer applies");
            }
        }
        let vad = turn_detector(&config);
        let input_format = config.input_format;
        Self {
            state,
            scope,
            dialect,
            config,
            conversation: Conversation::default(),
            input: InputBuffer::new(input_format),
            active: None,
            responses: 0,
            vad,
            turn_item: None,
            turn_ended: None,
            record: None,
            last_stt_ms: None,
            last_stt_error: None,
            recorder: None,
            engines: start.engines,
            budget: start.budget,
            early_stt: None,
            early_start: EarlyStart::default(),
            pause_ms: 0,
            speculation: None,
            persona: start.profile.persona,
            ovos: start.profile.ovos.clone(),
            solvers: start.profile.solvers.clone(),
            wake_words: start.profile.wake_words.clone(),
        }
    }

    /// Records the session, starts its record writer, registers it as live and greets the
    /// client (`session.created`, and `conversation.created` in beta). `None` (the client
    /// was told) when the session could not be recorded.
    async fn open(
        &mut self,
        emitter: &Emitter,
    ) -> Option<(
        avb_domain::SessionId,
        JoinHandle<()>,
        avb_core::services::live::LiveGuard,
    )> {
        let dialect_name = if self.dialect == Dialect::Beta {
            "beta"
        } else {
            "ga"
        };
        let opened = sessions::open_with_persona(
            &self.state.ctx,
            &self.scope,
            &self.config.id,
            &self.config.model,
            dialect_name,
            self.persona,
        )
        .await;
        let record = match opened {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "could not record the realtime session");
                emitter
                    .error(&ProtocolError::new(
                        ErrorCode::Internal,
                        "The session could not be started.",
                    ))
                    .await;
                return None;
            }
        };
        self.record = Some(record);
        tracing::Span::current().record("session", tracing::field::display(record));
        let (recorder, writer_task) =
            Recorder::start(self.state.ctx.clone(), self.scope.clone(), record);
        self.recorder = Some(recorder);
        let owner = avb_core::services::live::LiveOwner::of(&self.scope);
        let live = self.state.ctx.live.register(record.as_uuid(), owner);
        tracing::info!(tenant = ?self.scope.tenant(), session = %record, realtime_id = %self.config.id, dialect = ?self.dialect, "realtime session opened");
        emitter
            .emit(ServerEvent::SessionCreated {
                session: Box::new(self.config.clone()),
            })
            .await;
        if self.dialect == Dialect::Beta {
            emitter
                .emit(ServerEvent::ConversationCreated {
                    conversation_id: avb_realtime::ids::new_id("conv"),
                })
                .await;
        }
        Some((record, writer_task, live))
    }

    /// After the loop: whatever the session made is metered, the answers that finished but
    /// were not recorded yet and the one the end cut off (what it made so far).
    async fn wind_up(&mut self, done_rx: &mut mpsc::Receiver<Finished>) {
        while let Ok(f) = done_rx.try_recv() {
            self.finish(f).await;
        }
        if let Some(a) = self.active.take() {
            a.handle.abort();
            let (usage, audio_ms) = a
                .partial
                .lock()
                .map(|p| (p.usage, p.audio_ms))
                .unwrap_or_default();
            let tokens = (usage.input_tokens, usage.output_tokens);
            self.meter(&a.id, tokens, audio_ms).await;
        }
        self.speculation = None;
    }

    /// Lets the queued records land, then records the session as closed for `reason`.
    async fn close(
        &mut self,
        record: avb_domain::SessionId,
        writer_task: JoinHandle<()>,
        reason: &str,
    ) {
        self.recorder = None;
        let _ = writer_task.await;
        let result = match self.scope.tenant() {
            Some(t) => {
                let ctx = &self.state.ctx;
                let responses = self.responses;
                crate::records::retry_unavailable(|| {
                    sessions::closed(ctx, t, record, reason, responses)
                })
                .await
            }
            None => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record the end of the realtime session");
        }
        tracing::info!(session = %record, %reason, "realtime session closed");
    }

    /// Runs the session until the client leaves or the session expires.
    pub async fn run(mut self, socket: WebSocket) {
        let (sink, mut stream) = socket.split();
        let (tx, writer) = crate::emitter::spawn_writer(sink);
        let emitter = Emitter::new(tx.clone(), self.dialect);
        let (done_tx, mut done_rx) = mpsc::channel::<Finished>(8);
        let Some((record, writer_task, live)) = self.open(&emitter).await else {
            let _ = tx
                .send(Outgoing::Close(1011, "internal error".into()))
                .await;
            drop(emitter);
            drop(tx);
            let _ = writer.await;
            return;
        };
        let max = Duration::from_secs(self.state.ctx.config.realtime.max_session_secs);
        let expiry = tokio::time::sleep(max);
        tokio::pin!(expiry);
        let mut reason = "client disconnected".to_string();
        // The plan's audio minutes are checked while the session runs: a session that uses up
        // the period's allowance ends like an expired one, saying why.
        let mut allowance = tokio::time::interval(Duration::from_secs(
            self.state.ctx.config.realtime.allowance_check_secs.max(1),
        ));
        allowance.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        allowance.tick().await;
        loop {
            tokio::select! {
                // A finished response is taken in before the client's next event.
                biased;
                Some(finished) = done_rx.recv() => self.finish(finished).await,
                msg = stream.next() => match msg {
                    Some(Ok(Message::Text(text))) => self.handle(&emitter, &done_tx, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => {
                        emitter.error(&ProtocolError::new(ErrorCode::InvalidEvent, "Send events as JSON text frames.")).await;
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                },
                _ = live.closed.notified() => {
                    emitter.error(&ProtocolError::new(ErrorCode::SessionClosed, "The session was closed by the server.")).await;
                    let _ = tx.send(Outgoing::Close(1000, "session closed".into())).await;
                    reason = "closed by request".into();
                    break;
                }
                _ = allowance.tick() => {
                    let Some(tenant) = self.scope.tenant() else { continue };
                    match allowance_spent(&self.state.ctx, tenant).await {
                        Ok(Some(why)) => {
                            reason = "plan limit reached".into();
                            self.say_goodbye(&emitter, &mut done_rx, &format!("This session is ending: {why}.")).await;
                            emitter.error(&ProtocolError::new(ErrorCode::SessionExpired, format!("The session ended: {why}."))).await;
                            let _ = tx.send(Outgoing::Close(1000, "plan limit reached".into())).await;
                            break;
                        }
                        Ok(None) => {}
                        Err(e) => tracing::warn!(error = %e, "plan allowance unavailable; the session goes on"),
                    }
                }
                _ = &mut expiry => {
                    reason = "maximum duration reached".into();
                    let minutes = max.as_secs() / 60;
                    emitter.error(&ProtocolError::new(ErrorCode::SessionExpired, format!("Your session hit the maximum duration of {minutes} minutes."))).await;
                    let _ = tx.send(Outgoing::Close(1000, "session expired".into())).await;
                    break;
                }
            }
        }
        self.wind_up(&mut done_rx).await;
        drop(emitter);
        drop(tx);
        let _ = writer.await;
        self.close(record, writer_task, &reason).await;
        // Unregister last, so a draining shutdown waits for the records above.
        drop(live);
    }

    /// Stores an item of this session for the records (failures are logged, not fatal).
    fn persist_item_text(&self, item_id: &str, kind: &'static str, role: &'static str, text: &str) {
        if let Some(r) = &self.recorder {
            r.send(RecordOp::Item {
                item_id: item_id.to_string(),
                kind,
                role,
                text: text.to_string(),
            });
        }
    }

    fn persist_item(&self, item: &Item) {
        let (kind, role, text) = match &item.kind {
            ItemKind::Message { role, content } => {
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                };
                let text: Vec<&str> = content.iter().filter_map(ContentPart::text).collect();
                ("message", role, text.join(" "))
            }
            ItemKind::FunctionCall {
                name, arguments, ..
            } => ("function_call", "assistant", format!("{name}({arguments})")),
            ItemKind::FunctionCallOutput { output, .. } => {
                ("function_call_output", "tool", output.clone())
            }
        };
        self.persist_item_text(&item.id, kind, role, &text);
    }
}
