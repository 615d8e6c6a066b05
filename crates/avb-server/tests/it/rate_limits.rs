//! Realtime rate limits shared through Redis: two replicas (two limiters on one real Redis)
//! draw from one per-tenant budget of responses and tokens.
#![allow(clippy::unwrap_used)]

use avb_gateway::limits::{Budget, RateLimits};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_one_budget_through_redis() {
    let client = redis::Client::open(avb_testkit::redis_url()).unwrap();
    let a = RateLimits::new(Some(client.clone()));
    let b = RateLimits::new(Some(client));
    let budget = Budget {
        requests_per_minute: 3,
        tokens_per_minute: 100,
    };
    // Stay inside one clock minute: wait for the next one if this one is nearly over.
    let probe = a
        .try_start(&format!("probe-{}", uuid::Uuid::now_v7()), budget)
        .await
        .unwrap();
    if probe.reset_seconds < 5.0 {
        tokio::time::sleep(Duration::from_secs_f64(probe.reset_seconds + 0.5)).await;
    }
    let tenant = format!("t-{}", uuid::Uuid::now_v7());
    assert_eq!(a.try_start(&tenant, budget).await.unwrap().requests, 2);
    assert_eq!(b.try_start(&tenant, budget).await.unwrap().requests, 1);
    assert_eq!(a.try_start(&tenant, budget).await.unwrap().requests, 0);
    let refused = b.try_start(&tenant, budget).await.unwrap_err();
    assert_eq!(
        refused.requests, 0,
        "the other replica sees the budget spent"
    );
    assert!(refused.reset_seconds > 0.0 && refused.reset_seconds <= 60.0);
    assert!(
        a.try_start(&tenant, budget).await.is_err(),
        "a refusal does not count"
    );

    // Tokens too: one replica's charges exhaust the other's budget.
    let other = format!("t-{}", uuid::Uuid::now_v7());
    assert!(a.try_start(&other, budget).await.is_ok());
    assert_eq!(a.charge_tokens(&other, budget, 60).await.tokens, 40);
    assert_eq!(b.charge_tokens(&other, budget, 40).await.tokens, 0);
    assert!(
        b.try_start(&other, budget).await.is_err(),
        "tokens spent elsewhere"
    );

    // Without Redis each process counts alone.
    let local = RateLimits::new(None);
    assert!(local.try_start(&tenant, budget).await.is_ok());
}
