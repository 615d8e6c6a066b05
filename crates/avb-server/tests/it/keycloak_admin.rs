//! User administration through Keycloak's Admin REST API, against a stand-in built from
//! Keycloak's documented requests and answers (UserRepresentation, RoleRepresentation,
//! EventRepresentation, the token endpoint's client-credentials answer). The stand-in records
//! every call so the tests can assert what the platform asked Keycloak to do.
#![allow(clippy::unwrap_used)]

use avb_core::services::audit::{AuditFilter, platform_list};
use avb_core::services::platform;
use avb_core::{CoreError, PageRequest, Scope};
use avb_domain::{TenantId, UserId};
use avb_testkit::{Db, TestApp, spawn_app_with};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use uuid::Uuid;

const CLIENT_ID: &str = "avb-admin";
const CLIENT_SECRET: &str = "kc-admin-secret";
const ADA: &str = "6f1e0c9a-2b7d-4c8e-9a3f-5d2e1b0c7a64";
const BOB: &str = "9b2d4e6f-8a1c-4e3b-a5d7-0c9e8f7a6b52";

/// One request the stand-in received: method, path with query, body.
#[derive(Debug, Clone)]
struct Call {
    method: String,
    uri: String,
    body: String,
}

/// The stand-in's state: its users, their realm roles, events, and what it was asked.
struct Realm {
    users: Mutex<Vec<Value>>,
    roles: HashMap<String, Vec<&'static str>>,
    events: Vec<Value>,
    calls: Mutex<Vec<Call>>,
    tokens_issued: AtomicUsize,
    /// Answer every admin call with 500, as a Keycloak with its database down does.
    broken: AtomicBool,
    /// The realm's signing key (PKCS#8 DER) and its JWKS, for user access tokens.
    signing_key: Vec<u8>,
    jwks: Value,
}

type Shared = Arc<Realm>;

impl Realm {
    fn record(&self, method: &Method, uri: &Uri, body: &[u8]) {
        self.calls.lock().unwrap().push(Call {
            method: method.to_string(),
            uri: uri.to_string(),
            body: String::from_utf8_lossy(body).into_owned(),
        });
    }

    fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    fn current_token(&self) -> String {
        format!("sa-token-{}", self.tokens_issued.load(Ordering::SeqCst))
    }

    /// Checks the bearer token and the failure switch; `Some` is the answer to send instead.
    fn refuse(&self, headers: &HeaderMap) -> Option<Response> {
        let expected = format!("Bearer {}", self.current_token());
        if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
            return Some(
                (
                    StatusCode::UNAUTHORIZED,
                    axum::Json(json!({"error": "HTTP 401 Unauthorized"})),
                )
                    .into_response(),
            );
        }
        if self.broken.load(Ordering::SeqCst) {
            return Some(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    axum::Json(json!({"error": "unknown_error"})),
                )
                    .into_response(),
            );
        }
        None
    }

    fn user(&self, id: &str) -> Option<Value> {
        self.users
            .lock()
            .unwrap()
            .iter()
            .find(|u| u["id"] == id)
            .cloned()
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({"error": "User not found"})),
    )
        .into_response()
}

/// `POST /realms/{realm}/protocol/openid-connect/token` (client credentials).
async fn token(
    State(r): State<Shared>,
    uri: Uri,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    r.record(&Method::POST, &uri, format!("{f:?}").as_bytes());
    let ok = f.get("grant_type").map(String::as_str) == Some("client_credentials")
        && f.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && f.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET);
    if !ok {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "unauthorized_client", "error_description": "Invalid client or Invalid client credentials"})),
        )
            .into_response();
    }
    let n = r.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
    axum::Json(json!({
        "access_token": format!("sa-token-{n}"), "expires_in": 300, "refresh_expires_in": 0,
        "token_type": "Bearer", "not-before-policy": 0, "scope": "profile email"
    }))
    .into_response()
}

/// `GET /admin/realms/{realm}/users?search=&first=&max=&briefRepresentation=`.
async fn list_users(
    State(r): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
) -> Response {
    r.record(&Method::GET, &uri, b"");
    if let Some(refused) = r.refuse(&headers) {
        return refused;
    }
    let needle = q
        .get("search")
        .map(|s| s.trim_matches('*').to_lowercase())
        .unwrap_or_default();
    let first: usize = q.get("first").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = q.get("max").and_then(|v| v.parse().ok()).unwrap_or(100);
    let users: Vec<Value> = r
        .users
        .lock()
        .unwrap()
        .iter()
        .filter(|u| {
            ["username", "email", "firstName", "lastName"]
                .iter()
                .any(|f| {
                    u[*f]
                        .as_str()
                        .is_some_and(|v| v.to_lowercase().contains(&needle))
                })
        })
        .skip(first)
        .take(max)
        .cloned()
        .collect();
    axum::Json(users).into_response()
}

/// `GET /admin/realms/{realm}/users/{id}`.
async fn get_user(
    State(r): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    r.record(&Method::GET, &uri, b"");
    if let Some(refused) = r.refuse(&headers) {
        return refused;
    }
    match r.user(&id) {
        Some(u) => axum::Json(u).into_response(),
        None => not_found(),
    }
}

/// `PUT /admin/realms/{realm}/users/{id}` (partial UserRepresentation) → 204.
async fn update_user(
    State(r): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    r.record(&Method::PUT, &uri, &body);
    if let Some(refused) = r.refuse(&headers) {
        return refused;
    }
    let patch: Value = serde_json::from_slice(&body).unwrap();
    let mut users = r.users.lock().unwrap();
    let Some(u) = users.iter_mut().find(|u| u["id"] == id) else {
        return not_found();
    };
    if let Some(enabled) = patch.get("enabled") {
        u["enabled"] = enabled.clone();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `POST /users/{id}/logout` and `PUT /users/{id}/execute-actions-email` → 204.
async fn user_action(
    State(r): State<Shared>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    r.record(&method, &uri, &body);
    if let Some(refused) = r.refuse(&headers) {
        return refused;
    }
    if r.user(&id).is_none() {
        return not_found();
    }
    StatusCode::NO_CONTENT.into_response()
}

/// `GET /users/{id}/role-mappings/realm`: RoleRepresentation[].
async fn realm_roles(
    State(r): State<Shared>,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    r.record(&Method::GET, &uri, b"");
    if let Some(refused) = r.refuse(&headers) {
        return refused;
    }
    if r.user(&id).is_none() {
        return not_found();
    }
    let roles: Vec<Value> = r
        .roles
        .get(&id)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|name| {
            json!({"id": Uuid::new_v4().to_string(), "name": name, "composite": false,
                   "clientRole": false, "containerId": "b1d9c0e2-avb-realm"})
        })
        .collect();
    axum::Json(roles).into_response()
}

/// `GET /admin/realms/{realm}/events?type=&user=&first=&max=`: EventRepresentation[], newest
/// first.
async fn list_events(State(r): State<Shared>, headers: HeaderMap, uri: Uri) -> Response {
    r.record(&Method::GET, &uri, b"");
    if let Some(refused) = r.refuse(&headers) {
        return refused;
    }
    let pairs: Vec<(String, String)> = url_pairs(uri.query().unwrap_or_default());
    let types: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "type")
        .map(|(_, v)| v.as_str())
        .collect();
    let param = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let user = param("user");
    let first: usize = param("first").and_then(|v| v.parse().ok()).unwrap_or(0);
    let max: usize = param("max").and_then(|v| v.parse().ok()).unwrap_or(100);
    let rows: Vec<Value> = r
        .events
        .iter()
        .filter(|e| types.is_empty() || types.iter().any(|t| e["type"] == *t))
        .filter(|e| user.as_ref().is_none_or(|u| e["userId"] == u.as_str()))
        .skip(first)
        .take(max)
        .cloned()
        .collect();
    axum::Json(rows).into_response()
}

fn url_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Starts the stand-in; returns its base URL and state. A user whose id is not a UUID sits
/// between Ada and Bob.
async fn stand_in() -> (String, Shared) {
    let created = 1_735_689_600_000_i64; // 2025-01-01T00:00:00Z
    let users = vec![
        json!({"id": ADA, "username": "ada", "email": "ada@acme.io", "firstName": "Ada",
               "lastName": "Lovelace", "enabled": true, "emailVerified": true, "totp": false,
               "createdTimestamp": created, "attributes": {"tenant_id": []},
               "disableableCredentialTypes": [], "requiredActions": [], "notBefore": 0,
               "access": {"manage": true}}),
        json!({"id": "f:ldap:legacy-1", "username": "legacy", "email": "legacy@acme.io",
               "enabled": true, "createdTimestamp": created}),
        json!({"id": BOB, "username": "bob", "email": "bob@platform.io", "enabled": false,
               "createdTimestamp": created}),
    ];
    let roles = HashMap::from([
        (
            ADA.to_string(),
            vec![
                "default-roles-avb",
                "offline_access",
                "developer",
                "tenant_admin",
            ],
        ),
        (BOB.to_string(), vec!["default-roles-avb", "saas_admin"]),
    ]);
    let events = vec![
        json!({"id": "2f7c5a34-61b8-4a0c-9e55-0a0b4f1d3c21", "time": 1_767_225_600_000_i64,
               "type": "LOGIN_ERROR", "realmId": "avb", "clientId": "avb-portal", "userId": ADA,
               "ipAddress": "203.0.113.9", "error": "invalid_user_credentials",
               "details": {"auth_method": "openid-connect", "username": "ada", "redirect_uri": null}}),
        json!({"time": 1_767_225_500_000_i64, "type": "LOGIN_ERROR", "realmId": "avb",
               "clientId": "avb-portal", "userId": null, "ipAddress": "198.51.100.4",
               "error": "user_not_found", "details": {"auth_method": "openid-connect", "username": "mallory"}}),
        json!({"time": 1_767_225_400_000_i64, "type": "LOGIN", "realmId": "avb",
               "clientId": "avb-portal", "userId": ADA, "sessionId": "s-1",
               "ipAddress": "203.0.113.9", "details": {"username": "ada"}}),
    ];
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let mut jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string()).unwrap();
    jwk["kid"] = json!("realm-key-1");
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    let realm = Arc::new(Realm {
        users: Mutex::new(users),
        roles,
        events,
        calls: Mutex::new(Vec::new()),
        tokens_issued: AtomicUsize::new(0),
        broken: AtomicBool::new(false),
        signing_key: {
            use p256::pkcs8::EncodePrivateKey;
            secret.to_pkcs8_der().unwrap().as_bytes().to_vec()
        },
        jwks: json!({"keys": [jwk]}),
    });
    let router = Router::new()
        .route("/realms/avb/protocol/openid-connect/token", post(token))
        .route(
            "/realms/avb/protocol/openid-connect/certs",
            get(|State(r): State<Shared>| async move { axum::Json(r.jwks.clone()) }),
        )
        .route("/admin/realms/avb/users", get(list_users))
        .route(
            "/admin/realms/avb/users/{id}",
            get(get_user).put(update_user),
        )
        .route("/admin/realms/avb/users/{id}/logout", post(user_action))
        .route(
            "/admin/realms/avb/users/{id}/execute-actions-email",
            put(user_action),
        )
        .route(
            "/admin/realms/avb/users/{id}/role-mappings/realm",
            get(realm_roles),
        )
        .route("/admin/realms/avb/events", get(list_events))
        .with_state(realm.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (base, realm)
}

/// The app with Keycloak as the identity provider and the admin client configured; the tenant
/// Ada's attribute names exists in our database as "Acme".
async fn app_with_keycloak() -> (TestApp, Shared, TenantId) {
    let (base, realm) = stand_in().await;
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.identity.provider = avb_core::config::IdentityProvider::Keycloak;
        c.keycloak.issuer = Some(format!("{base}/realms/avb"));
        c.keycloak.admin_client_id = Some(CLIENT_ID.into());
        c.keycloak.admin_client_secret = Some(avb_core::Secret::new(CLIENT_SECRET));
    })
    .await;
    assert!(app.ctx.keycloak_admin.is_some());
    let tenant = app.create_tenant("Acme").await;
    for u in realm.users.lock().unwrap().iter_mut() {
        if u["id"] == ADA {
            u["attributes"]["tenant_id"] = json!([tenant.to_string()]);
        }
    }
    (app, realm, tenant)
}

fn page(limit: u64, after: Option<Uuid>) -> PageRequest {
    PageRequest { limit, after }
}

fn calls_to(realm: &Realm, method: &str, path: &str) -> Vec<Call> {
    realm
        .calls()
        .into_iter()
        .filter(|c| c.method == method && c.uri.split('?').next() == Some(path))
        .collect()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String, String)> {
    platform_list(
        &app.ctx,
        &Scope::local_operator(None),
        None,
        &AuditFilter::default(),
        page(200, None),
    )
    .await
    .unwrap()
    .items
    .into_iter()
    .filter(|e| e.action.starts_with("admin.user."))
    .map(|e| (e.action, e.resource_id, e.actor_type))
    .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_listed_searched_and_paged_from_keycloak() {
    let (app, realm, tenant) = app_with_keycloak().await;
    let op = Scope::local_operator(None);

    let found = platform::users(&app.ctx, &op, Some("ada"), page(25, None))
        .await
        .unwrap();
    let search = calls_to(&realm, "GET", "/admin/realms/avb/users");
    assert_eq!(search.len(), 1);
    let uri = &search[0].uri;
    assert!(
        uri.contains("search=*ada*") || uri.contains("search=%2Aada%2A"),
        "an infix search: {uri}"
    );
    for part in ["first=0", "max=26", "briefRepresentation=false"] {
        assert!(uri.contains(part), "{part} missing from {uri}");
    }
    assert_eq!(found.items.len(), 1);
    assert!(found.next.is_none());
    let ada = &found.items[0];
    assert_eq!(ada.user.id.to_string(), ADA);
    assert_eq!(
        (
            ada.user.email.as_str(),
            ada.user.name.as_str(),
            ada.user.status.as_str()
        ),
        ("ada@acme.io", "Ada Lovelace", "active")
    );
    assert!(!ada.user.is_saas_admin);
    assert_eq!(
        ada.memberships,
        vec![(tenant, "Acme".to_string(), "tenant_admin".to_string())],
        "tenant from the attribute, its name from our database, the strongest tenant role"
    );

    // Paging by offset: two rows a page; the row whose id is not a UUID is left out.
    let first = platform::users(&app.ctx, &op, None, page(2, None))
        .await
        .unwrap();
    assert_eq!(
        first
            .items
            .iter()
            .map(|u| u.user.id.to_string())
            .collect::<Vec<_>>(),
        vec![ADA]
    );
    let next = first.next.expect("a second page");
    let second = platform::users(&app.ctx, &op, None, page(2, Some(next)))
        .await
        .unwrap();
    assert!(second.next.is_none());
    let bob = &second.items[0];
    assert_eq!(
        (
            bob.user.id.to_string(),
            bob.user.name.as_str(),
            bob.user.status.as_str(),
            bob.user.is_saas_admin
        ),
        (BOB.to_string(), "bob", "disabled", true)
    );
    assert!(bob.memberships.is_empty());
    let lists = calls_to(&realm, "GET", "/admin/realms/avb/users");
    assert!(lists[2].uri.contains("first=2"), "{}", lists[2].uri);

    // Searching by id looks the user up directly.
    let by_id = platform::users(&app.ctx, &op, Some(BOB), page(25, None))
        .await
        .unwrap();
    assert_eq!(by_id.items.len(), 1);
    assert_eq!(
        calls_to(&realm, "GET", &format!("/admin/realms/avb/users/{BOB}")).len(),
        1
    );

    // One service-account token served every call.
    assert_eq!(realm.tokens_issued.load(Ordering::SeqCst), 1);
    let token_call = &calls_to(&realm, "POST", "/realms/avb/protocol/openid-connect/token")[0];
    assert!(token_call.body.contains("client_credentials"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn detail_disable_enable_reset_and_failed_logins_go_through_keycloak() {
    let (app, realm, tenant) = app_with_keycloak().await;
    let op = Scope::local_operator(None);
    let ada = UserId(ADA.parse().unwrap());

    // Detail: roles, tenant and the login history from Keycloak's events.
    let (view, logins) = platform::user(&app.ctx, &op, ada).await.unwrap();
    assert_eq!(view.user.email, "ada@acme.io");
    assert_eq!(view.memberships[0].0, tenant);
    assert_eq!(view.memberships[0].2, "tenant_admin");
    assert_eq!(logins.len(), 2);
    assert_eq!(
        (logins[0].success, logins[0].reason.as_str()),
        (false, "invalid_user_credentials")
    );
    assert!(logins[1].success);
    let history = &calls_to(&realm, "GET", "/admin/realms/avb/events")[0].uri;
    for part in ["type=LOGIN", "type=LOGIN_ERROR", &format!("user={ADA}")] {
        assert!(history.contains(part), "{part} missing from {history}");
    }

    // Disable: enabled=false, then every session ended.
    let disabled = platform::set_user_enabled(&app.ctx, &op, ada, false)
        .await
        .unwrap();
    assert_eq!(disabled.status.as_str(), "disabled");
    let puts = calls_to(&realm, "PUT", &format!("/admin/realms/avb/users/{ADA}"));
    assert_eq!(puts.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&puts[0].body).unwrap(),
        json!({"enabled": false})
    );
    assert_eq!(
        calls_to(
            &realm,
            "POST",
            &format!("/admin/realms/avb/users/{ADA}/logout")
        )
        .len(),
        1
    );
    assert!(
        app.ctx.revocations.blocked.contains(ADA),
        "tokens Keycloak already issued are refused from now on"
    );
    // Disabling twice is refused without asking Keycloak to change anything.
    let again = platform::set_user_enabled(&app.ctx, &op, ada, false).await;
    assert!(matches!(again, Err(CoreError::Conflict(_))), "{again:?}");

    // Enable: enabled=true, no logout.
    let enabled = platform::set_user_enabled(&app.ctx, &op, ada, true)
        .await
        .unwrap();
    assert_eq!(enabled.status.as_str(), "active");
    assert!(!app.ctx.revocations.blocked.contains(ADA));
    let puts = calls_to(&realm, "PUT", &format!("/admin/realms/avb/users/{ADA}"));
    assert_eq!(puts.len(), 2);
    assert_eq!(
        serde_json::from_str::<Value>(&puts[1].body).unwrap(),
        json!({"enabled": true})
    );
    assert_eq!(
        calls_to(
            &realm,
            "POST",
            &format!("/admin/realms/avb/users/{ADA}/logout")
        )
        .len(),
        1
    );

    // Password reset: Keycloak mails the UPDATE_PASSWORD action.
    platform::send_password_reset(&app.ctx, &op, ada)
        .await
        .unwrap();
    let mails = calls_to(
        &realm,
        "PUT",
        &format!("/admin/realms/avb/users/{ADA}/execute-actions-email"),
    );
    assert_eq!(mails.len(), 1);
    assert_eq!(
        serde_json::from_str::<Value>(&mails[0].body).unwrap(),
        json!(["UPDATE_PASSWORD"])
    );

    // Failed logins across the realm: time, IP, username, error.
    let failed = platform::failed_logins(&app.ctx, &op, page(50, None))
        .await
        .unwrap();
    assert!(failed.next.is_none());
    assert_eq!(failed.items.len(), 2);
    let f = &failed.items[0];
    assert_eq!(
        (
            f.email.as_str(),
            f.ip.as_str(),
            f.reason.as_str(),
            f.success
        ),
        ("ada", "203.0.113.9", "invalid_user_credentials", false)
    );
    assert_eq!(f.created_at.to_rfc3339(), "2026-01-01T00:00:00+00:00");
    assert_eq!(f.user_id.map(|u| u.to_string()).as_deref(), Some(ADA));
    assert_eq!(
        (failed.items[1].email.as_str(), failed.items[1].user_id),
        ("mallory", None)
    );
    let failed_call = calls_to(&realm, "GET", "/admin/realms/avb/events")
        .pop()
        .unwrap()
        .uri;
    assert!(
        failed_call.contains("type=LOGIN_ERROR")
            && failed_call.contains("first=0")
            && failed_call.contains("max=51")
            && !failed_call.contains("type=LOGIN&"),
        "{failed_call}"
    );

    // Every action is audited as the local provider audits it.
    let mut actions = audit_actions(&app).await;
    actions.sort();
    let expect = |a: &str| (a.to_string(), ADA.to_string(), "operator".to_string());
    assert_eq!(
        actions,
        vec![
            expect("admin.user.disable"),
            expect("admin.user.enable"),
            expect("admin.user.password_reset"),
            expect("admin.user.view"),
        ]
    );

    // One service-account token served all of it.
    assert_eq!(realm.tokens_issued.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_users_failures_and_expired_tokens() {
    let (app, realm, _) = app_with_keycloak().await;
    let op = Scope::local_operator(None);
    let nobody = UserId(Uuid::new_v4());

    for result in [
        platform::user(&app.ctx, &op, nobody).await.map(drop),
        platform::set_user_enabled(&app.ctx, &op, nobody, false)
            .await
            .map(drop),
        platform::send_password_reset(&app.ctx, &op, nobody).await,
    ] {
        assert!(matches!(result, Err(CoreError::NotFound)), "{result:?}");
    }
    assert!(
        calls_to(&realm, "PUT", &format!("/admin/realms/avb/users/{nobody}")).is_empty(),
        "nothing is changed for a user Keycloak does not know"
    );

    // Keycloak answering 500: a clear internal error naming Keycloak and the status.
    realm.broken.store(true, Ordering::SeqCst);
    let err = platform::users(&app.ctx, &op, None, page(25, None))
        .await
        .unwrap_err();
    let CoreError::Internal(msg) = &err else {
        panic!("expected an internal error, got {err:?}");
    };
    assert!(
        msg.contains("Keycloak") && msg.contains("500"),
        "unclear message: {msg}"
    );
    let err = platform::failed_logins(&app.ctx, &op, page(50, None))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CoreError::Internal(ref m) if m.contains("500")),
        "{err:?}"
    );
    realm.broken.store(false, Ordering::SeqCst);

    // A token Keycloak no longer accepts (401) is replaced once and the call goes through.
    assert_eq!(realm.tokens_issued.load(Ordering::SeqCst), 1);
    realm.tokens_issued.fetch_add(1, Ordering::SeqCst); // the cached sa-token-1 is now stale
    let listed = platform::users(&app.ctx, &op, None, page(25, None))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 2);
    assert_eq!(realm.tokens_issued.load(Ordering::SeqCst), 3);

    // No audit row claims an action that did not happen.
    assert!(audit_actions(&app).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_admin_client_the_local_users_are_administered() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.identity.provider = avb_core::config::IdentityProvider::Keycloak;
        c.keycloak.issuer = Some("http://127.0.0.1:9/realms/avb".into());
        c.keycloak.admin_client_id = Some(CLIENT_ID.into());
    })
    .await;
    assert!(app.ctx.keycloak_admin.is_none());
    app.create_user(None, "saas_admin", "root@local.io").await;
    let listed = platform::users(
        &app.ctx,
        &Scope::local_operator(None),
        Some("root@"),
        page(25, None),
    )
    .await
    .unwrap();
    assert_eq!(listed.items.len(), 1);
}

/// A SaaS admin signed in through Keycloak: audited as the external user, and unable to
/// disable their own Keycloak account.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_saas_admin_cannot_disable_themselves() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let (app, realm, _) = app_with_keycloak().await;
    let issuer = app.ctx.config.keycloak.issuer.clone().unwrap();
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("realm-key-1".into());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": issuer, "aud": "avb-api", "sub": BOB, "email": "bob@platform.io",
                        "iat": now, "exp": now + 300, "realm_access": {"roles": ["saas_admin"]}});
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &EncodingKey::from_ec_der(&realm.signing_key),
    )
    .unwrap();
    let bob_scope =
        avb_core::identity::authenticate_bearer(&app.ctx, &token, avb_core::RequestMeta::default())
            .await
            .unwrap();
    let bob = UserId(BOB.parse().unwrap());
    let own = platform::set_user_enabled(&app.ctx, &bob_scope, bob, true).await;
    assert!(matches!(own, Err(CoreError::Conflict(_))), "{own:?}");
    assert!(calls_to(&realm, "PUT", &format!("/admin/realms/avb/users/{BOB}")).is_empty());

    platform::user(&app.ctx, &bob_scope, UserId(ADA.parse().unwrap()))
        .await
        .unwrap();
    assert_eq!(
        audit_actions(&app).await,
        vec![(
            "admin.user.view".to_string(),
            ADA.to_string(),
            "external_user".to_string()
        )]
    );
}
