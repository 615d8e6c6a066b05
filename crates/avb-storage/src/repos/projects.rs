//! Projects inside a tenant.

use crate::entities::api_key;
use crate::entities::project::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::TenantTx;
use avb_domain::ApiKeyStatus;
use avb_domain::ProjectId;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use std::collections::HashMap;

/// Creates a project in the transaction's tenant.
pub async fn insert(
    tx: &TenantTx,
    name: &str,
    environment: &str,
    description: &str,
) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(ProjectId::new().as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        name: Set(name.to_string()),
        environment: Set(environment.to_string()),
        description: Set(description.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?)
}

/// Finds a project of the tenant; another tenant's project is `NotFound`.
pub async fn get(tx: &TenantTx, id: ProjectId) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    Entity::find_by_id(id.as_uuid())
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Lists the tenant's projects newest first, optionally by environment.
pub async fn list(
    tx: &TenantTx,
    environment: Option<&str>,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let tenant = tx.tenant_id();
    let mut q = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    if let Some(env) = environment {
        q = q.filter(Column::Environment.eq(env));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Number of non-revoked keys per project, for the given projects.
pub async fn key_counts(
    tx: &TenantTx,
    ids: &[uuid::Uuid],
) -> StorageResult<HashMap<uuid::Uuid, u64>> {
    let tenant = tx.tenant_id();
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows = api_key::Entity::find()
        .filter(api_key::Column::TenantId.eq(tenant.as_uuid()))
        .filter(api_key::Column::ProjectId.is_in(ids.iter().copied()))
        .filter(api_key::Column::Status.ne(ApiKeyStatus::Revoked.as_str()))
        .all(tx.conn())
        .await?;
    for r in rows {
        if let Some(p) = r.project_id {
            *out.entry(p).or_insert(0) += 1;
        }
    }
    Ok(out)
}

/// Updates name/environment/description where given.
pub async fn update(
    tx: &TenantTx,
    id: ProjectId,
    name: Option<&str>,
    environment: Option<&str>,
    description: Option<&str>,
) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    if let Some(n) = name {
        am.name = Set(n.to_string());
    }
    if let Some(e) = environment {
        am.environment = Set(e.to_string());
    }
    if let Some(d) = description {
        am.description = Set(d.to_string());
    }
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Deletes a project of the tenant; its keys are detached (or revoked by the caller first).
pub async fn delete(tx: &TenantTx, id: ProjectId) -> StorageResult<()> {
    let tenant = tx.tenant_id();
    get(tx, id).await?;
    api_key::Entity::update_many()
        .col_expr(
            api_key::Column::ProjectId,
            sea_orm::sea_query::Expr::value(Option::<uuid::Uuid>::None),
        )
        .filter(api_key::Column::TenantId.eq(tenant.as_uuid()))
        .filter(api_key::Column::ProjectId.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Number of projects in the tenant.
pub async fn count(tx: &TenantTx) -> StorageResult<u64> {
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .count(tx.conn())
        .await?)
}
