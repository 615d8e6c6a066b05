//! The audit log: append-only, hash-chained per tenant (chain `platform` for platform events).

use crate::entities::audit_archive as archive;
use crate::entities::audit_chain_head as head;
use crate::entities::audit_event::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{Backend, Tx};
use avb_domain::{AuditId, TenantId};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use sha2::{Digest, Sha256};

/// The chain name used for events that belong to no tenant.
pub const PLATFORM_CHAIN: &str = "platform";

/// One audit entry to append.
#[derive(Debug, Clone)]
pub struct NewAudit {
    pub tenant: Option<TenantId>,
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
}

/// Filters for listing audit rows.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource_type: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub q: Option<String>,
}

fn chain_of(tenant: Option<TenantId>) -> String {
    tenant
        .map(|t| t.to_string())
        .unwrap_or_else(|| PLATFORM_CHAIN.to_string())
}

/// The hash of a row: SHA-256 over the previous hash and the row's canonical fields.
pub fn row_hash(m: &Model) -> String {
    let mut h = Sha256::new();
    let fields = [
        m.prev_hash.as_str(),
        &m.id.to_string(),
        &m.chain,
        &m.seq.to_string(),
        &m.actor_type,
        &m.actor_id,
        &m.actor_label,
        &m.action,
        &m.resource_type,
        &m.resource_id,
        &m.ip,
        &m.user_agent,
        &m.summary.to_string(),
        &m.result,
        &m.created_at.to_rfc3339_opts(SecondsFormat::Micros, true),
    ];
    for f in fields {
        h.update((f.len() as u64).to_be_bytes());
        h.update(f.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Appends an entry to its chain inside the caller's transaction.
pub async fn append(tx: &Tx, e: NewAudit) -> StorageResult<Model> {
    if let (Some(own), Some(t)) = (tx.tenant(), e.tenant)
        && own != t
    {
        return Err(crate::StorageError::NotFound);
    }
    let chain = chain_of(e.tenant);
    // Lock the chain head (SELECT ... FOR UPDATE on PostgreSQL; SQLite has one writer) so
    // sequence numbers never collide, whatever the size of the log.
    let mut head_query = head::Entity::find_by_id(chain.clone());
    if tx.backend() == Backend::Postgres {
        head_query = head_query.lock_exclusive();
    }
    let head = head_query.one(tx.conn()).await?;
    let (seq, prev_hash) = head
        .as_ref()
        .map(|h| (h.seq + 1, h.hash.clone()))
        .unwrap_or((1, String::new()));
    // Microsecond precision so the hash survives a round trip through either backend.
    let now =
        DateTime::from_timestamp_micros(Utc::now().timestamp_micros()).unwrap_or_else(Utc::now);
    // Words only, so that SQLite FTS5 and PostgreSQL's parser tokenise it identically.
    let search_text = format!(
        "{} {} {} {} {} {}",
        e.actor_label, e.action, e.resource_type, e.resource_id, e.ip, e.summary
    )
    .to_lowercase()
    .split(|c: char| !c.is_alphanumeric())
    .filter(|w| !w.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let mut m = Model {
        id: AuditId::new().as_uuid(),
        tenant_id: e.tenant.map(|t| t.as_uuid()),
        chain,
        seq,
        actor_type: e.actor_type,
        actor_id: e.actor_id,
        actor_label: e.actor_label,
        action: e.action,
        resource_type: e.resource_type,
        resource_id: e.resource_id,
        ip: e.ip,
        user_agent: e.user_agent,
        summary: e.summary,
        result: e.result,
        search_text,
        created_at: now,
        prev_hash,
        hash: String::new(),
    };
    m.hash = row_hash(&m);
    let new_head = head::ActiveModel {
        chain: Set(m.chain.clone()),
        tenant_id: Set(m.tenant_id),
        seq: Set(m.seq),
        hash: Set(m.hash.clone()),
    };
    if head.is_some() {
        new_head.update(tx.conn()).await?;
    } else {
        new_head.insert(tx.conn()).await?;
    }
    let am: ActiveModel = m.into();
    Ok(am.insert(tx.conn()).await?)
}

/// Lists audit rows newest first. A tenant transaction sees its tenant only; a platform
/// transaction sees all, or one tenant when `tenant` is given.
pub async fn list(
    tx: &Tx,
    tenant: Option<TenantId>,
    f: &AuditFilter,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let mut q = Entity::find();
    if let Some(own) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(own.as_uuid()));
    } else if let Some(t) = tenant {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    if let Some(a) = &f.actor {
        q = q.filter(
            Condition::any()
                .add(Column::ActorId.eq(a.clone()))
                .add(Column::ActorLabel.eq(a.clone())),
        );
    }
    if let Some(a) = &f.action {
        q = q.filter(Column::Action.eq(a.clone()));
    }
    if let Some(r) = &f.resource_type {
        q = q.filter(Column::ResourceType.eq(r.clone()));
    }
    if let Some(from) = f.from {
        q = q.filter(Column::CreatedAt.gte(from));
    }
    if let Some(to) = f.to {
        q = q.filter(Column::CreatedAt.lt(to));
    }
    if let Some(text) = f.q.as_deref() {
        let terms = search_terms(text);
        if terms.is_empty() {
            // Nothing searchable (only punctuation): no row can match.
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        q = q.filter(match tx.backend() {
            Backend::Postgres => {
                let query = terms
                    .iter()
                    .map(|t| format!("{t}:*"))
                    .collect::<Vec<_>>()
                    .join(" & ");
                Expr::cust_with_values(
                    "audit_events.id IN (SELECT avb_audit_search(to_tsquery('simple', $1)))",
                    [query],
                )
            }
            Backend::Sqlite => {
                let query = terms
                    .iter()
                    .map(|t| format!("\"{t}\"*"))
                    .collect::<Vec<_>>()
                    .join(" AND ");
                Expr::cust_with_values(
                    "audit_events.rowid IN (SELECT rowid FROM audit_fts WHERE audit_fts MATCH ?)",
                    [query],
                )
            }
        });
    }
    // The search text is never shown: leave it out of the rows read.
    let rows: Vec<Model> = paginate(q, Column::Id, page)
        .into_partial_model::<ListedRow>()
        .all(tx.conn())
        .await?
        .into_iter()
        .map(ListedRow::into_model)
        .collect();
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// An audit row without its search text.
#[derive(Debug, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "Entity")]
struct ListedRow {
    id: uuid::Uuid,
    tenant_id: Option<uuid::Uuid>,
    chain: String,
    seq: i64,
    actor_type: String,
    actor_id: String,
    actor_label: String,
    action: String,
    resource_type: String,
    resource_id: String,
    ip: String,
    user_agent: String,
    summary: serde_json::Value,
    result: String,
    created_at: DateTime<Utc>,
    prev_hash: String,
    hash: String,
}

impl ListedRow {
    fn into_model(self) -> Model {
        Model {
            id: self.id,
            tenant_id: self.tenant_id,
            chain: self.chain,
            seq: self.seq,
            actor_type: self.actor_type,
            actor_id: self.actor_id,
            actor_label: self.actor_label,
            action: self.action,
            resource_type: self.resource_type,
            resource_id: self.resource_id,
            ip: self.ip,
            user_agent: self.user_agent,
            summary: self.summary,
            result: self.result,
            search_text: String::new(),
            created_at: self.created_at,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Splits a search text into lower-case alphanumeric words (at most 8, each at most 64 bytes),
/// which both full-text engines tokenise the same way; every word must match as a prefix.
pub fn search_terms(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().take(64).collect::<String>())
        .take(8)
        .collect()
}

/// A break found while verifying a chain.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ChainBreak {
    pub chain: String,
    pub seq: i64,
    pub id: uuid::Uuid,
    pub reason: String,
}

/// Verifies every chain visible to the transaction; returns rows checked and breaks found.
pub async fn verify(tx: &Tx) -> StorageResult<(u64, Vec<ChainBreak>)> {
    let mut q = Entity::find();
    if let Some(own) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(own.as_uuid()));
    }
    let rows = q
        .order_by_asc(Column::Chain)
        .order_by_asc(Column::Seq)
        .all(tx.conn())
        .await?;
    // Chains whose oldest rows were archived continue from the archive's last row.
    let mut bases: std::collections::HashMap<String, (i64, String)> =
        std::collections::HashMap::new();
    for a in archive::Entity::find().all(tx.conn()).await? {
        let e = bases.entry(a.chain.clone()).or_insert((0, String::new()));
        if a.last_seq > e.0 {
            *e = (a.last_seq, a.last_hash.clone());
        }
    }
    let mut breaks = Vec::new();
    let mut prev: Option<&Model> = None;
    for row in &rows {
        let (expect_seq, expect_prev) = match prev {
            Some(p) if p.chain == row.chain => (p.seq + 1, p.hash.clone()),
            _ => bases
                .get(&row.chain)
                .map(|(seq, hash)| (seq + 1, hash.clone()))
                .unwrap_or((1, String::new())),
        };
        let mut reason = None;
        if row.seq != expect_seq {
            reason = Some(format!("sequence gap: expected {expect_seq}"));
        } else if row.prev_hash != expect_prev {
            reason = Some("previous hash does not match".to_string());
        } else if row_hash(row) != row.hash {
            reason = Some("row content does not match its hash".to_string());
        }
        if let Some(reason) = reason {
            breaks.push(ChainBreak {
                chain: row.chain.clone(),
                seq: row.seq,
                id: row.id,
                reason,
            });
        }
        prev = Some(row);
    }
    Ok((rows.len() as u64, breaks))
}

/// One row: of the transaction's tenant, or any for a platform transaction.
pub async fn get(tx: &Tx, id: uuid::Uuid) -> StorageResult<Model> {
    let mut q = Entity::find_by_id(id);
    if let Some(own) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(own.as_uuid()));
    }
    q.one(tx.conn())
        .await?
        .ok_or(crate::error::StorageError::NotFound)
}

pub use crate::entities::audit_archive::Model as AuditArchive;

/// The oldest rows of each chain created before `cutoff` (platform transaction), by chain then
/// sequence; at most `limit` rows per call.
pub async fn older_than(tx: &Tx, cutoff: DateTime<Utc>, limit: u64) -> StorageResult<Vec<Model>> {
    use sea_orm::QuerySelect;
    Ok(Entity::find()
        .filter(Column::CreatedAt.lt(cutoff))
        .order_by_asc(Column::Chain)
        .order_by_asc(Column::Seq)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// Records an archive and removes the rows it holds (`chain`, sequence `first..=last`).
pub async fn archive_rows(tx: &Tx, a: AuditArchive) -> StorageResult<AuditArchive> {
    Entity::delete_many()
        .filter(Column::Chain.eq(a.chain.clone()))
        .filter(Column::Seq.gte(a.first_seq))
        .filter(Column::Seq.lte(a.last_seq))
        .exec(tx.conn())
        .await?;
    let am: archive::ActiveModel = a.into();
    Ok(am.insert(tx.conn()).await?)
}

/// Every archive, newest first.
pub async fn archives(tx: &Tx) -> StorageResult<Vec<AuditArchive>> {
    Ok(archive::Entity::find()
        .order_by_desc(archive::Column::CreatedAt)
        .all(tx.conn())
        .await?)
}

/// The chain head an archive must continue from: the last archived row before `first_seq`.
pub async fn archive_base(tx: &Tx, chain: &str) -> StorageResult<(i64, String)> {
    Ok(archive::Entity::find()
        .filter(archive::Column::Chain.eq(chain))
        .order_by_desc(archive::Column::LastSeq)
        .one(tx.conn())
        .await?
        .map(|a| (a.last_seq, a.last_hash))
        .unwrap_or((0, String::new())))
}
