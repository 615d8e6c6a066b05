//! The client's events, applied to the session.

use super::*;

impl Session {
    pub(super) async fn handle(
        &mut self,
        out: &Emitter,
        done: &mpsc::Sender<Finished>,
        text: &str,
    ) {
        let (event, event_id) = match parse_client_event(text) {
            Ok(e) => e,
            Err(e) => return out.error(&e).await,
        };
        if let Err(e) = self.apply(out, done, event).await {
            out.error(&e.for_event(event_id)).await;
        }
    }

    pub(super) async fn add_item(
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

    pub(super) async fn apply(
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
