//! Platform events (T4.4): each is written to the outbox in the transaction of the change it
//! reports ([`record`]), then published to Kafka ([`publish_due`], when `[kafka] brokers` is
//! set) in id order: keyed by tenant id (Kafka's default partitioner, so consumers of any client
//! agree), `tenant_id` in the payload and in a header, at least once; the event id (also a
//! header) is what consumers deduplicate by. A broker that is down never blocks a request: the
//! outbox grows, the monitoring page shows it, and the next scan catches up.

use crate::config::KafkaConfig;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use avb_storage::TenantTx;
use avb_storage::repos::events as repo;
use chrono::{DateTime, Utc};
use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// How long published events stay in the outbox.
const KEEP_PUBLISHED: chrono::Duration = chrono::Duration::hours(1);
/// Without Kafka, the outbox keeps a day of events.
const KEEP_UNPUBLISHED_WITHOUT_KAFKA: chrono::Duration = chrono::Duration::hours(24);

/// Writes an event of the transaction's tenant to the outbox; it exists exactly when the
/// change commits. Returns the event id.
pub async fn record(tx: &TenantTx, event_type: &str, data: Value) -> CoreResult<Uuid> {
    let id = Uuid::now_v7();
    let now = Utc::now();
    let tenant = tx.tenant_id();
    let payload = json!({
        "id": id,
        "type": event_type,
        "tenant_id": tenant,
        "created_at": now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "data": data,
    });
    repo::insert(tx, id, event_type, &payload.to_string(), now).await?;
    Ok(id)
}

/// Kafka's default partitioner's hash (`Utils.murmur2`), so a tenant's events land where any
/// Kafka client keying by the same id would put them.
pub fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    let mut h: u32 = 0x9747_b28c ^ data.len() as u32;
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> 24;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if rest.len() >= 3 {
        h ^= u32::from(rest[2]) << 16;
    }
    if rest.len() >= 2 {
        h ^= u32::from(rest[1]) << 8;
    }
    if !rest.is_empty() {
        h ^= u32::from(rest[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

/// The partition of `key` among `partitions` (Kafka's `toPositive(murmur2(key)) % n`).
pub fn partition_of(key: &[u8], partitions: usize) -> usize {
    (murmur2(key) & 0x7fff_ffff) as usize % partitions.max(1)
}

/// The producer: connects on first use and again after a failure.
pub struct Publisher {
    cfg: KafkaConfig,
    conn: tokio::sync::Mutex<Option<Connected>>,
    /// When published rows were last pruned (at most once a minute, not every scan).
    pruned: std::sync::Mutex<Option<std::time::Instant>>,
}

struct Connected {
    client: Client,
    partitions: Vec<Arc<PartitionClient>>,
}

impl Publisher {
    /// A publisher for `cfg` (`None` when it names no brokers).
    pub fn new(cfg: &KafkaConfig) -> Option<Arc<Self>> {
        (!cfg.brokers.is_empty()).then(|| {
            Arc::new(Self {
                cfg: cfg.clone(),
                conn: tokio::sync::Mutex::new(None),
                pruned: std::sync::Mutex::new(None),
            })
        })
    }

    /// Whether pruning is due (once a minute); marks it done.
    fn prune_now(&self) -> bool {
        let Ok(mut last) = self.pruned.lock() else {
            return false;
        };
        let due = last.is_none_or(|t| t.elapsed() >= Duration::from_secs(60));
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    fn timeout(&self) -> Duration {
        Duration::from_millis(self.cfg.timeout_ms)
    }

    /// Within the configured timeout, or the error says what timed out.
    async fn timed<T, E: std::fmt::Display>(
        &self,
        what: &str,
        f: impl std::future::Future<Output = Result<T, E>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(self.timeout(), f).await {
            Ok(r) => r.map_err(|e| format!("{what}: {e}")),
            Err(_) => Err(format!(
                "{what}: no answer within {} ms",
                self.cfg.timeout_ms
            )),
        }
    }

    async fn connect(&self) -> Result<Connected, String> {
        let backoff = rskafka::BackoffConfig {
            deadline: Some(self.timeout()),
            ..Default::default()
        };
        let client = self
            .timed(
                "connecting to Kafka",
                ClientBuilder::new(self.cfg.brokers.clone())
                    .client_id("avb")
                    .backoff_config(backoff)
                    .build(),
            )
            .await?;
        let topic = &self.cfg.topic;
        let mut topics = self.timed("listing topics", client.list_topics()).await?;
        if !topics.iter().any(|t| &t.name == topic) {
            let controller = client
                .controller_client()
                .map_err(|e| format!("the Kafka controller: {e}"))?;
            let created = self
                .timed(
                    "creating the topic",
                    controller.create_topic(
                        topic.clone(),
                        self.cfg.partitions,
                        1,
                        self.cfg.timeout_ms as i32,
                    ),
                )
                .await;
            if let Err(e) = created
                && !e.contains("TopicAlreadyExists")
            {
                return Err(e);
            }
            tracing::info!(
                topic,
                partitions = self.cfg.partitions,
                "created the Kafka topic for platform events"
            );
            topics = self.timed("listing topics", client.list_topics()).await?;
        }
        let count = topics
            .iter()
            .find(|t| &t.name == topic)
            .map_or(self.cfg.partitions as usize, |t| t.partitions.len());
        let mut partitions = Vec::with_capacity(count);
        for p in 0..count as i32 {
            let pc = self
                .timed(
                    "opening a partition",
                    client.partition_client(topic.clone(), p, UnknownTopicHandling::Retry),
                )
                .await?;
            partitions.push(Arc::new(pc));
        }
        Ok(Connected { client, partitions })
    }

    /// A metadata round trip (connecting first when needed).
    pub async fn probe(&self) -> Result<Duration, String> {
        let started = std::time::Instant::now();
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            *conn = Some(self.connect().await?);
            return Ok(started.elapsed());
        }
        let listed = match conn.as_ref() {
            Some(c) => self.timed("listing topics", c.client.list_topics()).await,
            None => Err("not connected".into()),
        };
        match listed {
            Ok(_) => Ok(started.elapsed()),
            Err(e) => {
                *conn = None;
                Err(e)
            }
        }
    }

    /// Publishes `events` (oldest first); returns the ids Kafka acknowledged. On a failure the
    /// connection is dropped (the next call reconnects) and the error is returned with the ids
    /// acknowledged before it.
    async fn publish(&self, events: &[repo::OutboxEvent]) -> (Vec<Uuid>, Option<String>) {
        let mut conn = self.conn.lock().await;
        if conn.is_none() {
            match self.connect().await {
                Ok(c) => *conn = Some(c),
                Err(e) => return (Vec::new(), Some(e)),
            }
        }
        let Some(c) = conn.as_ref() else {
            return (Vec::new(), Some("not connected".into()));
        };
        // One batch per partition, in id order within it; the partitions in parallel.
        let mut batches: BTreeMap<usize, Vec<&repo::OutboxEvent>> = BTreeMap::new();
        for e in events {
            let key = e.tenant_id.to_string();
            batches
                .entry(partition_of(key.as_bytes(), c.partitions.len()))
                .or_default()
                .push(e);
        }
        let sends = batches.into_iter().map(|(p, batch)| {
            let client = c.partitions[p].clone();
            let records: Vec<Record> = batch.iter().map(|e| to_record(e)).collect();
            let ids: Vec<Uuid> = batch.iter().map(|e| e.id).collect();
            async move {
                let r = self
                    .timed(
                        "producing",
                        client.produce(records, Compression::NoCompression),
                    )
                    .await;
                (ids, r)
            }
        });
        let mut done = Vec::new();
        let mut error = None;
        for (ids, r) in futures::future::join_all(sends).await {
            match r {
                Ok(_) => done.extend(ids),
                Err(e) => error = Some(e),
            }
        }
        if error.is_some() {
            *conn = None;
        }
        (done, error)
    }
}

fn to_record(e: &repo::OutboxEvent) -> Record {
    let tenant = e.tenant_id.to_string();
    Record {
        key: Some(tenant.clone().into_bytes()),
        value: Some(e.payload.clone().into_bytes()),
        headers: BTreeMap::from([
            ("tenant_id".to_string(), tenant.into_bytes()),
            ("event_id".to_string(), e.id.to_string().into_bytes()),
            ("event_type".to_string(), e.event_type.clone().into_bytes()),
        ]),
        timestamp: e.created_at,
    }
}

/// One outbox scan: publishes up to `[kafka] batch` waiting events and marks those Kafka
/// acknowledged; prunes old rows. Without Kafka it only prunes. Returns how many were published.
pub async fn publish_due(ctx: &AppContext) -> CoreResult<usize> {
    let now = Utc::now();
    let Some(publisher) = ctx.kafka.as_ref() else {
        let tx = ctx.store.platform_tx(true).await?;
        repo::prune(
            &tx,
            now - KEEP_PUBLISHED,
            Some(now - KEEP_UNPUBLISHED_WITHOUT_KAFKA),
        )
        .await?;
        tx.commit().await?;
        return Ok(0);
    };
    let tx = ctx.store.platform_tx(false).await?;
    let due = repo::due(&tx, ctx.config.kafka.batch).await?;
    tx.commit().await?;
    let prune = publisher.prune_now();
    if due.is_empty() && !prune {
        // The common scan: nothing waits, nothing to write.
        return Ok(0);
    }
    // On PostgreSQL (where replicas share the outbox) the rows are claimed in the transaction
    // that marks them, so a replica that also believes it leads cannot publish them twice.
    // SQLite keeps its single writer lock only for the marking.
    let postgres = ctx.store.backend() == avb_storage::Backend::Postgres;
    let claimed = if postgres {
        Some(ctx.store.platform_tx(true).await?)
    } else {
        None
    };
    let due = match &claimed {
        Some(tx) => repo::claim_due(tx, ctx.config.kafka.batch).await?,
        None => due,
    };
    let (published, error) = if due.is_empty() {
        (Vec::new(), None)
    } else {
        publisher.publish(&due).await
    };
    let tx = match claimed {
        Some(tx) => tx,
        None => ctx.store.platform_tx(true).await?,
    };
    repo::mark_published(&tx, &published, Utc::now()).await?;
    if prune {
        repo::prune(&tx, now - KEEP_PUBLISHED, None).await?;
    }
    tx.commit().await?;
    match error {
        Some(e) => Err(CoreError::EngineFailed(format!(
            "Kafka: {e} ({} of {} events published)",
            published.len(),
            due.len()
        ))),
        None => Ok(published.len()),
    }
}

/// The outbox's backlog: events waiting and the age of the oldest.
#[derive(Debug, Clone, Default)]
pub struct OutboxLag {
    pub waiting: u64,
    pub oldest: Option<DateTime<Utc>>,
}

/// The outbox's backlog now.
pub async fn lag(ctx: &AppContext) -> CoreResult<OutboxLag> {
    let tx = ctx.store.platform_tx(false).await?;
    let (waiting, oldest) = repo::lag(&tx).await?;
    tx.commit().await?;
    Ok(OutboxLag { waiting, oldest })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas() {
        // Kafka's UtilsTest.testMurmur2 vectors (Java ints as u32).
        let cases: [(&[u8], i32); 3] = [
            (b"21", -973932308),
            (b"foobar", -790332482),
            (b"a-little-bit-long-string", -985981536),
        ];
        for (data, want) in cases {
            assert_eq!(
                murmur2(data),
                want as u32,
                "{}",
                String::from_utf8_lossy(data)
            );
        }
        assert!(partition_of(b"tenant", 3) < 3);
    }
}
