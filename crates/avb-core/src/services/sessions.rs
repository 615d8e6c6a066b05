//! Realtime session records: opened and closed by the gateway, listed and closed by tenants.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::{Actor, Scope};
use crate::services::projects::tenant_of;
use crate::services::revocation::Revocation;
use avb_domain::{Permission, SessionId, TenantId, TurnStatus};
use avb_storage::repos::{audit as audit_repo, realtime_sessions};
use avb_storage::{Page, PageRequest};

pub use crate::views::sessions::{ItemRecord, SessionRecord, TurnRecord};

pub use avb_storage::repos::realtime_sessions::SessionFilter;

/// Records a session the gateway just opened for `scope`; returns its id.
pub async fn open(
    ctx: &AppContext,
    scope: &Scope,
    realtime_id: &str,
    model: &str,
    dialect: &str,
) -> CoreResult<SessionId> {
    open_with_persona(ctx, scope, realtime_id, model, dialect, None).await
}

/// Records a session the gateway just opened for `scope` with the persona (id, published
/// version) it started from; returns its id.
pub async fn open_with_persona(
    ctx: &AppContext,
    scope: &Scope,
    realtime_id: &str,
    model: &str,
    dialect: &str,
    persona: Option<(uuid::Uuid, i32)>,
) -> CoreResult<SessionId> {
    let tenant = tenant_of(scope, Permission::RealtimeConnect)?;
    let api_key = match scope.actor() {
        Actor::ApiKey { id, .. } => Some(id.as_uuid()),
        _ => None,
    };
    let id = SessionId::new();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    realtime_sessions::insert(
        &tx,
        realtime_sessions::NewSession {
            id: id.as_uuid(),
            project: scope.actor().project().map(|p| p.as_uuid()),
            api_key,
            realtime_id,
            model,
            dialect,
            client_ip: &scope.meta().ip,
            user_agent: &scope.meta().user_agent,
            replica: &ctx.replica_id,
            persona,
        },
    )
    .await?;
    crate::services::events::record(
        &tx,
        "session.started",
        serde_json::json!({"session_id": id, "realtime_id": realtime_id, "model": model, "dialect": dialect, "api_key_id": api_key, "replica": &ctx.replica_id}),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Records that a session ended.
pub async fn closed(
    ctx: &AppContext,
    tenant: TenantId,
    id: SessionId,
    reason: &str,
    responses: i32,
) -> CoreResult<()> {
    let id = id.as_uuid();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    realtime_sessions::close(&tx, id, reason, responses).await?;
    let s = realtime_sessions::get(&tx, id).await?.into();
    crate::services::webhooks::emit(&tx, "session.closed", closed_event(&s)).await?;
    tx.commit().await?;
    Ok(())
}

/// The `session.closed` webhook's data.
pub(crate) fn closed_event(s: &SessionRecord) -> serde_json::Value {
    serde_json::json!({
        "id": s.id,
        "realtime_id": s.realtime_id,
        "project_id": s.project_id,
        "api_key_id": s.api_key_id,
        "model": s.model,
        "started_at": s.started_at,
        "ended_at": s.ended_at,
        "responses": s.responses,
        "reason": s.close_reason,
    })
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
    Ok(page.map(SessionRecord::from))
}

/// One session (requires `sessions:view`).
pub async fn get(ctx: &AppContext, scope: &Scope, id: SessionId) -> CoreResult<SessionRecord> {
    let id = id.as_uuid();
    let tenant = tenant_of(scope, Permission::SessionsView)?;
    ctx.policy
        .authorize(scope, Permission::SessionsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let s = realtime_sessions::get(&tx, id).await?;
    tx.commit().await?;
    Ok(s.into())
}

/// One session by the realtime id (`sess_...`) its client saw (requires `sessions:view`).
pub async fn find_by_realtime_id(
    ctx: &AppContext,
    scope: &Scope,
    realtime_id: &str,
) -> CoreResult<SessionRecord> {
    let tenant = tenant_of(scope, Permission::SessionsView)?;
    ctx.policy
        .authorize(scope, Permission::SessionsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let s = realtime_sessions::find_by_realtime_id(&tx, realtime_id).await?;
    tx.commit().await?;
    Ok(s.into())
}

/// Ends a live session on whichever replica holds it (requires `sessions:manage`).
pub async fn close(ctx: &AppContext, scope: &Scope, id: SessionId) -> CoreResult<SessionRecord> {
    let id = id.as_uuid();
    let tenant = tenant_of(scope, Permission::SessionsManage)?;
    ctx.policy
        .authorize(scope, Permission::SessionsManage, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let s = SessionRecord::from(realtime_sessions::get(&tx, id).await?);
    if !s.is_active() {
        return Err(CoreError::Conflict("the session has already ended".into()));
    }
    let reason = format!("closed by {}", scope.actor().label());
    realtime_sessions::close(&tx, id, &reason, s.responses).await?;
    let closed = realtime_sessions::get(&tx, id).await?.into();
    crate::services::webhooks::emit(&tx, "session.closed", closed_event(&closed)).await?;
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
    Ok(s.into())
}

use avb_storage::repos::realtime_records;
pub use avb_storage::repos::realtime_records::TurnTimes;

/// Stores a conversation item of a live session (written by the gateway).
pub async fn record_item(
    ctx: &AppContext,
    tenant: TenantId,
    session: SessionId,
    item_id: &str,
    kind: &str,
    role: &str,
    text: &str,
) -> CoreResult<()> {
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    realtime_records::insert_item(&tx, session.as_uuid(), item_id, kind, role, text).await?;
    tx.commit().await?;
    Ok(())
}

/// Stores the timing waterfall of one turn (written by the gateway).
pub async fn record_turn(
    ctx: &AppContext,
    tenant: TenantId,
    session: SessionId,
    response_id: &str,
    status: TurnStatus,
    times: &TurnTimes,
) -> CoreResult<()> {
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    realtime_records::insert_turn(&tx, session.as_uuid(), response_id, status.as_str(), times)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// A session with its items and turn timings (requires `sessions:view`).
pub async fn detail(
    ctx: &AppContext,
    scope: &Scope,
    id: SessionId,
) -> CoreResult<(SessionRecord, Vec<ItemRecord>, Vec<TurnRecord>)> {
    let id = id.as_uuid();
    let tenant = tenant_of(scope, Permission::SessionsView)?;
    ctx.policy
        .authorize(scope, Permission::SessionsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let s = realtime_sessions::get(&tx, id).await?;
    let (items, turns) = realtime_records::for_session(&tx, id).await?;
    tx.commit().await?;
    Ok((
        s.into(),
        items.into_iter().map(ItemRecord::from).collect(),
        turns.into_iter().map(TurnRecord::from).collect(),
    ))
}
