//! The audio path of a session: the VAD finds turns, a turn's audio is committed and
//! transcribed (early, during the final silence, when it can be), and the answer may start
//! speculatively before the turn ends.

use super::*;

impl Session {
    /// The transcription options of this session (its settings over the tenant profile).
    pub(super) fn stt_options(&self) -> TranscribeOptions {
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
    pub(super) fn spawn_stt(&self) -> Option<JoinHandle<crate::speculation::Transcribed>> {
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
    pub(super) async fn transcribe(
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

    /// Commits the input buffer as a user item (with `item_id` when a turn already named it),
    /// then transcribes it.
    pub(super) async fn commit(
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
    pub(super) fn score_wake_words(&self, item_id: &str, audio: &[i16]) {
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

    /// While the VAD waits out the silence after speech: once the early transcription has
    /// words, the answer to them starts with its events held (see [`crate::speculation`]).
    /// Not when a response runs, when the turn would not be answered at once, or when the
    /// tenant's skills answer first (a skill may act on the words: set a timer, say).
    pub(super) fn speculate(&mut self, out: &Emitter, done: &mpsc::Sender<Finished>) {
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
    pub(super) async fn adopt_speculation(
        &mut self,
        speculation: Speculation,
    ) -> Result<(), ProtocolError> {
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

    /// Server VAD: speech start interrupts a response (barge-in); speech end commits the turn
    /// and, when configured, answers it.
    pub(super) async fn detect_turns(
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
            if self.early_stt.take().is_some() {
                self.early_start.resumed_after(self.pause_ms);
            }
            self.speculation = None;
        } else if speaking
            && silent >= self.early_start.after_ms(silence)
            && silent < silence
            && self.early_stt.is_none()
            && let Some(task) = self.spawn_stt()
        {
            self.early_stt = Some(EarlyStt::running(self.input.samples().len(), task));
        }
        self.pause_ms = silent;
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
}
