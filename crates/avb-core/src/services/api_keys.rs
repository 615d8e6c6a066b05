//! API keys: `avb_<live|test>_<prefix>_<secret>`, HMAC-stored, shown once, rotated with a 24 h
//! grace period, revoked at once everywhere.

use crate::audit;
use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use crate::token::random_alnum;
use avb_domain::{ApiKeyId, ApiKeyStatus, KeyEnvironment, KeyScope, Name, Permission, ProjectId};
use avb_storage::repos::{api_keys, audit as audit_repo, projects};

pub use avb_storage::repos::api_keys::KeyFilter;
use avb_storage::{Page, PageRequest, TenantTx};
use chrono::{Duration, Utc};

pub use crate::views::ApiKey;

/// How long a rotated key keeps working.
pub const ROTATION_GRACE_HOURS: i64 = 24;

/// A new key and its secret, which is never retrievable again.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub secret: String,
}

/// Validated input for a new key.
pub struct NewKeyInput {
    pub name: String,
    pub project: Option<ProjectId>,
    pub scopes: Vec<String>,
    pub environment: KeyEnvironment,
}

/// Fields that can change on a key.
#[derive(Default)]
pub struct KeyUpdate {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub project: Option<Option<ProjectId>>,
}

/// Display status: active, expiring (rotated, in grace), expired, revoked, suspended.
pub fn display_status(k: &ApiKey) -> &'static str {
    k.display_status()
}

fn scopes_text(scopes: &[KeyScope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

async fn mint(
    ctx: &AppContext,
    tx: &TenantTx,
    scope: &Scope,
    name: &str,
    project: Option<ProjectId>,
    scopes: &[KeyScope],
    env: &str,
) -> CoreResult<CreatedKey> {
    let prefix = random_alnum(8);
    let secret = format!("avb_{env}_{prefix}_{}", random_alnum(40));
    let key = api_keys::insert(
        tx,
        api_keys::NewKey {
            id: ApiKeyId::new(),
            project,
            name,
            environment: env,
            prefix: &prefix,
            secret_hash: ctx.keys.digest(&secret),
            scopes: scopes_text(scopes),
            created_by: scope.actor().user_id(),
        },
    )
    .await?
    .into();
    Ok(CreatedKey { key, secret })
}

/// Creates a key; the secret is returned exactly once.
pub async fn create(ctx: &AppContext, scope: &Scope, input: NewKeyInput) -> CoreResult<CreatedKey> {
    let tenant = tenant_of(scope, Permission::ApiKeysManage)?;
    ctx.policy
        .authorize(scope, Permission::ApiKeysManage, Some(tenant))?;
    let name = Name::parse("name", &input.name)?;
    let scopes = KeyScope::parse_list("scopes", &input.scopes)?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(p) = input.project {
        projects::get(&tx, p)
            .await
            .map_err(|_| avb_domain::ValidationError::new("project_id", "no such project"))?;
    }
    let created = mint(
        ctx,
        &tx,
        scope,
        name.as_str(),
        input.project,
        &scopes,
        input.environment.as_str(),
    )
    .await?;
    let summary = serde_json::json!({
        "name": name.as_str(), "prefix": created.key.prefix, "scopes": created.key.scopes,
        "project_id": input.project, "environment": input.environment.as_str(),
    });
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "api_key.create",
            "api_key",
            created.key.id,
            summary.clone(),
        ),
    )
    .await?;
    let mut event = summary;
    event["id"] = serde_json::json!(created.key.id);
    crate::services::events::record(&tx, "api_key.created", event).await?;
    tx.commit().await?;
    Ok(created)
}

/// Lists keys (never secrets).
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    filter: api_keys::KeyFilter<'_>,
    page: PageRequest,
) -> CoreResult<Page<ApiKey>> {
    let tenant = tenant_of(scope, Permission::ApiKeysView)?;
    ctx.policy
        .authorize(scope, Permission::ApiKeysView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = api_keys::list(&tx, filter, page).await?;
    tx.commit().await?;
    Ok(page.map(ApiKey::from))
}

/// One key.
pub async fn get(ctx: &AppContext, scope: &Scope, id: ApiKeyId) -> CoreResult<ApiKey> {
    let tenant = tenant_of(scope, Permission::ApiKeysView)?;
    ctx.policy
        .authorize(scope, Permission::ApiKeysView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let k = api_keys::get(&tx, id).await?;
    tx.commit().await?;
    Ok(k.into())
}

/// Changes name, scopes or project.
pub async fn update(
    ctx: &AppContext,
    scope: &Scope,
    id: ApiKeyId,
    upd: KeyUpdate,
) -> CoreResult<ApiKey> {
    let tenant = tenant_of(scope, Permission::ApiKeysManage)?;
    ctx.policy
        .authorize(scope, Permission::ApiKeysManage, Some(tenant))?;
    let name = upd
        .name
        .as_deref()
        .map(|n| Name::parse("name", n))
        .transpose()?;
    let scopes = upd
        .scopes
        .as_deref()
        .map(|s| KeyScope::parse_list("scopes", s))
        .transpose()?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    if let Some(Some(p)) = upd.project {
        projects::get(&tx, p)
            .await
            .map_err(|_| avb_domain::ValidationError::new("project_id", "no such project"))?;
    }
    let current = ApiKey::from(api_keys::get(&tx, id).await?);
    if current.status == ApiKeyStatus::Revoked {
        return Err(crate::CoreError::Conflict(
            "a revoked key cannot be changed".into(),
        ));
    }
    let k = ApiKey::from(
        api_keys::update(
            &tx,
            id,
            name.as_ref().map(|n| n.as_str()),
            scopes.as_deref().map(scopes_text),
            upd.project,
        )
        .await?,
    );
    let summary = serde_json::json!({
        "name": name.as_ref().map(|n| n.as_str()), "scopes": scopes.as_deref().map(scopes_text),
        "project_id": upd.project,
    });
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "api_key.update",
            "api_key",
            id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    ctx.revocations
        .revoke_keys(tenant, std::slice::from_ref(&k.prefix))
        .await;
    Ok(k)
}

/// Rotates a key: a new key with the same settings; the old one works for 24 more hours.
pub async fn rotate(ctx: &AppContext, scope: &Scope, id: ApiKeyId) -> CoreResult<CreatedKey> {
    let tenant = tenant_of(scope, Permission::ApiKeysManage)?;
    ctx.policy
        .authorize(scope, Permission::ApiKeysManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let old = ApiKey::from(api_keys::get(&tx, id).await?);
    if old.display_status() != "active" {
        return Err(crate::CoreError::Conflict(format!(
            "only an active key can be rotated (this one is {})",
            old.display_status()
        )));
    }
    let scopes = KeyScope::parse_list("scopes", &old.scopes.split(',').collect::<Vec<_>>())?;
    let created = mint(
        ctx,
        &tx,
        scope,
        &old.name,
        old.project_id,
        &scopes,
        &old.environment,
    )
    .await?;
    let grace_until = Utc::now() + Duration::hours(ROTATION_GRACE_HOURS);
    api_keys::mark_rotated(&tx, id, created.key.id, grace_until).await?;
    let summary = serde_json::json!({"new_key_id": created.key.id, "new_prefix": created.key.prefix, "old_valid_until": grace_until});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "api_key.rotate",
            "api_key",
            id,
            summary.clone(),
        ),
    )
    .await?;
    let mut event = summary;
    event["id"] = serde_json::json!(id);
    crate::services::events::record(&tx, "api_key.rotated", event).await?;
    tx.commit().await?;
    ctx.revocations
        .revoke_keys(tenant, std::slice::from_ref(&old.prefix))
        .await;
    Ok(created)
}

/// Revokes a key immediately, here and on every replica.
pub async fn revoke(ctx: &AppContext, scope: &Scope, id: ApiKeyId) -> CoreResult<ApiKey> {
    let tenant = tenant_of(scope, Permission::ApiKeysManage)?;
    ctx.policy
        .authorize(scope, Permission::ApiKeysManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let current = ApiKey::from(api_keys::get(&tx, id).await?);
    if current.status == ApiKeyStatus::Revoked {
        return Err(crate::CoreError::Conflict(
            "the key is already revoked".into(),
        ));
    }
    let k = ApiKey::from(api_keys::revoke(&tx, id).await?);
    let summary = serde_json::json!({"prefix": k.prefix});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "api_key.revoke",
            "api_key",
            id,
            summary,
        ),
    )
    .await?;
    let event = serde_json::json!({"id": k.id, "name": k.name, "prefix": k.prefix,
        "revoked_by": scope.actor().label()});
    crate::services::webhooks::emit(&tx, "api_key.revoked", event).await?;
    tx.commit().await?;
    ctx.revocations
        .revoke_keys(tenant, std::slice::from_ref(&k.prefix))
        .await;
    ctx.revocations
        .end_realtime_of_keys(tenant, std::slice::from_ref(&k.prefix))
        .await;
    Ok(k)
}
