//! Webhook endpoints, deliveries and attempts.

use avb_domain::{
    DeliveryStatus, TenantId, WebhookAttemptId, WebhookDeliveryId, WebhookEndpointId,
};
use avb_storage::entities::{webhook_attempt, webhook_delivery, webhook_endpoint};
use chrono::{DateTime, Utc};

/// A webhook endpoint (without its sealed signing secret).
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub id: WebhookEndpointId,
    pub tenant_id: TenantId,
    pub url: String,
    pub description: String,
    /// Comma-separated event types, as stored.
    pub events: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_endpoint::Model> for Endpoint {
    fn from(m: webhook_endpoint::Model) -> Self {
        Self {
            id: WebhookEndpointId(m.id),
            tenant_id: TenantId(m.tenant_id),
            url: m.url,
            description: m.description,
            events: m.events,
            enabled: m.enabled,
            created_at: m.created_at,
        }
    }
}

/// One event to one endpoint.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub id: WebhookDeliveryId,
    pub tenant_id: TenantId,
    pub endpoint_id: WebhookEndpointId,
    pub event_type: String,
    pub payload: String,
    pub status: DeliveryStatus,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_status_code: Option<i32>,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

impl From<webhook_delivery::Model> for Delivery {
    fn from(m: webhook_delivery::Model) -> Self {
        Self {
            id: WebhookDeliveryId(m.id),
            tenant_id: TenantId(m.tenant_id),
            endpoint_id: WebhookEndpointId(m.endpoint_id),
            event_type: m.event_type,
            payload: m.payload,
            status: DeliveryStatus::from_stored(&m.status),
            attempts: m.attempts,
            next_attempt_at: m.next_attempt_at,
            last_status_code: m.last_status_code,
            last_error: m.last_error,
            created_at: m.created_at,
            delivered_at: m.delivered_at,
        }
    }
}

/// One attempt of a delivery.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub id: WebhookAttemptId,
    pub tenant_id: TenantId,
    pub delivery_id: WebhookDeliveryId,
    pub attempt: i32,
    pub status_code: Option<i32>,
    pub error: String,
    pub duration_ms: i64,
    pub created_at: DateTime<Utc>,
}

impl From<webhook_attempt::Model> for Attempt {
    fn from(m: webhook_attempt::Model) -> Self {
        Self {
            id: WebhookAttemptId(m.id),
            tenant_id: TenantId(m.tenant_id),
            delivery_id: WebhookDeliveryId(m.delivery_id),
            attempt: m.attempt,
            status_code: m.status_code,
            error: m.error,
            duration_ms: m.duration_ms,
            created_at: m.created_at,
        }
    }
}
