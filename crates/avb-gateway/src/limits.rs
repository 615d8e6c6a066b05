//! Per-tenant realtime rate limits (fixed one-minute windows, per process): responses per minute
//! and LLM tokens per minute, from the tenant's plan (`[realtime.plans.<plan>]`, else the
//! `[realtime]` defaults), reported to clients in `rate_limits.updated`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(60);

/// A tenant's budget per minute.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub requests_per_minute: u64,
    pub tokens_per_minute: u64,
}

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    requests: u64,
    tokens: u64,
    budget: Budget,
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
#[derive(Default)]
pub struct RateLimits {
    windows: Mutex<HashMap<String, Window>>,
}

impl RateLimits {
    fn with_window<T>(&self, tenant: &str, budget: Budget, f: impl FnOnce(&mut Window) -> T) -> T {
        let mut map = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let fresh = Window {
            started: now,
            requests: 0,
            tokens: 0,
            budget,
        };
        let w = map.entry(tenant.to_string()).or_insert(fresh);
        if now.duration_since(w.started) >= WINDOW {
            *w = fresh;
        }
        // A plan change applies from the next call.
        w.budget = budget;
        f(w)
    }

    fn remaining(w: &Window) -> Remaining {
        Remaining {
            requests_limit: w.budget.requests_per_minute,
            requests: w.budget.requests_per_minute.saturating_sub(w.requests),
            tokens_limit: w.budget.tokens_per_minute,
            tokens: w.budget.tokens_per_minute.saturating_sub(w.tokens),
            reset_seconds: WINDOW.saturating_sub(w.started.elapsed()).as_secs_f64(),
        }
    }

    /// Takes one response from the tenant's `budget`, or says when it resets.
    pub fn try_start(&self, tenant: &str, budget: Budget) -> Result<Remaining, Remaining> {
        self.with_window(tenant, budget, |w| {
            if w.requests >= w.budget.requests_per_minute || w.tokens >= w.budget.tokens_per_minute
            {
                return Err(Self::remaining(w));
            }
            w.requests += 1;
            Ok(Self::remaining(w))
        })
    }

    /// Charges tokens a response used.
    pub fn charge_tokens(&self, tenant: &str, budget: Budget, tokens: u64) -> Remaining {
        self.with_window(tenant, budget, |w| {
            w.tokens += tokens;
            Self::remaining(w)
        })
    }
}

/// The budget of a tenant on `plan`: its `[realtime.plans.<plan>]` entry, else the defaults.
pub fn budget_for(config: &avb_core::config::RealtimeConfig, plan: Option<&str>) -> Budget {
    match plan.and_then(|p| config.plans.get(p)) {
        Some(p) => Budget {
            requests_per_minute: p.requests_per_minute,
            tokens_per_minute: p.tokens_per_minute,
        },
        None => Budget {
            requests_per_minute: config.requests_per_minute,
            tokens_per_minute: config.tokens_per_minute,
        },
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn budgets_are_per_tenant() {
        let l = super::RateLimits::default();
        let b = super::Budget {
            requests_per_minute: 2,
            tokens_per_minute: 100,
        };
        assert_eq!(l.try_start("a", b).map(|r| r.requests), Ok(1));
        assert_eq!(l.try_start("a", b).map(|r| r.requests), Ok(0));
        assert!(l.try_start("a", b).is_err());
        assert!(
            l.try_start("b", b).is_ok(),
            "another tenant has its own budget"
        );
        assert_eq!(l.charge_tokens("b", b, 150).tokens, 0);
        assert!(l.try_start("b", b).is_err(), "tokens exhausted");
        let bigger = super::Budget {
            requests_per_minute: 5,
            tokens_per_minute: 100,
        };
        assert_eq!(
            l.try_start("a", bigger).map(|r| r.requests),
            Ok(2),
            "an upgraded plan applies at once"
        );
    }
}
