//! Engine calls that survive flaky engines: retries with exponential backoff and full jitter for
//! retryable failures, and a circuit breaker per engine endpoint that fails fast after repeated
//! failures and lets one probe through after a cool-down.

use crate::llm::{ChatModel, ChatRequest, ChatStream, EngineError};
use crate::stt::{SpeechToText, TranscribeOptions, Transcript};
use crate::tts::{PcmStream, TextToSpeech};
use std::future::Future;
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Total attempts (1 = no retry).
    pub attempts: u32,
    /// First backoff; doubled each time, with full jitter.
    pub base: Duration,
    /// Longest backoff.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_millis(100),
            max: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        let cap = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.max);
        // Full jitter: a uniform delay up to the exponential cap.
        cap.mul_f64(rand::random::<f64>())
    }
}

#[derive(Debug)]
struct BreakerState {
    consecutive_failures: u32,
    open_until: Option<Instant>,
}

/// A circuit breaker for one engine endpoint.
#[derive(Debug)]
pub struct CircuitBreaker {
    stage: &'static str,
    threshold: u32,
    cooldown: Duration,
    state: Mutex<BreakerState>,
}

impl CircuitBreaker {
    /// Opens after `threshold` consecutive failures, for `cooldown`.
    pub fn new(stage: &'static str, threshold: u32, cooldown: Duration) -> Self {
        Self {
            stage,
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(BreakerState {
                consecutive_failures: 0,
                open_until: None,
            }),
        }
    }

    /// Refuses while open; after the cool-down one call (the probe) goes through.
    fn check(&self) -> Result<(), EngineError> {
        let Ok(mut s) = self.state.lock() else {
            return Ok(());
        };
        match s.open_until {
            Some(until) if Instant::now() < until => Err(EngineError::CircuitOpen(self.stage)),
            Some(_) => {
                // Half-open: let this probe through, re-open at once if it fails.
                s.open_until = None;
                s.consecutive_failures = self.threshold.saturating_sub(1);
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn record(&self, ok: bool) {
        let Ok(mut s) = self.state.lock() else { return };
        if ok {
            s.consecutive_failures = 0;
            s.open_until = None;
        } else {
            s.consecutive_failures += 1;
            if s.consecutive_failures >= self.threshold {
                s.open_until = Some(Instant::now() + self.cooldown);
                tracing::warn!(
                    stage = self.stage,
                    "engine circuit opened after repeated failures"
                );
            }
        }
    }

    /// Whether calls are currently refused.
    pub fn is_open(&self) -> bool {
        self.state
            .lock()
            .map(|s| s.open_until.is_some_and(|u| Instant::now() < u))
            .unwrap_or(false)
    }

    /// Runs `call` under the breaker with `policy` retries.
    pub async fn call<T, F, Fut>(&self, policy: &RetryPolicy, mut call: F) -> Result<T, EngineError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, EngineError>>,
    {
        let mut attempt = 0;
        loop {
            self.check()?;
            let result = call().await;
            match result {
                Ok(v) => {
                    self.record(true);
                    return Ok(v);
                }
                Err(e) => {
                    // A refusal says nothing about the engine's health.
                    self.record(!e.retryable());
                    attempt += 1;
                    if !e.retryable() || attempt >= policy.attempts {
                        return Err(e);
                    }
                    tokio::time::sleep(policy.backoff(attempt)).await;
                }
            }
        }
    }
}

/// A chat model with retries and a breaker (only the start of the stream is retried).
pub struct ResilientChat {
    pub inner: Arc<dyn ChatModel>,
    pub breaker: CircuitBreaker,
    pub policy: RetryPolicy,
}

#[async_trait::async_trait]
impl ChatModel for ResilientChat {
    async fn stream(&self, req: ChatRequest) -> Result<ChatStream, EngineError> {
        self.breaker
            .call(&self.policy, || self.inner.stream(req.clone()))
            .await
    }
}

/// Speech to text with retries and a breaker.
pub struct ResilientStt {
    pub inner: Arc<dyn SpeechToText>,
    pub breaker: CircuitBreaker,
    pub policy: RetryPolicy,
}

#[async_trait::async_trait]
impl SpeechToText for ResilientStt {
    async fn transcribe(
        &self,
        wav: Vec<u8>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, EngineError> {
        self.breaker
            .call(&self.policy, || {
                self.inner.transcribe(wav.clone(), opts.clone())
            })
            .await
    }
}

/// Text to speech with retries and a breaker (only the start of the stream is retried).
pub struct ResilientTts {
    pub inner: Arc<dyn TextToSpeech>,
    pub breaker: CircuitBreaker,
    pub policy: RetryPolicy,
}

#[async_trait::async_trait]
impl TextToSpeech for ResilientTts {
    async fn speak(&self, text: &str, voice: &str, speed: f64) -> Result<PcmStream, EngineError> {
        self.breaker
            .call(&self.policy, || self.inner.speak(text, voice, speed))
            .await
    }

    fn sample_rate(&self) -> u32 {
        self.inner.sample_rate()
    }

    async fn voices(&self) -> Result<Vec<String>, EngineError> {
        self.inner.voices().await
    }
}

/// Consecutive failures that open an engine's circuit.
pub const BREAKER_THRESHOLD: u32 = 5;
/// How long an open circuit stays open.
pub const BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

/// `inner` with the default retries and a circuit breaker of its own.
pub fn resilient_chat(inner: Arc<dyn ChatModel>) -> Arc<dyn ChatModel> {
    Arc::new(ResilientChat {
        inner,
        breaker: CircuitBreaker::new("llm", BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        policy: RetryPolicy::default(),
    })
}

/// `inner` with the default retries and a circuit breaker of its own.
pub fn resilient_stt(inner: Arc<dyn SpeechToText>) -> Arc<dyn SpeechToText> {
    Arc::new(ResilientStt {
        inner,
        breaker: CircuitBreaker::new("stt", BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        policy: RetryPolicy::default(),
    })
}

/// `inner` with the default retries and a circuit breaker of its own.
pub fn resilient_tts(inner: Arc<dyn TextToSpeech>) -> Arc<dyn TextToSpeech> {
    Arc::new(ResilientTts {
        inner,
        breaker: CircuitBreaker::new("tts", BREAKER_THRESHOLD, BREAKER_COOLDOWN),
        policy: RetryPolicy::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(2),
        }
    }

    #[tokio::test]
    async fn retries_transient_failures_but_not_refusals() {
        let breaker = CircuitBreaker::new("llm", 10, Duration::from_secs(60));
        let calls = AtomicU32::new(0);
        let r = breaker
            .call(&fast(), || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                    Err(EngineError::Failed {
                        stage: "llm",
                        message: "503".into(),
                    })
                } else {
                    Ok(7)
                }
            })
            .await;
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Ok(7), 3));

        let calls = AtomicU32::new(0);
        let r: Result<(), _> = breaker
            .call(&fast(), || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err(EngineError::Rejected {
                    stage: "llm",
                    message: "400".into(),
                })
            })
            .await;
        assert!(matches!(r, Err(EngineError::Rejected { .. })));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn breaker_opens_fails_fast_then_probes() {
        let breaker = CircuitBreaker::new("tts", 2, Duration::from_millis(50));
        let one = RetryPolicy {
            attempts: 1,
            ..fast()
        };
        for _ in 0..2 {
            let _: Result<(), _> = breaker
                .call(&one, || async { Err(EngineError::Timeout("tts")) })
                .await;
        }
        assert!(breaker.is_open());
        let calls = AtomicU32::new(0);
        let r: Result<(), _> = breaker
            .call(&one, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await;
        assert_eq!(
            (r, calls.load(Ordering::SeqCst)),
            (Err(EngineError::CircuitOpen("tts")), 0)
        );
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            breaker.call(&one, || async { Ok(1) }).await,
            Ok(1),
            "the probe after the cool-down closes it"
        );
        assert!(!breaker.is_open());
    }
}
