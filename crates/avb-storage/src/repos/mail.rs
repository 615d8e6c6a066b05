//! The mail outbox: every message is written here first, then sent when SMTP is configured.

use crate::entities::mail::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::Tx;
use avb_domain::MailStatus;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

/// Queues a message.
pub async fn insert(tx: &Tx, to: &str, subject: &str, body: &str) -> StorageResult<Model> {
    Ok(ActiveModel {
        id: Set(uuid::Uuid::now_v7()),
        to_address: Set(to.to_string()),
        subject: Set(subject.to_string()),
        body: Set(body.to_string()),
        status: Set(MailStatus::Queued.as_str().into()),
        attempts: Set(0),
        last_error: Set(String::new()),
        created_at: Set(Utc::now()),
        sent_at: Set(None),
    }
    .insert(tx.conn())
    .await?)
}

/// Lists messages newest first, optionally for one recipient.
pub async fn list(tx: &Tx, to: Option<&str>, page: PageRequest) -> StorageResult<Page<Model>> {
    let mut q = Entity::find();
    if let Some(to) = to {
        q = q.filter(Column::ToAddress.eq(to));
    }
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Oldest queued messages with fewer than `max_attempts` tries.
pub async fn due(tx: &Tx, max_attempts: i32, limit: u64) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::Status.eq(MailStatus::Queued.as_str()))
        .filter(Column::Attempts.lt(max_attempts))
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// Records the outcome of a send attempt.
pub async fn record_attempt(tx: &Tx, m: Model, error: Option<String>) -> StorageResult<()> {
    let attempts = m.attempts + 1;
    let mut am: ActiveModel = m.into();
    am.attempts = Set(attempts);
    match error {
        None => {
            am.status = Set(MailStatus::Sent.as_str().into());
            am.sent_at = Set(Some(Utc::now()));
        }
        Some(e) => am.last_error = Set(e),
    }
    am.update(tx.conn()).await?;
    Ok(())
}
