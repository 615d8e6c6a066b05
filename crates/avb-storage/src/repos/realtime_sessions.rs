//! Records of realtime sessions.

use crate::entities::realtime_session::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{TenantTx, Tx};
use avb_domain::SessionStatus;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use uuid::Uuid;

/// Fields of a new session record.
pub struct NewSession<'a> {
    pub id: Uuid,
    pub project: Option<Uuid>,
    pub api_key: Option<Uuid>,
    pub realtime_id: &'a str,
    pub model: &'a str,
    pub dialect: &'a str,
    pub client_ip: &'a str,
    pub user_agent: &'a str,
    /// The replica holding the socket (its heartbeats keep the session live).
    pub replica: &'a str,
    /// The persona (id, published version) the session started with.
    pub persona: Option<(Uuid, i32)>,
}

/// Filters for listing sessions.
#[derive(Debug, Default, Clone)]
pub struct SessionFilter {
    pub status: Option<String>,
    pub project: Option<Uuid>,
    pub api_key: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

/// Records an opened session in the transaction's tenant.
pub async fn insert(tx: &TenantTx, s: NewSession<'_>) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Ok(ActiveModel {
        id: Set(s.id),
        tenant_id: Set(tenant.as_uuid()),
        project_id: Set(s.project),
        api_key_id: Set(s.api_key),
        realtime_id: Set(s.realtime_id.to_string()),
        status: Set(SessionStatus::Active.as_str().into()),
        model: Set(s.model.to_string()),
        dialect: Set(s.dialect.to_string()),
        client_ip: Set(s.client_ip.to_string()),
        user_agent: Set(s.user_agent.to_string()),
        started_at: Set(Utc::now()),
        ended_at: Set(None),
        close_reason: Set(String::new()),
        responses: Set(0),
        replica_id: Set(Some(s.replica.to_string())),
        persona_id: Set(s.persona.map(|p| p.0)),
        persona_version: Set(s.persona.map(|p| p.1)),
    }
    .insert(tx.conn())
    .await?)
}

/// Marks a session closed with `reason` and its response count.
pub async fn close(tx: &TenantTx, id: Uuid, reason: &str, responses: i32) -> StorageResult<()> {
    let tenant = tx.tenant_id();
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(SessionStatus::Closed.as_str()))
        .col_expr(Column::EndedAt, Expr::value(Some(Utc::now())))
        .col_expr(Column::CloseReason, Expr::value(reason))
        .col_expr(Column::Responses, Expr::value(responses))
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Id.eq(id))
        .filter(Column::Status.eq(SessionStatus::Active.as_str()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// One session of the tenant.
pub async fn get(tx: &TenantTx, id: Uuid) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// The tenant's session with the realtime id (`sess_...`) its client saw.
pub async fn find_by_realtime_id(tx: &TenantTx, realtime_id: &str) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::RealtimeId.eq(realtime_id))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// The tenant's sessions, newest first.
pub async fn list(
    tx: &TenantTx,
    f: &SessionFilter,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let tenant = tx.tenant_id();
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    if let Some(s) = &f.status {
        q = q.filter(Column::Status.eq(s.clone()));
    }
    if let Some(p) = f.project {
        q = q.filter(Column::ProjectId.eq(p));
    }
    if let Some(k) = f.api_key {
        q = q.filter(Column::ApiKeyId.eq(k));
    }
    // Ids are UUIDv7 minted when the session starts, so a time range is also an id range: the
    // bounds let the database walk the primary key instead of scanning every row's start time.
    if let Some(from) = f.from {
        q = q
            .filter(Column::StartedAt.gte(from))
            .filter(Column::Id.gte(v7_floor(from)));
    }
    if let Some(to) = f.to {
        q = q
            .filter(Column::StartedAt.lt(to))
            .filter(Column::Id.lt(v7_floor(to + chrono::Duration::seconds(1))));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// The smallest UUIDv7 of the millisecond `t` (version and variant bits set, the rest zero).
fn v7_floor(t: DateTime<Utc>) -> Uuid {
    let ms = t.timestamp_millis().max(0) as u64;
    let mut b = [0u8; 16];
    b[..6].copy_from_slice(&ms.to_be_bytes()[2..]);
    b[6] = 0x70;
    b[8] = 0x80;
    Uuid::from_bytes(b)
}

/// Live sessions: of the transaction's tenant, or of every tenant for a platform transaction.
pub async fn active_ids(tx: &Tx) -> StorageResult<Vec<Uuid>> {
    use sea_orm::QuerySelect;
    let mut q = Entity::find()
        .select_only()
        .column(Column::Id)
        .filter(Column::Status.eq(SessionStatus::Active.as_str()));
    if let Some(t) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    Ok(q.into_tuple().all(tx.conn()).await?)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn v7_floor_orders_with_real_v7_ids() {
        let t = Utc::now();
        let id = Uuid::now_v7();
        assert!(v7_floor(t - chrono::Duration::milliseconds(5)) <= id);
        assert!(v7_floor(t + chrono::Duration::seconds(2)) > id);
        assert_eq!(v7_floor(t).get_version_num(), 7);
    }
}
