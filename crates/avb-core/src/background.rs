//! Periodic jobs every replica runs: flushing API-key usage, delivering mail and webhooks, and
//! listening for key revocations from other replicas.

use crate::context::AppContext;
use std::time::Duration;
use tokio::sync::watch;

/// How often batched key usage is written.
const USAGE_FLUSH: Duration = Duration::from_secs(5);
/// How often the mail outbox is drained.
const MAIL_INTERVAL: Duration = Duration::from_secs(10);

/// Starts the jobs; they stop when `shutdown` turns true (usage is flushed once more).
pub fn spawn(ctx: AppContext, shutdown: watch::Receiver<bool>) -> Vec<tokio::task::JoinHandle<()>> {
    let mut handles = Vec::new();
    {
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(USAGE_FLUSH) => {}
                    _ = stop.changed() => {}
                }
                if let Err(e) = ctx.keys.flush_usage(&ctx.store).await {
                    tracing::warn!(error = %e, "flushing API key usage failed");
                }
                if *stop.borrow() {
                    break;
                }
            }
        }));
    }
    if ctx.mailer.smtp_enabled() {
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                match ctx.mailer.deliver_due(&ctx.store).await {
                    Ok(n) if n > 0 => tracing::info!(sent = n, "mail delivered"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "mail delivery failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(MAIL_INTERVAL) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        // Heartbeats; sessions of replicas that stopped beating (and of this data directory's
        // previous process) are closed as lost.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            use crate::services::liveness;
            if let Err(e) = liveness::beat(&ctx).await {
                tracing::warn!(error = %e, "replica heartbeat failed");
            }
            match liveness::close_previous(&ctx).await {
                Ok(n) if n > 0 => tracing::warn!(
                    sessions = n,
                    "closed sessions the previous process left open"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "closing the previous process's sessions failed")
                }
            }
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(liveness::beat_every(&ctx)) => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = liveness::beat(&ctx).await {
                    tracing::warn!(error = %e, "replica heartbeat failed");
                }
                if let Err(e) = liveness::close_lost(&ctx).await {
                    tracing::warn!(error = %e, "closing lost sessions failed");
                }
                if let Err(e) = liveness::close_own_orphans(&ctx).await {
                    tracing::warn!(error = %e, "closing this replica's orphaned sessions failed");
                }
            }
        }));
    }
    {
        // Service probes for the monitoring page's uptime percentages.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let probes = crate::monitoring::probe_all(&ctx).await;
                ctx.monitor.uptime.record(&probes);
                tokio::select! {
                    _ = tokio::time::sleep(crate::monitoring::SAMPLE_EVERY) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        // Alert rules: incidents open and resolve on this server's view of the metrics.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(15)) => {}
                    _ = stop.changed() => break,
                }
                if let Err(e) = crate::services::alerts::evaluate(&ctx).await {
                    tracing::warn!(error = %e, "evaluating alert rules failed");
                }
            }
        }));
    }
    if let Some(days) = ctx.config.audit.retention_days {
        // Audit retention: once a minute after start, then daily.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            let mut wait = Duration::from_secs(60);
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => break,
                }
                wait = Duration::from_secs(24 * 3600);
                let scope = crate::Scope::local_operator(None);
                match crate::services::audit::archive_older_than(&ctx, &scope, days).await {
                    Ok(a) if !a.is_empty() => {
                        tracing::info!(archives = a.len(), "audit rows archived")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "audit archiving failed"),
                }
            }
        }));
    }
    if ctx.config.lago.api_url.is_some() && ctx.config.lago.api_key.is_some() {
        // Usage to Lago; rows stay unshipped (and are retried) until Lago accepts them.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        let every = Duration::from_secs(ctx.config.lago.interval_secs.max(1));
        handles.push(tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
                match crate::services::billing::ship_usage(&ctx).await {
                    Ok(n) if n > 0 => tracing::debug!(events = n, "usage shipped to Lago"),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "shipping usage to Lago failed; will retry")
                    }
                }
            }
        }));
    }
    {
        // Portal browser sessions idle past their lifetime.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        handles.push(tokio::spawn(async move {
            loop {
                let purge = async {
                    let tx = ctx.store.platform_tx(true).await?;
                    let n = avb_storage::repos::portal_sessions::delete_idle(
                        &tx,
                        chrono::Utc::now() - chrono::Duration::hours(12),
                    )
                    .await?;
                    tx.commit().await?;
                    crate::CoreResult::Ok(n)
                };
                match purge.await {
                    Ok(n) if n > 0 => tracing::info!(removed = n, "idle portal sessions purged"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purging portal sessions failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    {
        // The webhook outbox: due deliveries are leased, so every replica may run this.
        let ctx = ctx.clone();
        let mut stop = shutdown.clone();
        let every = Duration::from_secs(ctx.config.webhooks.poll_secs.max(1));
        handles.push(tokio::spawn(async move {
            loop {
                match crate::services::webhooks::deliver_due(&ctx).await {
                    Ok(n) if n > 0 => tracing::debug!(attempted = n, "webhook deliveries"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "webhook delivery failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    if ctx.redis.is_some() {
        let bus = ctx.revocations.clone();
        let mut stop = shutdown;
        handles.push(tokio::spawn(async move {
            loop {
                let listen = bus.clone().listen(None);
                tokio::select! {
                    res = listen => {
                        if let Err(e) = res {
                            tracing::warn!(error = %e, "key revocation listener stopped; retrying");
                        }
                    }
                    _ = stop.changed() => break,
                }
                tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    _ = stop.changed() => break,
                }
            }
        }));
    }
    handles
}
