//! The engine work queue's wire format on Redis, shared by the producer (the gateway submits a
//! job and waits for its result) and the consumer (`avb-worker`), so neither links the other.
//!
//! A job is an entry of the stream [`QueueKeys::jobs`] with three fields: `job` (a JSON header
//! naming the kind, the tenant and the options), `audio` (raw bytes) and `reply` (the list the
//! result is pushed to). Workers read it in the consumer group [`GROUP`]; a result is a
//! [`JobOutcome`] in JSON on the reply list.

pub use crate::redis_keys::QueueKeys;
use avb_domain::TenantId;
use redis::streams::StreamId;
use serde::{Deserialize, Serialize};

/// The consumer group of workers.
pub const GROUP: &str = "avb-workers";
/// Jobs kept in the stream (approximate trim).
pub const MAX_STREAM_LEN: usize = 100_000;
/// Seconds a job's result waits to be picked up.
pub const REPLY_TTL_SECS: i64 = 120;

/// A unit of engine work.
#[derive(Debug, Clone, PartialEq)]
pub enum Job {
    /// Transcribe a WAV file.
    Transcribe {
        /// The tenant whose session asked (`None` for work outside any tenant).
        tenant_id: Option<TenantId>,
        /// Mono 16-bit PCM WAV.
        wav: Vec<u8>,
        /// Language hint.
        language: Option<String>,
        /// Prompt (earlier text) for the engine.
        prompt: Option<String>,
        /// Model.
        model: Option<String>,
    },
}

impl Job {
    /// The tenant the job is done for.
    pub fn tenant_id(&self) -> Option<TenantId> {
        match self {
            Job::Transcribe { tenant_id, .. } => *tenant_id,
        }
    }
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

/// The `job` field of a stream entry.
#[derive(Serialize, Deserialize)]
struct JobHeader {
    kind: String,
    /// Absent in jobs written before tenants were carried.
    #[serde(default)]
    tenant_id: Option<TenantId>,
    language: Option<String>,
    prompt: Option<String>,
    model: Option<String>,
}

/// The `job` header and `audio` fields of `job`'s stream entry.
pub fn encode(job: &Job) -> (String, &[u8]) {
    match job {
        Job::Transcribe {
            tenant_id,
            wav,
            language,
            prompt,
            model,
        } => {
            let header = JobHeader {
                kind: "transcribe".into(),
                tenant_id: *tenant_id,
                language: language.clone(),
                prompt: prompt.clone(),
                model: model.clone(),
            };
            (
                serde_json::to_string(&header).unwrap_or_default(),
                wav.as_slice(),
            )
        }
    }
}

/// The job of a stream entry and the list its result goes to; an error says why the entry is
/// malformed (it is then dead-lettered).
pub fn decode(entry: &StreamId, keys: &QueueKeys) -> Result<(Job, String), String> {
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
                tenant_id: header.tenant_id,
                wav: field("audio")?,
                language: header.language,
                prompt: header.prompt,
                model: header.model,
            },
            reply,
        )),
        other => Err(format!("unknown job kind {other}")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_job_round_trips_with_its_tenant() {
        let keys = QueueKeys::new("avb:work");
        let tenant = TenantId(uuid::Uuid::now_v7());
        let job = Job::Transcribe {
            tenant_id: Some(tenant),
            wav: vec![1, 2, 3],
            language: Some("fr".into()),
            prompt: None,
            model: Some("tiny".into()),
        };
        let (header, audio) = encode(&job);
        assert!(header.contains(&tenant.to_string()), "{header}");
        let mut entry = StreamId::default();
        entry
            .map
            .insert("job".into(), redis::Value::BulkString(header.into_bytes()));
        entry
            .map
            .insert("audio".into(), redis::Value::BulkString(audio.to_vec()));
        entry.map.insert(
            "reply".into(),
            redis::Value::BulkString(keys.reply("1").into_bytes()),
        );
        let (back, reply) = decode(&entry, &keys).unwrap();
        assert_eq!(back, job);
        assert_eq!(reply, "avb:work:reply:1");
    }
}
