//! Running one response: the conversation goes to the chat model, streamed deltas become
//! Realtime events, and the finished items go back to the session.

use crate::engines::Engines;
use crate::error::{GatewayError, Stage};
use crate::session::Emitter;
use avb_realtime::AudioFormat;
use avb_realtime::ids::new_id;
use avb_realtime::server_events::{CancelReason, PartRef, RateLimit, Response, Usage};
use avb_realtime::{
    ContentPart, Dialect, Item, ItemKind, ProtocolError, Role, ServerEvent, SessionConfig,
};
use avb_voice::chunker::SentenceChunker;
use avb_voice::{ChatMessage, ChatModel, ChatRequest, LlmDelta, TextToSpeech};
use base64::Engine as _;
use futures::StreamExt;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What the session learns when a response ends.
pub(crate) struct Finished {
    pub response_id: String,
    pub items: Vec<Item>,
    /// Milliseconds of speech sent for the assistant message, if any.
    pub audio_ms: u64,
    /// LLM tokens in and out (as the engine reported them, else counted: see [`stream`]).
    pub tokens: (u64, u64),
    /// `completed` or `failed`.
    pub status: avb_domain::TurnStatus,
    /// The turn's timing waterfall.
    pub times: avb_core::services::sessions::TurnTimes,
    /// How the user's turn was answered, when the response answered one (intent analytics).
    pub intent: Option<avb_core::services::intents::NewIntentEvent>,
}

/// Output produced so far, kept so that a cancelled response leaves what was said.
#[derive(Default)]
pub(crate) struct Partial {
    message: Option<(String, String, bool)>,
    /// Milliseconds of speech sent for the message so far.
    pub audio_ms: u64,
    /// LLM tokens used so far.
    pub usage: Usage,
    /// The turn's timing waterfall so far.
    pub times: avb_core::services::sessions::TurnTimes,
}

/// What turn timing is measured against.
#[derive(Default)]
pub(crate) struct Timing {
    pub tenant: String,
    pub turn_ended: Option<std::time::Instant>,
    /// How long the last transcription took.
    pub stt_ms: Option<i64>,
    /// The tenant's budget left, announced after `response.created`.
    pub rate_limits: Option<Vec<RateLimit>>,
}

/// A response about to run.
pub(crate) struct ResponseJob {
    pub timing: Timing,
    pub id: String,
    pub partial: Arc<Mutex<Partial>>,
    llm: Option<Arc<dyn ChatModel>>,
    request: ChatRequest,
    audio: bool,
    tts: Option<Arc<dyn TextToSpeech>>,
    voice: String,
    speed: f64,
    output_format: AudioFormat,
    /// The user's words this response answers, when it answers a user turn.
    pub utterance: Option<String>,
    /// ovos-core, asked before the LLM when the tenant turned OVOS on.
    pub skills: Option<crate::skills::SkillAsk>,
    /// The persona's solvers (all configured ones, its order, the language), asked after the
    /// skills and before the LLM.
    pub solvers: Option<(avb_voice::solvers::Solvers, Vec<String>, String)>,
    /// The words are fixed (a notice or a skill's answer): no LLM timing is recorded.
    scripted: bool,
}

fn tool_for_chat(t: &Value) -> Value {
    json!({"type": "function", "function": {
        "name": t.get("name"), "description": t.get("description"),
        "parameters": t.get("parameters").cloned().unwrap_or_else(|| json!({"type": "object", "properties": {}})),
    }})
}

/// The chat messages for a conversation.
fn messages(instructions: &str, items: &[Item]) -> Vec<ChatMessage> {
    let mut out = Vec::new();
    if !instructions.trim().is_empty() {
        out.push(ChatMessage::text("system", instructions));
    }
    for item in items {
        match &item.kind {
            ItemKind::Message { role, content } => {
                let text: Vec<&str> = content.iter().filter_map(ContentPart::text).collect();
                if text.is_empty() {
                    continue;
                }
                let role = match role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                    Role::System => "system",
                };
                out.push(ChatMessage::text(role, text.join(" ")));
            }
            ItemKind::FunctionCall { name, call_id, arguments } => out.push(ChatMessage {
                role: "assistant".into(),
                content: None,
                tool_calls: Some(json!([{"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}])),
                tool_call_id: None,
            }),
            ItemKind::FunctionCallOutput { call_id, output } => out.push(ChatMessage {
                role: "tool".into(),
                content: Some(output.clone()),
                tool_calls: None,
                tool_call_id: Some(call_id.clone()),
            }),
        }
    }
    out
}

impl ResponseJob {
    /// Prepares a response from the session and the `response` overrides of `response.create`.
    pub fn new(
        cfg: &SessionConfig,
        items: &[Item],
        overrides: Option<&Value>,
        engines: &Engines,
        dialect: Dialect,
    ) -> Result<Self, ProtocolError> {
        let o = overrides.and_then(Value::as_object);
        let get = |k: &str| o.and_then(|o| o.get(k));
        let instructions = match get("instructions") {
            None | Some(Value::Null) => cfg.instructions.clone(),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(ProtocolError::invalid(
                    "response.instructions",
                    "expected a string",
                ));
            }
        };
        let modalities = get("output_modalities").or_else(|| get("modalities"));
        let audio = match modalities.and_then(Value::as_array) {
            Some(m) => m.iter().any(|v| v == "audio"),
            None => !cfg.text_only,
        };
        let max_tokens =
            match get("max_output_tokens").or_else(|| get("max_response_output_tokens")) {
                None | Some(Value::Null) => cfg.max_output_tokens,
                Some(Value::String(s)) if s == "inf" => None,
                Some(v) => Some(
                    v.as_u64()
                        .filter(|n| (1..=4096).contains(n))
                        .map(|n| n as u32)
                        .ok_or_else(|| {
                            ProtocolError::invalid(
                                "response.max_output_tokens",
                                "must be 1..4096 or \"inf\"",
                            )
                        })?,
                ),
            };
        let tools = match get("tools").and_then(Value::as_array) {
            Some(t) => t.iter().map(tool_for_chat).collect(),
            None => cfg.tools.iter().map(tool_for_chat).collect(),
        };
        // GA sessions carry no temperature; a tenant's profile may still set one.
        let temperature = if dialect == Dialect::Beta {
            Some(cfg.temperature)
        } else {
            engines.temperature
        };
        Ok(Self {
            timing: Timing::default(),
            id: new_id("resp"),
            partial: Arc::new(Mutex::new(Partial::default())),
            llm: engines.llm.clone(),
            request: ChatRequest {
                model: engines.llm_model.clone(),
                messages: messages(&instructions, items),
                temperature,
                max_tokens,
                tools,
            },
            audio,
            tts: engines.tts.clone(),
            voice: engines.tts_voice(&cfg.voice),
            speed: cfg.speed,
            output_format: cfg.output_format,
            utterance: None,
            skills: None,
            solvers: None,
            scripted: false,
        })
    }
}

/// A chat model that answers with fixed words: the platform's own notices (a session ending
/// for its plan's limit) are spoken through the same response path as any answer.
struct Scripted(String);

#[async_trait::async_trait]
impl ChatModel for Scripted {
    async fn stream(
        &self,
        _req: ChatRequest,
    ) -> Result<avb_voice::ChatStream, avb_voice::EngineError> {
        let deltas = vec![
            Ok(LlmDelta::Text(self.0.clone())),
            Ok(LlmDelta::Usage {
                input_tokens: 0,
                output_tokens: 0,
            }),
        ];
        Ok(futures::stream::iter(deltas).boxed())
    }
}

impl ResponseJob {
    /// A response that says `text` (spoken when the session speaks and a voice is configured,
    /// else as text); no model is asked.
    pub fn notice(cfg: &SessionConfig, engines: &Engines, text: &str) -> Self {
        let audio = !cfg.text_only && engines.tts.is_some();
        Self {
            timing: Timing::default(),
            id: new_id("resp"),
            partial: Arc::new(Mutex::new(Partial::default())),
            llm: Some(Arc::new(Scripted(text.to_string()))),
            request: ChatRequest {
                model: "notice".into(),
                messages: Vec::new(),
                temperature: None,
                max_tokens: None,
                tools: Vec::new(),
            },
            audio,
            tts: engines.tts.clone(),
            voice: engines.tts_voice(&cfg.voice),
            speed: cfg.speed,
            output_format: cfg.output_format,
            utterance: None,
            skills: None,
            solvers: None,
            scripted: true,
        }
    }
}

/// The part of an assistant message: its transcript when spoken, else its text.
fn message_part(text: &str, audio: bool) -> ContentPart {
    if audio {
        ContentPart::Audio {
            transcript: text.to_string(),
        }
    } else {
        ContentPart::Text(text.to_string())
    }
}

fn message_item(id: &str, text: &str, audio: bool, status: &'static str) -> Item {
    Item {
        id: id.to_string(),
        kind: ItemKind::Message {
            role: Role::Assistant,
            content: vec![message_part(text, audio)],
        },
        status,
    }
}

/// Streams one response and reports the finished items.
pub(crate) async fn run(mut job: ResponseJob, out: Emitter, done: mpsc::Sender<Finished>) {
    let id = job.id.clone();
    out.emit(ServerEvent::ResponseCreated {
        response: Response::in_progress(&id),
    })
    .await;
    if let Some(rate_limits) = job.timing.rate_limits.clone() {
        out.emit(ServerEvent::RateLimitsUpdated { rate_limits })
            .await;
    }
    let mut intent = job.utterance.as_deref().map(crate::skills::persona_event);
    if let Some(ask) = job.skills.take() {
        let asked = std::time::Instant::now();
        let answer = crate::skills::ask(ask, &job.timing.tenant).await;
        if let Ok(mut p) = job.partial.lock() {
            p.times.skill_ms = Some(asked.elapsed().as_millis() as i64);
        }
        if let Some(words) = answer.words {
            job.llm = Some(Arc::new(Scripted(words)));
            job.request.model = "ovos".into();
            job.scripted = true;
        }
        intent = Some(answer.event);
    }
    if let (Some((solvers, order, lang)), Some(utterance)) =
        (job.solvers.take(), job.utterance.clone())
        && !job.scripted
    {
        let asked = std::time::Instant::now();
        let outcome = solvers.ask(&order, &utterance, &lang).await;
        let ms = asked.elapsed().as_millis() as i64;
        match outcome {
            avb_voice::solvers::SolverOutcome::Answered { solver, text } => {
                job.llm = Some(Arc::new(Scripted(text)));
                job.request.model = format!("solver:{solver}");
                job.scripted = true;
                intent = Some(crate::skills::solver_event(&utterance, &solver, ms));
            }
            avb_voice::solvers::SolverOutcome::Passed { errors } => {
                for (solver, error) in errors {
                    let error = format!("{solver}: {error}; the next source answers");
                    GatewayError::stage(Stage::Solver, error).report(&job.timing.tenant);
                }
            }
        }
    }
    let mut tokens = (0, 0);
    let mut status = avb_domain::TurnStatus::Completed;
    // `response.done` goes out only after the session has the answer's items (below): a
    // client acting on it at once must find them in the conversation.
    let (items, response_done) = match stream(&job, &out).await {
        Ok((items, usage)) => {
            tokens = (usage.input_tokens, usage.output_tokens);
            let done = Response::completed(&id, items.clone(), usage);
            (items, done)
        }
        Err(e) => {
            status = avb_domain::TurnStatus::Failed;
            if let Some(event) = intent.as_mut().filter(|e| e.outcome == "persona") {
                event.outcome = avb_core::services::intents::Outcome::Failure
                    .as_str()
                    .into();
                event.error = format!("the LLM failed: {e}");
            }
            e.report(&job.timing.tenant);
            let error = e.client_error();
            out.error(&error).await;
            (Vec::new(), Response::failed(&id, error))
        }
    };
    if let Some(event) = intent.as_mut().filter(|e| e.outcome == "persona") {
        let first_token = job
            .partial
            .lock()
            .ok()
            .and_then(|p| p.times.llm_first_token_ms);
        event.latency_ms += first_token.unwrap_or(0);
    }
    // A speculative response reports to the session only once its turn is committed.
    out.released().await;
    let audio_ms = job.partial.lock().map(|p| p.audio_ms).unwrap_or(0);
    let _ = done
        .send(Finished {
            response_id: id,
            items,
            audio_ms,
            tokens,
            status,
            times: job
                .partial
                .lock()
                .map(|p| p.times.clone())
                .unwrap_or_default(),
            intent,
        })
        .await;
    out.emit(ServerEvent::ResponseDone {
        response: response_done,
    })
    .await;
}

/// Closes a cancelled response: what was said so far stays, marked incomplete.
pub(crate) async fn cancelled(
    id: &str,
    partial: &Arc<Mutex<Partial>>,
    reason: CancelReason,
    out: &Emitter,
) -> Vec<Item> {
    let (message, usage) = partial
        .lock()
        .map(|p| (p.message.clone(), p.usage))
        .unwrap_or_default();
    let items: Vec<Item> = message
        .into_iter()
        .map(|(item_id, text, audio)| message_item(&item_id, &text, audio, "incomplete"))
        .collect();
    out.emit(ServerEvent::ResponseDone {
        response: Response::cancelled(id, reason, items.clone(), usage),
    })
    .await;
    items
}

/// Aborts a spawned task when dropped (so cancelling a response also stops its speech).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where speech for one assistant message goes.
#[derive(Clone)]
struct SpeechTarget {
    out: Emitter,
    /// The audio part of the message.
    at: PartRef,
    format: AudioFormat,
    voice: String,
    speed: f64,
    partial: Arc<Mutex<Partial>>,
    tenant: String,
    started: std::time::Instant,
    turn_ended: Option<std::time::Instant>,
}

/// Speaks sentences in order, sending audio deltas as PCM arrives; returns the samples sent.
async fn speak_sentences(
    tts: Arc<dyn TextToSpeech>,
    target: SpeechTarget,
    mut sentences: mpsc::Receiver<String>,
) -> Result<u64, GatewayError> {
    let mut sent = 0u64;
    let rate = tts.sample_rate();
    while let Some(sentence) = sentences.recv().await {
        let asked = std::time::Instant::now();
        let mut first_byte = true;
        let mut pcm = tts
            .speak(&sentence, &target.voice, target.speed)
            .await
            .map_err(|e| GatewayError::engine(Stage::Tts, e))?;
        let mut carry: Vec<u8> = Vec::new();
        let mut encoder = crate::audio::OutputEncoder::new(target.format, rate);
        while let Some(chunk) = pcm.next().await {
            carry.extend(chunk.map_err(|e| GatewayError::engine(Stage::Tts, e))?);
            if first_byte {
                first_byte = false;
                crate::metrics::stage("tts_first_byte", &target.tenant, asked.elapsed());
                if let Ok(mut p) = target.partial.lock() {
                    p.times
                        .tts_first_byte_ms
                        .get_or_insert(asked.elapsed().as_millis() as i64);
                }
            }
            let whole = carry.len() - carry.len() % 2;
            if whole == 0 {
                continue;
            }
            let samples = avb_voice::audio::pcm16_decode(&carry[..whole]);
            carry.drain(..whole);
            if sent == 0 {
                crate::metrics::stage("first_audio", &target.tenant, target.started.elapsed());
                // A speculative response's turn ends when its events are released; audio made
                // before that is timed by the session when it releases them.
                let turn_ended = target.turn_ended.or_else(|| target.out.released_at());
                if let Some(t) = turn_ended {
                    crate::metrics::stage("voice_to_voice", &target.tenant, t.elapsed());
                }
                if let Ok(mut p) = target.partial.lock() {
                    p.times.first_audio_ms = Some(target.started.elapsed().as_millis() as i64);
                    p.times.voice_to_voice_ms = turn_ended.map(|t| t.elapsed().as_millis() as i64);
                }
            }
            sent += samples.len() as u64;
            if let Ok(mut p) = target.partial.lock() {
                p.audio_ms = sent * 1000 / rate.max(1) as u64;
            }
            let bytes = encoder.encode(&samples);
            let delta = base64::engine::general_purpose::STANDARD.encode(bytes);
            target
                .out
                .emit(ServerEvent::AudioDelta {
                    at: target.at.clone(),
                    delta,
                })
                .await;
        }
    }
    Ok(sent)
}

/// Sentences going to the speech task, and the task (samples sent, or why it failed).
type Speech = (mpsc::Sender<String>, AbortOnDrop<Result<u64, GatewayError>>);

struct ToolCall {
    item_id: String,
    call_id: String,
    name: String,
    arguments: String,
    output_index: u32,
}

/// A retry of a stream that broke before its first delta: nothing of it reached the client.
const STREAM_RETRIES: usize = 1;

/// The model's stream with its first delta read; a stream that fails before any delta (the
/// body could not be decoded, the connection dropped) is asked again, once.
async fn first_delta(
    llm: &Arc<dyn ChatModel>,
    request: &ChatRequest,
) -> Result<futures::stream::Peekable<avb_voice::ChatStream>, GatewayError> {
    let mut attempt = 0;
    loop {
        let mut deltas = llm
            .stream(request.clone())
            .await
            .map_err(|e| GatewayError::engine(Stage::Llm, e))?
            .peekable();
        match std::pin::Pin::new(&mut deltas).peek().await {
            Some(Err(e)) if attempt < STREAM_RETRIES => {
                tracing::warn!(error = %e, "the LLM stream broke before its first delta; asking again");
                attempt += 1;
            }
            _ => return Ok(deltas),
        }
    }
}

/// An estimate of the prompt's tokens for an engine that reports none: a token per four
/// characters of the messages' text, rounded up.
fn estimated_input_tokens(messages: &[ChatMessage]) -> u64 {
    let chars: usize = messages
        .iter()
        .map(|m| {
            let arguments = m
                .tool_calls
                .iter()
                .flat_map(|c| c.as_array().into_iter().flatten())
                .filter_map(|c| c.pointer("/function/arguments").and_then(Value::as_str));
            m.content.as_deref().map_or(0, |t| t.chars().count())
                + arguments.map(|a| a.chars().count()).sum::<usize>()
        })
        .sum();
    chars.div_ceil(4) as u64
}

/// Streams the model's answer as Realtime events; returns the finished items and the tokens
/// used. Those are what the engine reported; an engine that reports none (llama-cpp-python
/// does not, even when asked) is counted: a token per streamed text or tool-call delta
/// (OpenAI-compatible streaming servers send one token per chunk) and the prompt estimated by
/// [`estimated_input_tokens`]. Fixed words (`scripted`) used no model: no tokens.
async fn stream(job: &ResponseJob, out: &Emitter) -> Result<(Vec<Item>, Usage), GatewayError> {
    let llm = job
        .llm
        .as_ref()
        .ok_or(GatewayError::NotConfigured(Stage::Llm))?;
    let started = std::time::Instant::now();
    let mut first_token = true;
    let mut deltas = first_delta(llm, &job.request).await?;
    let rid = job.id.as_str();
    let mut message: Option<(PartRef, String)> = None;
    let mut calls: BTreeMap<u32, ToolCall> = BTreeMap::new();
    let mut next_output = 0u32;
    let mut reported: Option<Usage> = None;
    let mut counted = Usage {
        input_tokens: if job.scripted {
            0
        } else {
            estimated_input_tokens(&job.request.messages)
        },
        output_tokens: 0,
    };
    let mut speech: Option<Speech> = None;
    let mut chunker = SentenceChunker::default();
    if job.audio && job.tts.is_none() {
        let warn = GatewayError::NotConfigured(Stage::Tts);
        out.error(&warn.client_error()).await;
    }
    while let Some(delta) = deltas.next().await {
        if first_token {
            first_token = false;
            if !job.scripted {
                crate::metrics::stage("llm_first_token", &job.timing.tenant, started.elapsed());
            }
            if let Ok(mut p) = job.partial.lock() {
                if !job.scripted {
                    p.times.llm_first_token_ms = Some(started.elapsed().as_millis() as i64);
                }
                p.times.stt_ms = job.timing.stt_ms;
            }
        }
        let delta = delta.map_err(|e| GatewayError::engine(Stage::Llm, e))?;
        if !job.scripted {
            match &delta {
                LlmDelta::Text(_) | LlmDelta::ToolCall { .. } => counted.output_tokens += 1,
                LlmDelta::Usage {
                    input_tokens,
                    output_tokens,
                } => {
                    reported = Some(Usage {
                        input_tokens: *input_tokens,
                        output_tokens: *output_tokens,
                    })
                }
            }
            if let Ok(mut p) = job_partial(job) {
                p.usage = reported.unwrap_or(counted);
            }
        }
        match delta {
            LlmDelta::Text(t) => {
                if message.is_none() {
                    let item = Item::new(
                        ItemKind::Message {
                            role: Role::Assistant,
                            content: vec![],
                        },
                        "in_progress",
                    );
                    let at = PartRef {
                        response_id: rid.to_string(),
                        item_id: item.id.clone(),
                        output_index: next_output,
                        content_index: 0,
                    };
                    out.emit(ServerEvent::OutputItemAdded {
                        response_id: rid.to_string(),
                        output_index: next_output,
                        item: item.clone(),
                    })
                    .await;
                    out.emit(ServerEvent::ItemAdded {
                        previous_item_id: None,
                        item,
                    })
                    .await;
                    out.emit(ServerEvent::ContentPartAdded {
                        at: at.clone(),
                        part: message_part("", job.audio),
                    })
                    .await;
                    if let (true, Some(tts)) = (job.audio, job.tts.clone()) {
                        let target = SpeechTarget {
                            out: out.clone(),
                            at: at.clone(),
                            format: job.output_format,
                            voice: job.voice.clone(),
                            speed: job.speed,
                            partial: job.partial.clone(),
                            tenant: job.timing.tenant.clone(),
                            started,
                            turn_ended: job.timing.turn_ended,
                        };
                        let (tx, rx) = mpsc::channel::<String>(32);
                        speech = Some((
                            tx,
                            AbortOnDrop(tokio::spawn(tracing::Instrument::in_current_span(
                                speak_sentences(tts, target, rx),
                            ))),
                        ));
                    }
                    message = Some((at, String::new()));
                    next_output += 1;
                }
                if let Some((tx, _)) = &speech {
                    for sentence in chunker.push(&t) {
                        let _ = tx.send(sentence).await;
                    }
                }
                if let Some((at, text)) = message.as_mut() {
                    text.push_str(&t);
                    if let Ok(mut p) = job_partial(job) {
                        p.message = Some((at.item_id.clone(), text.clone(), job.audio));
                    }
                    let at = at.clone();
                    out.emit(if job.audio {
                        ServerEvent::AudioTranscriptDelta { at, delta: t }
                    } else {
                        ServerEvent::TextDelta { at, delta: t }
                    })
                    .await;
                }
            }
            LlmDelta::ToolCall {
                index,
                id,
                name,
                arguments,
            } => {
                if let std::collections::btree_map::Entry::Vacant(slot) = calls.entry(index) {
                    let call = ToolCall {
                        item_id: new_id("item"),
                        call_id: id.clone().unwrap_or_else(|| new_id("call")),
                        name: name.clone().unwrap_or_default(),
                        arguments: String::new(),
                        output_index: next_output,
                    };
                    next_output += 1;
                    let mut item = Item::new(
                        ItemKind::FunctionCall {
                            name: call.name.clone(),
                            call_id: call.call_id.clone(),
                            arguments: String::new(),
                        },
                        "in_progress",
                    );
                    item.id = call.item_id.clone();
                    out.emit(ServerEvent::OutputItemAdded {
                        response_id: rid.to_string(),
                        output_index: call.output_index,
                        item: item.clone(),
                    })
                    .await;
                    out.emit(ServerEvent::ItemAdded {
                        previous_item_id: None,
                        item,
                    })
                    .await;
                    slot.insert(call);
                }
                if let Some(call) = calls.get_mut(&index) {
                    if let Some(n) = name.filter(|n| call.name.is_empty() && !n.is_empty()) {
                        call.name = n;
                    }
                    if !arguments.is_empty() {
                        call.arguments.push_str(&arguments);
                        out.emit(ServerEvent::FunctionCallArgumentsDelta {
                            response_id: rid.to_string(),
                            item_id: call.item_id.clone(),
                            output_index: call.output_index,
                            call_id: call.call_id.clone(),
                            delta: arguments,
                        })
                        .await;
                    }
                }
            }
            LlmDelta::Usage { .. } => {}
        }
    }
    let mut items = Vec::new();
    if let Some((tx, mut worker)) = speech.take() {
        if let Some(rest) = chunker.finish() {
            let _ = tx.send(rest).await;
        }
        drop(tx);
        let result = (&mut worker.0)
            .await
            .map_err(|e| GatewayError::task(Stage::Tts, e))
            .and_then(|r| r);
        if let Err(e) = result {
            e.report(&job.timing.tenant);
            out.error(&e.client_error()).await;
        }
        if let Some((at, _)) = &message {
            out.emit(ServerEvent::AudioDone { at: at.clone() }).await;
        }
    }
    if let Some((at, text)) = message {
        let part = message_part(&text, job.audio);
        out.emit(if job.audio {
            ServerEvent::AudioTranscriptDone {
                at: at.clone(),
                transcript: text,
            }
        } else {
            ServerEvent::TextDone {
                at: at.clone(),
                text,
            }
        })
        .await;
        out.emit(ServerEvent::ContentPartDone {
            at: at.clone(),
            part: part.clone(),
        })
        .await;
        let item = Item {
            id: at.item_id,
            kind: ItemKind::Message {
                role: Role::Assistant,
                content: vec![part],
            },
            status: "completed",
        };
        items.push(item_done(out, rid, at.output_index, item).await);
    }
    for call in calls.into_values() {
        out.emit(ServerEvent::FunctionCallArgumentsDone {
            response_id: rid.to_string(),
            item_id: call.item_id.clone(),
            output_index: call.output_index,
            call_id: call.call_id.clone(),
            name: call.name.clone(),
            arguments: call.arguments.clone(),
        })
        .await;
        let mut item = Item::new(
            ItemKind::FunctionCall {
                name: call.name,
                call_id: call.call_id,
                arguments: call.arguments,
            },
            "completed",
        );
        item.id = call.item_id;
        items.push(item_done(out, rid, call.output_index, item).await);
    }
    let usage = if job.scripted {
        Usage::default()
    } else {
        reported.unwrap_or(counted)
    };
    Ok((items, usage))
}

/// Announces a finished output item (`response.output_item.done`, then GA's
/// `conversation.item.done`) and hands it back.
async fn item_done(out: &Emitter, response_id: &str, output_index: u32, item: Item) -> Item {
    out.emit(ServerEvent::OutputItemDone {
        response_id: response_id.to_string(),
        output_index,
        item: item.clone(),
    })
    .await;
    out.emit(ServerEvent::ItemDone {
        previous_item_id: None,
        item: item.clone(),
    })
    .await;
    item
}

fn job_partial(job: &ResponseJob) -> Result<std::sync::MutexGuard<'_, Partial>, ()> {
    job.partial.lock().map_err(|_| ())
}
