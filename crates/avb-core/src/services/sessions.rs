//! Realtime session records: opened and closed by the gateway, listed and closed by tenants.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::{Actor, Scope};
use crate::services::projects::tenant_of;
use crate::services::revocation::Revocation;
use avb_domain::{Permission, TenantId};
use avb_storage::entities::realtime_session::Model as SessionRecord;
use avb_storage::repos::{audit as audit_repo, realtime_sessions};
use avb_storage::{Page, PageRequest};
use uuid::Uuid;

pub use avb_storage::repos::realtime_sessions::SessionFilter;

/// Records a session the gateway just opened for `scope`; returns its id.
pub async fn open(
    ctx: &AppContext,
    scope: &Scope,
    realtime_id: &str,
    model: &str,
    dialect: &str,
) -> CoreResult<Uuid> {
    let tenant = tenant_of(scope, Permission::RealtimeConnect)?;
    let api_key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(id.as_uuid()),
        _ => None,
    };
    let id = Uuid::now_v7();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    realtime_sessions::insert(
        &tx,
        realtime_sessions::NewSession {
            id,
            project: None,
            api_key,
            realtime_id,
            model,
            dialect,
            client_ip: &scope.meta().ip,
            user_agent: &scope.meta().user_agent,
        },
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Records that a session ended.
pub async fn closed(
    ctx: &AppContext,
    tenant: TenantId,
    id: Uuid,
    reason: &str,
    responses: i32,
) -> CoreResult<()> {
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    realtime_sessions::close(&tx, id, reason, responses).await?;
    tx.commit().await?;
    Ok(())
}

/// Lists the caller's sessions (requires `sessions:view`).
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    filter: &SessionFilter,
    page: PageRequest,
) -> CoreResult<Page<SessionRecord>> {
    let tenant = tenant_of(scope, Permission::SessionsView)?;
    ctx.policy
        .authorize(scope, Permission::SessionsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = realtime_sessions::list(&tx, filter, page).await?;
    tx.commit().await?;
    Ok(page)
}

/// One session (requires `sessions:view`).
pub async fn get(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<SessionRecord> {
    let tenant = tenant_of(scope, Permission::SessionsView)?;
    ctx.policy
        .authorize(scope, Permission::SessionsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let s = realtime_sessions::get(&tx, id).await?;
    tx.commit().await?;
    Ok(s)
}

/// Ends a live session on whichever replica holds it (requires `sessions:manage`).
pub async fn close(ctx: &AppContext, scope: &Scope, id: Uuid) -> CoreResult<SessionRecord> {
    let tenant = tenant_of(scope, Permission::SessionsManage)?;
    ctx.policy
        .authorize(scope, Permission::SessionsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let s = realtime_sessions::get(&tx, id).await?;
    if s.status != "active" {
        return Err(CoreError::Conflict("the session has already ended".into()));
    }
    let reason = format!("closed by {}", scope.actor().label());
    realtime_sessions::close(&tx, id, &reason, s.responses).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "realtime.session.close",
            "realtime_session",
            id,
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    ctx.revocations
        .revoke(Some(tenant), vec![Revocation::RealtimeSession(id)])
        .await;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let s = realtime_sessions::get(&tx, id).await?;
    tx.commit().await?;
    Ok(s)
}
