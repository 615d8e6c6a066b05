//! Browser sessions of the portal (platform rows: a browser is not tenant data; the tokens it
//! holds carry their own scope).

use crate::entities::portal_session::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::Tx;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

pub use crate::entities::portal_session::Model as PortalSession;

/// Stores a new session.
pub async fn insert(tx: &Tx, row: Model) -> StorageResult<()> {
    let am: ActiveModel = row.into();
    Entity::insert(am).exec(tx.conn()).await?;
    Ok(())
}

/// The session with key `id`.
pub async fn get(tx: &Tx, id: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find_by_id(id.to_string()).one(tx.conn()).await?)
}

/// Replaces the sealed tokens (and the provider's, when given).
pub async fn set_tokens(
    tx: &Tx,
    id: &str,
    access_enc: String,
    refresh_enc: String,
    idp: Option<(Option<String>, Option<String>)>,
) -> StorageResult<()> {
    let mut am = ActiveModel {
        id: Set(id.to_string()),
        access_token_enc: Set(access_enc),
        refresh_token_enc: Set(refresh_enc),
        last_used_at: Set(Utc::now()),
        ..Default::default()
    };
    if let Some((id_token, refresh)) = idp {
        am.idp_id_token_enc = Set(id_token);
        am.idp_refresh_token_enc = Set(refresh);
    }
    am.update(tx.conn()).await?;
    Ok(())
}

/// Marks the session used now.
pub async fn touch(tx: &Tx, id: &str) -> StorageResult<()> {
    Entity::update_many()
        .col_expr(Column::LastUsedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Deletes the session; returns it if it existed.
pub async fn delete(tx: &Tx, id: &str) -> StorageResult<Option<Model>> {
    let found = get(tx, id).await?;
    if found.is_some() {
        Entity::delete_by_id(id.to_string()).exec(tx.conn()).await?;
    }
    Ok(found)
}

/// Deletes sessions unused since `before`; returns how many.
pub async fn delete_idle(tx: &Tx, before: DateTime<Utc>) -> StorageResult<u64> {
    Ok(Entity::delete_many()
        .filter(Column::LastUsedAt.lt(before))
        .exec(tx.conn())
        .await?
        .rows_affected)
}

/// Starts (`Some(tenant)`) or stops (`None`) a SaaS admin's read-only view of a tenant.
pub async fn set_impersonating(tx: &Tx, id: &str, tenant: Option<uuid::Uuid>) -> StorageResult<()> {
    Entity::update_many()
        .col_expr(Column::Impersonating, Expr::value(tenant))
        .filter(Column::Id.eq(id))
        .exec(tx.conn())
        .await?;
    Ok(())
}
