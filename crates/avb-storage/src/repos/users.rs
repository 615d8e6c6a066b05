//! Users (global: a person may belong to several tenants through memberships).

use crate::entities::user::{ActiveModel, Column, Entity, Model};
use crate::error::{StorageError, StorageResult};
use crate::store::Tx;
use avb_domain::UserId;
use avb_domain::UserStatus;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};

/// Fields of a new user.
pub struct NewUser<'a> {
    pub id: UserId,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: Option<String>,
    pub is_saas_admin: bool,
}

/// Inserts a user; a duplicate e-mail is a conflict.
pub async fn insert(tx: &Tx, u: NewUser<'_>) -> StorageResult<Model> {
    let now = Utc::now();
    Ok(ActiveModel {
        id: Set(u.id.as_uuid()),
        email: Set(u.email.to_string()),
        name: Set(u.name.to_string()),
        password_hash: Set(u.password_hash),
        totp_secret: Set(None),
        totp_last_step: Set(None),
        is_saas_admin: Set(u.is_saas_admin),
        status: Set(UserStatus::Active.as_str().into()),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(tx.conn())
    .await?)
}

/// Finds a user by id.
pub async fn get(tx: &Tx, id: UserId) -> StorageResult<Model> {
    Entity::find_by_id(id.as_uuid())
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// Finds a user by (lower-cased) e-mail.
pub async fn find_by_email(tx: &Tx, email: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::Email.eq(email))
        .one(tx.conn())
        .await?)
}

/// Whether any SaaS admin exists.
pub async fn any_saas_admin(tx: &Tx) -> StorageResult<bool> {
    Ok(Entity::find()
        .filter(Column::IsSaasAdmin.eq(true))
        .count(tx.conn())
        .await?
        > 0)
}

/// Records a failed login; locks the account until `lock_until` when `lock_until` is set.
pub async fn record_failure(
    tx: &Tx,
    id: UserId,
    lock_until: Option<DateTime<Utc>>,
) -> StorageResult<()> {
    let mut upd = Entity::update_many()
        .col_expr(Column::FailedLogins, Expr::col(Column::FailedLogins).add(1))
        .filter(Column::Id.eq(id.as_uuid()));
    if let Some(until) = lock_until {
        upd = upd
            .col_expr(Column::LockedUntil, Expr::value(until))
            .col_expr(Column::FailedLogins, Expr::value(0));
    }
    upd.exec(tx.conn()).await?;
    Ok(())
}

/// Clears failure counters after a good login.
pub async fn record_success(tx: &Tx, id: UserId) -> StorageResult<()> {
    Entity::update_many()
        .col_expr(Column::FailedLogins, Expr::value(0))
        .col_expr(
            Column::LockedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(Column::Id.eq(id.as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Replaces the password hash.
pub async fn set_password(tx: &Tx, id: UserId, hash: String) -> StorageResult<()> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.password_hash = Set(Some(hash));
    am.failed_logins = Set(0);
    am.locked_until = Set(None);
    am.updated_at = Set(Utc::now());
    am.update(tx.conn()).await?;
    Ok(())
}

/// Sets or clears the TOTP secret; `last_step` is the step of the code that proved it (so that
/// code cannot sign in again).
pub async fn set_totp(
    tx: &Tx,
    id: UserId,
    secret: Option<String>,
    last_step: Option<i64>,
) -> StorageResult<()> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.totp_secret = Set(secret);
    am.totp_last_step = Set(last_step);
    am.updated_at = Set(Utc::now());
    am.update(tx.conn()).await?;
    Ok(())
}

/// Changes the display name.
pub async fn set_name(tx: &Tx, id: UserId, name: &str) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.name = Set(name.to_string());
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Lists users newest first, optionally matching `q` against name, e-mail or id.
pub async fn list(
    tx: &Tx,
    q: Option<&str>,
    page: crate::page::PageRequest,
) -> StorageResult<crate::page::Page<Model>> {
    use sea_orm::Condition;
    use sea_orm::sea_query::Func;
    let mut sel = Entity::find();
    if let Some(q) = q.map(str::trim).filter(|q| !q.is_empty()) {
        let like = format!("%{}%", q.to_lowercase());
        let mut cond = Condition::any()
            .add(Expr::expr(Func::lower(Expr::col(Column::Name))).like(like.clone()))
            .add(Column::Email.like(like));
        if let Ok(id) = q.parse::<uuid::Uuid>() {
            cond = cond.add(Column::Id.eq(id));
        }
        sel = sel.filter(cond);
    }
    let rows = crate::repos::paginate(sel, Column::Id, page)
        .all(tx.conn())
        .await?;
    Ok(crate::page::Page::from_rows(rows, page.limit, |r| r.id))
}

/// Sets a user's status (`active` / `disabled`).
pub async fn set_status(tx: &Tx, id: UserId, status: &str) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.status = Set(status.to_string());
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Sets whether a user is a SaaS (platform) admin.
pub async fn set_saas_admin(tx: &Tx, id: UserId, saas_admin: bool) -> StorageResult<Model> {
    let mut am: ActiveModel = get(tx, id).await?.into();
    am.is_saas_admin = Set(saas_admin);
    am.updated_at = Set(Utc::now());
    Ok(am.update(tx.conn()).await?)
}

/// Records that a TOTP code of time step `step` was used; false when that step (or a later one)
/// was already used, i.e. the code is a replay. Atomic: of two concurrent uses one wins.
pub async fn use_totp_step(tx: &Tx, id: UserId, step: i64) -> StorageResult<bool> {
    use sea_orm::Condition;
    let res = Entity::update_many()
        .col_expr(Column::TotpLastStep, Expr::value(step))
        .filter(Column::Id.eq(id.as_uuid()))
        .filter(
            Condition::any()
                .add(Column::TotpLastStep.is_null())
                .add(Column::TotpLastStep.lt(step)),
        )
        .exec(tx.conn())
        .await?;
    Ok(res.rows_affected == 1)
}
