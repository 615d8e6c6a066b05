//! The engine work-queue consumer (T3.4): reads speech-to-text jobs from the Redis stream
//! `<namespace>:jobs` in the consumer group `avb-workers`, runs them on this process's engine
//! and pushes each outcome to the job's reply list. Jobs another worker left unfinished for
//! `queue.claim_idle_ms` are claimed; after `queue.max_deliveries` deliveries (or when
//! malformed) a job goes to the dead-letter stream `<namespace>:dead`. The wire format is
//! `avb_core::work_queue`, which the gateway's producer shares.

use avb_core::config::{EnginesConfig, QueueConfig};
use avb_core::work_queue::{self, GROUP, Job, JobOutcome, QueueKeys, REPLY_TTL_SECS};
use avb_voice::resilience::resilient_stt;
use avb_voice::{EngineError, OpenAiTranscriber, SpeechToText, TranscribeOptions};
use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The engines a worker runs jobs on.
#[derive(Clone, Default)]
pub struct WorkerEngines {
    /// Speech to text, if configured.
    pub stt: Option<Arc<dyn SpeechToText>>,
}

impl WorkerEngines {
    /// Builds the engines from `[engines]` (with retries and a circuit breaker, as the gateway's).
    pub fn from_config(cfg: &EnginesConfig) -> Self {
        let stt = cfg.stt_url.as_deref().and_then(|url| {
            let key = cfg.stt_api_key.as_ref().map(|k| k.expose().to_string());
            let timeout = Duration::from_secs(cfg.stt_timeout_secs);
            match OpenAiTranscriber::new(url, key, &cfg.stt_model, timeout) {
                Ok(s) => Some(resilient_stt(Arc::new(s))),
                Err(e) => {
                    tracing::error!(error = %e, "STT engine could not be set up");
                    None
                }
            }
        });
        Self { stt }
    }
}

/// Runs a job on `engines`.
pub async fn execute(job: Job, engines: &WorkerEngines) -> JobOutcome {
    match job {
        Job::Transcribe {
            wav,
            language,
            prompt,
            model,
            ..
        } => match &engines.stt {
            Some(stt) => {
                let opts = TranscribeOptions {
                    language,
                    prompt,
                    model,
                };
                match stt.transcribe(wav, opts).await {
                    Ok(t) => JobOutcome::Transcript { text: t.text },
                    Err(e) => JobOutcome::Failed {
                        stage: "stt".into(),
                        message: e.detail(),
                        rejected: matches!(e, EngineError::Rejected { .. }),
                    },
                }
            }
            None => JobOutcome::Failed {
                stage: "stt".into(),
                message: "no speech-to-text engine is configured on the worker".into(),
                rejected: false,
            },
        },
    }
}

/// This process's name in the consumer group: host and process id.
pub fn consumer_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
    format!("{host}-{}", std::process::id())
}

/// A worker: consumes jobs from the stream as `consumer` until `stop` turns true.
pub struct Worker {
    client: redis::Client,
    engines: WorkerEngines,
    consumer: String,
    config: QueueConfig,
    keys: QueueKeys,
}

impl Worker {
    /// A worker named `consumer` running jobs on `engines`.
    pub fn new(
        client: redis::Client,
        engines: WorkerEngines,
        consumer: &str,
        config: QueueConfig,
    ) -> Self {
        Self {
            client,
            engines,
            consumer: consumer.to_string(),
            keys: QueueKeys::new(&config.namespace),
            config,
        }
    }

    /// Consumes until `stop` (finishing the jobs in hand; reads block at most a second); a
    /// Redis outage is logged and retried every second.
    pub async fn run(self, stop: watch::Receiver<bool>) {
        tracing::info!(consumer = %self.consumer, stream = %self.keys.jobs, "worker consuming");
        while !*stop.borrow() {
            let round = async {
                let mut conn = self.client.get_multiplexed_async_connection().await?;
                // Reads block for up to a second; the client's default allows 500 ms.
                conn.set_response_timeout(Duration::from_secs(10));
                self.ensure_group(&mut conn).await?;
                while !*stop.borrow() {
                    self.claim_stale(&mut conn).await?;
                    self.read_new(&mut conn).await?;
                }
                Ok::<(), redis::RedisError>(())
            };
            if let Err(e) = round.await {
                tracing::warn!(error = %e, "worker lost Redis; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        tracing::info!(consumer = %self.consumer, "worker stopped");
    }

    async fn ensure_group(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        let res: redis::RedisResult<String> = conn
            .xgroup_create_mkstream(&self.keys.jobs, GROUP, "0")
            .await;
        match res {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Takes over jobs other workers left unfinished for `claim_idle_ms`; those delivered
    /// `max_deliveries` times go to the dead-letter stream instead.
    async fn claim_stale(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        let claimed: StreamAutoClaimReply = conn
            .xautoclaim_options(
                &self.keys.jobs,
                GROUP,
                &self.consumer,
                self.config.claim_idle_ms,
                "0-0",
                StreamAutoClaimOptions::default().count(16),
            )
            .await?;
        for entry in claimed.claimed {
            let pending: StreamPendingCountReply = conn
                .xpending_consumer_count(
                    &self.keys.jobs,
                    GROUP,
                    &entry.id,
                    &entry.id,
                    1,
                    &self.consumer,
                )
                .await?;
            let deliveries = pending.ids.first().map_or(1, |p| p.times_delivered);
            if deliveries > self.config.max_deliveries as usize {
                self.dead_letter(conn, &entry, deliveries).await?;
            } else {
                self.process(conn, entry).await?;
            }
        }
        Ok(())
    }

    async fn read_new(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
    ) -> redis::RedisResult<()> {
        let opts = StreamReadOptions::default()
            .group(GROUP, &self.consumer)
            .count(4)
            .block(1000);
        let reply: StreamReadReply = conn
            .xread_options(&[&self.keys.jobs], &[">"], &opts)
            .await?;
        let entries: Vec<StreamId> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
        // A batch runs concurrently; each job is acknowledged when its result is stored.
        let results = futures::future::join_all(entries.into_iter().map(|entry| {
            let mut conn = conn.clone();
            async move { self.process(&mut conn, entry).await }
        }))
        .await;
        results.into_iter().collect()
    }

    async fn process(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        entry: StreamId,
    ) -> redis::RedisResult<()> {
        match work_queue::decode(&entry, &self.keys) {
            Ok((job, reply)) => {
                let tenant = job.tenant_id();
                tracing::debug!(id = %entry.id, tenant = ?tenant, "job taken");
                let outcome = execute(job, &self.engines).await;
                let body = serde_json::to_string(&outcome).unwrap_or_default();
                let _: () = redis::pipe()
                    .atomic()
                    .rpush(&reply, body)
                    .ignore()
                    .expire(&reply, REPLY_TTL_SECS)
                    .ignore()
                    .xack(&self.keys.jobs, GROUP, &[&entry.id])
                    .ignore()
                    .query_async(conn)
                    .await?;
            }
            Err(reason) => {
                tracing::warn!(id = %entry.id, %reason, "malformed job; dead-lettered");
                self.dead_letter(conn, &entry, 1).await?;
            }
        }
        Ok(())
    }

    async fn dead_letter(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        entry: &StreamId,
        deliveries: usize,
    ) -> redis::RedisResult<()> {
        let reply = entry
            .map
            .get("reply")
            .and_then(|v| redis::from_redis_value_ref::<String>(v).ok())
            .filter(|r| r.starts_with(&self.keys.reply_prefix));
        let mut fields: Vec<(String, Vec<u8>)> = entry
            .map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), redis::from_redis_value_ref::<Vec<u8>>(v).ok()?)))
            .collect();
        fields.push(("original_id".into(), entry.id.clone().into_bytes()));
        fields.push(("deliveries".into(), deliveries.to_string().into_bytes()));
        let mut pipe = redis::pipe();
        pipe.atomic()
            .xadd(&self.keys.dead, "*", &fields)
            .ignore()
            .xack(&self.keys.jobs, GROUP, &[&entry.id])
            .ignore();
        if let Some(reply) = reply {
            let outcome = JobOutcome::Failed {
                stage: "queue".into(),
                message: format!("job failed {deliveries} deliveries and was dead-lettered"),
                rejected: false,
            };
            pipe.rpush(&reply, serde_json::to_string(&outcome).unwrap_or_default())
                .ignore()
                .expire(&reply, REPLY_TTL_SECS)
                .ignore();
        }
        let _: () = pipe.query_async(conn).await?;
        tracing::warn!(id = %entry.id, deliveries, stream = %self.keys.dead, "job dead-lettered");
        Ok(())
    }
}
