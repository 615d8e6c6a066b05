//! Sessions outlive no crash: every replica heartbeats, any live replica closes the sessions of
//! a replica whose heartbeats stopped (reason `lost`, ended at its last heartbeat), and a
//! restarted server closes its own previous process's leftovers at once.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use avb_domain::TenantId;
use avb_storage::repos::{realtime_sessions, replicas};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The reason recorded on sessions closed because their replica died.
pub const LOST: &str = "lost";

/// How often this replica beats: a quarter of `realtime.lost_after_secs`, at least a second.
pub fn beat_every(ctx: &AppContext) -> std::time::Duration {
    std::time::Duration::from_secs((ctx.config.realtime.lost_after_secs / 4).max(1))
}

/// Records that this replica is alive.
pub async fn beat(ctx: &AppContext) -> CoreResult<()> {
    let tx = ctx.store.platform_tx(true).await?;
    replicas::beat(&tx, &ctx.replica_id, Utc::now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Closes the sessions of every replica silent for longer than `realtime.lost_after_secs`;
/// returns how many sessions were closed.
pub async fn close_lost(ctx: &AppContext) -> CoreResult<usize> {
    let window = Duration::seconds(ctx.config.realtime.lost_after_secs as i64);
    let tx = ctx.store.platform_tx(false).await?;
    let stale = replicas::stale(&tx, Utc::now() - window).await?;
    tx.commit().await?;
    let mut closed = 0;
    for r in stale.iter().filter(|r| *r.id != *ctx.replica_id) {
        closed += close_replica(ctx, &r.id, r.heartbeat_at).await?;
    }
    Ok(closed)
}

/// Closes sessions recorded as held by this replica that it no longer holds (their close could
/// not be written, e.g. during a database outage); returns how many.
pub async fn close_own_orphans(ctx: &AppContext) -> CoreResult<usize> {
    let grace = Duration::seconds(ctx.config.realtime.lost_after_secs as i64);
    let tx = ctx.store.platform_tx(false).await?;
    let recorded = replicas::live_sessions_of(&tx, &ctx.replica_id).await?;
    tx.commit().await?;
    let held: std::collections::HashSet<uuid::Uuid> = ctx.live.ids().into_iter().collect();
    let mut closed = 0;
    for (tenant, id, started) in recorded {
        if held.contains(&id) || started > Utc::now() - grace {
            continue;
        }
        let tx = ctx.store.tenant_tx(TenantId(tenant), true).await?;
        let s = realtime_sessions::get(&tx, id).await?;
        realtime_sessions::close(&tx, id, LOST, s.responses).await?;
        let s = realtime_sessions::get(&tx, id).await?.into();
        crate::services::webhooks::emit(&tx, "session.closed", super::sessions::closed_event(&s))
            .await?;
        tx.commit().await?;
        closed += 1;
    }
    Ok(closed)
}

/// Closes the live sessions `replica` held, as ended at `ended_at`, and sends their
/// `session.closed` webhooks.
async fn close_replica(
    ctx: &AppContext,
    replica: &str,
    ended_at: DateTime<Utc>,
) -> CoreResult<usize> {
    let tx = ctx.store.platform_tx(true).await?;
    let lost = replicas::close_sessions_of(&tx, replica, ended_at).await?;
    tx.commit().await?;
    for (tenant, id) in &lost {
        let tx = ctx.store.tenant_tx(TenantId(*tenant), true).await?;
        let s = realtime_sessions::get(&tx, *id).await?.into();
        crate::services::webhooks::emit(&tx, "session.closed", super::sessions::closed_event(&s))
            .await?;
        tx.commit().await?;
    }
    if !lost.is_empty() {
        tracing::warn!(
            replica,
            sessions = lost.len(),
            "closed the sessions of a replica that stopped"
        );
    }
    Ok(lost.len())
}

/// The replica that last ran with this data directory.
#[derive(Serialize, Deserialize)]
struct Previous {
    replica_id: String,
    pid: u32,
}

fn marker(ctx: &AppContext) -> PathBuf {
    ctx.config.server.data_dir.join("replica.json")
}

/// Whether process `pid` still runs on this machine (where that can be told).
fn running(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    let proc = std::path::Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

/// At start: closes what the previous process on this data directory left open, if it is no
/// longer running, then records this process as the one to look for next time.
pub async fn close_previous(ctx: &AppContext) -> CoreResult<usize> {
    let path = marker(ctx);
    let mut closed = 0;
    if let Some(prev) = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Previous>(&b).ok())
        && prev.replica_id != *ctx.replica_id
        && !running(prev.pid)
    {
        let tx = ctx.store.platform_tx(false).await?;
        let last = replicas::get(&tx, &prev.replica_id).await?;
        tx.commit().await?;
        let ended_at = last.map_or_else(Utc::now, |l| l.heartbeat_at);
        closed = close_replica(ctx, &prev.replica_id, ended_at).await?;
    }
    let me = Previous {
        replica_id: ctx.replica_id.to_string(),
        pid: std::process::id(),
    };
    if std::fs::create_dir_all(&ctx.config.server.data_dir).is_ok() {
        let body = serde_json::to_vec(&me).map_err(|e| CoreError::Internal(e.to_string()))?;
        if let Err(e) = std::fs::write(&path, body) {
            tracing::warn!(error = %e, path = %path.display(), "could not record this replica");
        }
    }
    Ok(closed)
}
