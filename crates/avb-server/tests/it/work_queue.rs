//! The Redis work queue (real Redis): a session's transcription runs on a worker, a job a
//! crashed worker left behind is claimed by another, a job that keeps failing delivery and a
//! malformed job go to the dead-letter stream. Each test uses its own key namespace.
#![allow(clippy::unwrap_used)]

use avb_core::config::{Config, QueueBackend, QueueConfig};
use avb_gateway::work::{GROUP, Job, JobOutcome, QueueKeys, RedisQueue, WorkQueue};
use avb_testkit::ws::{open_session, pcm_b64, send, until};
use avb_testkit::{Db, redis_url, spawn_app_with};
use avb_worker::queue::{Worker, WorkerEngines};
use redis::AsyncCommands;
use serde_json::json;
use std::time::Duration;
use tokio::sync::watch;

/// An `/audio/transcriptions` stand-in that names the language it was asked for.
async fn stt_double() -> String {
    async fn transcribe(body: axum::body::Bytes) -> axum::Json<serde_json::Value> {
        let form = String::from_utf8_lossy(&body);
        let language = if form.contains("name=\"language\"\r\n\r\nfr") {
            "fr"
        } else {
            "none"
        };
        axum::Json(json!({"text": format!("transcribed by the worker ({language})")}))
    }
    let router =
        axum::Router::new().route("/v1/audio/transcriptions", axum::routing::post(transcribe));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

fn namespace() -> String {
    format!("avb:test:{}", uuid::Uuid::now_v7().simple())
}

fn queue_config(namespace: &str, claim_idle_ms: u64, max_deliveries: u32) -> QueueConfig {
    QueueConfig {
        backend: QueueBackend::Redis,
        namespace: namespace.to_string(),
        claim_idle_ms,
        max_deliveries,
        job_timeout_secs: 20,
    }
}

/// A worker whose engines transcribe with `stt_url`, running until the returned sender fires.
fn start_worker(stt_url: Option<String>, queue: QueueConfig, name: &str) -> watch::Sender<bool> {
    let mut config = Config::default();
    config.engines.stt_url = stt_url;
    let client = redis::Client::open(redis_url()).unwrap();
    let worker = Worker::new(
        client,
        WorkerEngines::from_config(&config.engines),
        name,
        queue,
    );
    let (stop, rx) = watch::channel(false);
    tokio::spawn(worker.run(rx));
    stop
}

async fn redis() -> redis::aio::MultiplexedConnection {
    redis::Client::open(redis_url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

fn transcribe_job() -> Job {
    Job::Transcribe {
        tenant_id: None,
        wav: avb_voice::audio::wav(&[0i16; 2400], 24_000),
        language: None,
        prompt: None,
        model: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sessions_transcription_runs_on_a_worker() {
    let ns = namespace();
    let stt = stt_double().await;
    // The gateway itself has no STT engine: only the worker does.
    let queue = queue_config(&ns, 30_000, 3);
    let app_queue = queue.clone();
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.redis.url = Some(avb_core::Secret::new(redis_url()));
        c.queue = app_queue;
    })
    .await;
    let stop = start_worker(Some(stt), queue, "worker-a");
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"transcription": {"model": "tiny.en", "language": "fr"}, "turn_detection": null}}}}))
    .await;
    until(&mut ws, "session.updated").await;
    send(
        &mut ws,
        json!({"type": "input_audio_buffer.append", "audio": pcm_b64(&[0i16; 4800])}),
    )
    .await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let events = until(
        &mut ws,
        "conversation.item.input_audio_transcription.completed",
    )
    .await;
    assert_eq!(
        events.last().unwrap()["transcript"],
        "transcribed by the worker (fr)"
    );
    let _ = stop.send(true);

    // Every job was acknowledged: nothing pending in the group.
    let mut conn = redis().await;
    let pending: redis::streams::StreamPendingReply = conn
        .xpending(QueueKeys::new(&ns).jobs, GROUP)
        .await
        .unwrap();
    assert_eq!(pending.count(), 0);

    // The job named the session's tenant.
    let jobs: redis::streams::StreamRangeReply =
        conn.xrange_all(QueueKeys::new(&ns).jobs).await.unwrap();
    let header: serde_json::Value = serde_json::from_slice(
        &redis::from_redis_value_ref::<Vec<u8>>(&jobs.ids[0].map["job"]).unwrap(),
    )
    .unwrap();
    assert!(header["tenant_id"].is_string(), "{header}");
}

/// Reads one job as `consumer` and never acknowledges it, as a worker that crashed would.
async fn take_and_crash(keys: &QueueKeys, consumer: &str) {
    let mut conn = redis().await;
    let _: redis::RedisResult<()> = conn.xgroup_create_mkstream(&keys.jobs, GROUP, "0").await;
    for _ in 0..100 {
        let opts = redis::streams::StreamReadOptions::default()
            .group(GROUP, consumer)
            .count(1);
        let got: redis::streams::StreamReadReply = conn
            .xread_options(&[&keys.jobs], &[">"], &opts)
            .await
            .unwrap();
        if !got.keys.is_empty() && !got.keys[0].ids.is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no job to take");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_left_by_a_crashed_worker_is_claimed_and_finished() {
    let ns = namespace();
    let keys = QueueKeys::new(&ns);
    let stt = stt_double().await;
    let producer = RedisQueue::new(redis::Client::open(redis_url()).unwrap(), keys.clone());
    let job = tokio::spawn(async move {
        producer
            .run(transcribe_job(), Duration::from_secs(20))
            .await
    });
    take_and_crash(&keys, "crashed-worker").await;
    let stop = start_worker(Some(stt), queue_config(&ns, 200, 3), "rescuer");
    let outcome = job.await.unwrap().unwrap();
    assert_eq!(
        outcome,
        JobOutcome::Transcript {
            text: "transcribed by the worker (none)".into()
        }
    );
    let _ = stop.send(true);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_that_keep_failing_delivery_are_dead_lettered() {
    let ns = namespace();
    let keys = QueueKeys::new(&ns);
    let producer = RedisQueue::new(redis::Client::open(redis_url()).unwrap(), keys.clone());
    let job = tokio::spawn(async move {
        producer
            .run(transcribe_job(), Duration::from_secs(20))
            .await
    });
    take_and_crash(&keys, "crashed-worker").await;
    // One delivery allowed: the claim would be the second, so the job is dead-lettered.
    let stop = start_worker(
        Some(stt_double().await),
        queue_config(&ns, 200, 1),
        "rescuer",
    );
    match job.await.unwrap().unwrap() {
        JobOutcome::Failed { stage, message, .. } => {
            assert_eq!(stage, "queue");
            assert!(message.contains("dead-lettered"), "{message}");
        }
        other => panic!("expected a failure, got {other:?}"),
    }
    let mut conn = redis().await;
    let dead: redis::streams::StreamRangeReply = conn.xrange_all(&keys.dead).await.unwrap();
    assert_eq!(dead.ids.len(), 1);
    assert!(dead.ids[0].map.contains_key("original_id"));
    assert!(
        dead.ids[0].map.contains_key("audio"),
        "the job is kept whole"
    );

    // A malformed entry is dead-lettered too, not retried forever.
    let _: String = conn
        .xadd(&keys.jobs, "*", &[("job", "{not json")])
        .await
        .unwrap();
    for _ in 0..100 {
        let dead: redis::streams::StreamRangeReply = conn.xrange_all(&keys.dead).await.unwrap();
        if dead.ids.len() == 2 {
            let _ = stop.send(true);
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the malformed job was not dead-lettered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_worker_the_session_gets_a_timeout_error_not_a_hang() {
    let ns = namespace();
    let producer = RedisQueue::new(
        redis::Client::open(redis_url()).unwrap(),
        QueueKeys::new(&ns),
    );
    let err = producer
        .run(transcribe_job(), Duration::from_millis(300))
        .await
        .unwrap_err();
    assert!(
        matches!(err, avb_voice::EngineError::Timeout("stt")),
        "{err:?}"
    );
}
