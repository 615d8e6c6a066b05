//! Webhooks, signed per the Standard Webhooks scheme (`webhook-id`, `webhook-timestamp`,
//! `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), queued in a durable
//! outbox in the same transaction as the change that caused them, delivered by a background job
//! with exponential backoff, every attempt logged.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use crate::services::voice_profiles::private_host;
use avb_domain::{Permission, TenantId, ValidationError, WebhookDeliveryId, WebhookEndpointId};
use avb_storage::repos::audit as audit_repo;
use avb_storage::repos::webhooks::{self as repo, NewEndpoint, Outcome};
use avb_storage::store::TenantTx;
use avb_storage::{Page, PageRequest};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{Duration, Utc};
use ring::hmac;
use uuid::Uuid;

pub use crate::views::{Attempt, Delivery, Endpoint};

/// Event types a tenant can subscribe to.
pub const EVENTS: &[&str] = &[
    "session.closed",
    "api_key.revoked",
    "usage.threshold_reached",
    "invoice.voided",
];

/// The type of the event sent by "Send test event".
pub const TEST_EVENT: &str = "webhook.test";

/// Waits before attempt 2, 3, ...; the last one repeats.
const BACKOFF_SECS: &[i64] = &[5, 30, 120, 600, 1800, 3600, 10_800, 21_600];

/// `v1,<signature>` over `id.timestamp.body` with a `whsec_<base64>` secret.
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> CoreResult<String> {
    let raw = secret.strip_prefix("whsec_").unwrap_or(secret);
    let key_bytes = B64
        .decode(raw)
        .map_err(|_| CoreError::Internal("malformed webhook secret".into()))?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, &key_bytes);
    let tag = hmac::sign(&key, format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", B64.encode(tag.as_ref())))
}

fn new_secret() -> CoreResult<String> {
    let mut bytes = [0u8; 24];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes)
        .map_err(|_| CoreError::Internal("no randomness".into()))?;
    Ok(format!("whsec_{}", B64.encode(bytes)))
}

fn seal_context(tenant: Uuid) -> String {
    format!("webhook:{tenant}")
}

/// Checks an endpoint URL: absolute https (http only where private URLs are allowed), no
/// credentials, and not a private or loopback host unless `webhooks.allow_private_urls`.
pub fn check_url(raw: &str, allow_private: bool) -> Result<String, ValidationError> {
    let bad = |m: &str| ValidationError::new("url", m);
    let raw = raw.trim();
    if raw.len() > 2048 {
        return Err(bad("must be at most 2048 characters"));
    }
    let url = url::Url::parse(raw).map_err(|_| bad("must be an absolute https URL"))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_private => {}
        "http" => return Err(bad("must use https")),
        _ => return Err(bad("must be an absolute https URL")),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not contain credentials"));
    }
    let host = url.host().ok_or_else(|| bad("must name a host"))?;
    if !allow_private && private_host(host) {
        return Err(bad("must not point at a private or loopback address"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    Ok(url.to_string())
}

/// [`check_url`], then (unless private URLs are allowed) resolves the host and refuses a name
/// that resolves to a private, loopback or reserved address.
pub async fn check_url_resolved(raw: &str, allow_private: bool) -> Result<String, ValidationError> {
    let checked = check_url(raw, allow_private)?;
    if !allow_private
        && let Ok(url) = url::Url::parse(&checked)
        && crate::egress::check_target(&url).await.is_err()
    {
        return Err(ValidationError::new(
            "url",
            "must not point at a private or loopback address",
        ));
    }
    Ok(checked)
}

fn check_events(events: &[String]) -> Result<String, ValidationError> {
    if events.is_empty() {
        return Err(ValidationError::new("events", "choose at least one event"));
    }
    for e in events {
        if !EVENTS.contains(&e.as_str()) {
            return Err(ValidationError::new(
                "events",
                format!("unknown event {e}; expected one of {}", EVENTS.join(", ")),
            ));
        }
    }
    Ok(events.join(","))
}

/// Adds an endpoint (requires `settings:manage`); returns it with its signing secret, which is
/// shown this once.
pub async fn create(
    ctx: &AppContext,
    scope: &Scope,
    url: &str,
    description: &str,
    events: &[String],
) -> CoreResult<(Endpoint, String)> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let url = check_url_resolved(url, ctx.config.webhooks.allow_private_urls).await?;
    let events = check_events(events)?;
    let description = description.trim();
    if description.chars().count() > 200 {
        return Err(ValidationError::new("description", "must be at most 200 characters").into());
    }
    let secret = new_secret()?;
    let sealed = ctx.sealer.seal(&secret, &seal_context(tenant.as_uuid()))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let e = repo::insert_endpoint(
        &tx,
        NewEndpoint {
            url: &url,
            description,
            events: &events,
            secret_enc: &sealed,
        },
    )
    .await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "webhook.create",
            "webhook_endpoint",
            e.id,
            serde_json::json!({"url": url, "events": events}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((e.into(), secret))
}

/// The tenant's endpoints (requires `settings:manage`).
pub async fn list(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<Endpoint>> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let out = repo::list_endpoints(&tx).await?;
    tx.commit().await?;
    Ok(out.into_iter().map(Endpoint::from).collect())
}

/// One page of the tenant's endpoints, newest first (requires `settings:manage`).
pub async fn page(
    ctx: &AppContext,
    scope: &Scope,
    page: PageRequest,
) -> CoreResult<Page<Endpoint>> {
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let out = repo::page_endpoints(&tx, page).await?;
    tx.commit().await?;
    Ok(out.map(Endpoint::from))
}

/// Removes an endpoint and its delivery log (requires `settings:manage`).
pub async fn delete(ctx: &AppContext, scope: &Scope, id: WebhookEndpointId) -> CoreResult<()> {
    let id = id.as_uuid();
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let e = repo::delete_endpoint(&tx, id).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "webhook.delete",
            "webhook_endpoint",
            id,
            serde_json::json!({"url": e.url}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Deliveries, newest first, optionally of one endpoint (requires `settings:manage`); an
/// endpoint that is missing or another tenant's is `NotFound`.
pub async fn deliveries(
    ctx: &AppContext,
    scope: &Scope,
    endpoint: Option<WebhookEndpointId>,
    page: PageRequest,
) -> CoreResult<Page<Delivery>> {
    let endpoint = endpoint.map(|e| e.as_uuid());
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    if let Some(id) = endpoint {
        repo::get_endpoint(&tx, id).await?;
    }
    let out = repo::list_deliveries(&tx, endpoint, page).await?;
    tx.commit().await?;
    Ok(out.map(Delivery::from))
}

/// Every attempt of one delivery (requires `settings:manage`).
pub async fn attempts(
    ctx: &AppContext,
    scope: &Scope,
    delivery: WebhookDeliveryId,
) -> CoreResult<Vec<Attempt>> {
    let delivery = delivery.as_uuid();
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    repo::get_delivery(&tx, delivery).await?;
    let out = repo::attempts(&tx, delivery).await?;
    tx.commit().await?;
    Ok(out.into_iter().map(Attempt::from).collect())
}

fn envelope(event_type: &str, data: &serde_json::Value) -> String {
    serde_json::json!({
        "type": event_type,
        "timestamp": Utc::now().to_rfc3339(),
        "data": data,
    })
    .to_string()
}

/// Queues `event_type` for every enabled endpoint of the transaction's tenant subscribed to it,
/// inside the caller's transaction (so the event exists exactly when the change commits); it is
/// a platform event for Kafka too.
pub async fn emit(tx: &TenantTx, event_type: &str, data: serde_json::Value) -> CoreResult<usize> {
    crate::services::events::record(tx, event_type, data.clone()).await?;
    let endpoints = repo::list_endpoints(tx).await?;
    let body = envelope(event_type, &data);
    let mut queued = 0;
    for e in endpoints
        .iter()
        .filter(|e| e.enabled && e.events.split(',').any(|x| x == event_type || x == "*"))
    {
        repo::enqueue(tx, e.id, Uuid::now_v7(), event_type, &body).await?;
        queued += 1;
    }
    Ok(queued)
}

/// What a test send got back.
pub struct TestResult {
    pub status_code: Option<u16>,
    pub error: String,
    pub duration_ms: i64,
}

/// Queues a `webhook.test` event for one endpoint and delivers it now (requires
/// `settings:manage`); the attempt is logged like any other.
pub async fn send_test(
    ctx: &AppContext,
    scope: &Scope,
    endpoint: WebhookEndpointId,
) -> CoreResult<TestResult> {
    let endpoint = endpoint.as_uuid();
    let tenant = tenant_of(scope, Permission::SettingsManage)?;
    ctx.policy
        .authorize(scope, Permission::SettingsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let e = repo::get_endpoint(&tx, endpoint).await?;
    let body = envelope(
        TEST_EVENT,
        &serde_json::json!({"message": "A test event from AgentVoiceBox."}),
    );
    let d = repo::enqueue(&tx, e.id, Uuid::now_v7(), TEST_EVENT, &body).await?;
    // Lease it so the background job leaves it alone while this request sends it.
    repo::claim(&tx, &d, Utc::now() + Duration::seconds(120)).await?;
    tx.commit().await?;
    let d = {
        let tx = ctx.store.tenant_tx(tenant, false).await?;
        let d = repo::get_delivery(&tx, d.id).await?;
        tx.commit().await?;
        d
    };
    let sent = attempt(ctx, &e, &d).await;
    let result = TestResult {
        status_code: sent.status_code,
        error: sent.error.clone(),
        duration_ms: sent.duration_ms,
    };
    finish(ctx, TenantId(e.tenant_id), d, sent).await?;
    Ok(result)
}

/// The result of one HTTP attempt.
struct Sent {
    status_code: Option<u16>,
    error: String,
    duration_ms: i64,
}

async fn attempt(ctx: &AppContext, e: &repo::Endpoint, d: &repo::Delivery) -> Sent {
    let started = std::time::Instant::now();
    let outcome = send(ctx, e, d).await;
    let duration_ms = started.elapsed().as_millis() as i64;
    match outcome {
        Ok(code) => Sent {
            status_code: Some(code),
            error: if (200..300).contains(&code) {
                String::new()
            } else {
                format!("endpoint answered HTTP {code}")
            },
            duration_ms,
        },
        Err(error) => Sent {
            status_code: None,
            error,
            duration_ms,
        },
    }
}

/// POSTs one signed delivery; the endpoint's HTTP status, or why nothing came back.
async fn send(ctx: &AppContext, e: &repo::Endpoint, d: &repo::Delivery) -> Result<u16, String> {
    let secret = ctx
        .sealer
        .open(&e.secret_enc, &seal_context(e.tenant_id))
        .map_err(|_| "the signing secret cannot be opened".to_string())?;
    let id = format!("msg_{}", d.id.simple());
    let timestamp = Utc::now().timestamp();
    let signature = sign(&secret, &id, timestamp, &d.payload).map_err(|e| e.to_string())?;
    let allow_private = ctx.config.webhooks.allow_private_urls;
    // The same answer whatever stopped the request before a response came from an allowed
    // address (refused by the egress guard, unresolvable, refused, reset): no oracle for what
    // listens where.
    const NO_RESPONSE: &str = "no response from the endpoint";
    crate::egress::check_literal(&e.url, allow_private).map_err(|_| NO_RESPONSE.to_string())?;
    let client = crate::egress::tenant_client(allow_private)
        .timeout(std::time::Duration::from_secs(
            ctx.config.webhooks.timeout_secs,
        ))
        .build()
        .map_err(|e| e.to_string())?;
    let res = client
        .post(&e.url)
        .header("content-type", "application/json")
        .header("user-agent", "AgentVoiceBox-Webhooks/1")
        .header("webhook-id", &id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signature)
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timed out".to_string()
            } else {
                NO_RESPONSE.to_string()
            }
        })?;
    Ok(res.status().as_u16())
}

/// Logs the attempt and schedules the next one (or gives up after `max_attempts`).
async fn finish(
    ctx: &AppContext,
    tenant: TenantId,
    d: repo::Delivery,
    sent: Sent,
) -> CoreResult<()> {
    let delivered = sent.status_code.is_some_and(|c| (200..300).contains(&c));
    let done = d.attempts + 1;
    let retry_at = (!delivered && (done as u32) < ctx.config.webhooks.max_attempts).then(|| {
        let wait = BACKOFF_SECS[(done as usize - 1).min(BACKOFF_SECS.len() - 1)];
        Utc::now() + Duration::seconds(wait)
    });
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    repo::record_attempt(
        &tx,
        d,
        Outcome {
            status_code: sent.status_code.map(i32::from),
            error: &sent.error,
            duration_ms: sent.duration_ms,
            delivered,
            retry_at,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Delivers every due delivery once (the background job calls this every few seconds); returns
/// how many were attempted. Deliveries are leased first so replicas do not send one twice.
pub async fn deliver_due(ctx: &AppContext) -> CoreResult<usize> {
    let tx = ctx.store.platform_tx(false).await?;
    let due = repo::due(&tx, Utc::now(), 50).await?;
    tx.commit().await?;
    let mut attempted = 0;
    for d in due {
        let tenant = TenantId(d.tenant_id);
        let tx = ctx.store.tenant_tx(tenant, true).await?;
        let lease = Utc::now() + Duration::seconds(ctx.config.webhooks.timeout_secs as i64 + 30);
        if !repo::claim(&tx, &d, lease).await? {
            continue;
        }
        let endpoint = repo::get_endpoint(&tx, d.endpoint_id).await?;
        let d = repo::get_delivery(&tx, d.id).await?;
        tx.commit().await?;
        let sent = attempt(ctx, &endpoint, &d).await;
        if sent.status_code.is_none_or(|c| !(200..300).contains(&c)) {
            tracing::info!(delivery = %d.id, url = %endpoint.url, error = %sent.error, "webhook attempt failed");
        }
        finish(ctx, tenant, d, sent).await?;
        attempted += 1;
    }
    Ok(attempted)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_example() {
        // The example of the Standard Webhooks specification.
        let sig = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn endpoint_urls_are_checked() {
        assert!(check_url("https://hooks.example.com/avb", false).is_ok());
        assert_eq!(
            check_url("http://hooks.example.com/", false)
                .unwrap_err()
                .message,
            "must use https"
        );
        assert!(check_url("https://127.0.0.1/x", false).is_err());
        assert!(check_url("https://u:p@example.com/", false).is_err());
        assert!(check_url("ftp://example.com/", true).is_err());
        assert!(check_url("http://127.0.0.1:9/x", true).is_ok());
    }

    #[test]
    fn events_must_be_known_and_present() {
        assert!(check_events(&[]).is_err());
        assert!(check_events(&["nope".into()]).is_err());
        assert_eq!(
            check_events(&["session.closed".into(), "api_key.revoked".into()]).unwrap(),
            "session.closed,api_key.revoked"
        );
    }
}
