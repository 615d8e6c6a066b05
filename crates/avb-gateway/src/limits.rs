//! Per-tenant realtime rate limits in fixed one-minute windows: responses per minute and LLM
//! tokens per minute, from the tenant's plan (its limits; the configuration's `[realtime]`
//! defaults), reported to clients in `rate_limits.updated`. With Redis configured the counters
//! live there (keys `avb:rl:<tenant>:<minute>:r|t`, windows aligned to the clock), so every
//! replica draws from one budget; without it, or while Redis fails, each process counts alone.

use avb_core::redis_keys;
use avb_core::redis_slot::RedisSlot;
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
    redis: RedisSlot,
}

/// The clock-aligned window: its number and the seconds left in it.
fn clock_window() -> (u64, f64) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    (
        secs / 60,
        60.0 - (secs % 60) as f64 - f64::from(now.subsec_millis()) / 1000.0,
    )
}

impl RateLimits {
    /// A limiter counting in Redis when a client is given, else in this process.
    pub fn new(redis: Option<redis::Client>) -> Self {
        Self {
            redis: RedisSlot::new(redis, "realtime rate limits"),
            ..Self::default()
        }
    }

    /// Takes one response from the tenant's `budget`, or says when it resets.
    pub async fn try_start(&self, tenant: &str, budget: Budget) -> Result<Remaining, Remaining> {
        if let Some(mut c) = self.redis.get().await {
            let (window, reset) = clock_window();
            let (kr, kt) = (
                redis_keys::rate_limit_requests(tenant, window),
                redis_keys::rate_limit_tokens(tenant, window),
            );
            let counted: redis::RedisResult<(u64, i64, Option<u64>)> = redis::pipe()
                .atomic()
                .incr(&kr, 1u64)
                .expire(&kr, 120)
                .get(&kt)
                .query_async(&mut c)
                .await;
            match counted {
                Ok((requests, _, tokens)) => {
                    let tokens = tokens.unwrap_or(0);
                    let over =
                        requests > budget.requests_per_minute || tokens >= budget.tokens_per_minute;
                    if over {
                        // Give the slot back: a refused response does not count.
                        let _: redis::RedisResult<i64> =
                            redis::cmd("DECR").arg(&kr).query_async(&mut c).await;
                    }
                    let used = if over { requests - 1 } else { requests };
                    let left = Remaining {
                        requests_limit: budget.requests_per_minute,
                        requests: budget.requests_per_minute.saturating_sub(used),
                        tokens_limit: budget.tokens_per_minute,
                        tokens: budget.tokens_per_minute.saturating_sub(tokens),
                        reset_seconds: reset,
                    };
                    return if over { Err(left) } else { Ok(left) };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: Redis failed; counting locally");
                    self.redis.forget().await;
                }
            }
        }
        self.try_start_local(tenant, budget)
    }

    /// Charges tokens a response used.
    pub async fn charge_tokens(&self, tenant: &str, budget: Budget, tokens: u64) -> Remaining {
        if let Some(mut c) = self.redis.get().await {
            let (window, reset) = clock_window();
            let (kr, kt) = (
                redis_keys::rate_limit_requests(tenant, window),
                redis_keys::rate_limit_tokens(tenant, window),
            );
            let counted: redis::RedisResult<(u64, i64, Option<u64>)> = redis::pipe()
                .atomic()
                .incr(&kt, tokens)
                .expire(&kt, 120)
                .get(&kr)
                .query_async(&mut c)
                .await;
            match counted {
                Ok((used_tokens, _, requests)) => {
                    return Remaining {
                        requests_limit: budget.requests_per_minute,
                        requests: budget
                            .requests_per_minute
                            .saturating_sub(requests.unwrap_or(0)),
                        tokens_limit: budget.tokens_per_minute,
                        tokens: budget.tokens_per_minute.saturating_sub(used_tokens),
                        reset_seconds: reset,
                    };
                }
                Err(e) => {
                    tracing::warn!(error = %e, "rate limits: Redis failed; counting locally");
                    self.redis.forget().await;
                }
            }
        }
        self.charge_tokens_local(tenant, budget, tokens)
    }

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

    fn try_start_local(&self, tenant: &str, budget: Budget) -> Result<Remaining, Remaining> {
        self.with_window(tenant, budget, |w| {
            if w.requests >= w.budget.requests_per_minute || w.tokens >= w.budget.tokens_per_minute
            {
                return Err(Self::remaining(w));
            }
            w.requests += 1;
            Ok(Self::remaining(w))
        })
    }

    fn charge_tokens_local(&self, tenant: &str, budget: Budget, tokens: u64) -> Remaining {
        self.with_window(tenant, budget, |w| {
            w.tokens += tokens;
            Self::remaining(w)
        })
    }
}

/// What "unlimited" reports to clients: a budget no minute can use up, small enough for every
/// client's number type.
const UNLIMITED: u64 = 1_000_000_000;

/// The budget a plan's limits give.
pub fn budget_of(limits: &avb_domain::pricing::PlanLimits) -> Budget {
    Budget {
        requests_per_minute: limits.requests_per_minute.unwrap_or(UNLIMITED),
        tokens_per_minute: limits.tokens_per_minute.unwrap_or(UNLIMITED),
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
    #[tokio::test]
    async fn budgets_are_per_tenant() {
        let l = super::RateLimits::default();
        let b = super::Budget {
            requests_per_minute: 2,
            tokens_per_minute: 100,
        };
        assert_eq!(l.try_start("a", b).await.map(|r| r.requests), Ok(1));
        assert_eq!(l.try_start("a", b).await.map(|r| r.requests), Ok(0));
        assert!(l.try_start("a", b).await.is_err());
        assert!(
            l.try_start("b", b).await.is_ok(),
            "another tenant has its own budget"
        );
        assert_eq!(l.charge_tokens("b", b, 150).await.tokens, 0);
        assert!(l.try_start("b", b).await.is_err(), "tokens exhausted");
        let bigger = super::Budget {
            requests_per_minute: 5,
            tokens_per_minute: 100,
        };
        assert_eq!(
            l.try_start("a", bigger).await.map(|r| r.requests),
            Ok(2),
            "an upgraded plan applies at once"
        );
    }
}
