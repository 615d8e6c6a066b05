//! A session's responses: admitted against the tenant's budget, started (or adopted from a
//! speculation), cancelled, finished, and metered.

use super::*;

impl Session {
    /// Before the server ends the session: lets an active response finish (cancelling it
    /// after 10 s), then says `notice` as a response of its own, so a caller hears why the
    /// line goes quiet. The notice is neither metered nor kept in the conversation.
    pub(super) async fn say_goodbye(
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
    pub(super) async fn start_response(
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
    pub(super) fn tenant_label(&self) -> String {
        self.scope
            .tenant()
            .map(|t| t.to_string())
            .unwrap_or_default()
    }

    /// The tenant's rate budget admits one more response (it is counted).
    pub(super) async fn admit_response(&self) -> Result<crate::limits::Remaining, ProtocolError> {
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
    pub(super) fn prepare_job(
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

    /// Whether the session's turn detection answers each turn by itself.
    pub(super) fn creates_responses(&self) -> bool {
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
    pub(super) async fn cancel(&mut self, out: &Emitter, reason: CancelReason) {
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

    /// Charges a response's tokens to the rate budget and meters its usage.
    pub(super) async fn meter(&self, response_id: &str, tokens: (u64, u64), audio_ms: u64) {
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
    pub(super) async fn finish(&mut self, f: Finished) {
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
}
