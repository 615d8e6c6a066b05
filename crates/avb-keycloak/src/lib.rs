//! A client of Keycloak's Admin REST API for one realm: list and search users, a user with
//! their realm roles, enable and disable, end a user's sessions, the required-actions e-mail,
//! and stored user events. Nothing here knows the platform's views or storage; `avb-core` maps
//! what this returns.
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

use avb_domain::{Role, TenantId};
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

/// What a Keycloak call can fail with.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Keycloak answered 404 to a call about one user: no such user.
    #[error("not found")]
    NotFound,
    /// Keycloak answered 404 to a realm-wide call: the realm is missing.
    #[error("Keycloak answered 404 Not Found: is the realm right?")]
    RealmMissing,
    /// The HTTP client could not be built.
    #[error("Keycloak admin client: {0}")]
    Client(reqwest::Error),
    /// The request did not get an answer.
    #[error("Keycloak is unreachable ({what}): {source}")]
    Unreachable {
        what: String,
        source: reqwest::Error,
    },
    /// Keycloak refused the request: the status and the start of its message.
    #[error("Keycloak answered {status} to the {what} request: {body}")]
    Status {
        what: String,
        status: StatusCode,
        body: String,
    },
    /// The answer did not parse.
    #[error("Keycloak's {what} answer is unreadable: {source}")]
    Unreadable {
        what: String,
        source: reqwest::Error,
    },
}

/// The result of a Keycloak call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the realm is and how the service account signs in.
#[derive(Clone)]
pub struct Config {
    /// Base URL of the Keycloak server, e.g. `https://sso.example.com/auth`.
    pub base_url: String,
    /// The realm the users live in.
    pub realm: String,
    /// Client id of a confidential client with a service account.
    pub client_id: String,
    /// That client's secret.
    pub client_secret: String,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("base_url", &self.base_url)
            .field("realm", &self.realm)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

/// The server base URL and realm named by an issuer URL `<base>/realms/<realm>`; `None` for
/// any other URL.
pub fn split_issuer(issuer: &str) -> Option<(String, String)> {
    let (base, realm) = issuer.trim_end_matches('/').rsplit_once("/realms/")?;
    Some((base.to_string(), realm.to_string()))
}

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
    /// A detail of the event as a string (`details.username`, ...), when it is one.
    pub fn detail(&self, key: &str) -> Option<String> {
        self.details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|v| v.as_str())
            .map(str::to_string)
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
pub struct AdminClient {
    http: reqwest::Client,
    base: String,
    realm: String,
    client_id: String,
    client_secret: String,
    token: Mutex<Option<CachedToken>>,
}

impl AdminClient {
    /// A client for `cfg` (a trailing `/` of the base URL is dropped).
    pub fn new(cfg: Config) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(Error::Client)?;
        Ok(Self {
            http,
            base: cfg.base_url.trim_end_matches('/').to_string(),
            realm: cfg.realm,
            client_id: cfg.client_id,
            client_secret: cfg.client_secret,
            token: Mutex::new(None),
        })
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    fn admin_url(&self, path: &str) -> String {
        format!("{}/admin/realms/{}{path}", self.base, self.realm)
    }

    /// A service-account token, fetched once and reused until shortly before it expires.
    async fn token(&self) -> Result<String> {
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
                ("client_secret", self.client_secret.as_str()),
            ])
            .send()
            .await
            .map_err(|e| unreachable_err("service-account token", e))?;
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
    /// once. 404 is [`Error::NotFound`], any other non-2xx status [`Error::Status`].
    async fn send(
        &self,
        what: &str,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<reqwest::Response> {
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
            let res = req.send().await.map_err(|e| unreachable_err(what, e))?;
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
    ) -> Result<T> {
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
    ) -> Result<Vec<KeycloakUser>> {
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
    pub async fn get_user(&self, id: Uuid) -> Result<KeycloakUser> {
        self.get_json("user", &format!("/users/{id}"), &[]).await
    }

    /// `GET /users/{id}/role-mappings/realm`: the names of the realm roles mapped to the user.
    pub async fn realm_roles(&self, id: Uuid) -> Result<Vec<String>> {
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
    pub async fn set_enabled(&self, id: Uuid, enabled: bool) -> Result<()> {
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

    /// `GET /users?email=&exact=true`: the user with this e-mail, if any.
    pub async fn find_by_email(&self, email: &str) -> Result<Option<KeycloakUser>> {
        let found: Vec<KeycloakUser> = self
            .get_json(
                "user by e-mail",
                "/users",
                &[
                    ("email", email.to_string()),
                    ("exact", "true".to_string()),
                    ("briefRepresentation", "false".to_string()),
                ],
            )
            .await?;
        Ok(found.into_iter().next())
    }

    /// Makes Keycloak say the user belongs to `tenant` with `role` (the platform's tenant
    /// roles), or to no tenant: the `attribute` holding the tenant id is set or removed (the
    /// full representation is read and written back, so nothing else changes), and the realm
    /// role mappings keep at most that one tenant role (`DELETE`/`POST
    /// /users/{id}/role-mappings/realm`).
    pub async fn set_tenant_role(
        &self,
        id: Uuid,
        attribute: &str,
        tenant: Option<TenantId>,
        role: Option<&str>,
    ) -> Result<()> {
        let path = format!("/users/{id}");
        let mut user: serde_json::Value = self.get_json("user", &path, &[]).await?;
        let attrs = user["attributes"].as_object().cloned().unwrap_or_default();
        let mut attrs = attrs;
        match tenant {
            Some(t) => {
                attrs.insert(attribute.to_string(), serde_json::json!([t.to_string()]));
            }
            None => {
                attrs.remove(attribute);
            }
        }
        user["attributes"] = serde_json::Value::Object(attrs);
        self.send("user update", Method::PUT, &path, &[], Some(&user))
            .await?;
        let mappings = format!("/users/{id}/role-mappings/realm");
        let current: Vec<serde_json::Value> =
            self.get_json("realm role mappings", &mappings, &[]).await?;
        let tenant_roles: Vec<&str> = Role::TENANT_ROLES.iter().map(|r| r.as_str()).collect();
        let drop: Vec<serde_json::Value> = current
            .iter()
            .filter(|r| {
                r["name"]
                    .as_str()
                    .is_some_and(|n| tenant_roles.contains(&n) && Some(n) != role)
            })
            .cloned()
            .collect();
        if !drop.is_empty() {
            self.send(
                "realm role mappings",
                Method::DELETE,
                &mappings,
                &[],
                Some(&serde_json::Value::Array(drop)),
            )
            .await?;
        }
        if let Some(r) = role
            && !current.iter().any(|m| m["name"] == r)
        {
            let rep: serde_json::Value = self
                .get_json("realm role", &format!("/roles/{r}"), &[])
                .await?;
            self.send(
                "realm role mappings",
                Method::POST,
                &mappings,
                &[],
                Some(&serde_json::json!([rep])),
            )
            .await?;
        }
        Ok(())
    }

    /// Whether `username` (or e-mail) signs in with `password` through `client_id`'s direct
    /// grant: a token request at the realm's token endpoint (the token is thrown away).
    /// `Ok(false)` when Keycloak says the credentials are wrong.
    pub async fn check_password(
        &self,
        client_id: &str,
        client_secret: Option<&str>,
        username: &str,
        password: &str,
    ) -> Result<bool> {
        let url = format!(
            "{}/realms/{}/protocol/openid-connect/token",
            self.base, self.realm
        );
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", username),
            ("password", password),
        ];
        if let Some(s) = client_secret {
            form.push(("client_secret", s));
        }
        let res = self
            .http
            .post(&url)
            .form(&form)
            .send()
            .await
            .map_err(|e| unreachable_err("password check", e))?;
        if res.status() == StatusCode::UNAUTHORIZED || res.status() == StatusCode::BAD_REQUEST {
            let body: serde_json::Value = res.json().await.unwrap_or_default();
            if body["error"] == "invalid_grant" {
                return Ok(false);
            }
            return Err(Error::Status {
                what: "password check".into(),
                status: StatusCode::BAD_REQUEST,
                body: body.to_string(),
            });
        }
        check("password check", res).await.map(|_| true)
    }

    /// `PUT /users/{id}/reset-password`: sets a permanent password (Keycloak applies the
    /// realm's password policy and answers 400 with why when it refuses).
    pub async fn reset_password(&self, id: Uuid, password: &str) -> Result<()> {
        self.send(
            "password reset",
            Method::PUT,
            &format!("/users/{id}/reset-password"),
            &[],
            Some(&serde_json::json!({"type": "password", "value": password, "temporary": false})),
        )
        .await
        .map(drop)
    }

    /// Sends an admin request with a form body (the organization invitation endpoints take
    /// forms); retries once on 401 like [`Self::send`].
    async fn send_form(&self, what: &str, path: &str, form: &[(&str, &str)]) -> Result<()> {
        let url = self.admin_url(path);
        let mut retried = false;
        loop {
            let token = self.token().await?;
            let res = self
                .http
                .post(&url)
                .bearer_auth(&token)
                .form(form)
                .send()
                .await
                .map_err(|e| unreachable_err(what, e))?;
            if res.status() == StatusCode::UNAUTHORIZED && !retried {
                retried = true;
                *self.token.lock().await = None;
                continue;
            }
            return check(what, res).await.map(drop);
        }
    }

    /// The id of the organization whose alias is `alias` (the platform uses the tenant id),
    /// created as `name` when the realm has none (`GET|POST /organizations`).
    pub async fn organization(&self, alias: &str, name: &str) -> Result<String> {
        // The name carries the alias's last 12 characters: searchable, and unique per tenant.
        let tag: String = alias
            .chars()
            .rev()
            .take(12)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let find = || async {
            let found: Vec<serde_json::Value> = self
                .get_json(
                    "organizations",
                    "/organizations",
                    &[("search", tag.clone()), ("max", "50".to_string())],
                )
                .await?;
            Ok::<_, Error>(
                found
                    .into_iter()
                    .find(|o| o["alias"] == alias)
                    .and_then(|o| o["id"].as_str().map(str::to_string)),
            )
        };
        if let Some(id) = find().await? {
            return Ok(id);
        }
        let body = serde_json::json!({
            "name": format!("{name} · {tag}"),
            "alias": alias,
            "enabled": true,
            "description": name,
        });
        match self
            .send(
                "organization",
                Method::POST,
                "/organizations",
                &[],
                Some(&body),
            )
            .await
        {
            // Created, or created meanwhile by another replica.
            Ok(_)
            | Err(Error::Status {
                status: StatusCode::CONFLICT,
                ..
            }) => {}
            Err(e) => return Err(e),
        }
        find().await?.ok_or(Error::NotFound)
    }

    /// Invites `email` to the organization: Keycloak mails its invitation link, to register
    /// (`invite-user`) or, for a user the realm already has, to join (`invite-existing-user`).
    pub async fn invite_to_organization(&self, org: &str, email: &str) -> Result<()> {
        match self.find_by_email(email).await? {
            Some(u) => {
                self.send_form(
                    "organization invitation",
                    &format!("/organizations/{org}/members/invite-existing-user"),
                    &[("id", u.id.as_str())],
                )
                .await
            }
            None => {
                self.send_form(
                    "organization invitation",
                    &format!("/organizations/{org}/members/invite-user"),
                    &[("email", email)],
                )
                .await
            }
        }
    }

    /// `PUT /users/{id}` with the first and last name changed (the full representation is read
    /// and written back).
    pub async fn set_names(&self, id: Uuid, first: &str, last: &str) -> Result<()> {
        let path = format!("/users/{id}");
        let mut user: serde_json::Value = self.get_json("user", &path, &[]).await?;
        user["firstName"] = serde_json::json!(first);
        user["lastName"] = serde_json::json!(last);
        self.send("user update", Method::PUT, &path, &[], Some(&user))
            .await
            .map(drop)
    }

    /// Adds a required action (e.g. `CONFIGURE_TOTP`) that Keycloak asks the user to complete
    /// at their next sign-in.
    pub async fn require_action(&self, id: Uuid, action: &str) -> Result<()> {
        let path = format!("/users/{id}");
        let mut user: serde_json::Value = self.get_json("user", &path, &[]).await?;
        let mut actions: Vec<serde_json::Value> = user["requiredActions"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !actions.iter().any(|a| a == action) {
            actions.push(serde_json::json!(action));
        }
        user["requiredActions"] = serde_json::Value::Array(actions);
        self.send("user update", Method::PUT, &path, &[], Some(&user))
            .await
            .map(drop)
    }

    /// `POST /users/{id}/logout`: ends every Keycloak session of the user (their refresh
    /// tokens stop working; access tokens already issued live until they expire).
    pub async fn logout(&self, id: Uuid) -> Result<()> {
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
    pub async fn execute_actions_email(&self, id: Uuid, actions: &[&str]) -> Result<()> {
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
    ) -> Result<Vec<KeycloakEvent>> {
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
    async fn with_roles(&self, u: KeycloakUser) -> Result<(KeycloakUser, Vec<String>)> {
        let roles = match (&u.realm_roles, u.uuid()) {
            (Some(r), _) => r.clone(),
            (None, Some(id)) => self.realm_roles(id).await?,
            (None, None) => Vec::new(),
        };
        Ok((u, roles))
    }

    /// One page of up to `limit` (1 to 200) users with their realm roles, resuming at the
    /// cursor `after` (see [`offset_cursor`]), and the cursor of the next page. A search that
    /// is a UUID looks that id up; other searches match anywhere in the name or e-mail (sent
    /// as `*q*`) unless they already use Keycloak's `*` or `"` syntax. Users whose id is not a
    /// UUID are left out.
    pub async fn users_page(
        &self,
        q: Option<&str>,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<(Vec<(KeycloakUser, Vec<String>)>, Option<Uuid>)> {
        let q = q.map(str::trim).filter(|s| !s.is_empty());
        if let Some(id) = q.and_then(|s| s.parse::<Uuid>().ok()) {
            return match self.get_user(id).await {
                Ok(u) => Ok((vec![self.with_roles(u).await?], None)),
                Err(Error::NotFound) => Ok((Vec::new(), None)),
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
        let limit = limit.clamp(1, 200);
        let first = cursor_offset(after);
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

    /// One user with their realm roles; [`Error::NotFound`] when Keycloak has no such user.
    pub async fn user_with_roles(&self, id: Uuid) -> Result<(KeycloakUser, Vec<String>)> {
        let u = self.get_user(id).await?;
        if u.uuid() != Some(id) {
            return Err(Error::NotFound);
        }
        self.with_roles(u).await
    }

    /// The user's latest logins and refusals (`LOGIN`, `LOGIN_ERROR`), newest first.
    pub async fn login_history(&self, id: Uuid, max: u64) -> Result<Vec<KeycloakEvent>> {
        self.events(&["LOGIN", "LOGIN_ERROR"], Some(id), 0, max)
            .await
    }

    /// One page of up to `limit` (1 to 200) failed logins (`LOGIN_ERROR`) across the realm,
    /// newest first, resuming at the cursor `after`, and the cursor of the next page.
    pub async fn failed_logins(
        &self,
        after: Option<Uuid>,
        limit: u64,
    ) -> Result<(Vec<KeycloakEvent>, Option<Uuid>)> {
        let limit = limit.clamp(1, 200);
        let first = cursor_offset(after);
        let mut events = self
            .events(&["LOGIN_ERROR"], None, first, limit + 1)
            .await?;
        let next = (events.len() as u64 > limit).then(|| offset_cursor(first + limit));
        events.truncate(limit as usize);
        Ok((events, next))
    }
}

/// Keycloak answered 404 to a realm-wide call: the realm (not a user) is missing.
fn realm_missing(e: Error) -> Error {
    match e {
        Error::NotFound => Error::RealmMissing,
        e => e,
    }
}

fn unreachable_err(what: &str, source: reqwest::Error) -> Error {
    Error::Unreachable {
        what: what.to_string(),
        source,
    }
}

/// Passes a 2xx answer; 404 is `NotFound`, anything else [`Error::Status`] with the start of
/// Keycloak's message.
async fn check(what: &str, res: reqwest::Response) -> Result<reqwest::Response> {
    let status = res.status();
    if status.is_success() {
        return Ok(res);
    }
    if status == StatusCode::NOT_FOUND {
        return Err(Error::NotFound);
    }
    let body = res.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Err(Error::Status {
        what: what.to_string(),
        status,
        body,
    })
}

async fn read<T: DeserializeOwned>(what: &str, res: reqwest::Response) -> Result<T> {
    res.json().await.map_err(|source| Error::Unreadable {
        what: what.to_string(),
        source,
    })
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
    fn issuer_names_base_and_realm() {
        assert_eq!(
            split_issuer("https://sso.example.com/auth/realms/avb/"),
            Some(("https://sso.example.com/auth".into(), "avb".into()))
        );
        assert_eq!(split_issuer("https://sso.example.com/auth"), None);
        let kc = AdminClient::new(Config {
            base_url: "https://sso.example.com/".into(),
            realm: "avb".into(),
            client_id: "avb-admin".into(),
            client_secret: "s".into(),
        });
        assert_eq!(
            kc.as_ref().ok().map(|k| (k.base(), k.realm())),
            Some(("https://sso.example.com", "avb"))
        );
    }

    #[test]
    fn users_and_events_read() {
        let u: KeycloakUser = serde_json::from_value(serde_json::json!({
            "id": "0b6c8a52-3d0e-4a8e-9d7c-4c1f3e5a2b10", "username": "ada", "enabled": false,
            "firstName": " Ada ", "lastName": "", "createdTimestamp": 1_700_000_000_000_i64,
            "attributes": {"tenant_id": ["not-a-tenant"]}
        }))
        .unwrap_or_default();
        assert_eq!(u.display_name(), "Ada");
        assert!(!u.is_enabled());
        assert!(u.uuid().is_some());
        assert_eq!(u.tenant("tenant_id"), None);
        let roles = vec!["viewer".to_string(), "saas_admin".to_string()];
        assert_eq!(strongest_tenant_role(&roles), Some(Role::Viewer));
        let nameless = KeycloakUser {
            username: "bob".into(),
            ..Default::default()
        };
        assert_eq!(nameless.display_name(), "bob");
        assert!(nameless.uuid().is_none());

        let e: KeycloakEvent = serde_json::from_value(serde_json::json!({
            "time": 1_700_000_000_000_i64, "type": "LOGIN_ERROR", "ipAddress": "10.0.0.7",
            "details": {"username": "ada", "x": null}
        }))
        .unwrap_or_default();
        assert_eq!(e.kind.as_deref(), Some("LOGIN_ERROR"));
        assert_eq!(e.detail("username").as_deref(), Some("ada"));
        assert_eq!(e.detail("x"), None);
    }

    #[test]
    fn errors_say_what_failed() {
        let e = Error::Status {
            what: "user list".into(),
            status: StatusCode::FORBIDDEN,
            body: "denied".into(),
        };
        assert_eq!(
            e.to_string(),
            "Keycloak answered 403 Forbidden to the user list request: denied"
        );
        assert!(matches!(
            realm_missing(Error::NotFound),
            Error::RealmMissing
        ));
    }
}
