//! Users, their sign-in history and the mail queue.

use avb_domain::{LoginEventId, MailId, MailStatus, TenantId, UserId, UserStatus};
use avb_storage::entities::{login_event, mail, user};
use chrono::{DateTime, Utc};

/// A person who can sign in (without password hash or TOTP secret).
#[derive(Debug, Clone)]
pub struct User {
    pub id: UserId,
    pub email: String,
    pub name: String,
    /// Whether a local password is set.
    pub has_password: bool,
    /// Whether a TOTP second factor is enrolled.
    pub totp_enabled: bool,
    pub is_saas_admin: bool,
    pub status: UserStatus,
    pub locked_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl User {
    /// Whether the account may sign in.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }
}

impl From<user::Model> for User {
    fn from(m: user::Model) -> Self {
        Self {
            id: UserId(m.id),
            email: m.email,
            name: m.name,
            has_password: m.password_hash.is_some(),
            totp_enabled: m.totp_secret.is_some(),
            is_saas_admin: m.is_saas_admin,
            status: UserStatus::from_stored(&m.status),
            locked_until: m.locked_until,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A user with the tenants they belong to (tenant id, name, role).
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: User,
    pub memberships: Vec<(TenantId, String, String)>,
}

/// One sign-in attempt.
#[derive(Debug, Clone)]
pub struct LoginEvent {
    pub id: LoginEventId,
    pub user_id: Option<UserId>,
    pub email: String,
    pub ip: String,
    pub user_agent: String,
    pub success: bool,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl From<login_event::Model> for LoginEvent {
    fn from(m: login_event::Model) -> Self {
        Self {
            id: LoginEventId(m.id),
            user_id: m.user_id.map(UserId),
            email: m.email,
            ip: m.ip,
            user_agent: m.user_agent,
            success: m.success,
            reason: m.reason,
            created_at: m.created_at,
        }
    }
}

/// A queued or sent e-mail.
#[derive(Debug, Clone)]
pub struct Mail {
    pub id: MailId,
    pub to_address: String,
    pub subject: String,
    pub body: String,
    pub status: MailStatus,
    pub attempts: i32,
    pub last_error: String,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<mail::Model> for Mail {
    fn from(m: mail::Model) -> Self {
        Self {
            id: MailId(m.id),
            to_address: m.to_address,
            subject: m.subject,
            body: m.body,
            status: MailStatus::from_stored(&m.status),
            attempts: m.attempts,
            last_error: m.last_error,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}
