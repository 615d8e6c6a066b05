//! The per-turn latency waterfall of a session, drawn as SVG bars (no inline styles: the CSP
//! forbids them, SVG geometry attributes are not styles).

use avb_core::services::sessions::TurnRecord;

/// Width of the longest bar in SVG units.
const TRACK: i64 = 380;
/// Where bars start (room for the labels).
const LEFT: i64 = 130;
/// Height of one row.
const ROW: i64 = 22;

/// One stage of a turn.
pub struct Bar {
    pub label: &'static str,
    pub ms: i64,
    pub y: i64,
    pub text_y: i64,
    pub width: i64,
    pub value_x: i64,
}

/// One turn's bars.
pub struct Waterfall {
    pub response_id: String,
    pub status: String,
    pub height: i64,
    pub left: i64,
    pub bars: Vec<Bar>,
    pub summary: String,
}

/// The waterfall of a recorded turn: each stage as milliseconds from the turn's start, scaled to
/// the slowest one. Stages that were not measured are left out.
pub fn waterfall(t: &TurnRecord) -> Waterfall {
    let stages = [
        ("Speech to text", t.stt_ms),
        ("Intent + skill", t.skill_ms),
        ("LLM first token", t.llm_first_token_ms),
        ("TTS first byte", t.tts_first_byte_ms),
        ("First audio out", t.first_audio_ms),
        ("Voice to voice", t.voice_to_voice_ms),
    ];
    let max = stages
        .iter()
        .filter_map(|(_, ms)| *ms)
        .max()
        .unwrap_or(0)
        .max(1);
    let bars: Vec<Bar> = stages
        .iter()
        .filter_map(|(label, ms)| ms.map(|ms| (*label, ms.max(0))))
        .enumerate()
        .map(|(i, (label, ms))| {
            let width = (ms * TRACK / max).max(2);
            let y = i as i64 * ROW;
            Bar {
                label,
                ms,
                y: y + 4,
                text_y: y + 16,
                width,
                value_x: LEFT + width + 6,
            }
        })
        .collect();
    let summary = bars
        .iter()
        .map(|b| format!("{} {} ms", b.label, b.ms))
        .collect::<Vec<_>>()
        .join(", ");
    Waterfall {
        response_id: t.response_id.clone(),
        status: t.status.to_string(),
        height: (bars.len() as i64 * ROW).max(ROW),
        left: LEFT,
        bars,
        summary,
    }
}
