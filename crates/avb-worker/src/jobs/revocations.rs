//! Applies key, user and tenant revocations other replicas publish on Redis (only with Redis);
//! a dropped subscription is retried after two seconds.

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// The job, when Redis is configured: each run listens until the subscription drops or the
/// replica stops.
pub fn job(ctx: &AppContext) -> Option<Periodic> {
    ctx.redis.as_ref()?;
    Some(Periodic::new(
        "revocation_listener",
        Duration::from_secs(2),
        |Run { ctx, mut stop, .. }| async move {
            if *stop.borrow() {
                return;
            }
            tokio::select! {
                res = ctx.revocations.clone().listen(None) => {
                    if let Err(e) = res {
                        tracing::warn!(error = %e, "key revocation listener stopped; retrying");
                    }
                }
                _ = stop.changed() => {}
            }
        },
    ))
}
