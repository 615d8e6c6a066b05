//! Lifecycle statuses of stored resources. Each has the stored (and JSON) name as `as_str()`,
//! and `from_stored`, which reads an unknown stored value as the least-privileged status (fail
//! closed), so a bad row never reads as usable.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! status_enum {
    (
        $(#[$doc:meta])* $name:ident, unknown = $fallback:ident,
        { $( $(#[$vdoc:meta])* $variant:ident => $stored:literal ),+ $(,)? }
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $( $(#[$vdoc])* $variant, )+
        }

        impl $name {
            /// Stored (and JSON) name.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $( Self::$variant => $stored, )+
                }
            }
            /// Parses a stored name; an unknown value reads as the fail-closed status.
            pub fn from_stored(s: &str) -> Self {
                match s {
                    $( $stored => Self::$variant, )+
                    _ => Self::$fallback,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.pad(self.as_str())
            }
        }
    };
}

status_enum!(
    /// Stored status of an API key (the display status adds expired and expiring).
    ApiKeyStatus, unknown = Revoked, {
        /// Usable.
        Active => "active",
        /// Its tenant is suspended.
        Suspended => "suspended",
        /// Revoked for good.
        Revoked => "revoked",
    }
);

status_enum!(
    /// Stored status of an invitation (expiry is read from `expires_at`).
    InvitationStatus, unknown = Revoked, {
        /// Not yet used.
        Pending => "pending",
        /// Used to join the tenant.
        Accepted => "accepted",
        /// Withdrawn.
        Revoked => "revoked",
    }
);

status_enum!(
    /// Status of a user account.
    UserStatus, unknown = Disabled, {
        /// May sign in.
        Active => "active",
        /// May not sign in.
        Disabled => "disabled",
    }
);

status_enum!(
    /// Status of a realtime session.
    SessionStatus, unknown = Closed, {
        /// Connected.
        Active => "active",
        /// Ended.
        Closed => "closed",
    }
);

status_enum!(
    /// Outcome of one realtime response (turn).
    TurnStatus, unknown = Failed, {
        /// Finished normally.
        Completed => "completed",
        /// Cancelled by the client or by barge-in.
        Cancelled => "cancelled",
        /// Ended with an engine error.
        Failed => "failed",
    }
);

status_enum!(
    /// Delivery status of a queued e-mail.
    MailStatus, unknown = Queued, {
        /// Waiting to be sent (or retried).
        Queued => "queued",
        /// Handed to the mail server.
        Sent => "sent",
    }
);

status_enum!(
    /// Status of a webhook delivery.
    DeliveryStatus, unknown = Failed, {
        /// Waiting for its next attempt.
        Pending => "pending",
        /// Accepted by the endpoint.
        Delivered => "delivered",
        /// Given up after the last attempt.
        Failed => "failed",
    }
);

status_enum!(
    /// Status of an alert incident.
    IncidentStatus, unknown = Open, {
        /// Firing.
        Open => "open",
        /// Cleared.
        Resolved => "resolved",
    }
);

status_enum!(
    /// Outcome of a health probe of a service or engine (not stored).
    ProbeStatus, unknown = Down, {
        /// Answered.
        Up => "up",
        /// Did not answer, or answered with an error.
        Down => "down",
        /// Not configured here, so not probed.
        NotConfigured => "not_configured",
    }
);

impl ProbeStatus {
    /// `Up` when `ok`, else `Down`.
    pub fn from_ok(ok: bool) -> Self {
        if ok { Self::Up } else { Self::Down }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_json() {
        for s in [
            ApiKeyStatus::Active,
            ApiKeyStatus::Suspended,
            ApiKeyStatus::Revoked,
        ] {
            assert_eq!(ApiKeyStatus::from_stored(s.as_str()), s);
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
            assert_eq!(s.to_string(), s.as_str());
        }
        assert_eq!(ApiKeyStatus::from_stored("bogus"), ApiKeyStatus::Revoked);
        assert_eq!(UserStatus::from_stored(""), UserStatus::Disabled);
        assert_eq!(SessionStatus::from_stored("x"), SessionStatus::Closed);
        assert_eq!(
            serde_json::to_value(DeliveryStatus::Delivered).ok(),
            Some("delivered".into())
        );
    }
}

status_enum!(
    /// Stored status of a custom voice and its job.
    CustomVoiceStatus, unknown = Failed, {
        /// Waiting for a worker.
        Queued => "queued",
        /// A worker is making it.
        Making => "making",
        /// Usable in sessions.
        Ready => "ready",
        /// The job failed; the voice cannot be used.
        Failed => "failed",
    }
);
