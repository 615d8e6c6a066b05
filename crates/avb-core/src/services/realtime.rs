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

/// Mints a secret valid for `ttl_secs` (10..=7200) carrying `session` in `dialect`.
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
    let expires_at = Utc::now() + Duration::seconds(ttl_secs as i64);
    let key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(*id),
        _ => None,
    };
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let row = realtime_secrets::insert(&tx, key, hash_token(&value), dialect, session, expires_at)
        .await?;
    let summary = serde_json::json!({"dialect": dialect, "expires_at": expires_at});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "realtime.client_secret.create",
            "client_secret",
            row.id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(ClientSecret { value, expires_at })
}

/// Turns a presented `ek_` secret into a realtime-only scope and its stored session.
pub async fn redeem(
    ctx: &AppContext,
    token: &str,
    meta: RequestMeta,
) -> CoreResult<RedeemedSecret> {
    let tx = ctx.store.platform_tx(false).await?;
    let row = realtime_secrets::find_live(&tx, &hash_token(token.trim()))
        .await?
        .ok_or(CoreError::Unauthorized("invalid or expired client secret"))?;
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
