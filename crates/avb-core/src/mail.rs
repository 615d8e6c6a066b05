//! Outgoing mail: every message is written to the outbox in the caller's transaction; a
//! background task delivers queued messages over SMTP when `smtp.host` is set. Without SMTP
//! the outbox is what operators read (`avb admin mail list`).

use crate::config::SmtpConfig;
use crate::error::{CoreError, CoreResult};
use avb_storage::repos::mail;
use avb_storage::{Store, Tx};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// Attempts before a message is left for an operator to inspect.
const MAX_ATTEMPTS: i32 = 8;

/// The SMTP sender, if configured.
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

impl Mailer {
    /// Builds the transport from `[smtp]`.
    pub fn new(cfg: &SmtpConfig) -> CoreResult<Self> {
        let from: Mailbox = cfg
            .from
            .parse()
            .map_err(|e| CoreError::Internal(format!("smtp.from: {e}")))?;
        let transport = match &cfg.host {
            None => None,
            Some(host) => {
                let builder = if cfg.starttls {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                        .map_err(|e| CoreError::Internal(format!("smtp: {e}")))?
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                };
                let mut builder = builder.port(cfg.port);
                if let (Some(u), Some(p)) = (&cfg.username, &cfg.password) {
                    builder =
                        builder.credentials(Credentials::new(u.clone(), p.expose().to_string()));
                }
                Some(builder.build())
            }
        };
        Ok(Self { transport, from })
    }

    /// Whether SMTP delivery is configured.
    pub fn smtp_enabled(&self) -> bool {
        self.transport.is_some()
    }

    /// Queues a message in the caller's transaction.
    pub async fn queue(&self, tx: &Tx, to: &str, subject: &str, body: &str) -> CoreResult<()> {
        mail::insert(tx, to, subject, body).await?;
        Ok(())
    }

    /// Sends due messages; returns how many were sent.
    pub async fn deliver_due(&self, store: &Store) -> CoreResult<usize> {
        let Some(transport) = &self.transport else {
            return Ok(0);
        };
        let tx = store.platform_tx(true).await?;
        let due = mail::due(&tx, MAX_ATTEMPTS, 20).await?;
        let mut sent = 0;
        for m in due {
            let message = m
                .to_address
                .parse::<Mailbox>()
                .map_err(|e| e.to_string())
                .and_then(|to| {
                    Message::builder()
                        .from(self.from.clone())
                        .to(to)
                        .subject(m.subject.clone())
                        .body(m.body.clone())
                        .map_err(|e| e.to_string())
                });
            let result = match message {
                Ok(msg) => transport
                    .send(msg)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e),
            };
            if result.is_ok() {
                sent += 1;
            }
            mail::record_attempt(&tx, m, result.err()).await?;
        }
        tx.commit().await?;
        Ok(sent)
    }
}
