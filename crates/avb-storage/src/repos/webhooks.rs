//! Webhook endpoints, the delivery outbox and the attempt log.

use crate::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{TenantTx, Tx};
use avb_domain::DeliveryStatus;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use uuid::Uuid;

pub use webhook_attempt::Model as Attempt;
pub use webhook_delivery::Model as Delivery;
pub use webhook_endpoint::Model as Endpoint;

/// Fields of a new endpoint.
pub struct NewEndpoint<'a> {
    pub url: &'a str,
    pub description: &'a str,
    pub events: &'a str,
    pub secret_enc: &'a str,
}

/// Adds an endpoint to the transaction's tenant.
pub async fn insert_endpoint(tx: &TenantTx, e: NewEndpoint<'_>) -> StorageResult<Endpoint> {
    let tenant = tx.tenant_id();
    Ok(webhook_endpoint::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant.as_uuid()),
        url: Set(e.url.to_string()),
        description: Set(e.description.to_string()),
        events: Set(e.events.to_string()),
        secret_enc: Set(e.secret_enc.to_string()),
        enabled: Set(true),
        created_at: Set(Utc::now()),
    }
    .insert(tx.conn())
    .await?)
}

/// The tenant's endpoints, newest first (at most 100).
pub async fn list_endpoints(tx: &TenantTx) -> StorageResult<Vec<Endpoint>> {
    let tenant = tx.tenant_id();
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant.as_uuid()))
        .order_by_desc(webhook_endpoint::Column::Id)
        .limit(100)
        .all(tx.conn())
        .await?)
}

/// One page of the tenant's endpoints, newest first.
pub async fn page_endpoints(tx: &TenantTx, page: PageRequest) -> StorageResult<Page<Endpoint>> {
    let tenant = tx.tenant_id();
    let q = webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::TenantId.eq(tenant.as_uuid()));
    let rows = paginate(q, webhook_endpoint::Column::Id, page)
        .all(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// One endpoint: of the transaction's tenant, or any for a platform transaction.
pub async fn get_endpoint(tx: &Tx, id: Uuid) -> StorageResult<Endpoint> {
    let mut q = webhook_endpoint::Entity::find_by_id(id);
    if let Some(t) = tx.tenant() {
        q = q.filter(webhook_endpoint::Column::TenantId.eq(t.as_uuid()));
    }
    q.one(tx.conn()).await?.ok_or(StorageError::NotFound)
}

/// Deletes an endpoint with its deliveries and attempts.
pub async fn delete_endpoint(tx: &Tx, id: Uuid) -> StorageResult<Endpoint> {
    let e = get_endpoint(tx, id).await?;
    let deliveries: Vec<Uuid> = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .select_only()
        .column(webhook_delivery::Column::Id)
        .into_tuple()
        .all(tx.conn())
        .await?;
    webhook_attempt::Entity::delete_many()
        .filter(webhook_attempt::Column::DeliveryId.is_in(deliveries))
        .exec(tx.conn())
        .await?;
    webhook_delivery::Entity::delete_many()
        .filter(webhook_delivery::Column::EndpointId.eq(id))
        .exec(tx.conn())
        .await?;
    webhook_endpoint::Entity::delete_by_id(id)
        .exec(tx.conn())
        .await?;
    Ok(e)
}

/// Queues one delivery of `payload` to `endpoint` in the caller's transaction (the outbox: the
/// event is stored exactly when the change that caused it commits).
pub async fn enqueue(
    tx: &TenantTx,
    endpoint: Uuid,
    id: Uuid,
    event_type: &str,
    payload: &str,
) -> StorageResult<Delivery> {
    let tenant = tx.tenant_id();
    let now = Utc::now();
    Ok(webhook_delivery::ActiveModel {
        id: Set(id),
        tenant_id: Set(tenant.as_uuid()),
        endpoint_id: Set(endpoint),
        event_type: Set(event_type.to_string()),
        payload: Set(payload.to_string()),
        status: Set(DeliveryStatus::Pending.as_str().into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        last_status_code: Set(None),
        last_error: Set(String::new()),
        created_at: Set(now),
        delivered_at: Set(None),
    }
    .insert(tx.conn())
    .await?)
}

/// Pending deliveries due at `now` across tenants (platform transaction), oldest first.
pub async fn due(tx: &Tx, now: DateTime<Utc>, limit: u64) -> StorageResult<Vec<Delivery>> {
    Ok(webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_delivery::Column::NextAttemptAt.lte(now))
        .order_by_asc(webhook_delivery::Column::NextAttemptAt)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// Takes a due delivery until `lease_until` so that no other replica sends it meanwhile; false
/// when another worker took it first.
pub async fn claim(tx: &Tx, d: &Delivery, lease_until: DateTime<Utc>) -> StorageResult<bool> {
    let r = webhook_delivery::Entity::update_many()
        .col_expr(
            webhook_delivery::Column::NextAttemptAt,
            Expr::value(lease_until),
        )
        .filter(webhook_delivery::Column::Id.eq(d.id))
        .filter(webhook_delivery::Column::Status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_delivery::Column::NextAttemptAt.eq(d.next_attempt_at))
        .exec(tx.conn())
        .await?;
    Ok(r.rows_affected == 1)
}

/// What one attempt got.
pub struct Outcome<'a> {
    pub status_code: Option<i32>,
    pub error: &'a str,
    pub duration_ms: i64,
    pub delivered: bool,
    /// When not delivered: `Some(t)` tries again at `t`, `None` gives up.
    pub retry_at: Option<DateTime<Utc>>,
}

/// Logs an attempt and moves the delivery on (delivered, retry later, or failed).
pub async fn record_attempt(tx: &Tx, d: Delivery, o: Outcome<'_>) -> StorageResult<Delivery> {
    let now = Utc::now();
    let attempt = d.attempts + 1;
    webhook_attempt::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(d.tenant_id),
        delivery_id: Set(d.id),
        attempt: Set(attempt),
        status_code: Set(o.status_code),
        error: Set(o.error.to_string()),
        duration_ms: Set(o.duration_ms),
        created_at: Set(now),
    }
    .insert(tx.conn())
    .await?;
    let mut am: webhook_delivery::ActiveModel = d.into();
    am.attempts = Set(attempt);
    am.last_status_code = Set(o.status_code);
    am.last_error = Set(o.error.to_string());
    if o.delivered {
        am.status = Set(DeliveryStatus::Delivered.as_str().into());
        am.delivered_at = Set(Some(now));
    } else if let Some(at) = o.retry_at {
        am.next_attempt_at = Set(at);
    } else {
        am.status = Set(DeliveryStatus::Failed.as_str().into());
    }
    Ok(am.update(tx.conn()).await?)
}

/// The tenant's deliveries, newest first, optionally of one endpoint.
pub async fn list_deliveries(
    tx: &TenantTx,
    endpoint: Option<Uuid>,
    page: PageRequest,
) -> StorageResult<Page<Delivery>> {
    let tenant = tx.tenant_id();
    let mut q = webhook_delivery::Entity::find()
        .filter(webhook_delivery::Column::TenantId.eq(tenant.as_uuid()));
    if let Some(e) = endpoint {
        q = q.filter(webhook_delivery::Column::EndpointId.eq(e));
    }
    let rows = paginate(q, webhook_delivery::Column::Id, page)
        .all(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// Attempts of one delivery, oldest first.
pub async fn attempts(tx: &TenantTx, delivery: Uuid) -> StorageResult<Vec<Attempt>> {
    let tenant = tx.tenant_id();
    Ok(webhook_attempt::Entity::find()
        .filter(webhook_attempt::Column::TenantId.eq(tenant.as_uuid()))
        .filter(webhook_attempt::Column::DeliveryId.eq(delivery))
        .order_by_asc(webhook_attempt::Column::Id)
        .all(tx.conn())
        .await?)
}

/// One delivery: of the transaction's tenant, or any for a platform transaction.
pub async fn get_delivery(tx: &Tx, id: Uuid) -> StorageResult<Delivery> {
    let mut q = webhook_delivery::Entity::find_by_id(id);
    if let Some(t) = tx.tenant() {
        q = q.filter(webhook_delivery::Column::TenantId.eq(t.as_uuid()));
    }
    q.one(tx.conn()).await?.ok_or(StorageError::NotFound)
}
