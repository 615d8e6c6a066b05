//! Engine work through a queue (T3.4). Sessions hand speech-to-text jobs to a [`WorkQueue`]:
//! in process by default, or through the Redis stream `<namespace>:jobs` to worker processes
//! (`avb serve --role worker`) in a consumer group, with pending-entry claims after a worker
//! dies and a dead-letter stream `<namespace>:dead` after repeated failed deliveries. Results
//! come back on a per-job Redis list `<namespace>:reply:<id>` the session waits on.
//!
//! LLM and TTS stream token by token and chunk by chunk, so they stay direct calls: a queue hop
//! per token would cost the latency the pipeline is built to save.

use crate::engines::Engines;
use avb_core::config::QueueConfig;
use avb_voice::stt::Transcript;
use avb_voice::{EngineError, SpeechToText, TranscribeOptions};
use redis::AsyncCommands;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The Redis keys of one queue namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueKeys {
    /// The stream of pending jobs.
    pub jobs: String,
    /// Jobs that failed `max_deliveries` times, or could not be read.
    pub dead: String,
    /// Prefix of the per-job result lists.
    pub reply_prefix: String,
}

impl QueueKeys {
    /// Keys under `namespace` (e.g. `avb:work`).
    pub fn new(namespace: &str) -> Self {
        Self {
            jobs: format!("{namespace}:jobs"),
            dead: format!("{namespace}:dead"),
            reply_prefix: format!("{namespace}:reply:"),
        }
    }
}

/// The consumer group of workers.
pub const GROUP: &str = "avb-workers";
/// Jobs kept in the stream (approximate trim).
const MAX_STREAM_LEN: usize = 100_000;
/// Seconds a job's result waits to be picked up.
const REPLY_TTL_SECS: i64 = 120;

/// A unit of engine work.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// Transcribe a WAV file.
    Transcribe {
        /// Mono 16-bit PCM WAV.
        wav: Vec<u8>,
        /// Language, prompt and model.
        opts: TranscribeOptions,
    },
}

/// What a job produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum JobOutcome {
    /// A transcript.
    Transcript { text: String },
    /// The engine failed; `rejected` when it refused the input (not worth retrying).
    Failed {
        stage: String,
        message: String,
        rejected: bool,
    },
}

impl JobOutcome {
    fn from_result(r: Result<Transcript, EngineError>) -> Self {
        match r {
            Ok(t) => JobOutcome::Transcript { text: t.text },
            Err(e) => JobOutcome::Failed {
                stage: "stt".into(),
                message: e.to_string(),
                rejected: matches!(e, EngineError::Rejected { .. }),
            },
        }
    }

    fn into_transcript(self) -> Result<Transcript, EngineError> {
        match self {
            JobOutcome::Transcript { text } => Ok(Transcript { text }),
            JobOutcome::Failed { message, .. } => Err(EngineError::Failed {
                stage: "stt",
                message,
            }),
        }
    }
}

/// Runs engine jobs somewhere and returns their outcome.
#[async_trait::async_trait]
pub trait WorkQueue: Send + Sync {
    /// Runs `job`, waiting at most `deadline` for its outcome.
    async fn run(&self, job: Job, deadline: Duration) -> Result<JobOutcome, EngineError>;
}

/// Runs a job on `engines` (what an in-process queue and a worker both do).
pub async fn execute(job: Job, engines: &Engines) -> JobOutcome {
    match job {
        Job::Transcribe { wav, opts } => match &engines.stt {
            Some(stt) => JobOutcome::from_result(stt.transcribe(wav, opts).await),
            None => JobOutcome::Failed {
                stage: "stt".into(),
                message: "no speech-to-text engine is configured on the worker".into(),
                rejected: false,
            },
        },
    }
}

/// The default queue: jobs run right here.
pub struct InProcessQueue {
    engines: Engines,
}

impl InProcessQueue {
    /// A queue that runs jobs on `engines`.
    pub fn new(engines: Engines) -> Self {
        Self { engines }
    }
}

#[async_trait::async_trait]
impl WorkQueue for InProcessQueue {
    async fn run(&self, job: Job, _deadline: Duration) -> Result<JobOutcome, EngineError> {
        // The engine adapters carry their own deadlines.
        Ok(execute(job, &self.engines).await)
    }
}

/// Jobs through the Redis stream; results on `<namespace>:reply:<job id>`.
pub struct RedisQueue {
    client: redis::Client,
    keys: QueueKeys,
}

impl RedisQueue {
    /// A producer on `client` for the queue `keys`.
    pub fn new(client: redis::Client, keys: QueueKeys) -> Self {
        Self { client, keys }
    }
}

/// Fields of a stream entry: `job` (JSON without the audio), `audio` (raw bytes), `reply`.
#[derive(Serialize, Deserialize)]
struct JobHeader {
    kind: String,
    language: Option<String>,
    prompt: Option<String>,
    model: Option<String>,
}

fn encode(job: &Job) -> (String, &[u8]) {
    match job {
        Job::Transcribe { wav, opts } => {
            let header = JobHeader {
                kind: "transcribe".into(),
                language: opts.language.clone(),
                prompt: opts.prompt.clone(),
                model: opts.model.clone(),
            };
            (
                serde_json::to_string(&header).unwrap_or_default(),
                wav.as_slice(),
            )
        }
    }
}

fn decode(entry: &StreamId, keys: &QueueKeys) -> Result<(Job, String), String> {
    let field = |name: &str| -> Result<Vec<u8>, String> {
        match entry.map.get(name) {
            Some(v) => redis::from_redis_value_ref::<Vec<u8>>(v).map_err(|e| e.to_string()),
            None => Err(format!("job entry has no {name} field")),
        }
    };
    let header: JobHeader =
        serde_json::from_slice(&field("job")?).map_err(|e| format!("job header: {e}"))?;
    let reply = String::from_utf8(field("reply")?).map_err(|e| e.to_string())?;
    if !reply.starts_with(&keys.reply_prefix) {
        return Err("job reply key is not a reply list".into());
    }
    match header.kind.as_str() {
        "transcribe" => Ok((
            Job::Transcribe {
                wav: field("audio")?,
                opts: TranscribeOptions {
                    language: header.language,
                    prompt: header.prompt,
                    model: header.model,
                },
            },
            reply,
        )),
        other => Err(format!("unknown job kind {other}")),
    }
}

fn queue_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        stage: "queue",
        message: e.to_string(),
    }
}

#[async_trait::async_trait]
impl WorkQueue for RedisQueue {
    async fn run(&self, job: Job, deadline: Duration) -> Result<JobOutcome, EngineError> {
        let reply = format!("{}{}", self.keys.reply_prefix, uuid::Uuid::now_v7());
        let (header, audio) = encode(&job);
        // A connection of its own: BLPOP blocks it.
        let mut conn = self
            .client
            .get_multiplexed_async_connection()
            .await
            .map_err(queue_error)?;
        conn.set_response_timeout(deadline + Duration::from_secs(2));
        let _: String = redis::cmd("XADD")
            .arg(&self.keys.jobs)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_STREAM_LEN)
            .arg("*")
            .arg("job")
            .arg(header)
            .arg("audio")
            .arg(audio)
            .arg("reply")
            .arg(&reply)
            .query_async(&mut conn)
            .await
            .map_err(queue_error)?;
        let got: Option<(String, String)> = conn
            .blpop(&reply, deadline.as_secs_f64())
            .await
            .map_err(queue_error)?;
        match got {
            Some((_, body)) => serde_json::from_str(&body).map_err(queue_error),
            None => Err(EngineError::Timeout("stt")),
        }
    }
}

/// Speech to text through a [`WorkQueue`].
pub struct QueuedStt {
    queue: Arc<dyn WorkQueue>,
    deadline: Duration,
}

impl QueuedStt {
    /// Transcriptions through `queue`, each waiting at most `deadline`.
    pub fn new(queue: Arc<dyn WorkQueue>, deadline: Duration) -> Self {
        Self { queue, deadline }
    }
}

#[async_trait::async_trait]
impl SpeechToText for QueuedStt {
    async fn transcribe(
        &self,
        wav: Vec<u8>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, EngineError> {
        self.queue
            .run(Job::Transcribe { wav, opts }, self.deadline)
            .await?
            .into_transcript()
    }
}

/// Sends the session's speech-to-text through the configured queue: the Redis stream when
/// `queue.backend = "redis"` (workers run the engine), otherwise an in-process queue.
pub fn route_through_queue(mut engines: Engines, ctx: &avb_core::AppContext) -> Engines {
    let deadline = Duration::from_secs(ctx.config.queue.job_timeout_secs);
    let queue: Arc<dyn WorkQueue> = match (&ctx.config.queue.backend, &ctx.redis) {
        (avb_core::config::QueueBackend::Redis, Some(client)) => Arc::new(RedisQueue::new(
            client.clone(),
            QueueKeys::new(&ctx.config.queue.namespace),
        )),
        _ if engines.stt.is_none() => return engines,
        _ => Arc::new(InProcessQueue::new(engines.clone())),
    };
    engines.stt = Some(Arc::new(QueuedStt::new(queue, deadline)));
    engines
}

/// A worker: consumes jobs from the stream as `consumer` until `stop` turns true.
pub struct Worker {
    client: redis::Client,
    engines: Engines,
    consumer: String,
    config: QueueConfig,
    keys: QueueKeys,
}

impl Worker {
    /// A worker named `consumer` running jobs on `engines`.
    pub fn new(
        client: redis::Client,
        engines: Engines,
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
        match decode(&entry, &self.keys) {
            Ok((job, reply)) => {
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
