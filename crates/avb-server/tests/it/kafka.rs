//! Platform events through the transactional outbox to a real Apache Kafka (`scripts/kafka.sh
//! up`, which the test command runs; `TEST_KAFKA_BROKERS` names it): keyed by tenant on the
//! partition Kafka's own partitioner picks, `tenant_id` in the payload and a header, each event
//! once by id; a broker that goes down blocks no request, the outbox grows and the health probe
//! says so, and after the broker comes back the outbox catches up with nothing lost.
#![allow(clippy::unwrap_used)]

use avb_core::services::events;
use avb_testkit::{Db, spawn_app_with};
use rskafka::client::ClientBuilder;
use rskafka::client::partition::UnknownTopicHandling;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

/// Held by the tests that use the shared broker: this one stops and restarts it, which would
/// make another test's publishes fail over (and possibly repeat) meanwhile.
pub(crate) static BROKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn brokers() -> Option<String> {
    std::env::var("TEST_KAFKA_BROKERS")
        .ok()
        .filter(|b| !b.is_empty())
}

/// Every record of `topic` so far: (partition, key, headers, payload, offset).
async fn read_all(
    broker: &str,
    topic: &str,
) -> Vec<(i32, String, BTreeMap<String, String>, Value)> {
    let client = ClientBuilder::new(vec![broker.to_string()])
        .build()
        .await
        .unwrap();
    let topics = client.list_topics().await.unwrap();
    let Some(t) = topics.iter().find(|t| t.name == topic) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for p in t.partitions.iter().copied() {
        let pc = client
            .partition_client(topic.to_string(), p, UnknownTopicHandling::Retry)
            .await
            .unwrap();
        let mut offset = 0;
        loop {
            let (records, high) = pc.fetch_records(offset, 1..5_000_000, 100).await.unwrap();
            for r in &records {
                let rec = &r.record;
                out.push((
                    p,
                    String::from_utf8(rec.key.clone().unwrap()).unwrap(),
                    rec.headers
                        .iter()
                        .map(|(k, v)| (k.clone(), String::from_utf8(v.clone()).unwrap()))
                        .collect(),
                    serde_json::from_slice(rec.value.as_ref().unwrap()).unwrap(),
                ));
                offset = r.offset + 1;
            }
            if records.is_empty() || offset >= high {
                break;
            }
        }
    }
    out
}

async fn outbox_empty(app: &avb_testkit::TestApp, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let lag = events::lag(&app.ctx).await.unwrap();
        if lag.waiting == 0 {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{} events still waiting after {within:?}",
            lag.waiting
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn percentile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

// The guard only keeps the scale-out test off the broker while this one restarts it.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_events_reach_kafka_keyed_by_tenant_and_survive_a_broker_restart() {
    let Some(broker) = brokers() else {
        eprintln!("TEST_KAFKA_BROKERS is not set: Kafka is not exercised in this run");
        return;
    };
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let topic = format!("avb.events.test-{}", uuid::Uuid::now_v7().simple());
    let (b, t) = (broker.clone(), topic.clone());
    let app = spawn_app_with(Db::Postgres, move |c| {
        c.kafka.brokers = vec![b];
        c.kafka.topic = t;
        c.kafka.publish_every_ms = 50;
        c.kafka.timeout_ms = 2000;
    })
    .await;
    let (tenant_a, a) = app.tenant_with_owner("Kafka A").await;
    let (tenant_b, b) = app.tenant_with_owner("Kafka B").await;

    // Tenant A creates and revokes a key; B creates one; the operator suspends B.
    let (status, key) = app
        .post("/api/v1/api-keys", &a, json!({"name": "A key"}))
        .await;
    assert_eq!(status, 201, "{key}");
    let a_key = key["id"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(&format!("/api/v1/api-keys/{a_key}/revoke"), &a, json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, _) = app
        .post("/api/v1/api-keys", &b, json!({"name": "B key"}))
        .await;
    assert_eq!(status, 201);
    avb_core::services::tenants::suspend(
        &app.ctx,
        &avb_core::Scope::local_operator(None),
        tenant_b,
        Some("unpaid".into()),
    )
    .await
    .unwrap();
    outbox_empty(&app, Duration::from_secs(20)).await;

    let records = read_all(&broker, &topic).await;
    let of = |tenant: avb_domain::TenantId| -> Vec<(i32, String)> {
        records
            .iter()
            .filter(|r| r.1 == tenant.to_string())
            .map(|r| (r.0, r.3["type"].as_str().unwrap().to_string()))
            .collect()
    };
    let a_events = of(tenant_a);
    let types: Vec<&str> = a_events.iter().map(|(_, t)| t.as_str()).collect();
    let created = types.iter().position(|t| *t == "api_key.created").unwrap();
    let revoked = types.iter().position(|t| *t == "api_key.revoked").unwrap();
    assert!(created < revoked, "in order within the tenant: {types:?}");
    assert!(of(tenant_b).iter().any(|(_, t)| t == "tenant.suspended"));
    // Keyed by tenant: Kafka's default partitioner's choice, one partition per tenant.
    for (tenant, evs) in [(tenant_a, &a_events), (tenant_b, &of(tenant_b))] {
        let want = events::partition_of(tenant.to_string().as_bytes(), 3) as i32;
        assert!(
            evs.iter().all(|(p, _)| *p == want),
            "{tenant}: {evs:?} not all on {want}"
        );
    }
    for (_, key, headers, payload) in &records {
        assert_eq!(&headers["tenant_id"], key);
        assert_eq!(payload["tenant_id"].as_str().unwrap(), key);
        assert_eq!(payload["id"].as_str().unwrap(), headers["event_id"]);
        assert_eq!(payload["type"].as_str().unwrap(), headers["event_type"]);
    }
    let ids: BTreeSet<&str> = records
        .iter()
        .map(|r| r.3["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), records.len(), "no event published twice");

    // Figures: a burst of events, outbox to Kafka.
    let burst = 1000;
    let tx = app.ctx.store.tenant_tx(tenant_a, true).await.unwrap();
    for i in 0..burst {
        events::record(&tx, "load.test", json!({"n": i}))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let took = outbox_empty(&app, Duration::from_secs(60)).await;
    eprintln!(
        "outbox to Kafka: {burst} events in {took:?} ({:.0} events/s)",
        burst as f64 / took.as_secs_f64()
    );
    // Latency of single events (written, then acknowledged by Kafka and marked).
    let mut latencies = Vec::new();
    for i in 0..40 {
        let tx = app.ctx.store.tenant_tx(tenant_a, true).await.unwrap();
        events::record(&tx, "latency.test", json!({"n": i}))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        latencies.push(
            outbox_empty(&app, Duration::from_secs(10))
                .await
                .as_secs_f64()
                * 1000.0,
        );
    }
    eprintln!(
        "outbox to Kafka latency: p50 {:.0} ms, p99 {:.0} ms (scan every 50 ms)",
        percentile(&mut latencies, 0.5),
        percentile(&mut latencies, 0.99)
    );

    // The broker goes down: requests still answer at once, the outbox grows, the probe says so.
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/kafka.sh");
    let kafka = |cmd: &str| {
        let out = std::process::Command::new("bash")
            .arg(&script)
            .arg(cmd)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "kafka.sh {cmd}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    kafka("down");
    struct Up(std::path::PathBuf);
    impl Drop for Up {
        fn drop(&mut self) {
            let _ = std::process::Command::new("bash")
                .arg(&self.0)
                .arg("up")
                .output();
        }
    }
    let _up = Up(script.clone());
    let mut keys = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let (status, key) = app
            .post(
                "/api/v1/api-keys",
                &a,
                json!({"name": format!("while down {i}")}),
            )
            .await;
        assert_eq!(status, 201);
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        keys.push(key["id"].as_str().unwrap().to_string());
    }
    let lag = events::lag(&app.ctx).await.unwrap();
    assert!(lag.waiting >= 5, "{lag:?}");
    let probes = avb_core::monitoring::probe_all(&app.ctx).await;
    let probe = probes.iter().find(|p| p.service == "Kafka").unwrap();
    assert_eq!(probe.status, avb_domain::ProbeStatus::Down, "{probe:?}");
    assert!(probe.detail.contains("waiting"), "{}", probe.detail);

    // Back up: the outbox catches up; every event is there, by id once.
    let restarted = Instant::now();
    kafka("up");
    let caught_up = outbox_empty(&app, Duration::from_secs(60)).await;
    eprintln!(
        "broker restart: up in {:?}, outbox caught up {caught_up:?} later",
        restarted.elapsed() - caught_up
    );
    let records = read_all(&broker, &topic).await;
    for k in &keys {
        let n = records
            .iter()
            .filter(|r| r.3["type"] == "api_key.created" && r.3["data"]["id"] == k.as_str())
            .map(|r| r.3["id"].as_str().unwrap())
            .collect::<BTreeSet<_>>()
            .len();
        assert_eq!(
            n, 1,
            "key {k} created while Kafka was down: {n} distinct events"
        );
    }
    let probes = avb_core::monitoring::probe_all(&app.ctx).await;
    let probe = probes.iter().find(|p| p.service == "Kafka").unwrap();
    assert_eq!(probe.status, avb_domain::ProbeStatus::Up, "{probe:?}");
}

/// Two publishers at once (as when leadership moves between replicas while one still
/// publishes) share the outbox on PostgreSQL: each event reaches Kafka once.
#[allow(clippy::await_holding_lock)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn competing_publishers_never_publish_an_event_twice() {
    let Some(broker) = brokers() else {
        eprintln!("TEST_KAFKA_BROKERS is not set: Kafka is not exercised in this run");
        return;
    };
    let _broker = BROKER.lock().unwrap_or_else(|e| e.into_inner());
    let topic = format!("avb.events.test-{}", uuid::Uuid::now_v7().simple());
    let (b, t) = (broker.clone(), topic.clone());
    let app = spawn_app_with(Db::Postgres, move |c| {
        c.kafka.brokers = vec![b];
        c.kafka.topic = t;
        // The platform's own publisher stays out of the way: the test runs two.
        c.kafka.publish_every_ms = 3_600_000;
        c.kafka.batch = 50;
    })
    .await;
    let (tenant, _) = app.tenant_with_owner("Competing").await;
    let tx = app.ctx.store.tenant_tx(tenant, true).await.unwrap();
    for i in 0..400 {
        events::record(&tx, "load.test", json!({"n": i}))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    let drain = || async {
        for _ in 0..200 {
            if events::lag(&app.ctx).await.unwrap().waiting == 0 {
                return;
            }
            events::publish_due(&app.ctx).await.unwrap();
        }
    };
    tokio::join!(drain(), drain(), drain());
    outbox_empty(&app, Duration::from_secs(20)).await;
    let records: Vec<_> = read_all(&broker, &topic)
        .await
        .into_iter()
        .filter(|r| r.3["type"] == "load.test")
        .collect();
    let ids: BTreeSet<&str> = records
        .iter()
        .map(|r| r.3["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 400, "every event published");
    assert_eq!(records.len(), 400, "and none twice");
}
