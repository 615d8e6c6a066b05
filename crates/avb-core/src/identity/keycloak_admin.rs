//! User administration through Keycloak's Admin REST API, for deployments where Keycloak holds
//! the users (`identity.provider = "keycloak"` plus `keycloak.admin_client_id` and
//! `admin_client_secret`): list and search, detail with realm roles, enable and disable (which
//! also ends the user's Keycloak sessions), the password-reset e-mail, and failed logins from
//! Keycloak's event store. Also maps Keycloak's representations into the platform's views.
//!
//! Endpoints, all under `<base>/admin/realms/<realm>` with a service-account bearer token from
//! `<base>/realms/<realm>/protocol/openid-connect/token` (`grant_type=client_credentials`):
//! `GET /users?search=&first=&max=&briefRepresentation=false`, `GET|PUT /users/{id}`,
//! `POST /users/{id}/logout`, `PUT /users/{id}/execute-actions-email` (body
//! `["UPDATE_PASSWORD"]`), `GET /users/{id}/role-mappings/realm` and
//! `GET /events?type=&user=&first=&max=`.
//!
//! Paging: Keycloak pages by offset (`first`/`max`), the platform by cursor. The cursor handed
//! out for a Keycloak list is the next offset written as a UUID ([`offset_cursor`], e.g.
//! `00000000-0000-0000-0000-000000000019` for 25), which no real (v4/v7) id can be; any other
//! cursor restarts at the first row.

use crate::config::KeycloakConfig;
use crate::error::{CoreError, CoreResult};
use crate::secret::Secret;
use crate::services::platform::UserView;
use avb_domain::{Role, TenantId};
use avb_storage::entities::login_event::Model as LoginEvent;
use avb_storage::entities::user::Model as User;
use avb_storage::repos::tenants;
use avb_storage::store::Tx;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;
use uuid::Uuid;

/// The required action that makes Keycloak's e-mail a password reset.
pub const UPDATE_PASSWORD: &str = "UPDATE_PASSWORD";

/// Role-mapping look-ups a list page runs at once.
const ROLE_LOOKUPS_IN_FLIGHT: usize = 8;

/// Seconds before its expiry a service-account token is replaced.
const TOKEN_MARGIN_SECS: u64 = 10;

/// A Keycloak `UserRepresentation`, the fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakUser {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub enabled: Option<bool>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub created_timestamp: Option<i64>,
    /// Attribute name to values.
    #[serde(default)]
    pub attributes: Option<HashMap<String, Vec<String>>>,
    /// Filled by Keycloak only in some representations (exports); the role mappings are the
    /// source of truth.
    #[serde(default)]
    pub realm_roles: Option<Vec<String>>,
}

impl KeycloakUser {
    /// Whether the account may sign in.
    pub fn is_enabled(&self) -> bool {
        self.enabled.unwrap_or(false)
    }

    /// Our id for the user: Keycloak ids are UUIDs; `None` for any that is not.
    pub fn uuid(&self) -> Option<Uuid> {
        self.id.parse().ok()
    }

    /// The tenant named by the first value of `attribute` (as the token's tenant claim is).
    pub fn tenant(&self, attribute: &str) -> Option<TenantId> {
        self.attributes
            .as_ref()?
            .get(attribute)?
            .first()?
            .trim()
            .parse()
            .ok()
    }

    /// "First Last", or the username when neither is set.
    pub fn display_name(&self) -> String {
        let name = [self.first_name.as_deref(), self.last_name.as_deref()]
            .into_iter()
            .flatten()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        if name.is_empty() {
            self.username.clone()
        } else {
            name
        }
    }

    /// The user as a `users` row (nothing is stored): status from `enabled`, SaaS admin from
    /// the `saas_admin` realm role. `None` when the id is not a UUID.
    pub fn to_user(&self, realm_roles: &[String]) -> Option<User> {
        let id = self.uuid()?;
        let created = self
            .created_timestamp
            .and_then(DateTime::<Utc>::from_timestamp_millis)
            .unwrap_or_default();
        Some(User {
            id,
            email: self
                .email
                .clone()
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| self.username.clone()),
            name: self.display_name(),
            password_hash: None,
            totp_secret: None,
            totp_last_step: None,
            is_saas_admin: realm_roles.iter().any(|r| r == Role::SaasAdmin.as_str()),
            status: if self.is_enabled() {
                "active"
            } else {
                "disabled"
            }
            .into(),
            failed_logins: 0,
            locked_until: None,
            created_at: created,
            updated_at: created,
        })
    }
}

/// The strongest tenant role among `realm_roles` (the rule Keycloak tokens are read with).
pub fn strongest_tenant_role(realm_roles: &[String]) -> Option<Role> {
    Role::TENANT_ROLES
        .iter()
        .copied()
        .find(|r| realm_roles.iter().any(|n| n == r.as_str()))
}

/// A Keycloak `EventRepresentation`, the fields we read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeycloakEvent {
    #[serde(default)]
    pub id: Option<String>,
    /// Milliseconds since the epoch.
    #[serde(default)]
    pub time: i64,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub ip_address: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub details: Option<HashMap<String, serde_json::Value>>,
}

impl KeycloakEvent {
    /// The event as a login history row: `LOGIN` is a success, anything else (`LOGIN_ERROR`) a
    /// refusal with Keycloak's error as the reason; the e-mail column holds the username that
    /// was typed (`details.username`).
    pub fn to_login_event(&self) -> LoginEvent {
        let detail = |k: &str| {
            self.details
                .as_ref()
                .and_then(|d| d.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        };
        let success = self.kind.as_deref() == Some("LOGIN");
        LoginEvent {
            id: self
                .id
                .as_deref()
                .and_then(|i| i.parse().ok())
                .unwrap_or_else(Uuid::now_v7),
            user_id: self.user_id.as_deref().and_then(|u| u.parse().ok()),
            email: detail("username")
                .or_else(|| detail("email"))
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

#[derive(Debug, Deserialize)]
struct RoleRepresentation {
    #[serde(default)]
    name: String,
}

#[derive(Debug, Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

struct CachedToken {
    value: String,
    until: Instant,
}

/// The cursor that resumes a Keycloak list at `offset`.
pub fn offset_cursor(offset: u64) -> Uuid {
    Uuid::from_u128(u128::from(offset))
}

/// The offset a cursor from [`offset_cursor`] stands for; 0 for none or any other id.
pub fn cursor_offset(after: Option<Uuid>) -> u64 {
    after
        .map(|u| u.as_u128())
        .and_then(|o| u32::try_from(o).ok())
        .map(u64::from)
        .unwrap_or(0)
}

/// A client of one realm's Admin REST API, authenticated as a service account whose token is
/// cached until shortly before it expires.
pub struct KeycloakAdmin {
    http: reqwest::Client,
    base: String,
    realm: String,
    client_id: String,
    client_secret: Secret,
    tenant_attribute: String,
    token: Mutex<Option<CachedToken>>,
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
        let from_issuer = cfg.issuer.as_deref().and_then(|i| {
            let (base, realm) = i.trim_end_matches('/').rsplit_once("/realms/")?;
            Some((base.to_string(), realm.to_string()))
        });
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
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| CoreError::Internal(format!("Keycloak admin client: {e}")))?;
        Ok(Some(Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            realm,
            client_id: client_id.to_string(),
            client_secret: secret.clone(),
            tenant_attribute: cfg.tenant_attribute.clone(),
            token: Mutex::new(None),
        }))
    }

    /// The user attribute holding the tenant id.
    pub fn tenant_attribute(&self) -> &str {
        &self.tenant_attribute
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/admin/realms/{}{path}", self.base, self.realm)
    }

    /// A service-account token, fetched once and reused until shortly before it expires.
    async fn token(&self) -> CoreResult<String> {
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref().filter(|t| t.until > Instant::now()) {
            return Ok(t.value.clone());
        }
        let url = format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.base, self.realm
        );
        let res = self
            .http
            .post(&url)
            .form(&[
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
            ])
            .send()
            .await
            .map_err(|e| unreachable_err("service-account token", &e))?;
        let res = check("service-account token", res).await?;
        let t: TokenResponse = read("service-account token", res).await?;
        let lifetime = t.expires_in.unwrap_or(60).saturating_sub(TOKEN_MARGIN_SECS);
        *cached = Some(CachedToken {
            value: t.access_token.clone(),
            until: Instant::now() + Duration::from_secs(lifetime),
        });
        Ok(t.access_token)
    }

    /// Sends an admin request; a 401 (a token revoked early) fetches a new token and retries
    /// once. 404 is [`CoreError::NotFound`], any other non-2xx status an internal error.
    async fn send(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> CoreResult<reqwest::Response> {
        let url = self.admin_url(path);
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let mut req = self
                .http
                .request(method.clone(), &url)
                .bearer_auth(&token)
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let res = req.send().await.map_err(|e| unreachable_err(what, &e))?;
            if res.status() == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                *self.token.lock().await = None;
                continue;
            }
            return check(what, res).await;
        }
    }

    async fn get_json<T: DeserializeOwned>(
        &self,
        what: &str,
        path: &str,
        query: &[(&str, String)],
    ) -> CoreResult<T> {
        let res = self.send(what, Method::GET, path, query, None).await?;
        read(what, res).await
    }

    /// `GET /users`: up to `max` users from `first` on, matching `search` (Keycloak matches it
    /// against username, e-mail, first and last name; `*x*` infix, `"x"` exact, else prefix).
    pub async fn list_users(
        &self,
        search: Option<&str>,
        first: u64,
        max: u64,
    ) -> CoreResult<Vec<KeycloakUser>> {
        let mut query = vec![
            ("first", first.to_string()),
            ("max", max.to_string()),
            ("briefRepresentation", "false".to_string()),
        ];
        if let Some(s) = search {
            query.push(("search", s.to_string()));
        }
        self.get_json("user list", "/users", &query)
            .await
            .map_err(realm_missing)
    }

    /// `GET /users/{id}`.
    pub async fn get_user(&self, id: Uuid) -> CoreResult<KeycloakUser> {
        self.get_json("user", &format!("/users/{id}"), &[]).await
    }

    /// `GET /users/{id}/role-mappings/realm`: the names of the realm roles mapped to the user.
    pub async fn realm_roles(&self, id: Uuid) -> CoreResult<Vec<String>> {
        let roles: Vec<RoleRepresentation> = self
            .get_json(
                "realm role mappings",
                &format!("/users/{id}/role-mappings/realm"),
                &[],
            )
            .await?;
        Ok(roles.into_iter().map(|r| r.name).collect())
    }

    /// `PUT /users/{id}` with `{"enabled": ...}` (Keycloak accepts a partial representation).
    pub async fn set_enabled(&self, id: Uuid, enabled: bool) -> CoreResult<()> {
        self.send(
            "user update",
            Method::PUT,
            &format!("/users/{id}"),
            &[],
            Some(&serde_json::json!({ "enabled": enabled })),
        )
        .await
        .map(drop)
    }

    /// `POST /users/{id}/logout`: ends every Keycloak session of the user (their refresh
    /// tokens stop working; access tokens already issued live until they expire).
    pub async fn logout(&self, id: Uuid) -> CoreResult<()> {
        self.send(
            "user logout",
            Method::POST,
            &format!("/users/{id}/logout"),
            &[],
            None,
        )
        .await
        .map(drop)
    }

    /// `PUT /users/{id}/execute-actions-email` with the required actions, e.g.
    /// `["UPDATE_PASSWORD"]`: Keycloak mails the user a link to perform them.
    pub async fn execute_actions_email(&self, id: Uuid, actions: &[&str]) -> CoreResult<()> {
        self.send(
            "actions e-mail",
            Method::PUT,
            &format!("/users/{id}/execute-actions-email"),
            &[],
            Some(&serde_json::json!(actions)),
        )
        .await
        .map(drop)
    }

    /// `GET /events`: stored user events of the given types (Keycloak returns the newest
    /// first), optionally of one user. Needs "Save events" on in the realm.
    pub async fn events(
        &self,
        types: &[&str],
        user: Option<Uuid>,
        first: u64,
        max: u64,
    ) -> CoreResult<Vec<KeycloakEvent>> {
        let mut query: Vec<(&str, String)> =
            types.iter().map(|t| ("type", t.to_string())).collect();
        if let Some(u) = user {
            query.push(("user", u.to_string()));
        }
        query.push(("first", first.to_string()));
        query.push(("max", max.to_string()));
        self.get_json("events", "/events", &query)
            .await
            .map_err(realm_missing)
    }

    /// A user with their realm roles (the mapped ones, or `realmRoles` when Keycloak sent it).
    async fn with_roles(&self, u: KeycloakUser) -> CoreResult<(KeycloakUser, Vec<String>)> {
        let roles = match (&u.realm_roles, u.uuid()) {
            (Some(r), _) => r.clone(),
            (None, Some(id)) => self.realm_roles(id).await?,
            (None, None) => Vec::new(),
        };
        Ok((u, roles))
    }

    /// One page of users with their realm roles. A search that is a UUID looks that id up;
    /// other searches match anywhere in the name or e-mail (sent as `*q*`) unless they already
    /// use Keycloak's `*` or `"` syntax. Users whose id is not a UUID are left out.
    pub async fn users_page(
        &self,
        q: Option<&str>,
        page: avb_storage::PageRequest,
    ) -> CoreResult<(Vec<(KeycloakUser, Vec<String>)>, Option<Uuid>)> {
        let q = q.map(str::trim).filter(|s| !s.is_empty());
        if let Some(id) = q.and_then(|s| s.parse::<Uuid>().ok()) {
            return match self.get_user(id).await {
                Ok(u) => Ok((vec![self.with_roles(u).await?], None)),
                Err(CoreError::NotFound) => Ok((Vec::new(), None)),
                Err(e) => Err(e),
            };
        }
        let search = q.map(|s| {
            if s.contains('*') || s.contains('"') {
                s.to_string()
            } else {
                format!("*{s}*")
            }
        });
        let limit = page.limit.clamp(1, 200);
        let first = cursor_offset(page.after);
        let mut listed = self.list_users(search.as_deref(), first, limit + 1).await?;
        let next = (listed.len() as u64 > limit).then(|| offset_cursor(first + limit));
        listed.truncate(limit as usize);
        let rows = futures::stream::iter(listed.into_iter().filter(|u| u.uuid().is_some()))
            .map(|u| self.with_roles(u))
            .buffered(ROLE_LOOKUPS_IN_FLIGHT)
            .try_collect()
            .await?;
        Ok((rows, next))
    }

    /// One user with their realm roles; [`CoreError::NotFound`] when Keycloak has no such user.
    pub async fn user_with_roles(&self, id: Uuid) -> CoreResult<(KeycloakUser, Vec<String>)> {
        let u = self.get_user(id).await?;
        if u.uuid() != Some(id) {
            return Err(CoreError::NotFound);
        }
        self.with_roles(u).await
    }

    /// The user's latest logins and refusals (`LOGIN`, `LOGIN_ERROR`), newest first.
    pub async fn login_history(&self, id: Uuid, max: u64) -> CoreResult<Vec<LoginEvent>> {
        Ok(self
            .events(&["LOGIN", "LOGIN_ERROR"], Some(id), 0, max)
            .await?
            .iter()
            .map(KeycloakEvent::to_login_event)
            .collect())
    }

    /// One page of failed logins (`LOGIN_ERROR`) across the realm, newest first.
    pub async fn failed_logins(
        &self,
        page: avb_storage::PageRequest,
    ) -> CoreResult<avb_storage::Page<LoginEvent>> {
        let limit = page.limit.clamp(1, 200);
        let first = cursor_offset(page.after);
        let mut events = self
            .events(&["LOGIN_ERROR"], None, first, limit + 1)
            .await?;
        let next = (events.len() as u64 > limit).then(|| offset_cursor(first + limit));
        events.truncate(limit as usize);
        Ok(avb_storage::Page {
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
            memberships.push((t.as_uuid(), name, role));
        }
        Ok(Some(UserView { user, memberships }))
    }
}

/// Keycloak answered 404 to a realm-wide call: the realm (not a user) is missing.
fn realm_missing(e: CoreError) -> CoreError {
    match e {
        CoreError::NotFound => {
            CoreError::Internal("Keycloak answered 404 Not Found: is keycloak.realm right?".into())
        }
        e => e,
    }
}

fn unreachable_err(what: &str, e: &reqwest::Error) -> CoreError {
    CoreError::Internal(format!("Keycloak is unreachable ({what}): {e}"))
}

/// Passes a 2xx answer; 404 is `NotFound`, anything else an internal error naming the status
/// and the start of Keycloak's message.
async fn check(what: &str, res: reqwest::Response) -> CoreResult<reqwest::Response> {
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(CoreError::NotFound);
    }
    let body = res.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Err(CoreError::Internal(format!(
        "Keycloak answered {status} to the {what} request: {body}"
    )))
}

async fn read<T: DeserializeOwned>(what: &str, res: reqwest::Response) -> CoreResult<T> {
    res.json()
        .await
        .map_err(|e| CoreError::Internal(format!("Keycloak's {what} answer is unreadable: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_and_real_ids_restart() {
        assert_eq!(cursor_offset(Some(offset_cursor(25))), 25);
        assert_eq!(
            offset_cursor(25).to_string(),
            "00000000-0000-0000-0000-000000000019"
        );
        assert_eq!(cursor_offset(None), 0);
        assert_eq!(cursor_offset(Some(Uuid::now_v7())), 0);
    }

    #[test]
    fn issuer_gives_base_and_realm() {
        let cfg = KeycloakConfig {
            issuer: Some("https://sso.example.com/auth/realms/avb/".into()),
            admin_client_id: Some("avb-admin".into()),
            admin_client_secret: Some(Secret::new("s")),
            ..Default::default()
        };
        let kc = KeycloakAdmin::from_config(&cfg).ok().flatten();
        let kc = kc.as_ref().map(|k| (k.base.as_str(), k.realm.as_str()));
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
