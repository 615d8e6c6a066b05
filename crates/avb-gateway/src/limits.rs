//! Per-tenant realtime rate limits (fixed one-minute windows, per process): responses per minute
//! and LLM tokens per minute, reported to clients in `rate_limits.updated`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    requests: u64,
    tokens: u64,
}

/// What is left in the current window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Remaining {
    pub requests_limit: u64,
    pub requests: u64,
    pub tokens_limit: u64,
    pub tokens: u64,
    pub reset_seconds: f64,
}

/// The limiter shared by every session of this process.
pub struct RateLimits {
    requests_per_minute: u64,
    tokens_per_minute: u64,
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimits {
    /// Limits per tenant per minute.
    pub fn new(requests_per_minute: u64, tokens_per_minute: u64) -> Self {
        Self {
            requests_per_minute,
            tokens_per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    fn with_window<T>(&self, tenant: &str, f: impl FnOnce(&mut Window) -> T) -> T {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let w = map.entry(tenant.to_string()).or_insert(Window {
            started: now,
            requests: 0,
            tokens: 0,
        });
        if now.duration_since(w.started) >= WINDOW {
            *w = Window {
                started: now,
                requests: 0,
                tokens: 0,
            };
        }
        f(w)
    }

    fn remaining(&self, w: &Window) -> Remaining {
        Remaining {
            requests_limit: self.requests_per_minute,
            requests: self.requests_per_minute.saturating_sub(w.requests),
            tokens_limit: self.tokens_per_minute,
            tokens: self.tokens_per_minute.saturating_sub(w.tokens),
            reset_seconds: WINDOW.saturating_sub(w.started.elapsed()).as_secs_f64(),
        }
    }

    /// Takes one response from the tenant's budget, or says when it resets.
    pub fn try_start(&self, tenant: &str) -> Result<Remaining, Remaining> {
        self.with_window(tenant, |w| {
            if w.requests >= self.requests_per_minute || w.tokens >= self.tokens_per_minute {
                return Err(self.remaining(w));
            }
            w.requests += 1;
            Ok(self.remaining(w))
        })
    }

    /// Charges tokens a response used.
    pub fn charge_tokens(&self, tenant: &str, tokens: u64) -> Remaining {
        self.with_window(tenant, |w| {
            w.tokens += tokens;
            self.remaining(w)
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn budgets_are_per_tenant() {
        let l = super::RateLimits::new(2, 100);
        assert_eq!(l.try_start("a").map(|r| r.requests), Ok(1));
        assert_eq!(l.try_start("a").map(|r| r.requests), Ok(0));
        assert!(l.try_start("a").is_err());
        assert!(
            l.try_start("b").is_ok(),
            "another tenant has its own budget"
        );
        assert_eq!(l.charge_tokens("b", 150).tokens, 0);
        assert!(l.try_start("b").is_err(), "tokens exhausted");
    }
}
