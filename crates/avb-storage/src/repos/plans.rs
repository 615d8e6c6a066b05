//! Plans (platform-wide) and their immutable versions. Callers use a platform transaction for
//! changes; reading a plan's terms is allowed from any transaction (tenants read the plan they
//! are on and the plans they may choose).

use crate::entities::plan::{ActiveModel, Column, Entity, Model};
use crate::entities::{plan_version, subscription};
use crate::error::{StorageError, StorageResult};
use crate::store::{PlatformTx, Tx};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use std::collections::HashMap;
use uuid::Uuid;

/// Creates a plan with its first version (`terms` is the terms' JSON).
pub async fn insert(
    tx: &PlatformTx,
    code: &str,
    name: &str,
    terms: &str,
    created_by: &str,
) -> StorageResult<Model> {
    let now = Utc::now();
    let plan = ActiveModel {
        id: Set(Uuid::now_v7()),
        code: Set(code.to_string()),
        name: Set(name.to_string()),
        status: Set("active".into()),
        current_version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?;
    insert_version(tx, plan.id, 1, terms, created_by).await?;
    Ok(plan)
}

async fn insert_version(
    tx: &Tx,
    plan: Uuid,
    version: i32,
    terms: &str,
    created_by: &str,
) -> StorageResult<plan_version::Model> {
    Ok(plan_version::ActiveModel {
        id: Set(Uuid::now_v7()),
        plan_id: Set(plan),
        version: Set(version),
        terms: Set(terms.to_string()),
        created_by: Set(created_by.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// Adds a version with new terms and makes it the one new subscriptions get.
pub async fn add_version(
    tx: &PlatformTx,
    id: Uuid,
    name: &str,
    terms: &str,
    created_by: &str,
) -> StorageResult<Model> {
    let plan = get(tx, id).await?;
    let version = plan.current_version + 1;
    insert_version(tx, id, version, terms, created_by).await?;
    let mut m: ActiveModel = plan.into();
    m.current_version = Set(version);
    m.name = Set(name.to_string());
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// Sets `active` or `deprecated`.
pub async fn set_status(tx: &PlatformTx, id: Uuid, status: &str) -> StorageResult<Model> {
    let mut m: ActiveModel = get(tx, id).await?.into();
    m.status = Set(status.to_string());
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// A plan by id.
pub async fn get(tx: &Tx, id: Uuid) -> StorageResult<Model> {
    Entity::find_by_id(id)
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// A plan by code.
pub async fn find_by_code(tx: &Tx, code: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::Code.eq(code))
        .one(tx.conn())
        .await?)
}

/// Every plan, by name.
pub async fn all(tx: &Tx) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .order_by_asc(Column::Name)
        .all(tx.conn())
        .await?)
}

/// How many plans exist.
pub async fn count(tx: &Tx) -> StorageResult<u64> {
    Ok(Entity::find().count(tx.conn()).await?)
}

/// One version's terms (JSON).
pub async fn version(tx: &Tx, plan: Uuid, version: i32) -> StorageResult<plan_version::Model> {
    plan_version::Entity::find()
        .filter(plan_version::Column::PlanId.eq(plan))
        .filter(plan_version::Column::Version.eq(version))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Every version of a plan, newest first.
pub async fn versions(tx: &Tx, plan: Uuid) -> StorageResult<Vec<plan_version::Model>> {
    Ok(plan_version::Entity::find()
        .filter(plan_version::Column::PlanId.eq(plan))
        .order_by_desc(plan_version::Column::Version)
        .all(tx.conn())
        .await?)
}

/// Active subscriptions per plan (platform transaction).
pub async fn subscriber_counts(tx: &PlatformTx) -> StorageResult<HashMap<Uuid, u64>> {
    let subs = subscription::Entity::find()
        .filter(subscription::Column::Status.eq("active"))
        .all(tx.conn())
        .await?;
    let mut out = HashMap::new();
    for s in subs {
        *out.entry(s.plan_id).or_insert(0) += 1;
    }
    Ok(out)
}
