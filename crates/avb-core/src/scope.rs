//! Who is calling: built only by authentication (see `identity::authenticate`) or, for the
//! operator CLI on the server machine, by [`Scope::local_operator`].

use avb_domain::{ApiKeyId, AuthSessionId, Permission, ProjectId, Role, TenantId, UserId};
use std::collections::BTreeSet;

/// Facts about the request used in audit rows and login history.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client IP address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// Request id (also in logs).
    pub request_id: String,
}

/// The authenticated principal.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A local user.
    User { id: UserId, email: String },
    /// A user authenticated by an external identity provider (Keycloak).
    External { subject: String, email: String },
    /// An API key, optionally bound to one project.
    ApiKey {
        id: ApiKeyId,
        prefix: String,
        project: Option<ProjectId>,
    },
    /// An ephemeral realtime client secret (`ek_...`), with the project and prefix of the key
    /// (or the user) that minted it.
    ClientSecret {
        id: uuid::Uuid,
        project: Option<ProjectId>,
        key_prefix: Option<String>,
        user: Option<UserId>,
    },
    /// The operator running `avb admin ...` on the server machine.
    Operator,
}

impl Actor {
    /// Kind stored in audit rows.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::User { .. } => "user",
            Actor::External { .. } => "external_user",
            Actor::ApiKey { .. } => "api_key",
            Actor::ClientSecret { .. } => "client_secret",
            Actor::Operator => "operator",
        }
    }
    /// Stable id stored in audit rows.
    pub fn id(&self) -> String {
        match self {
            Actor::User { id, .. } => id.to_string(),
            Actor::External { subject, .. } => subject.clone(),
            Actor::ApiKey { id, .. } => id.to_string(),
            Actor::ClientSecret { id, .. } => id.to_string(),
            Actor::Operator => "cli".into(),
        }
    }
    /// The project a key (or a secret minted by one) is bound to.
    pub fn project(&self) -> Option<ProjectId> {
        match self {
            Actor::ApiKey { project, .. } | Actor::ClientSecret { project, .. } => *project,
            _ => None,
        }
    }
    /// Human label stored in audit rows.
    pub fn label(&self) -> String {
        match self {
            Actor::User { email, .. } | Actor::External { email, .. } => email.clone(),
            Actor::ApiKey { prefix, .. } => format!("key {prefix}"),
            Actor::ClientSecret { id, .. } => format!("client secret {id}"),
            Actor::Operator => "operator (cli)".into(),
        }
    }
    /// The local user id, if the actor is a local user.
    pub fn user_id(&self) -> Option<UserId> {
        match self {
            Actor::User { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// Who is calling, for which tenant, with which permissions.
#[derive(Debug, Clone)]
pub struct Scope {
    actor: Actor,
    tenant: Option<TenantId>,
    role: Option<Role>,
    permissions: BTreeSet<Permission>,
    saas_admin: bool,
    operator: bool,
    session: Option<AuthSessionId>,
    meta: RequestMeta,
    /// A SaaS admin viewing a tenant: view permissions only, every page view audited.
    impersonating: bool,
}

/// What an impersonating SaaS admin may do inside the tenant: look, never change.
const IMPERSONATION_PERMISSIONS: &[Permission] = &[
    Permission::SessionsView,
    Permission::ProjectsView,
    Permission::ApiKeysView,
    Permission::BillingView,
    Permission::TeamView,
    Permission::UsageView,
    Permission::AuditView,
];

impl Scope {
    pub(crate) fn new(
        actor: Actor,
        tenant: Option<TenantId>,
        role: Option<Role>,
        saas_admin: bool,
        session: Option<AuthSessionId>,
        meta: RequestMeta,
    ) -> Self {
        let mut permissions: BTreeSet<Permission> = role
            .map(|r| r.permissions().iter().copied().collect())
            .unwrap_or_default();
        if saas_admin {
            permissions.extend(Role::SaasAdmin.permissions().iter().copied());
        }
        Self {
            actor,
            tenant,
            role,
            permissions,
            saas_admin,
            operator: false,
            session,
            meta,
            impersonating: false,
        }
    }

    pub(crate) fn with_permissions(mut self, permissions: BTreeSet<Permission>) -> Self {
        self.permissions = permissions;
        self
    }

    /// The operator scope used by `avb admin ...` commands run on the server machine, which
    /// already hold the database credentials. `tenant` selects the tenant to act in.
    pub fn local_operator(tenant: Option<TenantId>) -> Self {
        Self {
            actor: Actor::Operator,
            tenant,
            role: None,
            permissions: avb_domain::ALL_PERMISSIONS.iter().copied().collect(),
            saas_admin: true,
            operator: true,
            session: None,
            meta: RequestMeta {
                ip: "local".into(),
                user_agent: "avb-cli".into(),
                request_id: String::new(),
            },
            impersonating: false,
        }
    }

    /// A SaaS admin's read-only view of `tenant` (same actor, same login session, view
    /// permissions only); `None` for anyone else.
    pub fn impersonate(&self, tenant: TenantId) -> Option<Scope> {
        if !self.saas_admin || self.impersonating || self.operator {
            return None;
        }
        Some(Self {
            actor: self.actor.clone(),
            tenant: Some(tenant),
            role: None,
            permissions: IMPERSONATION_PERMISSIONS.iter().copied().collect(),
            saas_admin: false,
            operator: false,
            session: self.session,
            meta: self.meta.clone(),
            impersonating: true,
        })
    }

    /// Whether this is a SaaS admin's read-only view of a tenant.
    pub fn is_impersonating(&self) -> bool {
        self.impersonating
    }

    /// The actor.
    pub fn actor(&self) -> &Actor {
        &self.actor
    }
    /// The tenant the caller acts in, if any.
    pub fn tenant(&self) -> Option<TenantId> {
        self.tenant
    }
    /// The caller's role in that tenant.
    pub fn role(&self) -> Option<Role> {
        self.role
    }
    /// Effective permissions.
    pub fn permissions(&self) -> &BTreeSet<Permission> {
        &self.permissions
    }
    /// Whether the caller holds `p` (the policy engine makes the final decision).
    pub fn has(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }
    /// Whether the caller is a SaaS admin.
    pub fn is_saas_admin(&self) -> bool {
        self.saas_admin
    }
    /// Whether this is the local operator.
    pub fn is_operator(&self) -> bool {
        self.operator
    }
    /// The login session, for logout.
    pub fn session(&self) -> Option<AuthSessionId> {
        self.session
    }
    /// Request facts.
    pub fn meta(&self) -> &RequestMeta {
        &self.meta
    }
}
