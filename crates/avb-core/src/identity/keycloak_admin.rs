//! User administration through Keycloak's Admin REST API, for deployments where Keycloak holds
//! the users (`identity.provider = "keycloak"` plus `keycloak.admin_client_id` and
//! `admin_client_secret`): the client of `avb-keycloak` built from `[keycloak]`, its errors
//! as [`CoreError`]s, and Keycloak's representations mapped into the platform's views.
//!
//! Paging: list cursors are Keycloak offsets written as UUIDs (see
//! [`avb_keycloak::offset_cursor`]).

use crate::config::KeycloakConfig;
use crate::error::{CoreError, CoreResult};
use crate::views::{LoginEvent, User, UserView};
use avb_domain::{Role, TenantId, UserId, UserStatus};
use avb_keycloak::AdminClient;
use avb_storage::repos::tenants;
use avb_storage::store::Tx;
use avb_storage::{Page, PageRequest};
use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use avb_keycloak::{
    KeycloakEvent, KeycloakUser, UPDATE_PASSWORD, cursor_offset, offset_cursor,
    strongest_tenant_role,
};

impl From<avb_keycloak::Error> for CoreError {
    fn from(e: avb_keycloak::Error) -> Self {
        use avb_keycloak::Error as E;
        match e {
            E::NotFound => CoreError::NotFound,
            E::RealmMissing => CoreError::Internal(
                "Keycloak answered 404 Not Found: is keycloak.realm right?".into(),
            ),
            e
            @ (E::Client(_) | E::Unreachable { .. } | E::Status { .. } | E::Unreadable { .. }) => {
                CoreError::Internal(e.to_string())
            }
        }
    }
}

/// A Keycloak user as the platform's rows.
pub trait KeycloakUserExt {
    /// The user as a `users` row (nothing is stored): status from `enabled`, SaaS admin from
    /// the `saas_admin` realm role. `None` when the id is not a UUID.
    fn to_user(&self, realm_roles: &[String]) -> Option<User>;
}

impl KeycloakUserExt for KeycloakUser {
    fn to_user(&self, realm_roles: &[String]) -> Option<User> {
        let id = self.uuid()?;
        let created = self
            .created_timestamp
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_default();
        Some(User {
            id: UserId(id),
            email: self
                .email
                .clone()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| self.username.clone()),
            name: self.display_name(),
            has_password: false,
            totp_enabled: false,
            is_saas_admin: realm_roles.iter().any(|r| r == Role::SaasAdmin.as_str()),
            status: if self.is_enabled() {
                UserStatus::Active
            } else {
                UserStatus::Disabled
            },
            locked_until: None,
            created_at: created,
            updated_at: created,
        })
    }
}

/// A Keycloak event as the platform's rows.
pub trait KeycloakEventExt {
    /// The event as a login history row: `LOGIN` is a success, anything else (`LOGIN_ERROR`) a
    /// refusal with Keycloak's error as the reason; the e-mail column holds the username that
    /// was typed (`details.username`).
    fn to_login_event(&self) -> LoginEvent;
}

impl KeycloakEventExt for KeycloakEvent {
    fn to_login_event(&self) -> LoginEvent {
        let success = self.kind.as_deref() == Some("LOGIN");
        LoginEvent {
            id: self
                .id
                .as_deref()
                .and_then(|i| i.parse().ok())
                .unwrap_or_default(),
            user_id: self.user_id.as_deref().and_then(|u| u.parse().ok()),
            email: self
                .detail("username")
                .or_else(|| self.detail("email"))
                .unwrap_or_default(),
            ip: self.ip_address.clone().unwrap_or_default(),
            user_agent: String::new(),
            success,
            reason: if success {
                String::new()
            } else {
                self.error.clone().unwrap_or_else(|| "unknown".into())
            },
            created_at: DateTime::<Utc>::from_timestamp_millis(self.time).unwrap_or_default(),
        }
    }
}

/// The Admin REST client of the configured realm, answering in the platform's terms.
pub struct KeycloakAdmin {
    client: AdminClient,
    tenant_attribute: String,
}

impl KeycloakAdmin {
    /// The client for `[keycloak]`, or `None` unless `admin_client_id` and
    /// `admin_client_secret` are both set. The base URL and realm come from `admin_url` and
    /// `realm`, else from `issuer` (`<base>/realms/<realm>`).
    pub fn from_config(cfg: &KeycloakConfig) -> CoreResult<Option<Self>> {
        let (Some(client_id), Some(secret)) = (
            cfg.admin_client_id.as_deref().filter(|s| !s.is_empty()),
            cfg.admin_client_secret
                .as_ref()
                .filter(|s| !s.expose().is_empty()),
        ) else {
            return Ok(None);
        };
        let from_issuer = cfg.issuer.as_deref().and_then(avb_keycloak::split_issuer);
        let base = match (&cfg.admin_url, &from_issuer) {
            (Some(u), _) => u.clone(),
            (None, Some((b, _))) => b.clone(),
            (None, None) => {
                return Err(CoreError::Internal(
                    "keycloak.admin_url is not set and keycloak.issuer is not <base>/realms/<realm>"
                        .into(),
                ));
            }
        };
        let realm = match (&cfg.realm, &from_issuer) {
            (Some(r), _) => r.clone(),
            (None, Some((_, r))) => r.clone(),
            (None, None) => {
                return Err(CoreError::Internal(
                    "keycloak.realm is not set and keycloak.issuer is not <base>/realms/<realm>"
                        .into(),
                ));
            }
        };
        let client = AdminClient::new(avb_keycloak::Config {
            base_url: base,
            realm,
            client_id: client_id.to_string(),
            client_secret: secret.expose().to_string(),
        })?;
        Ok(Some(Self {
            client,
            tenant_attribute: cfg.tenant_attribute.clone(),
        }))
    }

    /// The user attribute holding the tenant id.
    pub fn tenant_attribute(&self) -> &str {
        &self.tenant_attribute
    }

    /// The Admin REST client itself.
    pub fn client(&self) -> &AdminClient {
        &self.client
    }

    /// `GET /users/{id}`.
    pub async fn get_user(&self, id: Uuid) -> CoreResult<KeycloakUser> {
        Ok(self.client.get_user(id).await?)
    }

    /// `PUT /users/{id}` with `{"enabled": ...}`.
    pub async fn set_enabled(&self, id: Uuid, enabled: bool) -> CoreResult<()> {
        Ok(self.client.set_enabled(id, enabled).await?)
    }

    /// `POST /users/{id}/logout`: ends every Keycloak session of the user.
    pub async fn logout(&self, id: Uuid) -> CoreResult<()> {
        Ok(self.client.logout(id).await?)
    }

    /// The Keycloak id of the platform user `local` with `email`: the same id when the user was
    /// provisioned from Keycloak, else found by e-mail.
    pub async fn id_of(&self, local: Uuid, email: &str) -> CoreResult<Option<Uuid>> {
        match self.client.get_user(local).await {
            Ok(_) => return Ok(Some(local)),
            Err(avb_keycloak::Error::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(self
            .client
            .find_by_email(email)
            .await?
            .and_then(|u| u.id.parse().ok()))
    }

    /// Invites `email` to the tenant's Keycloak organization (created on first use, alias the
    /// tenant id): Keycloak sends its own invitation e-mail (B7.2).
    pub async fn invite(&self, tenant: TenantId, tenant_name: &str, email: &str) -> CoreResult<()> {
        let org = self
            .client
            .organization(&tenant.to_string(), tenant_name)
            .await?;
        Ok(self.client.invite_to_organization(&org, email).await?)
    }

    /// Writes the user's tenant and tenant role to Keycloak without ending their sessions
    /// (an invitation taken up at sign-in: the next token carries them).
    pub async fn grant_tenant_role(
        &self,
        id: Uuid,
        tenant: TenantId,
        role: &str,
    ) -> CoreResult<()> {
        Ok(self
            .client
            .set_tenant_role(id, &self.tenant_attribute, Some(tenant), Some(role))
            .await?)
    }

    /// Writes the user's tenant and tenant role to Keycloak (`None`: no tenant) and ends their
    /// Keycloak sessions, so their next token carries the change.
    pub async fn set_tenant_role(
        &self,
        id: Uuid,
        tenant: Option<TenantId>,
        role: Option<&str>,
    ) -> CoreResult<()> {
        self.client
            .set_tenant_role(id, &self.tenant_attribute, tenant, role)
            .await?;
        Ok(self.client.logout(id).await?)
    }

    /// `PUT /users/{id}/execute-actions-email`: Keycloak mails the user a link to perform the
    /// required actions.
    pub async fn execute_actions_email(&self, id: Uuid, actions: &[&str]) -> CoreResult<()> {
        Ok(self.client.execute_actions_email(id, actions).await?)
    }

    /// One page of users with their realm roles (see [`AdminClient::users_page`]).
    pub async fn users_page(
        &self,
        q: Option<&str>,
        page: PageRequest,
    ) -> CoreResult<(Vec<(KeycloakUser, Vec<String>)>, Option<Uuid>)> {
        Ok(self.client.users_page(q, page.after, page.limit).await?)
    }

    /// One user with their realm roles; [`CoreError::NotFound`] when Keycloak has no such user.
    pub async fn user_with_roles(&self, id: Uuid) -> CoreResult<(KeycloakUser, Vec<String>)> {
        Ok(self.client.user_with_roles(id).await?)
    }

    /// The user's latest logins and refusals (`LOGIN`, `LOGIN_ERROR`), newest first.
    pub async fn login_history(&self, id: Uuid, max: u64) -> CoreResult<Vec<LoginEvent>> {
        Ok(self
            .client
            .login_history(id, max)
            .await?
            .iter()
            .map(KeycloakEvent::to_login_event)
            .collect())
    }

    /// One page of failed logins (`LOGIN_ERROR`) across the realm, newest first.
    pub async fn failed_logins(&self, page: PageRequest) -> CoreResult<Page<LoginEvent>> {
        let (events, next) = self.client.failed_logins(page.after, page.limit).await?;
        Ok(Page {
            items: events.iter().map(KeycloakEvent::to_login_event).collect(),
            next,
        })
    }

    /// The platform's view of a Keycloak user: the tenant from the tenant attribute (its name
    /// looked up here) with the strongest tenant realm role (empty when none is mapped).
    /// `None` when the id is not a UUID.
    pub async fn view(
        &self,
        tx: &Tx,
        u: &KeycloakUser,
        realm_roles: &[String],
    ) -> CoreResult<Option<UserView>> {
        let Some(user) = u.to_user(realm_roles) else {
            return Ok(None);
        };
        let mut memberships = Vec::new();
        if let Some(t) = u.tenant(&self.tenant_attribute) {
            let name = tenants::get(tx, t)
                .await
                .map(|row| row.name)
                .unwrap_or_default();
            let role = strongest_tenant_role(realm_roles)
                .map(|r| r.as_str().to_string())
                .unwrap_or_default();
            memberships.push((t, name, role));
        }
        Ok(Some(UserView { user, memberships }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    #[test]
    fn issuer_gives_base_and_realm() {
        let cfg = KeycloakConfig {
            issuer: Some("https://sso.example.com/auth/realms/avb/".into()),
            admin_client_id: Some("avb-admin".into()),
            admin_client_secret: Some(Secret::new("s")),
            ..Default::default()
        };
        let kc = KeycloakAdmin::from_config(&cfg).ok().flatten();
        let kc = kc.as_ref().map(|k| (k.client.base(), k.client.realm()));
        assert_eq!(kc, Some(("https://sso.example.com/auth", "avb")));
        let without_secret = KeycloakConfig {
            admin_client_secret: None,
            ..cfg
        };
        assert!(matches!(
            KeycloakAdmin::from_config(&without_secret),
            Ok(None)
        ));
    }

    #[test]
    fn users_and_events_map() {
        let u: KeycloakUser = serde_json::from_value(serde_json::json!({
            "id": "0b6c8a52-3d0e-4a8e-9d7c-4c1f3e5a2b10", "username": "ada", "enabled": false,
            "firstName": "Ada", "lastName": "", "createdTimestamp": 1_700_000_000_000_i64,
            "attributes": {"tenant_id": ["not-a-tenant"]}
        }))
        .unwrap_or_default();
        let roles = vec!["viewer".to_string(), "saas_admin".to_string()];
        let model = u.to_user(&roles);
        assert_eq!(
            model
                .as_ref()
                .map(|m| (m.name.as_str(), m.email.as_str(), m.status.as_str())),
            Some(("Ada", "ada", "disabled"))
        );
        assert_eq!(model.map(|m| m.is_saas_admin), Some(true));
        assert_eq!(u.tenant("tenant_id"), None);
        assert_eq!(strongest_tenant_role(&roles), Some(Role::Viewer));
        let bad = KeycloakUser {
            id: "not-a-uuid".into(),
            ..Default::default()
        };
        assert!(bad.to_user(&[]).is_none());

        let e: KeycloakEvent = serde_json::from_value(serde_json::json!({
            "time": 1_700_000_000_000_i64, "type": "LOGIN_ERROR", "ipAddress": "10.0.0.7",
            "error": "invalid_user_credentials", "details": {"username": "ada", "x": null}
        }))
        .unwrap_or_default();
        let row = e.to_login_event();
        assert_eq!(
            (
                row.email.as_str(),
                row.ip.as_str(),
                row.reason.as_str(),
                row.success
            ),
            ("ada", "10.0.0.7", "invalid_user_credentials", false)
        );
        assert_eq!(row.created_at.timestamp(), 1_700_000_000);
    }
}
