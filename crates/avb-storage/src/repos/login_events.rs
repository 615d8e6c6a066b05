//! Login history: every attempt, good or bad, with IP and user agent.

use crate::entities::login_event::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::Tx;
use avb_domain::UserId;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// Records a login attempt.
pub async fn insert(
    tx: &Tx,
    user: Option<UserId>,
    email: &str,
    ip: &str,
    user_agent: &str,
    success: bool,
    reason: &str,
) -> StorageResult<Model> {
    Ok(ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        user_id: Set(user.map(|u| u.as_uuid())),
        email: Set(email.to_string()),
        ip: Set(ip.to_string()),
        user_agent: Set(user_agent.to_string()),
        success: Set(success),
        reason: Set(reason.to_string()),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// A user's login history, newest first.
pub async fn list_for_user(tx: &Tx, user: UserId, page: PageRequest) -> StorageResult<Page<Model>> {
    let q = Entity::find().filter(Column::UserId.eq(user.as_uuid()));
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Failed logins across the platform, newest first.
pub async fn failures(tx: &Tx, page: PageRequest) -> StorageResult<Page<Model>> {
    let q = Entity::find().filter(Column::Success.eq(false));
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}
