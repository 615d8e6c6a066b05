//! The periodic jobs, one file each. Each file's `job(ctx)` describes its job, or gives `None`
//! when the configuration leaves it off. Cluster-wide jobs (alert evaluation, audit retention,
//! Lago shipping) run once per cluster on the leader; the others run on every replica because
//! each replica owns what they do (its key usage, its heartbeat, its revocation listener) or
//! their work is leased row by row (mail, webhooks, custom voices) or idempotent (session purge, the sweep of
//! lost sessions, which any live replica may do; closing is one conditional write per replica).
//! Invoicing ended billing periods and publishing platform events to Kafka are cluster-wide too.

pub mod alerts;
pub mod audit_retention;
pub mod custom_voices;
pub mod events;
pub mod invoicing;
pub mod key_usage;
pub mod lago;
pub mod lago_sync;
pub mod liveness;
pub mod mail;
pub mod portal_sessions;
pub mod probes;
pub mod revocations;
pub mod webhooks;

use crate::supervise::Periodic;
use avb_core::AppContext;

/// Every job this configuration turns on.
pub fn all(ctx: &AppContext) -> Vec<Periodic> {
    [
        Some(key_usage::job()),
        mail::job(ctx),
        Some(liveness::job(ctx)),
        Some(probes::job()),
        Some(alerts::job()),
        audit_retention::job(ctx),
        lago::job(ctx),
        lago_sync::job(ctx),
        Some(invoicing::job(ctx)),
        Some(portal_sessions::job()),
        Some(webhooks::job(ctx)),
        Some(events::job(ctx)),
        custom_voices::job(ctx),
        revocations::job(ctx),
    ]
    .into_iter()
    .flatten()
    .collect()
}
