//! UUIDv7 newtype ids. A bare `Uuid` never crosses a layer where a typed id exists.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Error returned when a string is not a valid id.
#[derive(Debug, thiserror::Error)]
#[error("invalid id: expected a UUID")]
pub struct InvalidId;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// The underlying UUID, for the storage layer.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self).map_err(|_| InvalidId)
            }
        }

        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self {
                Self(u)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }
    };
}

typed_id!(
    /// A tenant (organisation).
    TenantId
);
typed_id!(
    /// A person who can sign in.
    UserId
);
typed_id!(
    /// A project inside a tenant.
    ProjectId
);
typed_id!(
    /// An API key.
    ApiKeyId
);
typed_id!(
    /// A membership of a user in a tenant.
    MembershipId
);
typed_id!(
    /// An invitation to join a tenant.
    InvitationId
);
typed_id!(
    /// A server-side login session.
    AuthSessionId
);
typed_id!(
    /// An audit log row.
    AuditId
);
typed_id!(
    /// A realtime session.
    SessionId
);
typed_id!(
    /// One realtime response (turn) of a session.
    TurnId
);
typed_id!(
    /// A stored conversation item of a realtime session.
    ItemId
);
typed_id!(
    /// A recorded sign-in attempt.
    LoginEventId
);
typed_id!(
    /// A queued e-mail.
    MailId
);
typed_id!(
    /// A voice profile (tenant or project defaults).
    VoiceProfileId
);
typed_id!(
    /// A webhook endpoint.
    WebhookEndpointId
);
typed_id!(
    /// A webhook delivery (one event to one endpoint).
    WebhookDeliveryId
);
typed_id!(
    /// One attempt of a webhook delivery.
    WebhookAttemptId
);
typed_id!(
    /// An alert rule.
    AlertRuleId
);
typed_id!(
    /// An alert incident.
    IncidentId
);
typed_id!(
    /// An entry of an incident's timeline.
    IncidentEventId
);
typed_id!(
    /// An archived, exported stretch of an audit chain.
    AuditArchiveId
);
