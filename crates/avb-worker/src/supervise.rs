//! Supervised periodic jobs: a [`Periodic`] runs at its first delay and then every interval
//! until the replica stops. A run that panics is caught, logged, counted in
//! `avb_job_panics_total{job}` and the job runs again at its next tick; a job marked
//! [`Periodic::once_per_cluster`] runs only while this replica holds the leader lease.

use crate::leader::Leader;
use avb_core::AppContext;
use futures::FutureExt;
use futures::future::BoxFuture;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What one run of a job gets.
pub struct Run {
    /// The app's services.
    pub ctx: AppContext,
    /// How many runs came before this one (0 for the first).
    pub round: u64,
    /// Turns true when the replica stops (for runs that wait on something themselves).
    pub stop: watch::Receiver<bool>,
}

type RunFn = Arc<dyn Fn(Run) -> BoxFuture<'static, ()> + Send + Sync>;

/// A periodic job.
#[derive(Clone)]
pub struct Periodic {
    name: &'static str,
    first: Duration,
    every: Duration,
    once_per_cluster: bool,
    run_on_stop: bool,
    run: RunFn,
    panics: Arc<AtomicU64>,
}

impl Periodic {
    /// Job `name` running `run` at once and then every `every`.
    pub fn new<F, Fut>(name: &'static str, every: Duration, run: F) -> Self
    where
        F: Fn(Run) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            name,
            first: Duration::ZERO,
            every,
            once_per_cluster: false,
            run_on_stop: false,
            run: Arc::new(move |r| run(r).boxed()),
            panics: Arc::default(),
        }
    }

    /// Waits `first` before the first run.
    pub fn first_after(mut self, first: Duration) -> Self {
        self.first = first;
        self
    }

    /// Runs only on the replica that holds the leader lease.
    pub fn once_per_cluster(mut self) -> Self {
        self.once_per_cluster = true;
        self
    }

    /// Runs once more when the replica stops.
    pub fn run_on_stop(mut self) -> Self {
        self.run_on_stop = true;
        self
    }

    /// The job's name (the `job` label of its metrics).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Whether the job runs only on the leader.
    pub fn is_once_per_cluster(&self) -> bool {
        self.once_per_cluster
    }

    /// How many of its runs panicked so far.
    pub fn panics(&self) -> u64 {
        self.panics.load(Ordering::Relaxed)
    }

    /// One run, a panic caught and counted.
    async fn run_once(&self, ctx: &AppContext, round: u64, stop: &watch::Receiver<bool>) {
        let run = (self.run)(Run {
            ctx: ctx.clone(),
            round,
            stop: stop.clone(),
        });
        if let Err(panic) = AssertUnwindSafe(run).catch_unwind().await {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic".into());
            self.panics.fetch_add(1, Ordering::Relaxed);
            metrics::counter!("avb_job_panics_total", "job" => self.name).increment(1);
            tracing::error!(job = self.name, panic = %message, "job panicked; it runs again at its next tick");
        }
    }
}

/// Waits `d`; true when the replica stops meanwhile (or already has).
async fn pause(d: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        changed = stop.changed() => changed.is_err() || *stop.borrow(),
    }
}

/// Runs `job` on `ctx` until `stop` turns true. A job that runs once per cluster asks `leader`
/// before each run (without a leader it always runs).
pub fn spawn(
    ctx: AppContext,
    job: Periodic,
    leader: Option<Leader>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut wait = job.first;
        let mut round = 0;
        loop {
            if pause(wait, &mut stop).await {
                if job.run_on_stop {
                    job.run_once(&ctx, round, &stop).await;
                }
                break;
            }
            wait = job.every;
            if job.once_per_cluster
                && let Some(leader) = &leader
                && !leader.is_leader().await
            {
                wait = job.every.min(leader.recheck_every());
                continue;
            }
            job.run_once(&ctx, round, &stop).await;
            round += 1;
        }
        tracing::debug!(job = job.name, "job stopped");
    })
}
