//! Realtime session records, their conversation items and turn timings.

use avb_domain::{
    ApiKeyId, ItemId, ProjectId, SessionId, SessionStatus, TenantId, TurnId, TurnStatus,
};
use avb_storage::entities::{realtime_item, realtime_session, realtime_turn};
use chrono::{DateTime, Utc};

/// A realtime session.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: SessionId,
    pub tenant_id: TenantId,
    pub project_id: Option<ProjectId>,
    pub api_key_id: Option<ApiKeyId>,
    pub realtime_id: String,
    pub status: SessionStatus,
    pub model: String,
    pub dialect: String,
    pub client_ip: String,
    pub user_agent: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    pub close_reason: String,
    pub responses: i32,
    pub replica_id: Option<String>,
    /// The persona the session started from, and its published version.
    pub persona_id: Option<uuid::Uuid>,
    pub persona_version: Option<i32>,
}

impl SessionRecord {
    /// Whether the session is still connected.
    pub fn is_active(&self) -> bool {
        self.status == SessionStatus::Active
    }
}

impl From<realtime_session::Model> for SessionRecord {
    fn from(m: realtime_session::Model) -> Self {
        Self {
            id: SessionId(m.id),
            tenant_id: TenantId(m.tenant_id),
            project_id: m.project_id.map(ProjectId),
            api_key_id: m.api_key_id.map(ApiKeyId),
            realtime_id: m.realtime_id,
            status: SessionStatus::from_stored(&m.status),
            model: m.model,
            dialect: m.dialect,
            client_ip: m.client_ip,
            user_agent: m.user_agent,
            started_at: m.started_at,
            ended_at: m.ended_at,
            close_reason: m.close_reason,
            persona_id: m.persona_id,
            persona_version: m.persona_version,
            responses: m.responses,
            replica_id: m.replica_id,
        }
    }
}

/// One stored conversation item.
#[derive(Debug, Clone)]
pub struct ItemRecord {
    pub id: ItemId,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub item_id: String,
    pub kind: String,
    pub role: String,
    pub text: String,
    pub created_at: DateTime<Utc>,
}

impl From<realtime_item::Model> for ItemRecord {
    fn from(m: realtime_item::Model) -> Self {
        Self {
            id: ItemId(m.id),
            tenant_id: TenantId(m.tenant_id),
            session_id: SessionId(m.session_id),
            item_id: m.item_id,
            kind: m.kind,
            role: m.role,
            text: m.text,
            created_at: m.created_at,
        }
    }
}

/// Timing of one turn, in milliseconds.
#[derive(Debug, Clone)]
pub struct TurnRecord {
    pub id: TurnId,
    pub tenant_id: TenantId,
    pub session_id: SessionId,
    pub response_id: String,
    pub status: TurnStatus,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_byte_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    pub voice_to_voice_ms: Option<i64>,
    /// ovos-core asked before the LLM (tenants with skills on).
    pub skill_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
}

impl From<realtime_turn::Model> for TurnRecord {
    fn from(m: realtime_turn::Model) -> Self {
        Self {
            id: TurnId(m.id),
            tenant_id: TenantId(m.tenant_id),
            session_id: SessionId(m.session_id),
            response_id: m.response_id,
            status: TurnStatus::from_stored(&m.status),
            stt_ms: m.stt_ms,
            llm_first_token_ms: m.llm_first_token_ms,
            tts_first_byte_ms: m.tts_first_byte_ms,
            first_audio_ms: m.first_audio_ms,
            voice_to_voice_ms: m.voice_to_voice_ms,
            skill_ms: m.skill_ms,
            created_at: m.created_at,
        }
    }
}
