//! Roles and permissions: the one role -> permission table read by the API, the policy engine
//! and (later) the portal navigation.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A `resource:action` permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
pub enum Permission {
    #[serde(rename = "sessions:view")]
    SessionsView,
    #[serde(rename = "sessions:manage")]
    SessionsManage,
    #[serde(rename = "projects:view")]
    ProjectsView,
    #[serde(rename = "projects:manage")]
    ProjectsManage,
    #[serde(rename = "api_keys:view")]
    ApiKeysView,
    #[serde(rename = "api_keys:manage")]
    ApiKeysManage,
    #[serde(rename = "billing:view")]
    BillingView,
    #[serde(rename = "billing:manage")]
    BillingManage,
    #[serde(rename = "team:view")]
    TeamView,
    #[serde(rename = "team:manage")]
    TeamManage,
    #[serde(rename = "settings:manage")]
    SettingsManage,
    #[serde(rename = "usage:view")]
    UsageView,
    #[serde(rename = "audit:view")]
    AuditView,
    #[serde(rename = "realtime:connect")]
    RealtimeConnect,
    #[serde(rename = "platform:tenants")]
    PlatformTenants,
    #[serde(rename = "platform:users")]
    PlatformUsers,
    #[serde(rename = "platform:audit")]
    PlatformAudit,
}

/// Every permission, in display order.
pub const ALL_PERMISSIONS: &[Permission] = &[
    Permission::SessionsView,
    Permission::SessionsManage,
    Permission::ProjectsView,
    Permission::ProjectsManage,
    Permission::ApiKeysView,
    Permission::ApiKeysManage,
    Permission::BillingView,
    Permission::BillingManage,
    Permission::TeamView,
    Permission::TeamManage,
    Permission::SettingsManage,
    Permission::UsageView,
    Permission::AuditView,
    Permission::RealtimeConnect,
    Permission::PlatformTenants,
    Permission::PlatformUsers,
    Permission::PlatformAudit,
];

impl Permission {
    /// The `resource:action` string.
    pub fn as_str(&self) -> &'static str {
        match self {
            Permission::SessionsView => "sessions:view",
            Permission::SessionsManage => "sessions:manage",
            Permission::ProjectsView => "projects:view",
            Permission::ProjectsManage => "projects:manage",
            Permission::ApiKeysView => "api_keys:view",
            Permission::ApiKeysManage => "api_keys:manage",
            Permission::BillingView => "billing:view",
            Permission::BillingManage => "billing:manage",
            Permission::TeamView => "team:view",
            Permission::TeamManage => "team:manage",
            Permission::SettingsManage => "settings:manage",
            Permission::UsageView => "usage:view",
            Permission::AuditView => "audit:view",
            Permission::RealtimeConnect => "realtime:connect",
            Permission::PlatformTenants => "platform:tenants",
            Permission::PlatformUsers => "platform:users",
            Permission::PlatformAudit => "platform:audit",
        }
    }

    /// True for platform-wide (SaaS admin) permissions.
    pub fn is_platform(&self) -> bool {
        self.as_str().starts_with("platform:")
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role held by a user in a tenant (or platform-wide for `saas_admin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    SaasAdmin,
    TenantOwner,
    TenantAdmin,
    BillingAdmin,
    Developer,
    Viewer,
}

/// Error for an unknown role name.
#[derive(Debug, thiserror::Error)]
#[error(
    "unknown role '{0}': expected one of tenant_owner, tenant_admin, billing_admin, developer, viewer"
)]
pub struct UnknownRole(pub String);

impl Role {
    /// Roles that can be granted inside a tenant.
    pub const TENANT_ROLES: &'static [Role] = &[
        Role::TenantOwner,
        Role::TenantAdmin,
        Role::BillingAdmin,
        Role::Developer,
        Role::Viewer,
    ];

    /// The snake_case name stored in the database.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::SaasAdmin => "saas_admin",
            Role::TenantOwner => "tenant_owner",
            Role::TenantAdmin => "tenant_admin",
            Role::BillingAdmin => "billing_admin",
            Role::Developer => "developer",
            Role::Viewer => "viewer",
        }
    }

    /// The role -> permission table. This is the single source of truth.
    pub fn permissions(&self) -> &'static [Permission] {
        use Permission::*;
        match self {
            Role::SaasAdmin => &[PlatformTenants, PlatformUsers, PlatformAudit],
            Role::TenantOwner | Role::TenantAdmin => &[
                SessionsView,
                SessionsManage,
                ProjectsView,
                ProjectsManage,
                ApiKeysView,
                ApiKeysManage,
                BillingView,
                BillingManage,
                TeamView,
                TeamManage,
                SettingsManage,
                UsageView,
                AuditView,
                RealtimeConnect,
            ],
            Role::BillingAdmin => &[
                BillingView,
                BillingManage,
                UsageView,
                ProjectsView,
                TeamView,
            ],
            Role::Developer => &[
                SessionsView,
                SessionsManage,
                ProjectsView,
                ProjectsManage,
                ApiKeysView,
                ApiKeysManage,
                UsageView,
                TeamView,
                RealtimeConnect,
            ],
            Role::Viewer => &[SessionsView, ProjectsView, ApiKeysView, UsageView, TeamView],
        }
    }

    /// Whether this role grants `p`.
    pub fn grants(&self, p: Permission) -> bool {
        self.permissions().contains(&p)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "saas_admin" => Ok(Role::SaasAdmin),
            "tenant_owner" => Ok(Role::TenantOwner),
            "tenant_admin" => Ok(Role::TenantAdmin),
            "billing_admin" => Ok(Role::BillingAdmin),
            "developer" => Ok(Role::Developer),
            "viewer" => Ok(Role::Viewer),
            other => Err(UnknownRole(other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_cannot_manage_keys_but_developer_can() {
        assert!(!Role::Viewer.grants(Permission::ApiKeysManage));
        assert!(Role::Developer.grants(Permission::ApiKeysManage));
        assert!(!Role::Developer.grants(Permission::AuditView));
    }

    #[test]
    fn only_saas_admin_has_platform_permissions() {
        for role in Role::TENANT_ROLES {
            assert!(
                role.permissions().iter().all(|p| !p.is_platform()),
                "{role}"
            );
        }
        assert!(Role::SaasAdmin.grants(Permission::PlatformTenants));
    }

    #[test]
    fn role_names_round_trip() {
        for role in Role::TENANT_ROLES {
            assert_eq!(role.as_str().parse::<Role>().ok(), Some(*role));
        }
        assert!("root".parse::<Role>().is_err());
    }
}
