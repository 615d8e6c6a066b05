//! The Realtime client-event decoder on arbitrary input: every frame must either parse or give a
//! typed protocol error (never a panic), and whatever parses must survive the next steps the
//! gateway takes with it (session updates in both dialects, item parsing, base64 audio).
#![no_main]

use avb_realtime::{ClientEvent, Dialect, Item, SessionConfig, parse_client_event};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match parse_client_event(text) {
        Ok((event, _)) => match event {
            ClientEvent::SessionUpdate { session }
            | ClientEvent::TranscriptionSessionUpdate { session } => {
                for dialect in [Dialect::Beta, Dialect::Ga] {
                    let mut config = SessionConfig::new("fuzz", 0);
                    if config.apply_update(dialect, &session).is_ok() {
                        let _ = config.render(dialect);
                    }
                }
            }
            ClientEvent::ConversationItemCreate { item, .. } => {
                if let Ok(item) = Item::from_client(&item) {
                    let _ = item.render(Dialect::Ga);
                    let _ = item.render(Dialect::Beta);
                }
            }
            ClientEvent::InputAudioBufferAppend { audio } => {
                use base64::Engine as _;
                if let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(&audio) {
                    let _ = avb_voice::audio::pcm16_decode(&bytes);
                }
            }
            _ => {}
        },
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
