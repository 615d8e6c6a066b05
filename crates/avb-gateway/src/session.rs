//! One Realtime session: the conversation state and the loop that answers client events.

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
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
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
use crate::speculation::{EarlyStt, Speculation, early_stt_after_ms};

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
            speculation: None,
            persona: start.profile.persona,
            ovos: start.profile.ovos.clone(),
            solvers: start.profile.solvers.clone(),
            wake_words: start.profile.wake_words.clone(),
        }
    }

    /// Runs the session until the client leaves or the session expires.
    pub async fn run(mut self, socket: WebSocket) {
        let (mut sink, mut stream) = socket.split();
        let (tx, mut rx) = mpsc::channel::<Outgoing>(512);
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                let res = match out {
                    Outgoing::Event(v) => sink.send(Message::Text(v.to_string().into())).await,
                    Outgoing::Close(code, reason) => {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code,
                                reason: reason.into(),
                            })))
                            .await;
                        break;
                    }
                };
                if res.is_err() {
                    break;
                }
            }
        });
        let emitter = Emitter::new(tx.clone(), self.dialect);
        let (done_tx, mut done_rx) = mpsc::channel::<Finished>(8);
        let dialect_name = if self.dialect == Dialect::Beta {
            "beta"
        } else {
            "ga"
        };
        let record = match sessions::open_with_persona(
            &self.state.ctx,
            &self.scope,
            &self.config.id,
            &self.config.model,
            dialect_name,
            self.persona,
        )
        .await
        {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "could not record the realtime session");
                emitter
                    .error(&ProtocolError::new(
                        ErrorCode::Internal,
                        "The session could not be started.",
                    ))
                    .await;
                let _ = tx
                    .send(Outgoing::Close(1011, "internal error".into()))
                    .await;
                drop(emitter);
                drop(tx);
                let _ = writer.await;
                return;
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
        // Whatever the session made is metered: answers that finished but were not recorded
        // yet, and the one the end cut off (what it made so far).
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
        drop(emitter);
        drop(tx);
        let _ = writer.await;
        // Let queued records land before the session is marked closed.
        self.recorder = None;
        let _ = writer_task.await;
        let tenant = self.scope.tenant();
        let result = match tenant {
            Some(t) => {
                let ctx = &self.state.ctx;
                let responses = self.responses;
                crate::records::retry_unavailable(|| {
                    sessions::closed(ctx, t, record, &reason, responses)
                })
                .await
            }
            None => Ok(()),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "could not record the end of the realtime session");
        }
        tracing::info!(session = %record, %reason, "realtime session closed");
        // Unregister last, so a draining shutdown waits for the records above.
        drop(live);
    }

    /// The transcription options of this session (its settings over the tenant profile).
    fn stt_options(&self) -> TranscribeOptions {
        let setting = |k: &str| {
            self.config
                .transcription
                .as_ref()
                .and_then(|t| t.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        TranscribeOptions {
            language: setting("language").or_else(|| self.engines.stt_language.clone()),
            prompt: setting("prompt"),
            model: self.engines.stt_model.clone(),
        }
    }

    /// Starts transcribing `audio` in the background (speculatively, before the turn ends).
    fn spawn_stt(&self) -> Option<JoinHandle<crate::speculation::Transcribed>> {
        let stt = self.engines.stt.clone()?;
        let wav = avb_voice::audio::wav(self.input.samples(), self.input.rate());
        let opts = self.stt_options();
        Some(tokio::spawn(
            async move {
                let started = std::time::Instant::now();
                let result = stt
                    .transcribe(wav, opts)
                    .await
                    .map_err(|e| GatewayError::engine(Stage::Stt, e));
                (result, started.elapsed())
            }
            .in_current_span(),
        ))
    }

    /// Speech to text for a committed user item; fills its transcript, and reports it when the
    /// session asked for input transcription. `early` is a transcription of the same speech
    /// started while the VAD waited out the final silence.
    async fn transcribe(
        &mut self,
        out: &Emitter,
        item_id: &str,
        samples: &[i16],
        early: Option<EarlyStt>,
    ) {
        let report = self.config.transcription.is_some();
        let failed = |e: &GatewayError| ServerEvent::InputTranscriptionFailed {
            item_id: item_id.to_string(),
            content_index: 0,
            error: e.stage_event_error(),
        };
        let Some(stt) = self.engines.stt.clone() else {
            if report {
                out.emit(failed(&GatewayError::NotConfigured(Stage::Stt)))
                    .await;
            }
            return;
        };
        let rate = self.input.rate();
        let seconds = samples.len() as f64 / rate as f64;
        // The engine's own time (an early transcription ran partly or wholly before the commit).
        let (result, took) = match early {
            Some(early) => early.result().await,
            None => {
                let started = std::time::Instant::now();
                let result = stt
                    .transcribe(avb_voice::audio::wav(samples, rate), self.stt_options())
                    .await
                    .map_err(|e| GatewayError::engine(Stage::Stt, e));
                (result, started.elapsed())
            }
        };
        let tenant = self.tenant_label();
        crate::metrics::stage("stt", &tenant, took);
        self.last_stt_ms = Some(took.as_millis() as i64);
        self.last_stt_error = result.as_ref().err().map(|e| e.to_string());
        match result {
            Ok(t) => {
                self.persist_item_text(item_id, "message", "user", &t.text);
                self.conversation.transcribed(item_id, &t.text);
                if report {
                    out.emit(ServerEvent::InputTranscriptionCompleted {
                        item_id: item_id.to_string(),
                        content_index: 0,
                        transcript: t.text,
                        usage: TranscriptionUsage::Duration { seconds },
                    })
                    .await;
                }
            }
            Err(e) => {
                e.report(&tenant);
                if report {
                    out.emit(failed(&e)).await;
                } else {
                    out.error(&e.client_error()).await;
                }
            }
        }
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

    /// Commits the input buffer as a user item (with `item_id` when a turn already named it),
    /// then transcribes it.
    async fn commit(
        &mut self,
        out: &Emitter,
        item_id: Option<String>,
    ) -> Result<(), ProtocolError> {
        let audio = self.input.take()?;
        self.turn_ended = Some(std::time::Instant::now());
        let mut item = Item::new(
            ItemKind::Message {
                role: Role::User,
                content: vec![ContentPart::InputAudio { transcript: None }],
            },
            "completed",
        );
        if let Some(id) = item_id {
            item.id = id;
        }
        let previous = self.conversation.last_id();
        out.emit(ServerEvent::BufferCommitted {
            item_id: item.id.clone(),
            previous_item_id: previous,
        })
        .await;
        let item_id = item.id.clone();
        self.add_item(out, item, None).await?;
        let minutes = audio.len() as f64 / self.input.rate() as f64 / 60.0;
        if let Some(r) = &self.recorder {
            r.send(RecordOp::Usage {
                fact: item_id.clone(),
                quantities: vec![("audio_minutes_input", minutes)],
            });
        }
        // Use the early transcription when it covered this speech: only silence came after it.
        let early = self.early_stt.take().filter(|e| e.audio_len <= audio.len());
        self.transcribe(out, &item_id, &audio, early).await;
        self.score_wake_words(&item_id, &audio);
        Ok(())
    }

    /// Scores a committed turn for the tenant's wake words in the background (detections and
    /// missed activations feed the wake-word analytics; the turn never waits for it).
    fn score_wake_words(&self, item_id: &str, audio: &[i16]) {
        let Some(tenant) = self.scope.tenant() else {
            return;
        };
        if self.wake_words.is_empty() {
            return;
        }
        let transcript = self
            .conversation
            .items()
            .iter()
            .find(|i| i.id == item_id)
            .and_then(|i| match &i.kind {
                ItemKind::Message { content, .. } => content.first().and_then(ContentPart::text),
                _ => None,
            })
            .unwrap_or_default()
            .to_string();
        let (samples, rate) = (audio.to_vec(), self.input.rate());
        let (ctx, record) = (self.state.ctx.clone(), self.record);
        tokio::spawn(async move {
            let scored = avb_core::services::wake_words::record_turn(
                &ctx,
                tenant,
                record,
                &samples,
                rate,
                &transcript,
            )
            .await;
            if let Err(e) = scored {
                tracing::warn!(error = %e, "a turn could not be scored for wake words");
            }
        });
    }

    /// Before the server ends the session: lets an active response finish (cancelling it
    /// after 10 s), then says `notice` as a response of its own, so a caller hears why the
    /// line goes quiet. The notice is neither metered nor kept in the conversation.
    async fn say_goodbye(
        &mut self,
        out: &Emitter,
        done_rx: &mut mpsc::Receiver<Finished>,
        notice: &str,
    ) {
        if self.active.is_some() {
            match tokio::time::timeout(Duration::from_secs(10), done_rx.recv()).await {
                Ok(Some(finished)) => self.finish(finished).await,
                _ => self.cancel(out, CancelReason::ClientCancelled).await,
            }
        }
        let job = ResponseJob::notice(&self.config, &self.engines, notice);
        let (tx, mut rx) = mpsc::channel(1);
        let spoken =
            tokio::time::timeout(Duration::from_secs(15), response::run(job, out.clone(), tx))
                .await;
        if spoken.is_err() {
            tracing::warn!("the closing notice took too long; the session ends without it");
        }
        rx.close();
    }

    /// Starts a response unless one is active.
    async fn start_response(
        &mut self,
        out: &Emitter,
        done: &mpsc::Sender<Finished>,
        overrides: Option<&Value>,
    ) -> Result<(), ProtocolError> {
        if let Some(a) = &self.active {
            return Err(ProtocolError::new(
                ErrorCode::ConversationAlreadyHasActiveResponse,
                format!(
                    "Conversation already has an active response in progress: {}. Wait until the response is finished before creating a new one.",
                    a.id
                ),
            ));
        }
        let mut job = self.prepare_job(self.conversation.items(), overrides)?;
        let remaining = self.admit_response().await?;
        if let Ok(mut p) = job.partial.lock() {
            p.times.stt_error = self.last_stt_error.take();
        }
        job.timing.turn_ended = self.turn_ended.take();
        job.timing.stt_ms = self.last_stt_ms.take();
        job.timing.rate_limits = Some(rate_limits(&remaining));
        self.responses += 1;
        let id = job.id.clone();
        let partial = job.partial.clone();
        let handle = tokio::spawn(response::run(job, out.clone(), done.clone()).in_current_span());
        self.active = Some(Active {
            id,
            handle,
            partial,
        });
        Ok(())
    }

    /// The tenant id as metrics and rate limits label it (empty for the local operator).
    fn tenant_label(&self) -> String {
        self.scope
            .tenant()
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    /// The tenant's rate budget admits one more response (it is counted).
    async fn admit_response(&self) -> Result<crate::limits::Remaining, ProtocolError> {
        let tenant = self.tenant_label();
        self.state
            .limits
            .try_start(&tenant, self.budget)
            .await
            .map_err(|r| {
                ProtocolError::new(
                    ErrorCode::RateLimitExceeded,
                    format!(
                        "Rate limit reached for the tenant: try again in {:.0}s.",
                        r.reset_seconds.ceil()
                    ),
                )
            })
    }

    /// A response to the conversation `items` (skills and solvers asked first when the last
    /// item is the user's turn), not yet started.
    fn prepare_job(
        &self,
        items: &[Item],
        overrides: Option<&Value>,
    ) -> Result<ResponseJob, ProtocolError> {
        let mut job =
            ResponseJob::new(&self.config, items, overrides, &self.engines, self.dialect)?;
        let tenant = self.tenant_label();
        job.utterance = user_turn(items, overrides);
        if let (Some(settings), Some(utterance)) = (&self.ovos, &job.utterance) {
            let session = self
                .record
                .map(|r| r.to_string())
                .unwrap_or_else(|| job.id.clone());
            job.skills = crate::skills::SkillAsk::new(
                &self.state.ctx,
                settings,
                &tenant,
                &session,
                self.responses,
                utterance,
            );
        }
        if job.utterance.is_some() && !self.solvers.is_empty() {
            job.solvers = Some((
                self.state.ctx.solvers.clone(),
                self.solvers.clone(),
                self.ovos
                    .as_ref()
                    .map(|o| o.lang.clone())
                    .unwrap_or_else(|| "en".into()),
            ));
        }
        job.timing.tenant = tenant;
        Ok(job)
    }

    /// While the VAD waits out the silence after speech: once the early transcription has
    /// words, the answer to them starts with its events held (see [`crate::speculation`]).
    /// Not when a response runs, when the turn would not be answered at once, or when the
    /// tenant's skills answer first (a skill may act on the words: set a timer, say).
    fn speculate(&mut self, out: &Emitter, done: &mpsc::Sender<Finished>) {
        if !self.state.ctx.config.realtime.speculative_responses
            || self.speculation.is_some()
            || self.active.is_some()
            || self.ovos.is_some()
        {
            return;
        }
        if !self.creates_responses() {
            return;
        }
        let Some(item_id) = self.turn_item.clone() else {
            return;
        };
        let Some((words, took)) = self.early_stt.as_mut().and_then(EarlyStt::words) else {
            return;
        };
        let mut items = self.conversation.items().to_vec();
        items.push(Item {
            id: item_id.clone(),
            kind: ItemKind::Message {
                role: Role::User,
                content: vec![ContentPart::InputAudio {
                    transcript: Some(words),
                }],
            },
            status: "completed",
        });
        let Ok(mut job) = self.prepare_job(&items, None) else {
            return;
        };
        job.timing.stt_ms = Some(took.as_millis() as i64);
        let held = out.held();
        let (id, partial) = (job.id.clone(), job.partial.clone());
        let handle = tokio::spawn(response::run(job, held.clone(), done.clone()).in_current_span());
        self.speculation = Some(Speculation::new(item_id, id, held, partial, handle));
    }

    /// The turn the speculation answered is committed (`item_id`): what it held goes out and
    /// it becomes the active response. `Err` (the rate budget is spent) drops it.
    async fn adopt_speculation(&mut self, speculation: Speculation) -> Result<(), ProtocolError> {
        let remaining = match self.admit_response().await {
            Ok(r) => r,
            Err(e) => {
                drop(speculation);
                return Err(e);
            }
        };
        let turn_ended = self.turn_ended.take();
        self.last_stt_ms = None;
        let stt_error = self.last_stt_error.take();
        let limits = ServerEvent::RateLimitsUpdated {
            rate_limits: rate_limits(&remaining),
        };
        speculation.out.release(Some(limits)).await;
        if let Ok(mut p) = speculation.partial.lock() {
            p.times.stt_error = stt_error;
            // Audio made before the turn ended reached the client just now.
            if p.times.first_audio_ms.is_some()
                && p.times.voice_to_voice_ms.is_none()
                && let Some(t) = turn_ended
            {
                p.times.voice_to_voice_ms = Some(t.elapsed().as_millis() as i64);
                let tenant = self.tenant_label();
                crate::metrics::stage("voice_to_voice", &tenant, t.elapsed());
            }
        }
        crate::speculation::outcome("used");
        self.responses += 1;
        let (id, partial) = (speculation.response_id.clone(), speculation.partial.clone());
        let handle = speculation.into_handle();
        self.active = Some(Active {
            id,
            handle,
            partial,
        });
        Ok(())
    }

    /// Whether the session's turn detection answers each turn by itself.
    fn creates_responses(&self) -> bool {
        matches!(
            &self.config.turn_detection,
            Some(TurnDetection::ServerVad {
                create_response: true,
                ..
            }) | Some(TurnDetection::SemanticVad {
                create_response: true,
                ..
            })
        )
    }

    /// Stops the active response; what was said stays as an incomplete item.
    async fn cancel(&mut self, out: &Emitter, reason: CancelReason) {
        if let Some(active) = self.active.take() {
            active.handle.abort();
            let items = response::cancelled(&active.id, &active.partial, reason, out).await;
            let (heard, times, usage) = active
                .partial
                .lock()
                .map(|p| (p.audio_ms, p.times.clone(), p.usage))
                .unwrap_or_default();
            // What was made before the cancel was used: it is charged and metered like a
            // finished answer's.
            let tokens = (usage.input_tokens, usage.output_tokens);
            self.meter(&active.id, tokens, heard).await;
            for item in &items {
                self.persist_item(item);
            }
            if let Some(r) = &self.recorder {
                r.send(RecordOp::Turn {
                    response_id: active.id.clone(),
                    status: avb_domain::TurnStatus::Cancelled,
                    times,
                });
            }
            self.conversation.answer(items, heard);
        }
    }

    /// Server VAD: speech start interrupts a response (barge-in); speech end commits the turn
    /// and, when configured, answers it.
    async fn detect_turns(
        &mut self,
        out: &Emitter,
        done: &mpsc::Sender<Finished>,
        from: usize,
    ) -> Result<(), ProtocolError> {
        let Some(vad) = self.vad.as_mut() else {
            return Ok(());
        };
        let events = vad.push(&self.input.samples()[from..]);
        // Speculative transcription: start once the pause is long enough, drop it when speech
        // resumes (a new pause starts a new one).
        let (speaking, silent, silence) =
            (vad.speaking(), vad.silent_ms(), vad.silence_duration_ms());
        if speaking && silent == 0 {
            self.early_stt = None;
            self.speculation = None;
        } else if speaking
            && silent >= early_stt_after_ms(silence)
            && silent < silence
            && self.early_stt.is_none()
            && let Some(task) = self.spawn_stt()
        {
            self.early_stt = Some(EarlyStt::running(self.input.samples().len(), task));
        }
        let pausing = speaking && silent > 0 && silent < silence;
        let (create, interrupt) = match &self.config.turn_detection {
            Some(TurnDetection::ServerVad {
                create_response,
                interrupt_response,
                ..
            })
            | Some(TurnDetection::SemanticVad {
                create_response,
                interrupt_response,
                ..
            }) => (*create_response, *interrupt_response),
            None => (false, false),
        };
        for event in events {
            match event {
                TurnEvent::SpeechStarted { audio_start_ms } => {
                    let item_id = avb_realtime::ids::new_id("item");
                    out.emit(ServerEvent::SpeechStarted {
                        audio_start_ms,
                        item_id: item_id.clone(),
                    })
                    .await;
                    self.turn_item = Some(item_id);
                    if interrupt && self.active.is_some() {
                        self.cancel(out, CancelReason::TurnDetected).await;
                    }
                }
                TurnEvent::SpeechStopped { audio_end_ms } => {
                    let item_id = self
                        .turn_item
                        .take()
                        .unwrap_or_else(|| avb_realtime::ids::new_id("item"));
                    out.emit(ServerEvent::SpeechStopped {
                        audio_end_ms,
                        item_id: item_id.clone(),
                    })
                    .await;
                    let speculation = self
                        .speculation
                        .take()
                        .filter(|s| s.item_id == item_id && create && self.active.is_none());
                    self.commit(out, Some(item_id)).await?;
                    if let Some(speculation) = speculation {
                        self.adopt_speculation(speculation).await?;
                    } else if create && self.active.is_none() {
                        self.start_response(out, done, None).await?;
                    }
                }
            }
        }
        if pausing {
            self.speculate(out, done);
        }
        Ok(())
    }

    /// Charges a response's tokens to the rate budget and meters its usage.
    async fn meter(&self, response_id: &str, tokens: (u64, u64), audio_ms: u64) {
        if let Some(t) = self.scope.tenant() {
            self.state
                .limits
                .charge_tokens(&t.to_string(), self.budget, tokens.0 + tokens.1)
                .await;
        }
        let quantities = [
            ("requests", 1.0),
            ("llm_tokens_input", tokens.0 as f64),
            ("llm_tokens_output", tokens.1 as f64),
            ("audio_minutes_output", audio_ms as f64 / 60_000.0),
        ];
        if let Some(r) = &self.recorder {
            r.send(RecordOp::Usage {
                fact: response_id.to_string(),
                quantities: quantities.to_vec(),
            });
        }
    }

    /// Records a finished response. One that was cancelled after it finished was already
    /// closed, recorded and metered by the cancel.
    async fn finish(&mut self, f: Finished) {
        if self.active.as_ref().is_none_or(|a| a.id != f.response_id) {
            return;
        }
        self.active = None;
        self.meter(&f.response_id, f.tokens, f.audio_ms).await;
        if let (Some(r), Some(intent)) = (&self.recorder, f.intent.clone()) {
            r.send(RecordOp::Intent(intent));
        }
        if let Some(r) = &self.recorder {
            r.send(RecordOp::Turn {
                response_id: f.response_id.clone(),
                status: f.status,
                times: f.times.clone(),
            });
        }
        for item in &f.items {
            self.persist_item(item);
        }
        self.conversation.answer(f.items, f.audio_ms);
    }

    async fn handle(&mut self, out: &Emitter, done: &mpsc::Sender<Finished>, text: &str) {
        let (event, event_id) = match parse_client_event(text) {
            Ok(e) => e,
            Err(e) => return out.error(&e).await,
        };
        if let Err(e) = self.apply(out, done, event).await {
            out.error(&e.for_event(event_id)).await;
        }
    }

    async fn add_item(
        &mut self,
        out: &Emitter,
        item: Item,
        previous: Option<String>,
    ) -> Result<(), ProtocolError> {
        let previous_id = self
            .conversation
            .insert(item.clone(), previous.as_deref())?;
        out.emit(ServerEvent::ItemAdded {
            previous_item_id: Some(previous_id.clone()),
            item: item.clone(),
        })
        .await;
        out.emit(ServerEvent::ItemDone {
            previous_item_id: Some(previous_id),
            item,
        })
        .await;
        Ok(())
    }

    async fn apply(
        &mut self,
        out: &Emitter,
        done: &mpsc::Sender<Finished>,
        event: ClientEvent,
    ) -> Result<(), ProtocolError> {
        // Anything but more audio may change what the answer would be: a speculation stops.
        if !matches!(
            event,
            ClientEvent::InputAudioBufferAppend { .. }
                | ClientEvent::ConversationItemRetrieve { .. }
        ) {
            self.speculation = None;
        }
        match event {
            ClientEvent::SessionUpdate { session } => {
                self.config.apply_update(self.dialect, &session)?;
                self.vad = turn_detector(&self.config);
                // Audio buffered in another format cannot be read in the new one.
                if self.input.format() != self.config.input_format {
                    self.input = InputBuffer::new(self.config.input_format);
                }
                self.early_stt = None;
                out.emit(ServerEvent::SessionUpdated {
                    session: Box::new(self.config.clone()),
                })
                .await;
            }
            ClientEvent::TranscriptionSessionUpdate { .. } => {
                return Err(ProtocolError::new(
                    ErrorCode::InvalidEvent,
                    "Transcription sessions are not supported yet.",
                ));
            }
            ClientEvent::InputAudioBufferAppend { audio } => {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(audio.as_bytes())
                    .map_err(|_| ProtocolError::invalid("audio", "is not valid base64"))?;
                let from = self.input.append(&bytes)?;
                self.detect_turns(out, done, from).await?;
            }
            ClientEvent::InputAudioBufferClear => {
                self.input.clear();
                self.vad = turn_detector(&self.config);
                self.early_stt = None;
                self.turn_item = None;
                out.emit(ServerEvent::BufferCleared).await;
            }
            ClientEvent::InputAudioBufferCommit => self.commit(out, None).await?,
            ClientEvent::ConversationItemCreate {
                item,
                previous_item_id,
            } => {
                let item = Item::from_client(&item)?;
                if self.conversation.contains(&item.id) {
                    return Err(ProtocolError::invalid(
                        "item.id",
                        "an item with this id already exists",
                    ));
                }
                self.persist_item(&item);
                self.add_item(out, item, previous_item_id).await?;
            }
            ClientEvent::ConversationItemRetrieve { item_id } => {
                let i = self.conversation.find(&item_id)?;
                out.emit(ServerEvent::ItemRetrieved {
                    item: self.conversation.get(i).clone(),
                })
                .await;
            }
            ClientEvent::ConversationItemDelete { item_id } => {
                let i = self.conversation.find(&item_id)?;
                self.conversation.remove(i);
                out.emit(ServerEvent::ItemDeleted { item_id }).await;
            }
            ClientEvent::ConversationItemTruncate {
                item_id,
                content_index,
                audio_end_ms,
            } => {
                self.conversation
                    .truncate(&item_id, content_index, audio_end_ms)?;
                out.emit(ServerEvent::ItemTruncated {
                    item_id,
                    content_index,
                    audio_end_ms,
                })
                .await;
            }
            ClientEvent::ResponseCreate { response } => {
                self.start_response(out, done, response.as_ref()).await?
            }
            ClientEvent::ResponseCancel { response_id } => {
                let Some(active) = self.active.take() else {
                    return Err(ProtocolError::new(
                        ErrorCode::ResponseCancelNotActive,
                        "Cancellation failed: no active response found.",
                    ));
                };
                if response_id.as_deref().is_some_and(|r| r != active.id) {
                    let id = active.id.clone();
                    self.active = Some(active);
                    return Err(ProtocolError::invalid(
                        "response_id",
                        format!("the active response is {id}"),
                    ));
                }
                self.active = Some(active);
                self.cancel(out, CancelReason::ClientCancelled).await;
            }
            ClientEvent::OutputAudioBufferClear => {
                let response_id = self.active.as_ref().map(|a| a.id.clone());
                out.emit(ServerEvent::OutputAudioBufferCleared { response_id })
                    .await;
            }
        }
        Ok(())
    }
}
