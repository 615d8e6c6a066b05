//! Ephemeral realtime client secrets: minted by an API key, they carry a session configuration
//! that any replica hydrates when a socket opens with them.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::{Actor, RequestMeta, Scope};
use crate::services::projects::tenant_of;
use crate::token::{hash_token, random_alnum};
use avb_domain::{
    ApiKeyId, ApiKeyStatus, Permission, ProjectId, TenantId, TenantStatus, UserId, UserStatus,
    ValidationError,
};
use avb_storage::repos::{
    api_keys, audit as audit_repo, memberships, projects, realtime_secrets, tenants, users,
};
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
    /// The local user that minted it (when no key did).
    #[serde(default)]
    user_id: Option<uuid::Uuid>,
    /// The project a user minted it for (a key's project comes from the key).
    #[serde(default)]
    project_id: Option<uuid::Uuid>,
    dialect: String,
    session: Value,
}

/// Redis keys of a secret: a pointer from the token hash to its tenant, and the record under
/// the tenant's prefix (T4.3).
fn redis_keys(hash: &str, tenant: uuid::Uuid) -> (String, String) {
    (
        crate::redis_keys::client_secret_pointer(hash),
        crate::redis_keys::client_secret(tenant, hash),
    )
}

/// The key under which a database-stored secret's session carries the project a user minted
/// it for (taken out again at redemption; the table has no column for it).
const PROJECT_KEY: &str = "x_avb_project_id";

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
    mint(ctx, scope, None, dialect, session, ttl_secs).await
}

/// Mints a secret for the signed-in user (requires `realtime:connect`), for `project` when
/// given (it must be the tenant's): the sessions it opens are recorded under that project and
/// use its voice settings. The portal's playground mints these.
pub async fn create_user_client_secret(
    ctx: &AppContext,
    scope: &Scope,
    project: Option<ProjectId>,
    dialect: &str,
    session: Value,
    ttl_secs: u64,
) -> CoreResult<ClientSecret> {
    if scope.actor().user_id().is_none() {
        return Err(CoreError::Forbidden(Permission::RealtimeConnect));
    }
    mint(ctx, scope, project, dialect, session, ttl_secs).await
}

async fn mint(
    ctx: &AppContext,
    scope: &Scope,
    project: Option<ProjectId>,
    dialect: &str,
    mut session: Value,
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
    let user = scope.actor().user_id();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(p) = project {
        projects::get(&tx, p).await?;
    }
    let id = match &ctx.redis {
        Some(client) => {
            let record = StoredSecret {
                id: uuid::Uuid::now_v7(),
                tenant_id: tenant.as_uuid(),
                api_key_id: key.map(|k| k.as_uuid()),
                user_id: user.map(|u| u.as_uuid()),
                project_id: project.map(|p| p.as_uuid()),
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
            if let (Some(p), Some(obj)) = (project, session.as_object_mut()) {
                obj.insert(PROJECT_KEY.into(), Value::String(p.to_string()));
            }
            realtime_secrets::insert(&tx, key, user, hash, dialect, session, expires_at)
                .await?
                .id
        }
    };
    let store = if ctx.redis.is_some() {
        "redis"
    } else {
        "database"
    };
    let mut summary =
        serde_json::json!({"dialect": dialect, "expires_at": expires_at, "store": store});
    if let Some(p) = project {
        summary["project_id"] = Value::String(p.to_string());
    }
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

/// Takes a live secret out of its store (Redis first, when configured, then the database), so
/// that it opens one session only: of two concurrent redemptions exactly one gets it.
async fn take_secret(ctx: &AppContext, hash: &str) -> CoreResult<Option<StoredSecret>> {
    if let Some(client) = &ctx.redis {
        let redis_err = |e: redis::RedisError| CoreError::Internal(format!("redis: {e}"));
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(redis_err)?;
        // GETDEL on the pointer is the single-use gate.
        let tenant: Option<String> = redis::cmd("GETDEL")
            .arg(crate::redis_keys::client_secret_pointer(hash))
            .query_async(&mut conn)
            .await
            .map_err(redis_err)?;
        if let Some(tenant) = tenant.and_then(|t| t.parse::<uuid::Uuid>().ok()) {
            let (_, data) = redis_keys(hash, tenant);
            let mut body: Option<String> = redis::cmd("GETDEL")
                .arg(&data)
                .query_async(&mut conn)
                .await
                .map_err(redis_err)?;
            if body.is_none() {
                // Minted before the upgrade to tenant-first keys (they expire within 2 h).
                body = redis::cmd("GETDEL")
                    .arg(crate::redis_keys::legacy_client_secret(tenant, hash))
                    .query_async(&mut conn)
                    .await
                    .map_err(redis_err)?;
            }
            if let Some(record) = body.and_then(|b| serde_json::from_str::<StoredSecret>(&b).ok())
                && record.tenant_id == tenant
            {
                return Ok(Some(record));
            }
        }
    }
    let tx = ctx.store.platform_tx(true).await?;
    let Some(row) = realtime_secrets::find_live(&tx, hash).await? else {
        tx.commit().await?;
        return Ok(None);
    };
    let taken = realtime_secrets::consume(&tx, row.id).await?;
    tx.commit().await?;
    let mut session = row.session;
    let project_id = session
        .as_object_mut()
        .and_then(|o| o.remove(PROJECT_KEY))
        .and_then(|v| v.as_str().and_then(|s| s.parse().ok()));
    Ok(taken.then_some(StoredSecret {
        id: row.id,
        tenant_id: row.tenant_id,
        api_key_id: row.api_key_id,
        user_id: row.user_id,
        project_id,
        dialect: row.dialect,
        session,
    }))
}

/// Who minted a secret, checked again at redemption.
struct Minter {
    project: Option<ProjectId>,
    key_prefix: Option<String>,
    user: Option<UserId>,
}

/// Checks that what minted the secret may still open sessions: the key is active and
/// unexpired and its project exists, or the user is active and still a member of the tenant.
async fn check_minter(ctx: &AppContext, row: &StoredSecret) -> CoreResult<Minter> {
    let revoked =
        CoreError::Unauthorized("the credential that minted this client secret was revoked");
    let tenant = TenantId(row.tenant_id);
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let minter = match (row.api_key_id, row.user_id) {
        (Some(key), _) => {
            let Ok(key) = api_keys::get(&tx, ApiKeyId(key)).await else {
                return Err(revoked);
            };
            match ApiKeyStatus::from_stored(&key.status) {
                ApiKeyStatus::Active => {}
                ApiKeyStatus::Suspended => return Err(CoreError::TenantSuspended),
                ApiKeyStatus::Revoked => return Err(revoked),
            }
            if key.expires_at.is_some_and(|e| e <= Utc::now()) {
                return Err(revoked);
            }
            if let Some(p) = key.project_id
                && projects::get(&tx, ProjectId(p)).await.is_err()
            {
                return Err(revoked);
            }
            Minter {
                project: key.project_id.map(ProjectId),
                key_prefix: Some(key.prefix),
                user: None,
            }
        }
        (None, Some(user)) => {
            let user = UserId(user);
            let member = memberships::find(&tx, user).await?;
            let platform = ctx.store.platform_tx(false).await?;
            let active = users::get(&platform, user)
                .await
                .is_ok_and(|u| UserStatus::from_stored(&u.status) == UserStatus::Active);
            platform.commit().await?;
            if member.is_none() || !active {
                return Err(revoked);
            }
            let project = row.project_id.map(ProjectId);
            if let Some(p) = project
                && projects::get(&tx, p).await.is_err()
            {
                return Err(revoked);
            }
            Minter {
                project,
                key_prefix: None,
                user: Some(user),
            }
        }
        // Minted before minters were recorded: nothing to check against.
        (None, None) => Minter {
            project: None,
            key_prefix: None,
            user: None,
        },
    };
    tx.commit().await?;
    Ok(minter)
}

/// Turns a presented `ek_` secret into a realtime-only scope and its stored session. A secret
/// opens one session, and only while the key (or user) that minted it is still in good
/// standing and its tenant active.
pub async fn redeem(
    ctx: &AppContext,
    token: &str,
    meta: RequestMeta,
) -> CoreResult<RedeemedSecret> {
    let row = take_secret(ctx, &hash_token(token.trim()))
        .await?
        .ok_or(CoreError::Unauthorized("invalid or expired client secret"))?;
    let tx = ctx.store.platform_tx(false).await?;
    let tenant = tenants::get(&tx, TenantId(row.tenant_id)).await?;
    tx.commit().await?;
    if TenantStatus::from_stored(&tenant.status) != TenantStatus::Active {
        return Err(CoreError::TenantSuspended);
    }
    let minter = check_minter(ctx, &row).await?;
    let scope = Scope::new(
        Actor::ClientSecret {
            id: row.id,
            project: minter.project,
            key_prefix: minter.key_prefix,
            user: minter.user,
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
