//! The speech-to-text and language-model consoles (B10, B11): which Whisper sizes the configured
//! engine serves, the tenant's STT settings (model, language, VAD), test transcriptions of an
//! uploaded file with their latency and word error rate, the models a tenant's LLM provider
//! lists, and streamed test prompts. Every test is rate-limited per tenant, audited and metered
//! like a real call.

mod audio;
mod llm;
mod stt;

pub use audio::*;
pub use llm::*;
pub use stt::*;

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::{Actor, Scope};
use avb_domain::TenantId;
use avb_storage::repos::audit as audit_repo;
use avb_storage::repos::stt_tests::{self, NewSttTest};
use avb_storage::repos::usage::{self as usage_repo, UsageEntry};
use std::time::Duration;
use uuid::Uuid;

/// Largest test upload (10 MiB).
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Longest test audio (5 minutes).
pub const MAX_AUDIO_SECS: f64 = 300.0;
/// Test calls (STT and LLM together) a tenant may make per minute.
pub const TESTS_PER_MINUTE: u64 = 20;
/// Longest test prompt.
pub const MAX_PROMPT_CHARS: usize = 4000;
/// How long a provider's `/models` may take.
const MODELS_TIMEOUT: Duration = Duration::from_secs(8);

/// The Faster-Whisper sizes with their accuracy/speed trade-off.
pub const STT_SIZES: &[(&str, &str)] = &[
    (
        "tiny",
        "39 M parameters. Fastest (about 0.3 s for a 3 s clip on 2 CPU cores, int8); misses words on harder or accented speech.",
    ),
    (
        "base",
        "74 M. About twice as slow as tiny (0.7 s for 3 s on 2 cores); clearly fewer errors. A good CPU default.",
    ),
    (
        "small",
        "244 M. About 3x slower than base; much better with accents, noise and non-English speech.",
    ),
    (
        "medium",
        "769 M. About 2-3x slower than small; near-large accuracy. Needs a GPU for live turns.",
    ),
    (
        "large-v2",
        "1550 M. High accuracy in many languages; GPU only for live use.",
    ),
    (
        "large-v3",
        "1550 M. The most accurate (2023 weights, better non-English); GPU only for live use.",
    ),
];

/// An engine call that failed: which engine and why. The page shows it; the API answers 424
/// (Failed Dependency: the platform works, the engine it depends on did not).
#[derive(Debug, Clone, PartialEq)]
pub struct EngineFailure {
    /// `speech-to-text` or `language model`.
    pub engine: &'static str,
    pub message: String,
}

impl std::fmt::Display for EngineFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the {} engine failed: {}", self.engine, self.message)
    }
}

// ---------------------------------------------------------------------------------------------
// Rate limit, metering, audit

async fn throttle(ctx: &AppContext, tenant: TenantId) -> CoreResult<()> {
    ctx.login_limiter
        .hit(crate::redis_keys::voice_tests(tenant), TESTS_PER_MINUTE)
        .await
        .map_err(CoreError::RateLimited)
}

/// Appends the audit row and usage rows of one test call in one transaction.
#[allow(clippy::too_many_arguments)]
async fn record(
    ctx: &AppContext,
    scope: &Scope,
    tenant: TenantId,
    action: &str,
    id: Uuid,
    summary: serde_json::Value,
    usage: &[(&str, f64)],
    stt: Option<NewSttTest>,
) -> CoreResult<()> {
    let api_key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(id.as_uuid()),
        _ => None,
    };
    let now = chrono::Utc::now();
    let entries: Vec<UsageEntry> = usage
        .iter()
        .filter(|(_, q)| *q > 0.0)
        .map(|(metric, quantity)| UsageEntry {
            project: scope.actor().project().map(|p| p.as_uuid()),
            api_key,
            session: None,
            metric: metric.to_string(),
            quantity: *quantity,
            idempotency_key: format!("{action}:{id}:{metric}"),
            occurred_at: now,
        })
        .collect();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(t) = stt {
        stt_tests::insert(&tx, t).await?;
    }
    if !entries.is_empty() {
        usage_repo::append(&tx, &entries).await?;
    }
    audit_repo::append(
        &tx,
        audit::entry(scope, Some(tenant), action, "voice_test", id, summary),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::stt::{choices, p95, size_of};
    use super::*;

    #[test]
    fn wer_is_word_levenshtein_over_reference_words() {
        assert_eq!(word_error_rate("Hello, world!", "hello world"), Some(0.0));
        // One substitution in four words.
        assert_eq!(
            word_error_rate("the cat sat down", "the cat sat town"),
            Some(0.25)
        );
        // One deletion and one insertion.
        assert_eq!(word_error_rate("a b c d", "a c d e"), Some(0.5));
        // Everything missing.
        assert_eq!(word_error_rate("one two", ""), Some(1.0));
        // Insertions can push it above 1.
        assert_eq!(word_error_rate("hi", "oh hi there you"), Some(3.0));
        assert_eq!(word_error_rate("  ", "anything"), None);
        assert_eq!(normalise_words("It's A TEST."), vec!["it's", "a", "test"]);
    }

    #[test]
    fn audio_is_sniffed_by_content() {
        let mut wav = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&[1, 0, 1, 0]);
        wav.extend_from_slice(&16_000u32.to_le_bytes());
        wav.extend_from_slice(&32_000u32.to_le_bytes());
        wav.extend_from_slice(&[2, 0, 16, 0]);
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&64_000u32.to_le_bytes());
        wav.extend_from_slice(&vec![0u8; 64_000]);
        assert_eq!(sniff_audio(&wav).unwrap().0, "wav");
        assert_eq!(wav_duration(&wav), Some(2.0));
        assert_eq!(sniff_audio(b"ID3\x04rest").unwrap().0, "mp3");
        assert_eq!(sniff_audio(&[0xFF, 0xFB, 0x90, 0]).unwrap().0, "mp3");
        assert_eq!(sniff_audio(b"OggS\0\x02").unwrap().0, "ogg");
        assert_eq!(sniff_audio(&[0x1A, 0x45, 0xDF, 0xA3, 1]).unwrap().0, "webm");
        assert_eq!(sniff_audio(b"%PDF-1.4"), None);
        assert_eq!(sniff_audio(b"hello"), None);
        assert!(check_upload(b"not audio at all").is_err());
        assert!(check_upload(&[]).is_err());
    }

    #[test]
    fn engine_models_map_to_sizes() {
        assert_eq!(size_of("tiny.en"), Some(("tiny", true)));
        assert_eq!(
            size_of("Systran/faster-whisper-large-v3"),
            Some(("large-v3", false))
        );
        assert_eq!(size_of("whisper-base"), Some(("base", false)));
        assert_eq!(size_of("smollm2"), None);
        let up = EngineState {
            configured: true,
            reachable: true,
            error: None,
        };
        let c = choices(&up, &["tiny.en".to_string(), "whisper-1".to_string()]);
        let tiny = c.iter().find(|m| m.id == "tiny.en").unwrap();
        assert!(tiny.available && tiny.english_only);
        let large = c.iter().find(|m| m.id == "large-v3").unwrap();
        assert!(!large.available && large.reason.is_some());
        assert!(c.iter().any(|m| m.id == "whisper-1" && m.size == "other"));
        assert_eq!(c.iter().filter(|m| m.size != "other").count(), 6);
    }

    #[test]
    fn p95_and_fingerprint() {
        assert_eq!(p95(vec![]), None);
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(v), Some(95.0));
        let fp = key_fingerprint("sk-secret-key");
        assert!(fp.starts_with("sha256:") && fp.len() == 15 && !fp.contains("secret"));
    }
}
