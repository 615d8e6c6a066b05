//! Background work of a replica: the engine work-queue consumer ([`queue::Worker`], run by
//! `avb serve --role worker` and by `--role all` with the Redis queue) and the periodic jobs
//! ([`jobs`], one file each), each run under a [`supervise`]d loop that catches a panic, logs
//! it, counts it in `avb_job_panics_total{job}` and runs the job again at its next tick. Jobs
//! that must run once per cluster only run on the replica holding the [`leader`] lease.
//!
//! This crate knows the services (`avb-core`) and the engines (`avb-voice`), never the HTTP
//! crates: the queue's wire format is `avb_core::work_queue`, shared with the gateway.

pub mod jobs;
pub mod leader;
pub mod queue;
pub mod supervise;

use avb_core::AppContext;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Name of the lease whose holder runs the cluster-wide jobs.
pub const LEADER_LEASE: &str = "jobs";

/// Starts the periodic jobs of `ctx` (and the leader lease they share); they stop when `stop`
/// turns true (the key-usage flush runs once more, the lease is given up). Join the handles to
/// wait for them.
pub fn spawn(ctx: AppContext, stop: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let ttl = Duration::from_secs(ctx.config.jobs.leader_lease_secs.max(1));
    let (leader, lease_task) = leader::Leader::spawn(ctx.clone(), LEADER_LEASE, ttl, stop.clone());
    let mut handles = vec![lease_task];
    for job in jobs::all(&ctx) {
        handles.push(supervise::spawn(
            ctx.clone(),
            job,
            Some(leader.clone()),
            stop.clone(),
        ));
    }
    handles
}
