//! Audit events and archives.

use avb_domain::{AuditArchiveId, AuditId, TenantId};
use avb_storage::entities::{audit_archive, audit_event};
use chrono::{DateTime, Utc};

/// One audit log entry.
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub id: AuditId,
    pub tenant_id: Option<TenantId>,
    pub chain: String,
    pub seq: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub ip: String,
    pub user_agent: String,
    pub summary: serde_json::Value,
    pub result: String,
    pub created_at: DateTime<Utc>,
    pub prev_hash: String,
    pub hash: String,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(m: audit_event::Model) -> Self {
        Self {
            id: AuditId(m.id),
            tenant_id: m.tenant_id.map(TenantId),
            chain: m.chain,
            seq: m.seq,
            actor_type: m.actor_type,
            actor_id: m.actor_id,
            actor_label: m.actor_label,
            action: m.action,
            resource_type: m.resource_type,
            resource_id: m.resource_id,
            ip: m.ip,
            user_agent: m.user_agent,
            summary: m.summary,
            result: m.result,
            created_at: m.created_at,
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

/// An archived, exported stretch of an audit chain.
#[derive(Debug, Clone)]
pub struct AuditArchive {
    pub id: AuditArchiveId,
    pub chain: String,
    pub tenant_id: Option<TenantId>,
    pub first_seq: i64,
    pub last_seq: i64,
    pub last_hash: String,
    pub rows: i64,
    pub file: String,
    pub file_sha256: String,
    pub oldest_at: DateTime<Utc>,
    pub newest_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<audit_archive::Model> for AuditArchive {
    fn from(m: audit_archive::Model) -> Self {
        Self {
            id: AuditArchiveId(m.id),
            chain: m.chain,
            tenant_id: m.tenant_id.map(TenantId),
            first_seq: m.first_seq,
            last_seq: m.last_seq,
            last_hash: m.last_hash,
            rows: m.rows,
            file: m.file,
            file_sha256: m.file_sha256,
            oldest_at: m.oldest_at,
            newest_at: m.newest_at,
            created_at: m.created_at,
        }
    }
}
