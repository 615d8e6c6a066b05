//! Personas of the transaction's tenant, their immutable versions and the default persona of
//! the tenant and of each project.

use crate::entities::persona::{ActiveModel, Column, Entity, Model};
use crate::entities::{persona_default, persona_version, realtime_session};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::TenantTx;
use avb_domain::ProjectId;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

/// The editable configuration of a persona (the draft, and what a version snapshots).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonaFields {
    pub name: String,
    pub description: String,
    pub instructions: String,
    pub voice: String,
    pub speed: f64,
    pub language: String,
    /// JSON array of solver names.
    pub solvers: String,
}

/// Creates a draft persona in the transaction's tenant.
pub async fn insert(tx: &TenantTx, f: PersonaFields) -> StorageResult<Model> {
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        name: Set(f.name),
        description: Set(f.description),
        status: Set("draft".into()),
        instructions: Set(f.instructions),
        voice: Set(f.voice),
        speed: Set(f.speed),
        language: Set(f.language),
        solvers: Set(f.solvers),
        published_version: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?)
}

/// A persona of the tenant; another tenant's is `NotFound`.
pub async fn get(tx: &TenantTx, id: Uuid) -> StorageResult<Model> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// The persona of the tenant with this name, if any.
pub async fn find_by_name(tx: &TenantTx, name: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Name.eq(name))
        .one(tx.conn())
        .await?)
}

/// Lists the tenant's personas newest first, optionally by status.
pub async fn list(
    tx: &TenantTx,
    status: Option<&str>,
    page: PageRequest,
) -> StorageResult<Page<Model>> {
    let mut q = Entity::find().filter(Column::TenantId.eq(tx.tenant_id().as_uuid()));
    if let Some(s) = status {
        q = q.filter(Column::Status.eq(s));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Every persona of the tenant by name (for pickers).
pub async fn all(tx: &TenantTx) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .order_by_asc(Column::Name)
        .all(tx.conn())
        .await?)
}

/// Replaces the draft fields.
pub async fn update_draft(tx: &TenantTx, id: Uuid, f: PersonaFields) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.name = Set(f.name);
    am.description = Set(f.description);
    am.instructions = Set(f.instructions);
    am.voice = Set(f.voice);
    am.speed = Set(f.speed);
    am.language = Set(f.language);
    am.solvers = Set(f.solvers);
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Sets the status and the version sessions use.
pub async fn set_state(
    tx: &TenantTx,
    id: Uuid,
    status: &str,
    published_version: Option<i32>,
) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.status = Set(status.to_string());
    am.published_version = Set(published_version);
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Deletes a persona with its versions and every default that named it.
pub async fn delete(tx: &TenantTx, id: Uuid) -> StorageResult<()> {
    let tenant = tx.tenant_id().as_uuid();
    get(tx, id).await?;
    persona_default::Entity::delete_many()
        .filter(persona_default::Column::TenantId.eq(tenant))
        .filter(persona_default::Column::PersonaId.eq(id))
        .exec(tx.conn())
        .await?;
    persona_version::Entity::delete_many()
        .filter(persona_version::Column::TenantId.eq(tenant))
        .filter(persona_version::Column::PersonaId.eq(id))
        .exec(tx.conn())
        .await?;
    Entity::delete_many()
        .filter(Column::TenantId.eq(tenant))
        .filter(Column::Id.eq(id))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// The persona's versions, newest first.
pub async fn versions(tx: &TenantTx, persona: Uuid) -> StorageResult<Vec<persona_version::Model>> {
    Ok(persona_version::Entity::find()
        .filter(persona_version::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(persona_version::Column::PersonaId.eq(persona))
        .order_by_desc(persona_version::Column::Version)
        .all(tx.conn())
        .await?)
}

/// One version of a persona.
pub async fn version(
    tx: &TenantTx,
    persona: Uuid,
    version: i32,
) -> StorageResult<Option<persona_version::Model>> {
    Ok(persona_version::Entity::find()
        .filter(persona_version::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(persona_version::Column::PersonaId.eq(persona))
        .filter(persona_version::Column::Version.eq(version))
        .one(tx.conn())
        .await?)
}

/// Appends the next version (1, 2, ...) snapshotting `f`; versions are never updated.
pub async fn insert_version(
    tx: &TenantTx,
    persona: Uuid,
    f: PersonaFields,
    created_by: &str,
) -> StorageResult<persona_version::Model> {
    let last = versions(tx, persona)
        .await?
        .first()
        .map_or(0, |v| v.version);
    Ok(persona_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        persona_id: Set(persona),
        version: Set(last + 1),
        name: Set(f.name),
        description: Set(f.description),
        instructions: Set(f.instructions),
        voice: Set(f.voice),
        speed: Set(f.speed),
        language: Set(f.language),
        solvers: Set(f.solvers),
        created_at: Set(Utc::now()),
        created_by: Set(created_by.to_string()),
    }
    .insert(tx.conn())
    .await?)
}

/// Number of recorded realtime sessions per persona, for the given personas.
pub async fn usage_counts(tx: &TenantTx, ids: &[Uuid]) -> StorageResult<HashMap<Uuid, u64>> {
    let mut out = HashMap::new();
    if ids.is_empty() {
        return Ok(out);
    }
    let rows: Vec<(Option<Uuid>, i64)> = realtime_session::Entity::find()
        .select_only()
        .column(realtime_session::Column::PersonaId)
        .column_as(realtime_session::Column::Id.count(), "n")
        .filter(realtime_session::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(realtime_session::Column::PersonaId.is_in(ids.iter().copied()))
        .group_by(realtime_session::Column::PersonaId)
        .into_tuple()
        .all(tx.conn())
        .await?;
    for (id, n) in rows {
        if let Some(id) = id {
            out.insert(id, u64::try_from(n).unwrap_or(0));
        }
    }
    Ok(out)
}

fn scope_key(project: Option<ProjectId>) -> String {
    project.map_or_else(|| "tenant".to_string(), |p| p.as_uuid().to_string())
}

/// The default persona of the tenant (`project` = `None`) or of one project.
pub async fn default_of(tx: &TenantTx, project: Option<ProjectId>) -> StorageResult<Option<Uuid>> {
    Ok(persona_default::Entity::find()
        .filter(persona_default::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(persona_default::Column::ScopeKey.eq(scope_key(project)))
        .one(tx.conn())
        .await?
        .map(|d| d.persona_id))
}

/// Every default of the tenant: (project or none for the tenant, persona).
pub async fn defaults(tx: &TenantTx) -> StorageResult<Vec<(Option<Uuid>, Uuid)>> {
    Ok(persona_default::Entity::find()
        .filter(persona_default::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|d| (d.project_id, d.persona_id))
        .collect())
}

/// Sets (`Some`) or clears (`None`) the default persona of the tenant or a project.
pub async fn set_default(
    tx: &TenantTx,
    project: Option<ProjectId>,
    persona: Option<Uuid>,
) -> StorageResult<()> {
    let tenant = tx.tenant_id().as_uuid();
    persona_default::Entity::delete_many()
        .filter(persona_default::Column::TenantId.eq(tenant))
        .filter(persona_default::Column::ScopeKey.eq(scope_key(project)))
        .exec(tx.conn())
        .await?;
    if let Some(persona) = persona {
        persona_default::ActiveModel {
            id: Set(Uuid::now_v7()),
            tenant_id: Set(tenant),
            project_id: Set(project.map(|p| p.as_uuid())),
            scope_key: Set(scope_key(project)),
            persona_id: Set(persona),
            updated_at: Set(Utc::now()),
        }
        .insert(tx.conn())
        .await?;
    }
    Ok(())
}
