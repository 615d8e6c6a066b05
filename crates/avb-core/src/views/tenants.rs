//! Tenants, their settings, projects, API keys, members and invitations.

use super::users::User;
use avb_domain::{
    ApiKeyId, ApiKeyStatus, InvitationId, InvitationStatus, MembershipId, ProjectId, TenantId,
    TenantStatus, UserId,
};
use avb_storage::entities::{api_key, invitation, membership, project, tenant, tenant_settings};
use chrono::{DateTime, Utc};

/// A tenant (organisation).
#[derive(Debug, Clone)]
pub struct Tenant {
    pub id: TenantId,
    pub name: String,
    pub billing_email: String,
    pub plan: String,
    pub status: TenantStatus,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<tenant::Model> for Tenant {
    fn from(m: tenant::Model) -> Self {
        Self {
            id: TenantId(m.id),
            name: m.name,
            billing_email: m.billing_email,
            plan: m.plan,
            status: TenantStatus::from_stored(&m.status),
            timezone: m.timezone,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A tenant's notification settings.
#[derive(Debug, Clone)]
pub struct TenantSettings {
    pub tenant_id: TenantId,
    pub usage_threshold_requests: Option<i64>,
    pub notify_email: String,
    pub updated_at: DateTime<Utc>,
}

impl From<tenant_settings::Model> for TenantSettings {
    fn from(m: tenant_settings::Model) -> Self {
        Self {
            tenant_id: TenantId(m.tenant_id),
            usage_threshold_requests: m.usage_threshold_requests,
            notify_email: m.notify_email,
            updated_at: m.updated_at,
        }
    }
}

/// A project inside a tenant.
#[derive(Debug, Clone)]
pub struct Project {
    pub id: ProjectId,
    pub tenant_id: TenantId,
    pub name: String,
    pub environment: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<project::Model> for Project {
    fn from(m: project::Model) -> Self {
        Self {
            id: ProjectId(m.id),
            tenant_id: TenantId(m.tenant_id),
            name: m.name,
            environment: m.environment,
            description: m.description,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// An API key (without its secret hash).
#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub tenant_id: TenantId,
    pub project_id: Option<ProjectId>,
    pub name: String,
    pub environment: String,
    pub prefix: String,
    /// Comma-separated scope names, as stored.
    pub scopes: String,
    pub status: ApiKeyStatus,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotated_to: Option<ApiKeyId>,
    pub created_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub request_count: i64,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKey {
    /// Display status: active, expiring (rotated, in grace), expired, revoked, suspended.
    pub fn display_status(&self) -> &'static str {
        match self.status {
            ApiKeyStatus::Revoked => "revoked",
            ApiKeyStatus::Suspended => "suspended",
            ApiKeyStatus::Active => match self.expires_at {
                Some(e) if e <= Utc::now() => "expired",
                Some(_) => "expiring",
                None => "active",
            },
        }
    }
}

impl From<api_key::Model> for ApiKey {
    fn from(m: api_key::Model) -> Self {
        Self {
            id: ApiKeyId(m.id),
            tenant_id: TenantId(m.tenant_id),
            project_id: m.project_id.map(ProjectId),
            name: m.name,
            environment: m.environment,
            prefix: m.prefix,
            scopes: m.scopes,
            status: ApiKeyStatus::from_stored(&m.status),
            expires_at: m.expires_at,
            rotated_to: m.rotated_to.map(ApiKeyId),
            created_by: m.created_by.map(UserId),
            created_at: m.created_at,
            last_used_at: m.last_used_at,
            request_count: m.request_count,
            revoked_at: m.revoked_at,
        }
    }
}

/// A user's membership of a tenant.
#[derive(Debug, Clone)]
pub struct Membership {
    pub id: MembershipId,
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub role: String,
    pub created_at: DateTime<Utc>,
}

impl From<membership::Model> for Membership {
    fn from(m: membership::Model) -> Self {
        Self {
            id: MembershipId(m.id),
            tenant_id: TenantId(m.tenant_id),
            user_id: UserId(m.user_id),
            role: m.role,
            created_at: m.created_at,
        }
    }
}

/// A member of a tenant: the membership and the user.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: Membership,
    pub user: User,
}

impl From<avb_storage::repos::memberships::Member> for Member {
    fn from(m: avb_storage::repos::memberships::Member) -> Self {
        Self {
            membership: m.membership.into(),
            user: m.user.into(),
        }
    }
}

/// An invitation to join a tenant (without its token hash).
#[derive(Debug, Clone)]
pub struct Invitation {
    pub id: InvitationId,
    pub tenant_id: TenantId,
    pub email: String,
    pub role: String,
    pub invited_by: Option<UserId>,
    pub status: InvitationStatus,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

impl From<invitation::Model> for Invitation {
    fn from(m: invitation::Model) -> Self {
        Self {
            id: InvitationId(m.id),
            tenant_id: TenantId(m.tenant_id),
            email: m.email,
            role: m.role,
            invited_by: m.invited_by.map(UserId),
            status: InvitationStatus::from_stored(&m.status),
            expires_at: m.expires_at,
            created_at: m.created_at,
            accepted_at: m.accepted_at,
        }
    }
}
