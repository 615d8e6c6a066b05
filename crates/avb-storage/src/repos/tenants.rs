//! Tenants. Reads are visible to the tenant itself; creation and listing are platform work.

use crate::entities::tenant::{self, ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::Tx;
use avb_domain::TenantId;
use avb_domain::TenantStatus;
use chrono::Utc;
use sea_orm::sea_query::{Condition, Expr, ExprTrait, Func};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

/// Fields of a new tenant.
pub struct NewTenant<'a> {
    pub id: TenantId,
    pub name: &'a str,
    pub billing_email: &'a str,
    pub plan: &'a str,
    pub timezone: &'a str,
}

/// Inserts a tenant.
pub async fn insert(tx: &Tx, t: NewTenant<'_>) -> StorageResult<Model> {
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(t.id.as_uuid()),
        name: Set(t.name.to_string()),
        billing_email: Set(t.billing_email.to_string()),
        plan: Set(t.plan.to_string()),
        status: Set(TenantStatus::Active.as_str().into()),
        timezone: Set(t.timezone.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?)
}

/// Finds a tenant by id; a tenant transaction only ever sees its own tenant.
pub async fn get(tx: &Tx, id: TenantId) -> StorageResult<Model> {
    if let Some(own) = tx.tenant()
        && own != id
    {
        return Err(StorageError::NotFound);
    }
    Entity::find_by_id(id.as_uuid())
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Lists tenants newest first, optionally matching `q` against name, e-mail or id.
pub async fn list(tx: &Tx, q: Option<&str>, page: PageRequest) -> StorageResult<Page<Model>> {
    let mut sel = Entity::find();
    if let Some(own) = tx.tenant() {
        sel = sel.filter(Column::Id.eq(own.as_uuid()));
    }
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        let like = format!("%{}%", q.to_lowercase());
        let mut cond = Condition::any()
            .add(Expr::expr(Func::lower(Expr::col(Column::Name))).like(like.clone()))
            .add(Column::BillingEmail.like(like.clone()));
        if let Ok(id) = q.parse::<uuid::Uuid>() {
            cond = cond.add(Column::Id.eq(id));
        }
        sel = sel.filter(cond);
    }
    let rows = paginate(sel, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Sets the tenant's status (`active` / `suspended`).
pub async fn set_status(tx: &Tx, id: TenantId, status: &str) -> StorageResult<Model> {
    let current = get(tx, id).await?;
    let mut am: ActiveModel = current.into();
    am.status = Set(status.to_string());
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Records the code of the plan the tenant is on (its subscription's plan).
pub async fn set_plan(tx: &Tx, id: TenantId, plan: &str) -> StorageResult<Model> {
    let current = get(tx, id).await?;
    let mut am: ActiveModel = current.into();
    am.plan = Set(plan.to_string());
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Number of tenants (platform view).
pub async fn count(tx: &Tx) -> StorageResult<u64> {
    Ok(Entity::find().count(tx.conn()).await?)
}

/// Re-export of the model for callers.
pub type Tenant = tenant::Model;

/// Changes a tenant's profile: name, billing e-mail and time zone.
pub async fn set_profile(
    tx: &Tx,
    id: TenantId,
    name: &str,
    billing_email: &str,
    timezone: &str,
) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.name = Set(name.to_string());
    am.billing_email = Set(billing_email.to_string());
    am.timezone = Set(timezone.to_string());
    am.updated_at = Set(chrono::Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// The names of the tenants `ids` (those that exist).
pub async fn names(
    tx: &Tx,
    ids: &[uuid::Uuid],
) -> StorageResult<std::collections::HashMap<uuid::Uuid, String>> {
    Ok(Entity::find()
        .filter(Column::Id.is_in(ids.iter().copied()))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|t| (t.id, t.name))
        .collect())
}
