//! API keys: stored as HMAC hashes, looked up by their public prefix.

use crate::entities::api_key::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{TenantTx, Tx};
use avb_domain::ApiKeyStatus;
use avb_domain::{ApiKeyId, ProjectId, UserId};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// Fields of a new key.
pub struct NewKey<'a> {
    pub id: ApiKeyId,
    pub project: Option<ProjectId>,
    pub name: &'a str,
    pub environment: &'a str,
    pub prefix: &'a str,
    pub secret_hash: String,
    pub scopes: String,
    pub created_by: Option<UserId>,
}

/// Filters for listing keys.
#[derive(Default, Debug, Clone, Copy)]
pub struct KeyFilter<'a> {
    pub project: Option<ProjectId>,
    pub status: Option<&'a str>,
}

/// Inserts a key in the transaction's tenant.
pub async fn insert(tx: &TenantTx, k: NewKey<'_>) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Ok(ActiveModel {
        id: Set(k.id.as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        project_id: Set(k.project.map(|p| p.as_uuid())),
        name: Set(k.name.to_string()),
        environment: Set(k.environment.to_string()),
        prefix: Set(k.prefix.to_string()),
        secret_hash: Set(k.secret_hash),
        scopes: Set(k.scopes),
        status: Set(ApiKeyStatus::Active.as_str().into()),
        expires_at: Set(None),
        rotated_to: Set(None),
        created_by: Set(k.created_by.map(|u| u.as_uuid())),
        created_at: Set(Utc::now()),
        last_used_at: Set(None),
        request_count: Set(0),
        revoked_at: Set(None),
    }
    .insert(tx.conn())
    .await?)
}

/// Finds a key of the tenant.
pub async fn get(tx: &TenantTx, id: ApiKeyId) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Entity::find_by_id(id.as_uuid())
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Lists the tenant's keys newest first.
pub async fn list(
    tx: &TenantTx,
    f: KeyFilter<'_>,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let tenant = tx.tenant_id();
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    if let Some(p) = f.project {
        q = q.filter(Column::ProjectId.eq(p.as_uuid()));
    }
    if let Some(s) = f.status {
        q = q.filter(Column::Status.eq(s));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Finds a key by prefix across tenants (authentication look-up on a platform transaction).
pub async fn find_by_prefix(tx: &Tx, prefix: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::Prefix.eq(prefix))
        .one(tx.conn())
        .await?)
}

/// Updates name, scopes and project where given (`project: Some(None)` detaches).
pub async fn update(
    tx: &TenantTx,
    id: ApiKeyId,
    name: Option<&str>,
    scopes: Option<String>,
    project: Option<Option<ProjectId>>,
) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    if let Some(n) = name {
        am.name = Set(n.to_string());
    }
    if let Some(s) = scopes {
        am.scopes = Set(s);
    }
    if let Some(p) = project {
        am.project_id = Set(p.map(|p| p.as_uuid()));
    }
    Ok(am.update(tx.conn()).await?)
}

/// Revokes a key now.
pub async fn revoke(tx: &TenantTx, id: ApiKeyId) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.status = Set(ApiKeyStatus::Revoked.as_str().into());
    am.revoked_at = Set(Some(Utc::now()));
    Ok(am.update(tx.conn()).await?)
}

/// Marks `id` as rotated to `new_id`, valid until `expires_at`.
pub async fn mark_rotated(
    tx: &TenantTx,
    id: ApiKeyId,
    new_id: ApiKeyId,
    expires_at: DateTime<Utc>,
) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.rotated_to = Set(Some(new_id.as_uuid()));
    am.expires_at = Set(Some(expires_at));
    Ok(am.update(tx.conn()).await?)
}

/// Revokes every live key of a project; returns the revoked keys.
pub async fn revoke_for_project(tx: &TenantTx, project: ProjectId) -> StorageResult<Vec<Model>> {
    let tenant = tx.tenant_id();
    let keys = Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::ProjectId.eq(project.as_uuid()))
        .filter(Column::Status.ne(ApiKeyStatus::Revoked.as_str()))
        .all(tx.conn())
        .await?;
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(ApiKeyStatus::Revoked.as_str()))
        .col_expr(Column::RevokedAt, Expr::value(Some(Utc::now())))
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::ProjectId.eq(project.as_uuid()))
        .filter(Column::Status.ne(ApiKeyStatus::Revoked.as_str()))
        .exec(tx.conn())
        .await?;
    Ok(keys)
}

/// Moves every key of the tenant from status `from` to `to` (suspend/reactivate); returns them.
pub async fn move_status(tx: &TenantTx, from: &str, to: &str) -> StorageResult<Vec<Model>> {
    let tenant = tx.tenant_id();
    let keys = Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Status.eq(from))
        .all(tx.conn())
        .await?;
    Entity::update_many()
        .col_expr(Column::Status, Expr::value(to))
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Status.eq(from))
        .exec(tx.conn())
        .await?;
    Ok(keys)
}

/// Adds `requests` to a key's counter and moves its last-used time forward.
pub async fn add_usage(
    tx: &Tx,
    id: ApiKeyId,
    requests: i64,
    last_used: DateTime<Utc>,
) -> StorageResult<()> {
    let mut q = Entity::update_many()
        .col_expr(
            Column::RequestCount,
            Expr::col(Column::RequestCount).add(requests),
        )
        .col_expr(Column::LastUsedAt, Expr::value(Some(last_used)))
        .filter(Column::Id.eq(id.as_uuid()));
    if let Some(t) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    q.exec(tx.conn()).await?;
    Ok(())
}
