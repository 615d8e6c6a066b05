//! Invitations to join a tenant, accepted with an e-mailed token.

use crate::entities::invitation::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{TenantTx, Tx};
use avb_domain::InvitationStatus;
use avb_domain::{InvitationId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// Creates a pending invitation in the transaction's tenant.
pub async fn insert(
    tx: &TenantTx,
    email: &str,
    role: &str,
    token_hash: String,
    invited_by: Option<UserId>,
    expires_at: DateTime<Utc>,
) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Ok(ActiveModel {
        id: Set(InvitationId::new().as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        email: Set(email.to_string()),
        role: Set(role.to_string()),
        token_hash: Set(token_hash),
        invited_by: Set(invited_by.map(|u| u.as_uuid())),
        status: Set(InvitationStatus::Pending.as_str().into()),
        expires_at: Set(expires_at),
        created_at: Set(Utc::now()),
        accepted_at: Set(None),
    }
    .insert(tx.conn())
    .await?)
}

/// Lists the tenant's invitations, optionally by status, newest first.
pub async fn list(
    tx: &TenantTx,
    status: Option<&str>,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let tenant = tx.tenant_id();
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    if let Some(s) = status {
        q = q.filter(Column::Status.eq(s));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Whether a pending invitation for `email` already exists in the tenant.
pub async fn pending_for(tx: &TenantTx, email: &str) -> StorageResult<bool> {
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Email.eq(email))
        .filter(Column::Status.eq(InvitationStatus::Pending.as_str()))
        .one(tx.conn())
        .await?
        .is_some())
}

/// The newest pending, unexpired invitation for `email` in any tenant (a platform
/// transaction; a tenant transaction sees only its own).
pub async fn pending_by_email(tx: &Tx, email: &str) -> StorageResult<Option<Model>> {
    let mut q = Entity::find()
        .filter(Column::Email.eq(email))
        .filter(Column::Status.eq(InvitationStatus::Pending.as_str()))
        .filter(Column::ExpiresAt.gt(Utc::now()));
    if let Some(t) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    Ok(q.order_by_desc(Column::CreatedAt).one(tx.conn()).await?)
}

/// Finds an invitation by token hash (within the tenant of a tenant transaction).
pub async fn find_by_token(tx: &Tx, token_hash: &str) -> StorageResult<Model> {
    let mut q = Entity::find().filter(Column::TokenHash.eq(token_hash));
    if let Some(t) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    q.one(tx.conn()).await?.ok_or(StorageError::NotFound)
}

/// Marks an invitation accepted.
pub async fn mark_accepted(tx: &Tx, inv: Model) -> StorageResult<Model> {
    let mut am: ActiveModel = inv.into();
    am.status = Set(InvitationStatus::Accepted.as_str().into());
    am.accepted_at = Set(Some(Utc::now()));
    Ok(am.update(tx.conn()).await?)
}

/// One invitation of the transaction's tenant.
pub async fn get(tx: &TenantTx, id: uuid::Uuid) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Marks a pending invitation revoked (its link stops working).
pub async fn mark_revoked(tx: &Tx, inv: Model) -> StorageResult<Model> {
    let mut am: ActiveModel = inv.into();
    am.status = Set(InvitationStatus::Revoked.as_str().into());
    Ok(am.update(tx.conn()).await?)
}

/// Pending, unexpired invitations of the transaction's tenant.
pub async fn count_pending(tx: &TenantTx) -> StorageResult<u64> {
    use sea_orm::PaginatorTrait;
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Status.eq(InvitationStatus::Pending.as_str()))
        .filter(Column::ExpiresAt.gt(Utc::now()))
        .count(tx.conn())
        .await?)
}
