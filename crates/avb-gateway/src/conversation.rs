//! A session's conversation: its items in order, and how much of each assistant message's
//! speech was sent (what a truncation may keep).

use avb_realtime::{ContentPart, ErrorCode, Item, ItemKind, ProtocolError, Role};
use std::collections::HashMap;

#[derive(Default)]
pub(crate) struct Conversation {
    items: Vec<Item>,
    /// Milliseconds of speech sent per assistant item.
    audio_ms: HashMap<String, u64>,
}

impl Conversation {
    pub(crate) fn items(&self) -> &[Item] {
        &self.items
    }

    pub(crate) fn last_id(&self) -> Option<String> {
        self.items.last().map(|i| i.id.clone())
    }

    /// The position of item `id` (`item_not_found` when there is none).
    pub(crate) fn find(&self, id: &str) -> Result<usize, ProtocolError> {
        self.items.iter().position(|i| i.id == id).ok_or_else(|| {
            ProtocolError::new(
                ErrorCode::ItemNotFound,
                format!("Item with item_id not found: {id}"),
            )
            .param("item_id")
        })
    }

    pub(crate) fn get(&self, index: usize) -> &Item {
        &self.items[index]
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.items.iter().any(|i| i.id == id)
    }

    /// Inserts `item` after `previous` (`"root"`: first; `None`: last); returns the id of the
    /// item it follows.
    pub(crate) fn insert(
        &mut self,
        item: Item,
        previous: Option<&str>,
    ) -> Result<Option<String>, ProtocolError> {
        let index = match previous {
            None => self.items.len(),
            Some("root") => 0,
            Some(p) => self.find(p)? + 1,
        };
        let previous_id = index
            .checked_sub(1)
            .and_then(|i| self.items.get(i))
            .map(|i| i.id.clone());
        self.items.insert(index, item);
        Ok(previous_id)
    }

    pub(crate) fn remove(&mut self, index: usize) {
        self.items.remove(index);
    }

    /// Appends a response's items; `audio_ms` of speech was sent for the first.
    pub(crate) fn answer(&mut self, items: Vec<Item>, audio_ms: u64) {
        if let Some(first) = items.first() {
            self.audio_ms.insert(first.id.clone(), audio_ms);
        }
        self.items.extend(items);
    }

    /// Fills in the transcript of a user's audio message.
    pub(crate) fn transcribed(&mut self, item_id: &str, text: &str) {
        if let Some(ItemKind::Message { content, .. }) = self
            .items
            .iter_mut()
            .find(|i| i.id == item_id)
            .map(|i| &mut i.kind)
        {
            content[0] = ContentPart::InputAudio {
                transcript: Some(text.to_string()),
            };
        }
    }

    /// Cuts an assistant message's audio part to the first `audio_end_ms` the user heard,
    /// keeping the words in proportion (never half a word).
    pub(crate) fn truncate(
        &mut self,
        item_id: &str,
        content_index: u32,
        audio_end_ms: u32,
    ) -> Result<(), ProtocolError> {
        let i = self.find(item_id)?;
        let ItemKind::Message {
            role: Role::Assistant,
            content,
        } = &mut self.items[i].kind
        else {
            return Err(ProtocolError::invalid(
                "item_id",
                "only assistant messages can be truncated",
            ));
        };
        let Some(part) = content.get_mut(content_index as usize) else {
            return Err(ProtocolError::invalid(
                "content_index",
                "no such content part",
            ));
        };
        let ContentPart::Audio { transcript } = part else {
            return Err(ProtocolError::invalid(
                "content_index",
                "only audio parts can be truncated",
            ));
        };
        let duration = self.audio_ms.get(item_id).copied().unwrap_or(0);
        if audio_end_ms as u64 > duration {
            return Err(ProtocolError::invalid(
                "audio_end_ms",
                format!("is longer than the item's audio ({duration} ms)"),
            ));
        }
        let total = transcript.chars().count();
        let keep = (total as u64 * audio_end_ms as u64)
            .checked_div(duration)
            .unwrap_or(0) as usize;
        let mut heard: String = transcript.chars().take(keep).collect();
        let cut_mid_word = keep < total;
        if let Some(space) = heard.rfind(' ').filter(|_| cut_mid_word) {
            heard.truncate(space);
        }
        *transcript = heard;
        self.audio_ms
            .insert(item_id.to_string(), audio_end_ms as u64);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spoken(id: &str, words: &str) -> Item {
        Item {
            id: id.into(),
            kind: ItemKind::Message {
                role: Role::Assistant,
                content: vec![ContentPart::Audio {
                    transcript: words.into(),
                }],
            },
            status: "completed",
        }
    }

    #[test]
    fn truncation_keeps_whole_words_heard() {
        let mut c = Conversation::default();
        c.answer(vec![spoken("a", "one two three four")], 1000);
        assert!(c.truncate("a", 0, 2000).is_err(), "longer than the audio");
        c.truncate("a", 0, 500).unwrap();
        let ItemKind::Message { content, .. } = &c.get(0).kind else {
            unreachable!()
        };
        assert_eq!(content[0].text(), Some("one two"));
        assert_eq!(c.find("b").unwrap_err().code, ErrorCode::ItemNotFound);
        assert_eq!(c.insert(spoken("b", "x"), Some("root")).unwrap(), None);
        assert_eq!(c.last_id().as_deref(), Some("a"));
    }
}
