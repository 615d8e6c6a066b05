//! Delivers the mail outbox over SMTP (only when `smtp.host` is set; messages are leased, so
//! every replica may run it).

use crate::supervise::{Periodic, Run};
use avb_core::AppContext;
use std::time::Duration;

/// How often the mail outbox is drained.
pub const EVERY: Duration = Duration::from_secs(10);

/// The job, when SMTP is configured.
pub fn job(ctx: &AppContext) -> Option<Periodic> {
    ctx.mailer.smtp_enabled().then(|| {
        Periodic::new("mail", EVERY, |Run { ctx, .. }| async move {
            match ctx.mailer.deliver_due(&ctx.store).await {
                Ok(n) if n > 0 => tracing::info!(sent = n, "mail delivered"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "mail delivery failed"),
            }
        })
    })
}
