//! The leader lease: every replica tries to take or renew the lease row (a third of its time to
//! live apart); the one that holds it runs the cluster-wide jobs. A leader that stops gives the
//! lease up, so another replica takes over at its next try; one that dies stops renewing, and
//! another takes over once the lease has run out (within `jobs.leader_lease_secs`).

use avb_core::AppContext;
use avb_core::services::leases;
use std::time::Duration;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Whether this replica leads, as the lease task last found it.
#[derive(Clone)]
pub struct Leader {
    state: watch::Receiver<Option<bool>>,
    recheck: Duration,
}

impl Leader {
    /// Starts the lease task for lease `name` held `ttl` at a time; it gives the lease up and
    /// ends when `stop` turns true.
    pub fn spawn(
        ctx: AppContext,
        name: &'static str,
        ttl: Duration,
        mut stop: watch::Receiver<bool>,
    ) -> (Self, JoinHandle<()>) {
        let (tx, rx) = watch::channel(None);
        let renew = (ttl / 3).max(Duration::from_millis(100));
        let task = tokio::spawn(async move {
            let mut was = false;
            loop {
                // A failed renewal counts as lost leadership: the lease may run out meanwhile.
                let held = match leases::hold(&ctx, name, ttl).await {
                    Ok(h) => h,
                    Err(e) => {
                        tracing::warn!(error = %e, lease = name, "renewing the leader lease failed");
                        false
                    }
                };
                if held != was {
                    tracing::info!(lease = name, replica = %ctx.replica_id, leader = held, "leadership changed");
                    was = held;
                }
                let _ = tx.send(Some(held));
                tokio::select! {
                    _ = tokio::time::sleep(renew) => {}
                    _ = stop.changed() => break,
                }
            }
            let _ = tx.send(Some(false));
            if was && let Err(e) = leases::release(&ctx, name).await {
                tracing::warn!(error = %e, lease = name, "giving up the leader lease failed");
            }
        });
        (
            Self {
                state: rx,
                recheck: renew,
            },
            task,
        )
    }

    /// Whether this replica leads now; waits for the lease task's first answer.
    pub async fn is_leader(&self) -> bool {
        let mut state = self.state.clone();
        match state.wait_for(Option::is_some).await {
            Ok(v) => v.unwrap_or(false),
            Err(_) => false,
        }
    }

    /// How often a replica that does not lead checks again (as often as the lease is renewed).
    pub fn recheck_every(&self) -> Duration {
        self.recheck
    }
}
