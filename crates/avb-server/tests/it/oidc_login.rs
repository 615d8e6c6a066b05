//! Portal sign-in through a real OpenID provider run locally (`tests/oidc/provider.mjs`, built on
//! the npm package oidc-provider): authorization code + PKCE, state bound to the browser, ID
//! token verified, silent refresh through the provider, and logout ending the provider's session.
//! Needs `npm ci` in tests/oidc (scripts/test.sh does it); skipped with a notice otherwise, unless
//! REQUIRE_OIDC_PROVIDER=1 (set by scripts/test.sh) makes that a failure.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::field;
use avb_testkit::{Db, spawn_app_with};
use reqwest::StatusCode;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/oidc")
}

/// A free local port (the provider must know its issuer before the app starts).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the provider; it stops when the child is dropped.
async fn start_provider(port: u16, app_base: &str) -> tokio::process::Child {
    let users = serde_json::json!([
        {"sub": "u-ann", "email": "ann@sso.test", "password": "ann-secret", "name": "Ann"},
        {"sub": "u-zed", "email": "zed@elsewhere.test", "password": "zed-secret", "name": "Zed"}
    ]);
    let mut child = tokio::process::Command::new("node")
        .arg("provider.mjs")
        .current_dir(provider_dir())
        .env("OIDC_PORT", port.to_string())
        .env("OIDC_CLIENT_ID", "portal")
        .env("OIDC_CLIENT_SECRET", "portal-secret")
        .env(
            "OIDC_REDIRECT_URI",
            format!("{app_base}/auth/oidc/callback"),
        )
        .env(
            "OIDC_POST_LOGOUT_REDIRECT_URI",
            format!("{app_base}/login?signed_out=1"),
        )
        .env("OIDC_USERS", users.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    // Generous: node starting while the whole suite loads two cores.
    let ready = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
        .await
        .expect("provider ready in time")
        .unwrap()
        .unwrap_or_default();
    assert!(ready.starts_with("ready "), "provider said {ready:?}");
    child
}

/// A cookie-keeping client for one origin at a time, following nothing by itself.
pub(crate) struct Agent {
    http: reqwest::Client,
    pub(crate) jar: BTreeMap<String, String>,
}

impl Agent {
    pub(crate) fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep(&mut self, res: &reqwest::Response) {
        for c in res.headers().get_all("set-cookie") {
            let c = c.to_str().unwrap();
            let pair = c.split(';').next().unwrap();
            if let Some((k, v)) = pair.split_once('=') {
                if v.is_empty() || c.contains("Max-Age=0") || c.contains("expires=Thu, 01 Jan 1970")
                {
                    self.jar.remove(k);
                } else {
                    self.jar.insert(k.to_string(), v.to_string());
                }
            }
        }
    }

    pub(crate) async fn get(&mut self, url: &str) -> reqwest::Response {
        let res = self
            .http
            .get(url)
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }

    pub(crate) async fn post(&mut self, url: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let res = self
            .http
            .post(url)
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.keep(&res);
        res
    }
}

pub(crate) fn location(res: &reqwest::Response, base: &str) -> String {
    let l = res.headers()["location"].to_str().unwrap().to_string();
    if l.starts_with('/') {
        format!("{base}{l}")
    } else {
        l
    }
}

/// Signs in at the provider as `email`; returns the app URL the provider sends the browser to.
async fn provider_login(
    idp: &mut Agent,
    issuer: &str,
    authorize: &str,
    email: &str,
    password: &str,
) -> String {
    let res = idp.get(authorize).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let interaction = location(&res, issuer);
    let form = idp.get(&interaction).await.text().await.unwrap();
    let action = form
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let res = idp
        .post(
            &format!("{issuer}{action}"),
            &[("username", email), ("password", password)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "login at the provider");
    let resume = location(&res, issuer);
    let res = idp.get(&resume).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    location(&res, issuer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_sign_in_through_a_real_openid_provider() {
    if !provider_dir().join("node_modules/oidc-provider").exists() {
        assert!(
            std::env::var("REQUIRE_OIDC_PROVIDER").as_deref() != Ok("1"),
            "tests/oidc/node_modules is missing: run npm ci in tests/oidc"
        );
        eprintln!("SKIPPED: tests/oidc/node_modules is missing (scripts/test.sh installs it)");
        return;
    }
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.oidc.issuer = Some(issuer.clone());
        c.oidc.client_id = "portal".into();
        c.oidc.client_secret = Some(avb_core::Secret::new("portal-secret"));
        c.identity.access_token_ttl_secs = 1;
    })
    .await;
    let tenant = app.create_tenant("SSO Co").await;
    app.create_user(Some(tenant), "tenant_admin", "ann@sso.test")
        .await;
    let _provider = start_provider(port, &app.base).await;

    let mut browser = Agent::new();
    let mut idp = Agent::new();
    let login = browser
        .get(&format!("{}/login", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        login.contains("href=\"/auth/oidc/start\"")
            && login.contains("Continue with single sign-on")
    );

    // Start: state cookie + PKCE S256 challenge in the authorization request.
    let res = browser.get(&format!("{}/auth/oidc/start", app.base)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let authorize = location(&res, &app.base);
    assert!(authorize.starts_with(&issuer) && authorize.contains("code_challenge_method=S256"));
    assert!(browser.jar.contains_key("avb_oidc_state"));

    // A wrong password stays at the provider.
    let res = idp.get(&authorize).await;
    let interaction = location(&res, &issuer);
    let form = idp.get(&interaction).await.text().await.unwrap();
    let action = form
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    let res = idp
        .post(
            &format!("{issuer}{action}"),
            &[("username", "ann@sso.test"), ("password", "nope")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);

    // The right one comes back with a code; a callback without this browser's state is refused.
    let back = provider_login(&mut idp, &issuer, &authorize, "ann@sso.test", "ann-secret").await;
    assert!(
        back.starts_with(&format!("{}/auth/oidc/callback?code=", app.base)),
        "{back}"
    );
    let mut stranger = Agent::new();
    let res = stranger.get(&back).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = browser.get(&back).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/dashboard");
    assert!(browser.jar.contains_key("avb_session") && !browser.jar.contains_key("avb_oidc_state"));
    let res = browser.get(&back).await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "a code is used once");

    // Signed in as the local user with that verified e-mail.
    let html = browser
        .get(&format!("{}/dashboard", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("ann@sso.test") && html.contains("SSO Co"),
        "{html}"
    );

    // The access token lives 1 s: the next page refreshes through the provider, silently.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let res = browser.get(&format!("{}/account", app.base)).await;
    assert_eq!(res.status(), StatusCode::OK, "silent refresh");
    let html = res.text().await.unwrap();
    assert!(html.contains("ann@sso.test"));

    // Logout ends the session here and at the provider.
    let csrf = field(&html, "csrf");
    let res = browser
        .post(&format!("{}/logout", app.base), &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let end = location(&res, &app.base);
    assert!(end.starts_with(&format!("{issuer}/session/end")), "{end}");
    let res = idp.get(&end).await;
    let auto = location(&res, &issuer);
    let res = idp.get(&auto).await;
    assert_eq!(
        location(&res, &issuer),
        format!("{}/login?signed_out=1", app.base)
    );
    let res = browser.get(&format!("{}/dashboard", app.base)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let html = browser
        .get(&format!("{}/login?signed_out=1", app.base))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("You are signed out."));

    // A verified e-mail with no account here is refused with guidance.
    let mut other = Agent::new();
    let res = other.get(&format!("{}/auth/oidc/start", app.base)).await;
    let authorize = location(&res, &app.base);
    let mut idp2 = Agent::new();
    let back = provider_login(
        &mut idp2,
        &issuer,
        &authorize,
        "zed@elsewhere.test",
        "zed-secret",
    )
    .await;
    let res = other.get(&back).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("ask an administrator for an invitation")
    );
}
