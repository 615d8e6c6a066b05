//! Engine work through a queue (T3.4), the producer side. Sessions hand speech-to-text jobs to a
//! [`WorkQueue`]: in process by default, or through the Redis stream `<namespace>:jobs` to
//! worker processes (`avb serve --role worker`, the `avb-worker` crate) and wait for the result
//! on a per-job Redis list. The wire format and key names are `avb_core::work_queue`'s, shared
//! with the worker, so the gateway and the worker do not link each other.
//!
//! LLM and TTS stream token by token and chunk by chunk, so they stay direct calls: a queue hop
//! per token would cost the latency the pipeline is built to save.

use crate::engines::Engines;
use avb_core::work_queue::{self, MAX_STREAM_LEN};
pub use avb_core::work_queue::{GROUP, Job, JobOutcome, QueueKeys};
use avb_domain::TenantId;
use avb_voice::stt::Transcript;
use avb_voice::{EngineError, SpeechToText, TranscribeOptions};
use redis::AsyncCommands;
use std::sync::Arc;
use std::time::Duration;

/// Runs engine jobs somewhere and returns their outcome.
#[async_trait::async_trait]
pub trait WorkQueue: Send + Sync {
    /// Runs `job`, waiting at most `deadline` for its outcome.
    async fn run(&self, job: Job, deadline: Duration) -> Result<JobOutcome, EngineError>;
}

/// A speech-to-text job for `tenant`.
pub fn transcribe_job(tenant: Option<TenantId>, wav: Vec<u8>, opts: TranscribeOptions) -> Job {
    Job::Transcribe {
        tenant_id: tenant,
        wav,
        language: opts.language,
        prompt: opts.prompt,
        model: opts.model,
    }
}

fn into_transcript(outcome: JobOutcome) -> Result<Transcript, EngineError> {
    match outcome {
        JobOutcome::Transcript { text } => Ok(Transcript { text }),
        JobOutcome::Failed {
            message,
            rejected: true,
            ..
        } => Err(EngineError::Rejected {
            stage: "stt",
            message,
        }),
        JobOutcome::Failed { message, .. } => Err(EngineError::Failed {
            stage: "stt",
            message,
        }),
    }
}

/// The default queue: jobs run right here.
pub struct InProcessQueue {
    stt: Option<Arc<dyn SpeechToText>>,
}

impl InProcessQueue {
    /// A queue that runs jobs on `engines`.
    pub fn new(engines: Engines) -> Self {
        Self { stt: engines.stt }
    }
}

#[async_trait::async_trait]
impl WorkQueue for InProcessQueue {
    async fn run(&self, job: Job, _deadline: Duration) -> Result<JobOutcome, EngineError> {
        // The engine adapters carry their own deadlines.
        let Job::Transcribe {
            wav,
            language,
            prompt,
            model,
            ..
        } = job;
        let Some(stt) = &self.stt else {
            return Ok(JobOutcome::Failed {
                stage: "stt".into(),
                message: "no speech-to-text engine is configured".into(),
                rejected: false,
            });
        };
        let opts = TranscribeOptions {
            language,
            prompt,
            model,
        };
        Ok(match stt.transcribe(wav, opts).await {
            Ok(t) => JobOutcome::Transcript { text: t.text },
            Err(e) => JobOutcome::Failed {
                stage: "stt".into(),
                message: e.detail(),
                rejected: matches!(e, EngineError::Rejected { .. }),
            },
        })
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

fn queue_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        stage: "queue",
        message: e.to_string(),
    }
}

#[async_trait::async_trait]
impl WorkQueue for RedisQueue {
    async fn run(&self, job: Job, deadline: Duration) -> Result<JobOutcome, EngineError> {
        let reply = self.keys.reply(uuid::Uuid::now_v7());
        let (header, audio) = work_queue::encode(&job);
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

/// Speech to text through a [`WorkQueue`], for one tenant's sessions.
pub struct QueuedStt {
    queue: Arc<dyn WorkQueue>,
    deadline: Duration,
    tenant: Option<TenantId>,
}

impl QueuedStt {
    /// Transcriptions through `queue`, each waiting at most `deadline`.
    pub fn new(queue: Arc<dyn WorkQueue>, deadline: Duration) -> Self {
        Self {
            queue,
            deadline,
            tenant: None,
        }
    }

    /// The same queue, with jobs marked as `tenant`'s.
    pub fn for_tenant(&self, tenant: Option<TenantId>) -> Self {
        Self {
            queue: self.queue.clone(),
            deadline: self.deadline,
            tenant,
        }
    }
}

#[async_trait::async_trait]
impl SpeechToText for QueuedStt {
    async fn transcribe(
        &self,
        wav: Vec<u8>,
        opts: TranscribeOptions,
    ) -> Result<Transcript, EngineError> {
        let outcome = self
            .queue
            .run(transcribe_job(self.tenant, wav, opts), self.deadline)
            .await?;
        into_transcript(outcome)
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
    let queued = Arc::new(QueuedStt::new(queue, deadline));
    engines.stt = Some(queued.clone());
    engines.stt_queue = Some(queued);
    engines
}
