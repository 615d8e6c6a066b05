//! Memberships: which users belong to a tenant, with which role.

use crate::entities::membership::{self, ActiveModel, Column, Entity};
use crate::entities::user;
use crate::error::StorageResult;
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{TenantTx, Tx};
use avb_domain::{MembershipId, TenantId, UserId};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

/// A member row joined with its user.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: membership::Model,
    pub user: user::Model,
}

/// Adds `user` to the transaction's tenant with `role`.
pub async fn insert(tx: &TenantTx, user: UserId, role: &str) -> StorageResult<membership::Model> {
    let tenant = tx.tenant_id();
    Ok(ActiveModel {
        id: Set(MembershipId::new().as_uuid()),
        tenant_id: Set(tenant.as_uuid()),
        user_id: Set(user.as_uuid()),
        role: Set(role.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// The membership of `user` in the transaction's tenant, if any.
pub async fn find(tx: &TenantTx, user: UserId) -> StorageResult<Option<membership::Model>> {
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::UserId.eq(user.as_uuid()))
        .one(tx.conn())
        .await?)
}

/// Every membership of `user` (platform look-up used at login).
pub async fn for_user(tx: &Tx, user: UserId) -> StorageResult<Vec<membership::Model>> {
    let mut q = Entity::find().filter(Column::UserId.eq(user.as_uuid()));
    if let Some(t) = tx.tenant() {
        q = q.filter(Column::TenantId.eq(t.as_uuid()));
    }
    Ok(q.all(tx.conn()).await?)
}

/// Lists the tenant's members with their users, newest first.
pub async fn list(tx: &TenantTx, page: PageRequest) -> StorageResult<Page<Member>> {
    let tenant = tx.tenant_id();
    let q = Entity::find().filter(Column::TenantId.eq(tenant.as_uuid()));
    let rows = paginate(q, Column::Id, page)
        .find_also_related(user::Entity)
        .all(tx.conn())
        .await?;
    let rows: Vec<Member> = rows
        .into_iter()
        .filter_map(|(m, u)| {
            u.map(|user| Member {
                membership: m,
                user,
            })
        })
        .collect();
    Ok(Page::from_rows(rows, page.limit, |m| m.membership.id))
}

/// Number of members in the tenant.
pub async fn count(tx: &TenantTx) -> StorageResult<u64> {
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .count(tx.conn())
        .await?)
}

/// Tenant ids of `user`'s memberships, for a platform look-up.
pub async fn tenants_of(tx: &Tx, user: UserId) -> StorageResult<Vec<TenantId>> {
    Ok(for_user(tx, user)
        .await?
        .into_iter()
        .map(|m| TenantId(m.tenant_id))
        .collect())
}

/// Changes the role of `user` in the transaction's tenant; `NotFound` when not a member.
pub async fn set_role(tx: &TenantTx, user: UserId, role: &str) -> StorageResult<membership::Model> {
    let m = find(tx, user).await?.ok_or(crate::StorageError::NotFound)?;
    let mut am: ActiveModel = m.into();
    am.role = Set(role.to_string());
    Ok(am.update(tx.conn()).await?)
}

/// Removes `user` from the transaction's tenant; `NotFound` when not a member.
pub async fn remove(tx: &TenantTx, user: UserId) -> StorageResult<membership::Model> {
    let m = find(tx, user).await?.ok_or(crate::StorageError::NotFound)?;
    Entity::delete_by_id(m.id).exec(tx.conn()).await?;
    Ok(m)
}

/// Members holding `role` in the transaction's tenant.
pub async fn count_with_role(tx: &TenantTx, role: &str) -> StorageResult<u64> {
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::Role.eq(role))
        .count(tx.conn())
        .await?)
}
