//! Ephemeral realtime client secrets: minted by an API key, they carry a session configuration
//! that any replica hydrates when a socket opens with them.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::{Actor, RequestMeta, Scope};
use crate::services::projects::tenant_of;
use crate::token::{hash_token, random_alnum};
use avb_domain::{ApiKeyId, Permission, ProjectId, TenantId, TenantStatus, ValidationError};
use avb_storage::repos::{api_keys, audit as audit_repo, realtime_secrets, tenants};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeSet;

/// A minted secret.
#[derive(Debug, Clone)]
pub struct ClientSecret {
    /// `ek_...`, usable as a bearer token or subprotocol key on /v1/realtime.
    pub value: String,
    pub expires_at: DateTime<Utc>,
}

/// The session a secret carries, and its dialect (`beta` or `ga`).
#[derive(Debug, Clone)]
pub struct RedeemedSecret {
    pub scope: Scope,
    pub dialect: String,
    pub session: Value,
}

/// What a secret carries, wherever it is kept.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSecret {
    id: uuid::Uuid,
    tenant_id: uuid::Uuid,
    api_key_id: Option<uuid::Uuid>,
    dialect: String,
    session: Value,
}

/// Redis keys of a secret: a pointer from the token hash to its tenant, and the record under
/// the tenant's prefix (T4.3).
fn redis_keys(hash: &str, tenant: uuid::Uuid) -> (String, String) {
    (
        format!("avb:ek:{hash}"),
        format!("avb:t:{tenant}:ek:{hash}"),
    )
}

/// Mints a secret valid for `ttl_secs` (10..=7200) carrying `session` in `dialect`. With Redis
/// configured the record lives there (expiring with the secret), otherwise in the database;
/// either way any replica can redeem it. The minting is audited in the database.
pub async fn create_client_secret(
    ctx: &AppContext,
    scope: &Scope,
    dialect: &str,
    session: Value,
    ttl_secs: u64,
) -> CoreResult<ClientSecret> {
    let tenant = tenant_of(scope, Permission::RealtimeConnect)?;
    ctx.policy
        .authorize(scope, Permission::RealtimeConnect, Some(tenant))?;
    if !(10..=7200).contains(&ttl_secs) {
        return Err(
            ValidationError::new("expires_after.seconds", "must be between 10 and 7200").into(),
        );
    }
    let value = format!("ek_{}", random_alnum(40));
    let hash = hash_token(&value);
    let expires_at = Utc::now() + Duration::seconds(ttl_secs as i64);
    let key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(*id),
        _ => None,
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let id = match &ctx.redis {
        Some(client) => {
            let record = StoredSecret {
                id: uuid::Uuid::now_v7(),
                tenant_id: tenant.as_uuid(),
                api_key_id: key.map(|k| k.as_uuid()),
                dialect: dialect.to_string(),
                session,
            };
            let (pointer, data) = redis_keys(&hash, tenant.as_uuid());
            let body =
                serde_json::to_string(&record).map_err(|e| CoreError::Internal(e.to_string()))?;
            let mut conn = client
                .get_multiplexed_async_connection()
                .await
                .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
            let _: () = redis::pipe()
                .atomic()
                .set_ex(&data, body, ttl_secs)
                .ignore()
                .set_ex(&pointer, tenant.as_uuid().to_string(), ttl_secs)
                .ignore()
                .query_async(&mut conn)
                .await
                .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
            record.id
        }
        None => {
            realtime_secrets::insert(&tx, key, hash, dialect, session, expires_at)
                .await?
                .id
        }
    };
    let store = if ctx.redis.is_some() {
        "redis"
    } else {
        "database"
    };
    let summary = serde_json::json!({"dialect": dialect, "expires_at": expires_at, "store": store});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "realtime.client_secret.create",
            "client_secret",
            id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(ClientSecret { value, expires_at })
}

/// The record of a live secret: Redis first (when configured), then the database.
async fn find_secret(ctx: &AppContext, hash: &str) -> CoreResult<Option<StoredSecret>> {
    if let Some(client) = &ctx.redis {
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
        let tenant: Option<String> = redis::cmd("GET")
            .arg(format!("avb:ek:{hash}"))
            .query_async(&mut conn)
            .await
            .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
        if let Some(tenant) = tenant.and_then(|t| t.parse::<uuid::Uuid>().ok()) {
            let (_, data) = redis_keys(hash, tenant);
            let body: Option<String> = redis::cmd("GET")
                .arg(&data)
                .query_async(&mut conn)
                .await
                .map_err(|e| CoreError::Internal(format!("redis: {e}")))?;
            if let Some(record) = body.and_then(|b| serde_json::from_str::<StoredSecret>(&b).ok())
                && record.tenant_id == tenant
            {
                return Ok(Some(record));
            }
        }
    }
    let tx = ctx.store.platform_tx(false).await?;
    let row = realtime_secrets::find_live(&tx, hash).await?;
    tx.commit().await?;
    Ok(row.map(|row| StoredSecret {
        id: row.id,
        tenant_id: row.tenant_id,
        api_key_id: row.api_key_id,
        dialect: row.dialect,
        session: row.session,
    }))
}

/// Turns a presented `ek_` secret into a realtime-only scope and its stored session.
pub async fn redeem(
    ctx: &AppContext,
    token: &str,
    meta: RequestMeta,
) -> CoreResult<RedeemedSecret> {
    let row = find_secret(ctx, &hash_token(token.trim()))
        .await?
        .ok_or(CoreError::Unauthorized("invalid or expired client secret"))?;
    let tx = ctx.store.platform_tx(false).await?;
    let tenant = tenants::get(&tx, TenantId(row.tenant_id)).await?;
    tx.commit().await?;
    let project = match row.api_key_id {
        Some(key) => {
            let tx = ctx.store.tenant_tx(TenantId(row.tenant_id), false).await?;
            let key = api_keys::get(&tx, ApiKeyId(key)).await.ok();
            tx.commit().await?;
            key.and_then(|k| k.project_id).map(ProjectId)
        }
        None => None,
    };
    if TenantStatus::from_stored(&tenant.status) != TenantStatus::Active {
        return Err(CoreError::TenantSuspended);
    }
    let scope = Scope::new(
        Actor::ClientSecret {
            id: row.id,
            project,
        },
        Some(TenantId(row.tenant_id)),
        None,
        false,
        None,
        meta,
    )
    .with_permissions(BTreeSet::from([Permission::RealtimeConnect]));
    Ok(RedeemedSecret {
        scope,
        dialect: row.dialect,
        session: row.session,
    })
}
