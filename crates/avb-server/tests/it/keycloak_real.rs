//! The platform against a real Keycloak (`scripts/keycloak.sh up`, which the test command runs;
//! `TEST_KEYCLOAK_URL` names it), realms imported from `scripts/keycloak/`: a user signs in with
//! Keycloak and the API takes the token with the role and tenant from its claims; tokens of
//! another realm, for another audience, expired, or signed by an unknown key answer 401; the
//! SaaS admin lists, inspects (login history from Keycloak's events), disables, enables and
//! sends a password reset (Keycloak's own e-mail, read from a local SMTP catcher) through the
//! Admin REST API. The stand-in in `keycloak_admin.rs` still pins the exact requests.
#![allow(clippy::unwrap_used)]

use avb_core::{PageRequest, Scope};
use avb_domain::{TenantId, UserId};
use avb_testkit::{Db, TestApp, spawn_app_with};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// The realm has one SMTP setting: tests that point it at their own catcher take turns.
static REALM_SMTP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Points the realm's mail at a fresh local catcher; returns what it receives first.
async fn realm_mail(kc: &str) -> tokio::sync::oneshot::Receiver<String> {
    let (port, mail) = crate::identity::smtp_sink().await;
    let res = reqwest::Client::new()
        .put(format!("{kc}/admin/realms/avb"))
        .bearer_auth(admin_token(kc).await)
        .json(&json!({"smtpServer": {"host": "127.0.0.1", "port": port.to_string(), "from": "sso@avb.test", "fromDisplayName": "AgentVoiceBox", "auth": "false", "ssl": "false", "starttls": "false"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    mail
}

fn keycloak() -> Option<String> {
    std::env::var("TEST_KEYCLOAK_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .map(|u| u.trim_end_matches('/').to_string())
}

/// A token from `realm`'s token endpoint (`form` is the grant).
async fn token(kc: &str, realm: &str, form: &[(&str, &str)]) -> Result<String, Value> {
    let res = reqwest::Client::new()
        .post(format!("{kc}/realms/{realm}/protocol/openid-connect/token"))
        .form(form)
        .send()
        .await
        .unwrap();
    let ok = res.status().is_success();
    let body: Value = res.json().await.unwrap();
    if ok {
        Ok(body["access_token"].as_str().unwrap().to_string())
    } else {
        Err(body)
    }
}

async fn admin_token(kc: &str) -> String {
    token(
        kc,
        "avb",
        &[
            ("grant_type", "client_credentials"),
            ("client_id", "avb-admin"),
            ("client_secret", "avb-admin-secret"),
        ],
    )
    .await
    .unwrap()
}

async fn password_grant(
    kc: &str,
    client: &str,
    user: &str,
    password: &str,
) -> Result<String, Value> {
    let mut form = vec![
        ("grant_type", "password"),
        ("client_id", client),
        ("username", user),
        ("password", password),
        ("scope", "openid"),
    ];
    if client == "avb-portal" {
        form.push(("client_secret", "avb-portal-secret"));
    }
    token(kc, "avb", &form).await
}

/// Creates a user in the `avb` realm with a password, realm roles and a tenant; returns its id.
async fn create_user(kc: &str, username: &str, roles: &[&str], tenant: Option<TenantId>) -> UserId {
    let admin = admin_token(kc).await;
    let http = reqwest::Client::new();
    let mut user = json!({
        "username": username, "email": format!("{username}@acme.test"),
        "firstName": "Test", "lastName": username, "enabled": true, "emailVerified": true,
        "credentials": [{"type": "password", "value": "Kc-Password-42", "temporary": false}],
    });
    if let Some(t) = tenant {
        user["attributes"] = json!({"tenant_id": [t.to_string()]});
    }
    let res = http
        .post(format!("{kc}/admin/realms/avb/users"))
        .bearer_auth(&admin)
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());
    let id = res.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let mut reps = Vec::new();
    for r in roles {
        let rep: Value = http
            .get(format!("{kc}/admin/realms/avb/roles/{r}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        reps.push(rep);
    }
    let res = http
        .post(format!(
            "{kc}/admin/realms/avb/users/{id}/role-mappings/realm"
        ))
        .bearer_auth(&admin)
        .json(&reps)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    UserId(id.parse().unwrap())
}

/// An app with `identity.provider = "keycloak"` on the `avb` realm (the API takes its tokens);
/// `sso`: the portal signs in through the realm's `avb-portal` client; `admin`: the platform's
/// service account writes to Keycloak.
async fn keycloak_app(kc: &str, sso: bool, admin: bool) -> TestApp {
    let issuer = format!("{kc}/realms/avb");
    spawn_app_with(Db::Sqlite, move |c| {
        c.identity.provider = avb_core::config::IdentityProvider::Keycloak;
        c.keycloak.issuer = Some(issuer.clone());
        if admin {
            c.keycloak.admin_client_id = Some("avb-admin".into());
            c.keycloak.admin_client_secret = Some(avb_core::Secret::new("avb-admin-secret"));
        }
        if sso {
            c.oidc.issuer = Some(issuer);
            c.oidc.client_id = "avb-portal".into();
            c.oidc.client_secret = Some(avb_core::Secret::new("avb-portal-secret"));
        }
    })
    .await
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        &uuid::Uuid::now_v7().simple().to_string()[20..]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_keycloak_tokens_are_taken_with_their_claims_and_bad_ones_refused() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let app = keycloak_app(&kc, false, true).await;
    let tenant = app.create_tenant("Keycloak Acme").await;
    let ada = unique("ada");
    create_user(&kc, &ada, &["tenant_admin"], Some(tenant)).await;

    // Sign-in round trip: Keycloak's password grant, then the API with its token.
    let mut timings = Vec::new();
    let mut token = String::new();
    for _ in 0..5 {
        let started = Instant::now();
        token = password_grant(&kc, "avb-portal", &ada, "Kc-Password-42")
            .await
            .unwrap();
        let (status, me) = app.get("/api/v1/me", &token).await;
        timings.push(started.elapsed());
        assert_eq!(status, 200, "{me}");
        assert_eq!(me["tenant"]["id"], tenant.to_string(), "{me}");
        assert_eq!(me["role"], "tenant_admin", "{me}");
    }
    timings.sort();
    eprintln!(
        "Keycloak sign-in (password grant + first API call): median {:?}, max {:?}",
        timings[2], timings[4]
    );
    let (status, projects) = app.get("/api/v1/projects", &token).await;
    assert_eq!(status, 200, "{projects}");

    // Another realm's token (signed by its keys, issued by it): refused.
    let other = token_for_elsewhere(&kc).await;
    assert_eq!(app.get("/api/v1/me", &other).await.0, 401);
    // A token of this realm not meant for the API (no avb-api audience): refused.
    let no_aud = password_grant(&kc, "avb-no-audience", &ada, "Kc-Password-42")
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/me", &no_aud).await.0, 401);
    // Signed by a key the realm does not publish (same header and claims): refused.
    let forged = resign(&token);
    assert_eq!(app.get("/api/v1/me", &forged).await.0, 401);
    // Expired (this client's tokens live 2 s; the verifier allows 5 s of clock skew).
    let short = password_grant(&kc, "avb-short-lived", &ada, "Kc-Password-42")
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/me", &short).await.0, 200);
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert_eq!(app.get("/api/v1/me", &short).await.0, 401);

    // A user with no tenant and no platform role has nothing to see here.
    let drifter = unique("drifter");
    create_user(&kc, &drifter, &["developer"], None).await;
    let t = password_grant(&kc, "avb-portal", &drifter, "Kc-Password-42")
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/me", &t).await.0, 401);
}

async fn token_for_elsewhere(kc: &str) -> String {
    token(
        kc,
        "elsewhere",
        &[
            ("grant_type", "password"),
            ("client_id", "avb-portal"),
            ("username", "mallory"),
            ("password", "Mallory-Password-42"),
        ],
    )
    .await
    .unwrap()
}

/// `token` with its signature replaced by one from a fresh key under the same `kid`.
fn resign(token: &str) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut parts = token.split('.');
    let header: Value =
        serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    let claims: Value =
        serde_json::from_slice(&b64.decode(parts.next().unwrap()).unwrap()).unwrap();
    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let der = p256::pkcs8::EncodePrivateKey::to_pkcs8_der(&secret).unwrap();
    let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    h.kid = header["kid"].as_str().map(str::to_string);
    jsonwebtoken::encode(
        &h,
        &claims,
        &jsonwebtoken::EncodingKey::from_ec_der(der.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_saas_admin_administers_real_keycloak_users() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let app = keycloak_app(&kc, false, true).await;
    let tenant = app.create_tenant("Keycloak Admin Acme").await;
    let op = Scope::local_operator(None);
    let grace = unique("grace");
    let id = create_user(&kc, &grace, &["developer", "tenant_owner"], Some(tenant)).await;
    // One failed and one good sign-in, for the history.
    assert!(
        password_grant(&kc, "avb-portal", &grace, "wrong-password")
            .await
            .is_err()
    );
    let token = password_grant(&kc, "avb-portal", &grace, "Kc-Password-42")
        .await
        .unwrap();
    assert_eq!(app.get("/api/v1/me", &token).await.0, 200);

    // Found by search, with its tenant and strongest role.
    let found = avb_core::services::platform::users(
        &app.ctx,
        &op,
        Some(&grace),
        PageRequest {
            limit: 25,
            after: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(found.items.len(), 1);
    assert_eq!(found.items[0].user.id, id);
    assert_eq!(found.items[0].memberships[0].0, tenant);
    assert_eq!(found.items[0].memberships[0].2, "tenant_owner");

    // Detail with the login history from Keycloak's events (saved by the realm).
    let (view, logins) = avb_core::services::platform::user(&app.ctx, &op, id)
        .await
        .unwrap();
    assert_eq!(view.user.email, format!("{grace}@acme.test"));
    assert!(logins.iter().any(|l| l.success), "{logins:?}");
    assert!(
        logins
            .iter()
            .any(|l| !l.success && l.reason == "invalid_user_credentials"),
        "{logins:?}"
    );

    // Disabled: Keycloak refuses to sign them in, and their live token stops working here.
    let u = avb_core::services::platform::set_user_enabled(&app.ctx, &op, id, false)
        .await
        .unwrap();
    assert_eq!(u.status.as_str(), "disabled");
    let refused = password_grant(&kc, "avb-portal", &grace, "Kc-Password-42")
        .await
        .unwrap_err();
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
    assert_eq!(app.get("/api/v1/me", &token).await.0, 401);
    avb_core::services::platform::set_user_enabled(&app.ctx, &op, id, true)
        .await
        .unwrap();
    password_grant(&kc, "avb-portal", &grace, "Kc-Password-42")
        .await
        .unwrap();

    // Password reset: Keycloak mails its own link, here to a local SMTP catcher.
    let _smtp = REALM_SMTP.lock().await;
    let mail = realm_mail(&kc).await;
    avb_core::services::platform::send_password_reset(&app.ctx, &op, id)
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(20), mail)
        .await
        .expect("Keycloak sent no mail")
        .unwrap();
    assert!(message.contains(&format!("{grace}@acme.test")), "{message}");
    assert!(
        message.contains("login-actions/action-token") || message.contains("action-token"),
        "Keycloak's action link: {message}"
    );
}

/// Signs in on Keycloak's login page: one form, or two once the realm has organizations (then
/// Keycloak asks for the username first). `Ok` with where Keycloak sends the browser, `Err`
/// with the page it showed instead (e.g. "Invalid username or password").
async fn kc_login(
    idp: &mut crate::oidc_login::Agent,
    kc: &str,
    page: &str,
    user: &str,
    password: &str,
) -> Result<String, String> {
    let mut page = page.to_string();
    for _ in 0..2 {
        let res = idp
            .post(
                &form_action(&page),
                &[("username", user), ("password", password)],
            )
            .await;
        if res.status() == reqwest::StatusCode::FOUND {
            return Ok(crate::oidc_login::location(&res, kc));
        }
        assert_eq!(res.status(), reqwest::StatusCode::OK);
        page = res.text().await.unwrap();
        if page.contains("Invalid username or password")
            || page.contains("Invalid password")
            || !page.contains("name=\"password\"")
        {
            break;
        }
    }
    Err(page)
}

/// Keycloak's login form's action (its HTML escapes `&`).
fn form_action(html: &str) -> String {
    html.split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}

/// Portal single sign-on through the real Keycloak: authorization code + PKCE at Keycloak's
/// own login page, back to the portal signed in; a wrong password stays at Keycloak; logout
/// goes through Keycloak's end-session endpoint back to the portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sign_in_through_the_real_keycloak() {
    use crate::oidc_login::{Agent, location};
    use reqwest::StatusCode;
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let issuer = format!("{kc}/realms/avb");
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.oidc.issuer = Some(issuer.clone());
        c.oidc.client_id = "avb-portal".into();
        c.oidc.client_secret = Some(avb_core::Secret::new("avb-portal-secret"));
    })
    .await;
    let tenant = app.create_tenant("SSO Keycloak Co").await;
    let lin = unique("lin");
    create_user(&kc, &lin, &["tenant_admin"], Some(tenant)).await;
    app.create_user(Some(tenant), "tenant_admin", &format!("{lin}@acme.test"))
        .await;

    let mut browser = Agent::new();
    let mut idp = Agent::new();
    let started = Instant::now();
    let res = browser.get(&format!("{}/auth/oidc/start", app.base)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res, &app.base);
    assert!(
        authorize.starts_with(&format!("{issuer}/protocol/openid-connect/auth")),
        "{authorize}"
    );
    assert!(authorize.contains("code_challenge_method=S256"));

    // Keycloak's login page; a wrong password stays there.
    let page = idp.get(&authorize).await.text().await.unwrap();
    let page = kc_login(&mut idp, &kc, &page, &lin, "wrong")
        .await
        .unwrap_err();
    // (Once the realm has organizations, Keycloak asks for the username first and says
    // "Invalid password." on the second page.)
    assert!(
        page.contains("Invalid username or password") || page.contains("Invalid password"),
        "{page}"
    );
    let back = kc_login(&mut idp, &kc, &page, &lin, "Kc-Password-42")
        .await
        .unwrap();
    assert!(
        back.starts_with(&format!("{}/auth/oidc/callback?", app.base)),
        "{back}"
    );
    let res = browser.get(&back).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/dashboard");
    eprintln!(
        "portal sign-in through Keycloak (start, login page, two posts, callback): {:?}",
        started.elapsed()
    );
    let html = browser
        .get(&format!("{}/dashboard", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("{lin}@acme.test")) && html.contains("SSO Keycloak Co"),
        "{html}"
    );

    // Logout: the portal session ends and the browser goes to Keycloak's end-session endpoint.
    let html = browser
        .get(&format!("{}/account", app.base))
        .await
        .text()
        .await
        .unwrap();
    let csrf = avb_testkit::browser::field(&html, "csrf");
    let res = browser
        .post(&format!("{}/logout", app.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let end = location(&res, &app.base);
    assert!(
        end.starts_with(&format!("{issuer}/protocol/openid-connect/logout")),
        "{end}"
    );
    let res = idp.get(&end).await;
    assert_eq!(
        res.status(),
        StatusCode::FOUND,
        "{}",
        res.text().await.unwrap()
    );
    assert_eq!(
        location(&res, &kc),
        format!("{}/login?signed_out=1", app.base)
    );
    let res = browser.get(&format!("{}/dashboard", app.base)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed out here");
}

/// Signs `user` in to the portal through Keycloak; returns the signed-in browser.
async fn sso_sign_in(app: &TestApp, kc: &str, user: &str) -> crate::oidc_login::Agent {
    use crate::oidc_login::{Agent, location};
    let mut browser = Agent::new();
    let mut idp = Agent::new();
    let res = browser.get(&format!("{}/auth/oidc/start", app.base)).await;
    let authorize = location(&res, &app.base);
    let page = idp.get(&authorize).await.text().await.unwrap();
    let back = kc_login(&mut idp, kc, &page, user, "Kc-Password-42")
        .await
        .unwrap();
    let res = browser.get(&back).await;
    assert_eq!(res.status(), 303);
    assert_eq!(
        res.headers()["location"],
        "/dashboard",
        "{:?}",
        res.headers()
    );
    browser
}

async fn memberships_of(app: &TestApp, user: UserId) -> Vec<(TenantId, String)> {
    let tx = app.ctx.store.platform_tx(false).await.unwrap();
    let ms = avb_storage::repos::memberships::for_user(&tx, user)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    ms.into_iter()
        .map(|m| (TenantId(m.tenant_id), m.role))
        .collect()
}

/// Under `identity.provider = "keycloak"`, `/login` goes straight to Keycloak, and Keycloak's
/// claims decide a portal user's tenant and role: a Keycloak user with no account here is
/// provisioned at first sign-in (with Keycloak's id); after their tenant and role change in
/// Keycloak, the next sign-in moves them, audited, with the member events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_decides_tenant_and_role_at_portal_sign_in() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let app = keycloak_app(&kc, true, false).await;
    let first = app.create_tenant("Keycloak First").await;
    let second = app.create_tenant("Keycloak Second").await;
    let kim = unique("kim");
    let id = create_user(&kc, &kim, &["developer"], Some(first)).await;

    // /login goes to Keycloak; after signing out it shows the page instead.
    let res = crate::oidc_login::Agent::new()
        .get(&format!("{}/login", app.base))
        .await;
    assert_eq!(res.status(), 303);
    assert_eq!(res.headers()["location"], "/auth/oidc/start");
    let res = crate::oidc_login::Agent::new()
        .get(&format!("{}/login?signed_out=1", app.base))
        .await;
    assert_eq!(res.status(), 200);

    // First sign-in: provisioned from the claims.
    let mut browser = sso_sign_in(&app, &kc, &kim).await;
    assert_eq!(
        memberships_of(&app, id).await,
        vec![(first, "developer".to_string())]
    );
    let html = browser
        .get(&format!("{}/dashboard", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Keycloak First"), "{html}");

    // Keycloak moves them to the second tenant as tenant_admin.
    let admin = admin_token(&kc).await;
    let http = reqwest::Client::new();
    let mut user: Value = http
        .get(format!("{kc}/admin/realms/avb/users/{id}"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    user["attributes"]["tenant_id"] = json!([second.to_string()]);
    let res = http
        .put(format!("{kc}/admin/realms/avb/users/{id}"))
        .bearer_auth(&admin)
        .json(&user)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204, "{}", res.text().await.unwrap());
    for (method, role) in [
        (reqwest::Method::DELETE, "developer"),
        (reqwest::Method::POST, "tenant_admin"),
    ] {
        let rep: Value = http
            .get(format!("{kc}/admin/realms/avb/roles/{role}"))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let res = http
            .request(
                method,
                format!("{kc}/admin/realms/avb/users/{id}/role-mappings/realm"),
            )
            .bearer_auth(&admin)
            .json(&json!([rep]))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 204);
    }
    let mut browser = sso_sign_in(&app, &kc, &kim).await;
    assert_eq!(
        memberships_of(&app, id).await,
        vec![(second, "tenant_admin".to_string())]
    );
    let html = browser
        .get(&format!("{}/dashboard", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Keycloak Second"), "{html}");
    let op = Scope::local_operator(None);
    let audit = avb_core::services::audit::platform_list(
        &app.ctx,
        &op,
        None,
        &avb_core::services::audit::AuditFilter::default(),
        PageRequest {
            limit: 100,
            after: None,
        },
    )
    .await
    .unwrap();
    let actions: Vec<&str> = audit.items.iter().map(|e| e.action.as_str()).collect();
    assert!(
        actions.contains(&"identity.keycloak.provision"),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .filter(|a| **a == "member.keycloak_sync")
            .count()
            >= 3,
        "{actions:?}"
    );
}

async fn realm_roles_of(kc: &str, id: UserId) -> Vec<String> {
    let admin = admin_token(kc).await;
    let roles: Vec<Value> = reqwest::Client::new()
        .get(format!(
            "{kc}/admin/realms/avb/users/{id}/role-mappings/realm"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut names: Vec<String> = roles
        .iter()
        .filter_map(|r| r["name"].as_str().map(str::to_string))
        .filter(|n| {
            [
                "tenant_owner",
                "tenant_admin",
                "developer",
                "viewer",
                "billing_admin",
            ]
            .contains(&n.as_str())
        })
        .collect();
    names.sort();
    names
}

/// With Keycloak the source of truth, a role change and a removal made in the platform are
/// written to Keycloak (role mappings, the tenant attribute) and end the member's Keycloak
/// sessions (their refresh token stops working) before the local copy changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_changes_and_removals_are_written_to_keycloak() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let app = keycloak_app(&kc, true, true).await;
    let tenant = app.create_tenant("Keycloak Team").await;
    let olga = unique("olga");
    let max = unique("max");
    create_user(&kc, &olga, &["tenant_owner"], Some(tenant)).await;
    let max_id = create_user(&kc, &max, &["developer"], Some(tenant)).await;
    // Both have signed in to the portal once (their local copies exist).
    sso_sign_in(&app, &kc, &olga).await;
    sso_sign_in(&app, &kc, &max).await;
    let owner = password_grant(&kc, "avb-portal", &olga, "Kc-Password-42")
        .await
        .unwrap();
    let refresh = {
        let res: Value = reqwest::Client::new()
            .post(format!("{kc}/realms/avb/protocol/openid-connect/token"))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "avb-portal"),
                ("client_secret", "avb-portal-secret"),
                ("username", max.as_str()),
                ("password", "Kc-Password-42"),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        res["refresh_token"].as_str().unwrap().to_string()
    };

    let (status, body) = app
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/members/{max_id}"),
            Some(&owner),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        realm_roles_of(&kc, max_id).await,
        vec!["viewer".to_string()]
    );
    let refreshed = token(
        &kc,
        "avb",
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "avb-portal"),
            ("client_secret", "avb-portal-secret"),
            ("refresh_token", refresh.as_str()),
        ],
    )
    .await;
    assert!(refreshed.is_err(), "Max's Keycloak sessions were ended");
    // His next token says viewer, so the API agrees.
    let t = password_grant(&kc, "avb-portal", &max, "Kc-Password-42")
        .await
        .unwrap();
    let (_, me) = app.get("/api/v1/me", &t).await;
    assert_eq!(me["role"], "viewer", "{me}");

    let (status, body) = app
        .call(
            reqwest::Method::DELETE,
            &format!("/api/v1/members/{max_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert!(realm_roles_of(&kc, max_id).await.is_empty());
    let user: Value = reqwest::Client::new()
        .get(format!("{kc}/admin/realms/avb/users/{max_id}"))
        .bearer_auth(admin_token(&kc).await)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(user["attributes"]["tenant_id"].is_null(), "{user}");
    let t = password_grant(&kc, "avb-portal", &max, "Kc-Password-42")
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/v1/me", &t).await.0,
        401,
        "no tenant, no role: nothing here"
    );
}

/// A portal user's own account when Keycloak holds it: the name is written to Keycloak, the
/// password is checked and changed in Keycloak (a wrong current one changes nothing; the new
/// one signs in at Keycloak), and two-factor sign-in becomes Keycloak's CONFIGURE_TOTP
/// required action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_changes_go_to_keycloak() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let app = keycloak_app(&kc, true, true).await;
    let tenant = app.create_tenant("Keycloak Accounts").await;
    let pat = unique("pat");
    let id = create_user(&kc, &pat, &["developer"], Some(tenant)).await;
    let mut browser = sso_sign_in(&app, &kc, &pat).await;
    let html = browser
        .get(&format!("{}/account", app.base))
        .await
        .text()
        .await
        .unwrap();
    let csrf = avb_testkit::browser::field(&html, "csrf");
    let kc_user = |kc: String| async move {
        let admin = admin_token(&kc).await;
        reqwest::Client::new()
            .get(format!("{kc}/admin/realms/avb/users/{id}"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()
    };

    // Name.
    let res = browser
        .post(
            &format!("{}/account/profile", app.base),
            &[("csrf", &csrf), ("name", "Pat Keycloakson")],
        )
        .await;
    assert_eq!(res.status(), 303);
    let u = kc_user(kc.clone()).await;
    assert_eq!(
        (u["firstName"].as_str(), u["lastName"].as_str()),
        (Some("Pat"), Some("Keycloakson")),
        "{u}"
    );

    // Password: a wrong current one is refused inline and changes nothing.
    let res = browser
        .post(
            &format!("{}/account/password", app.base),
            &[
                ("csrf", &csrf),
                ("current", "not-it"),
                ("new", "Kc-Password-43!"),
                ("confirm", "Kc-Password-43!"),
            ],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(res.text().await.unwrap().contains("is not correct"));
    password_grant(&kc, "avb-portal", &pat, "Kc-Password-42")
        .await
        .unwrap();
    let res = browser
        .post(
            &format!("{}/account/password", app.base),
            &[
                ("csrf", &csrf),
                ("current", "Kc-Password-42"),
                ("new", "Kc-Password-43!"),
                ("confirm", "Kc-Password-43!"),
            ],
        )
        .await;
    assert_eq!(res.status(), 303, "{}", res.text().await.unwrap());
    assert!(
        password_grant(&kc, "avb-portal", &pat, "Kc-Password-42")
            .await
            .is_err()
    );
    password_grant(&kc, "avb-portal", &pat, "Kc-Password-43!")
        .await
        .unwrap();

    // The sign-in history is Keycloak's: the refused check of the wrong password shows.
    let html = browser
        .get(&format!("{}/account", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("refused (invalid_user_credentials)"),
        "Keycloak's events on the account page: {html}"
    );

    // Two-factor sign-in: Keycloak's required action.
    let page = browser
        .get(&format!("{}/account/totp", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(page.contains("Set up at my next sign-in"), "{page}");
    let res = browser
        .post(
            &format!("{}/account/totp/keycloak", app.base),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), 303);
    let u = kc_user(kc.clone()).await;
    assert!(
        u["requiredActions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a == "CONFIGURE_TOTP"),
        "{u}"
    );
}

/// Back-channel logout: when Keycloak ends a user's session (here an administrator's logout),
/// it posts a signed logout token to the portal, which ends the user's portal sessions; a
/// forged token is refused with 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_back_channel_logout_ends_portal_sessions() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let issuer = format!("{kc}/realms/avb");
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.identity.provider = avb_core::config::IdentityProvider::Keycloak;
        c.keycloak.issuer = Some(issuer.clone());
        c.oidc.issuer = Some(issuer.clone());
        c.oidc.client_id = "avb-portal-bcl".into();
        // Online sessions only: Keycloak's logouts (and so its back-channel calls) concern
        // them, not offline ones.
        c.oidc.scopes = "openid email profile".into();
        c.oidc.client_secret = Some(avb_core::Secret::new("avb-portal-bcl-secret"));
    })
    .await;
    // This test's own client learns where to send logouts (the bootstrap administrator of
    // `scripts/keycloak.sh` changes clients; the platform's service account cannot).
    let admin = token(
        &kc,
        "master",
        &[
            ("grant_type", "password"),
            ("client_id", "admin-cli"),
            ("username", "admin"),
            ("password", "avb-keycloak-admin"),
        ],
    )
    .await
    .unwrap();
    let http = reqwest::Client::new();
    let clients: Vec<Value> = http
        .get(format!(
            "{kc}/admin/realms/avb/clients?clientId=avb-portal-bcl"
        ))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut client = clients[0].clone();
    client["frontchannelLogout"] = json!(false);
    client["attributes"]["backchannel.logout.url"] =
        json!(format!("{}/auth/oidc/backchannel-logout", app.base));
    let res = http
        .put(format!(
            "{kc}/admin/realms/avb/clients/{}",
            client["id"].as_str().unwrap()
        ))
        .bearer_auth(&admin)
        .json(&client)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);

    let tenant = app.create_tenant("Keycloak Logout").await;
    let lou = unique("lou");
    let id = create_user(&kc, &lou, &["viewer"], Some(tenant)).await;
    let mut browser = sso_sign_in(&app, &kc, &lou).await;
    assert_eq!(
        browser
            .get(&format!("{}/dashboard", app.base))
            .await
            .status(),
        200
    );

    // A forged token: refused.
    let res = http
        .post(format!("{}/auth/oidc/backchannel-logout", app.base))
        .form(&[(
            "logout_token",
            resign(
                &password_grant(&kc, "avb-portal", &lou, "Kc-Password-42")
                    .await
                    .unwrap(),
            ),
        )])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    assert_eq!(
        browser
            .get(&format!("{}/dashboard", app.base))
            .await
            .status(),
        200
    );

    // Keycloak ends the user's sessions: it tells the portal, which signs them out.
    let started = Instant::now();
    let res = http
        .post(format!("{kc}/admin/realms/avb/users/{id}/logout"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    loop {
        let status = browser
            .get(&format!("{}/dashboard", app.base))
            .await
            .status();
        if status == 303 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "still signed in: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    eprintln!(
        "back-channel logout: portal session ended {:?} after Keycloak's logout",
        started.elapsed()
    );
}

/// Invitations when Keycloak holds the accounts (B7.2): the tenant's Keycloak organization is
/// created on first use and Keycloak mails its own invitation (to register, or for a user it
/// already has, to join); the role waits here and is granted when the invitee first signs in to
/// the portal, written to Keycloak too, and the invitation is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_go_through_keycloak_organizations() {
    let Some(kc) = keycloak() else {
        eprintln!("TEST_KEYCLOAK_URL is not set: Keycloak is not exercised in this run");
        return;
    };
    let app = keycloak_app(&kc, true, true).await;
    let tenant = app.create_tenant("Keycloak Invites").await;
    let ivy = unique("ivy");
    create_user(&kc, &ivy, &["tenant_owner"], Some(tenant)).await;
    let owner = password_grant(&kc, "avb-portal", &ivy, "Kc-Password-42")
        .await
        .unwrap();
    let ned = unique("ned");
    let ned_id = create_user(&kc, &ned, &[], None).await;
    let _smtp = REALM_SMTP.lock().await;

    // A user Keycloak already has: invited to join the organization.
    let mail = realm_mail(&kc).await;
    let (status, inv) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": format!("{ned}@acme.test"), "role": "developer"}),
        )
        .await;
    assert_eq!(status, 201, "{inv}");
    let message = tokio::time::timeout(Duration::from_secs(20), mail)
        .await
        .expect("Keycloak sent no invitation")
        .unwrap();
    assert!(message.contains(&format!("{ned}@acme.test")), "{message}");
    assert!(message.to_lowercase().contains("organization"), "{message}");
    let admin = admin_token(&kc).await;
    let orgs: Vec<Value> = reqwest::Client::new()
        .get(format!("{kc}/admin/realms/avb/organizations?max=100"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        orgs.iter().any(|o| o["alias"] == tenant.to_string()),
        "the tenant's organization: {orgs:?}"
    );

    // A new person: Keycloak's invitation to register.
    let mail = realm_mail(&kc).await;
    let newcomer = format!("{}@acme.test", unique("new"));
    let (status, body) = app
        .post(
            "/api/v1/invitations",
            &owner,
            json!({"email": newcomer, "role": "viewer"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let message = tokio::time::timeout(Duration::from_secs(20), mail)
        .await
        .expect("Keycloak sent no invitation")
        .unwrap();
    assert!(message.contains(&newcomer), "{message}");

    // Ned signs in: the invited role is his, here and in Keycloak.
    sso_sign_in(&app, &kc, &ned).await;
    assert_eq!(
        memberships_of(&app, ned_id).await,
        vec![(tenant, "developer".to_string())]
    );
    assert_eq!(
        realm_roles_of(&kc, ned_id).await,
        vec!["developer".to_string()]
    );
    let (_, list) = app.get("/api/v1/invitations?status=accepted", &owner).await;
    assert!(
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["email"] == format!("{ned}@acme.test")),
        "{list}"
    );
    // His next token carries the tenant, so the API agrees.
    let t = password_grant(&kc, "avb-portal", &ned, "Kc-Password-42")
        .await
        .unwrap();
    let (_, me) = app.get("/api/v1/me", &t).await;
    assert_eq!(me["role"], "developer", "{me}");
}
