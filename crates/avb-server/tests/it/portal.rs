//! The web portal in process (asserting on HTML): login with CSRF, the HttpOnly session cookie,
//! the dashboard by role, expiry and logout, escaping, security headers and hashed assets.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::{Browser, field, set_cookie};
use avb_testkit::{Db, PASSWORD, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_dashboard_by_role_and_logout() {
    let app = spawn_app(Db::Sqlite).await;
    let tenant = app.create_tenant("Smith & Sons <Voice>").await;
    let owner_email = "owner@portal.test".to_string();
    app.create_user(Some(tenant), "tenant_owner", &owner_email)
        .await;
    let owner_token = app.login(&owner_email).await;
    app.post(
        "/api/v1/projects",
        &owner_token,
        json!({"name": "Support line", "environment": "production"}),
    )
    .await;
    let browser = Browser::new(&app);

    // Pages need a session.
    let res = browser.get("/dashboard", "").await;
    assert_eq!(
        (res.status(), res.headers()["location"].to_str().unwrap()),
        (StatusCode::SEE_OTHER, "/login")
    );
    let res = browser.get("/dashboard", "avb_session=forged").await;
    assert_eq!(res.headers()["location"], "/login?expired=1");
    let html = browser
        .get("/login?expired=1", "")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Your session expired"));

    // The login page: strict CSP, labelled inputs, a CSRF token bound to a cookie.
    let res = browser.get("/login", "").await;
    let csp = res.headers()["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    let html = res.text().await.unwrap();
    assert!(html.contains("<label for=\"email\">") && html.contains("id=\"email\""));

    // A form without its cookie is refused; a wrong password says so without details.
    let csrf = browser.login_csrf().await;
    let res = browser
        .post(
            "/login",
            "",
            &[
                ("email", &owner_email),
                ("password", PASSWORD),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = browser
        .post(
            "/login",
            &format!("avb_login_csrf={csrf}"),
            &[
                ("email", &owner_email),
                ("password", "Wrong-Password-99"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&res, "avb_session").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("Incorrect e-mail, password or code."));
    assert!(
        html.contains(&format!("value=\"{owner_email}\"")),
        "the e-mail is kept"
    );

    // The owner's dashboard: the tenant (escaped), usage, recent activity, the stylesheet.
    let owner = format!("avb_session={}", browser.sign_in(&owner_email).await);
    let res = browser.get("/dashboard", &owner).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    let heading = html
        .split("<h1>")
        .nth(1)
        .unwrap()
        .split("</h1>")
        .next()
        .unwrap();
    assert!(
        heading.starts_with("Smith &") && heading.contains("Voice&") && !heading.contains('<'),
        "the tenant name is escaped: {heading}"
    );
    assert!(!html.contains("<Voice>"));
    assert!(html.contains("Last 30 days") && html.contains("Requests"));
    assert!(
        html.contains("project.create"),
        "recent activity lists the project"
    );
    assert!(html.contains("aria-current=\"page\""));
    let css = html
        .split("href=\"/assets/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    assert!(css.starts_with("app-") && css.ends_with(".css"));
    let res = browser.get(&format!("/assets/{css}"), "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert_eq!(
        browser
            .get("/assets/app-000000000000.css", "")
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        browser.get("/", &owner).await.headers()["location"],
        "/dashboard"
    );

    // A viewer sees usage but not the audit log, and is told which permission is missing.
    app.create_user(Some(tenant), "viewer", "viewer@portal.test")
        .await;
    let viewer = format!(
        "avb_session={}",
        browser.sign_in("viewer@portal.test").await
    );
    let html = browser
        .get("/dashboard", &viewer)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Requests"));
    assert!(html.contains("<code>audit:view</code>") && !html.contains("project.create"));

    // Logout needs the session's CSRF token, ends the session, and the cookie no longer works.
    let res = browser.post("/logout", &owner, &[("csrf", "guess")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = browser
        .get("/dashboard", &owner)
        .await
        .text()
        .await
        .unwrap();
    let res = browser
        .post("/logout", &owner, &[("csrf", &field(&html, "csrf"))])
        .await;
    assert_eq!(res.headers()["location"], "/login");
    assert_eq!(set_cookie(&res, "avb_session").as_deref(), Some(""));
    let res = browser.get("/dashboard", &owner).await;
    assert_eq!(res.headers()["location"], "/login?expired=1");
    // The viewer's session is untouched.
    assert_eq!(
        browser.get("/dashboard", &viewer).await.status(),
        StatusCode::OK
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn projects_page_lists_creates_validates_and_forbids() {
    let app = spawn_app(Db::Sqlite).await;
    let tenant = app.create_tenant("Projects Co").await;
    app.create_user(Some(tenant), "tenant_admin", "admin@projects.test")
        .await;
    app.create_user(Some(tenant), "viewer", "viewer@projects.test")
        .await;
    let browser = Browser::new(&app);
    let admin = format!(
        "avb_session={}",
        browser.sign_in("admin@projects.test").await
    );

    // Empty state, with the form.
    let html = browser.get("/projects", &admin).await.text().await.unwrap();
    assert!(html.contains("No projects yet.") && html.contains("Create your first project"));
    let csrf = field(&html, "csrf");

    // A bad environment is shown next to the form, keeping what was typed.
    let res = browser
        .post(
            "/projects",
            &admin,
            &[
                ("name", "Call centre"),
                ("environment", "moon"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("environment:") && html.contains("value=\"Call centre\""));
    // Without the CSRF token nothing is created.
    let res = browser
        .post(
            "/projects",
            &admin,
            &[("name", "Sneaky"), ("environment", "staging")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Created, listed, paginated after 20.
    for i in 0..21 {
        let name = format!("Line {i:02}");
        let res = browser
            .post(
                "/projects",
                &admin,
                &[("name", &name), ("environment", "staging"), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(res.headers()["location"], "/projects?created=1");
    }
    let html = browser
        .get("/projects?created=1", &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Project created.") && html.contains("Line 20"));
    assert!(!html.contains("Sneaky"));
    let next = html
        .split("href=\"/projects?after=")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let html = browser
        .get(&format!("/projects?after={next}"), &admin)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("Line 00") && !html.contains("Line 20"),
        "the second page"
    );

    // A viewer sees the list without the form; a create attempt gets the 403 page naming the
    // missing permission.
    let viewer = format!(
        "avb_session={}",
        browser.sign_in("viewer@projects.test").await
    );
    let html = browser
        .get("/projects", &viewer)
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Line 20") && !html.contains("Create project"));
    let res = browser
        .post(
            "/projects",
            &viewer,
            &[
                ("name", "Nope"),
                ("environment", "staging"),
                ("csrf", &field(&html, "csrf")),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("<code>projects:manage</code>")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_secret_once_and_revoke_with_confirmation() {
    let app = spawn_app(Db::Sqlite).await;
    let tenant = app.create_tenant("Keys Co").await;
    app.create_user(Some(tenant), "developer", "dev@keys.test")
        .await;
    app.create_user(Some(tenant), "viewer", "viewer@keys.test")
        .await;
    let browser = Browser::new(&app);
    let dev = format!("avb_session={}", browser.sign_in("dev@keys.test").await);
    let html = browser.get("/api-keys", &dev).await.text().await.unwrap();
    assert!(html.contains("No API keys yet."));
    let csrf = field(&html, "csrf");

    // At least one scope.
    let res = browser
        .post("/api-keys", &dev, &[("name", "backend"), ("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Choose at least one scope.")
    );

    // The secret is shown once, uncached, and works.
    let res = browser
        .post(
            "/api-keys",
            &dev,
            &[("name", "backend"), ("scope_usage", "1"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let html = res.text().await.unwrap();
    let secret = html
        .split("id=\"secret\" readonly value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(secret.starts_with("avb_live_"), "{secret}");
    let (status, _) = app.get("/api/v1/usage", &secret).await;
    assert_eq!(status, StatusCode::OK, "the new key authenticates");
    let list = browser.get("/api-keys", &dev).await.text().await.unwrap();
    assert!(
        list.contains("backend") && !list.contains(&secret),
        "never shown again"
    );

    // Rotate: confirmation, a new secret shown once; the old one keeps working for 24 hours.
    let rotate = list
        .split("href=\"/api-keys/")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string();
    assert!(rotate.ends_with("/rotate"), "{rotate}");
    let confirm = browser.page(&format!("/api-keys/{rotate}"), &dev).await;
    assert!(confirm.contains("keeps working for 24 hours"));
    let res = browser
        .post(&format!("/api-keys/{rotate}"), &dev, &[("csrf", &csrf)])
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    assert!(html.contains("Key rotated") && html.contains("data-copy=\"secret\""));
    let rotated = field(
        &html.replace("id=\"secret\" readonly value", "name=\"rotated\" value"),
        "rotated",
    );
    assert!(rotated.starts_with("avb_live_") && rotated != secret);
    assert_eq!(app.get("/api/v1/usage", &rotated).await.0, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/usage", &secret).await.0,
        StatusCode::OK,
        "grace period"
    );
    let list = browser.page("/api-keys", &dev).await;

    // Revoke: a confirmation page first, then the key stops working.
    let revoke = list
        .split("href=\"/api-keys/")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|link| link.ends_with("/revoke"))
        .unwrap()
        .to_string();
    let confirm = browser
        .get(&format!("/api-keys/{revoke}"), &dev)
        .await
        .text()
        .await
        .unwrap();
    assert!(confirm.contains("stop working immediately") && confirm.contains("Cancel"));
    let viewer = format!("avb_session={}", browser.sign_in("viewer@keys.test").await);
    let viewer_html = browser
        .get("/api-keys", &viewer)
        .await
        .text()
        .await
        .unwrap();
    assert!(viewer_html.contains("backend") && !viewer_html.contains("Create key"));
    let res = browser
        .post(
            &format!("/api-keys/{revoke}"),
            &viewer,
            &[("csrf", &field(&viewer_html, "csrf"))],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "a viewer cannot revoke"
    );
    let res = browser
        .post(&format!("/api-keys/{revoke}"), &dev, &[("csrf", &csrf)])
        .await;
    assert_eq!(res.headers()["location"], "/api-keys?revoked=1");
    let (status, _) = app.get("/api/v1/usage", &rotated).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the revoked key is refused"
    );
    let list = browser
        .get("/api-keys?revoked=1", &dev)
        .await
        .text()
        .await
        .unwrap();
    assert!(list.contains("Key revoked.") && list.contains("revoked"));
    assert_eq!(
        browser
            .get("/api-keys/not-a-key/revoke", &dev)
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shell_has_a_labelled_mobile_menu_and_no_inline_script() {
    let app = spawn_app(Db::Sqlite).await;
    let tenant = app.create_tenant("Shell Co").await;
    app.create_user(Some(tenant), "tenant_admin", "admin@shell.test")
        .await;
    let browser = Browser::new(&app);
    let admin = format!("avb_session={}", browser.sign_in("admin@shell.test").await);
    let html = browser
        .get("/dashboard", &admin)
        .await
        .text()
        .await
        .unwrap();
    // A disclosure button (announced as a button, saying whether the menu is open), not a
    // checkbox.
    assert!(html.contains(
        "<button type=\"button\" id=\"menu\" class=\"menu-button\" aria-controls=\"main-nav\" aria-expanded=\"false\">"
    ));
    assert!(!html.contains("type=\"checkbox\" id=\"menu\""));
    assert!(html.contains("aria-controls=\"main-nav\"") && html.contains("id=\"main-nav\""));
    // Scripts only from our hashed assets, never inline; no style attributes.
    let scripts: Vec<&str> = html.split("<script").skip(1).collect();
    assert_eq!(scripts.len(), 2, "htmx and the portal script");
    for tag in scripts {
        assert!(tag.starts_with(" src=\"/assets/"), "inline script: {tag}");
        assert!(tag.contains("></script>"), "{tag}");
    }
    assert!(!html.contains("style="), "the CSP forbids inline styles");
    // Browsers that accept gzip get compressed pages.
    let gz = reqwest::Client::new()
        .get(format!("{}/dashboard", app.base))
        .header("cookie", &admin)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    // Every script the page names is served, immutable, as JavaScript.
    for src in html.split("<script src=\"").skip(1) {
        let path = &src[..src.find('"').unwrap()];
        let res = browser.get(path, &admin).await;
        assert_eq!(res.status(), 200, "{path}");
        assert!(
            res.headers()["content-type"]
                .to_str()
                .unwrap()
                .contains("javascript")
        );
    }
    // The navigation follows the permission table: an admin sees every page.
    for link in [
        "/dashboard",
        "/sessions",
        "/projects",
        "/api-keys",
        "/usage",
        "/team",
        "/settings",
        "/account",
    ] {
        assert!(html.contains(&format!("href=\"{link}\"")), "{link}");
    }
    // A viewer sees disabled items naming the permission they lack.
    app.create_user(Some(tenant), "viewer", "viewer@shell.test")
        .await;
    let viewer = format!("avb_session={}", browser.sign_in("viewer@shell.test").await);
    let html = browser
        .get("/dashboard", &viewer)
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("title=\"Needs the settings:manage permission\"")
            && !html.contains("href=\"/settings\""),
        "{html}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sessions_survive_a_restart_and_serve_on_another_replica() {
    let app = spawn_app(Db::Postgres).await;
    let tenant = app.create_tenant("Replica Co").await;
    app.create_user(Some(tenant), "tenant_admin", "admin@replica.test")
        .await;
    let browser = Browser::new(&app);
    let cookie = browser.session("admin@replica.test").await;
    assert!(
        browser
            .page("/dashboard", &cookie)
            .await
            .contains("Replica Co")
    );

    // A second server on the same database (a replica, or this one after a restart).
    let other = avb_testkit::spawn_on(&app.database_url, None, |_| {}).await;
    let second = Browser::new(&other);
    let html = second.page("/dashboard", &cookie).await;
    assert!(html.contains("Replica Co") && html.contains("admin@replica.test"));
    // Stored sealed: no JWT (`eyJ...`) or refresh token (`rt_...`) in clear.
    let stored = app.raw_sql("SELECT id FROM portal_sessions").await.unwrap();
    let clear = app
        .raw_sql(
            "SELECT id FROM portal_sessions WHERE access_token_enc LIKE 'eyJ%' \
             OR refresh_token_enc LIKE 'rt_%'",
        )
        .await
        .unwrap();
    assert_eq!((stored, clear), (1, 0));
    // The CSRF token travels with the session: a form posted to the replica is accepted.
    let csrf = field(&html, "csrf");
    let res = second.post("/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // Logged out there means logged out here.
    let res = browser.get("/dashboard", &cookie).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
}

/// Every `Set-Cookie` of a response.
fn cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// Signs in through the login form at `base` with `http`; returns the login page's and the
/// sign-in's responses.
async fn form_login(
    http: &reqwest::Client,
    base: &str,
    email: &str,
) -> (reqwest::Response, reqwest::Response) {
    let page = http.get(format!("{base}/login")).send().await.unwrap();
    let csrf = cookies(&page)
        .iter()
        .find_map(|c| c.strip_prefix("avb_login_csrf=").map(str::to_string))
        .unwrap();
    let csrf = csrf.split(';').next().unwrap().to_string();
    let res = http
        .post(format!("{base}/login"))
        .header("cookie", format!("avb_login_csrf={csrf}"))
        .form(&[("email", email), ("password", PASSWORD), ("csrf", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    (page, res)
}

/// Over HTTPS (the TLS listener, or an `https://` public URL with TLS ending at a proxy) every
/// cookie is `Secure` and responses carry HSTS; plain-HTTP development keeps neither.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_gets_secure_cookies_and_hsts() {
    let no_redirects = || reqwest::Client::builder().redirect(reqwest::redirect::Policy::none());
    // Plain HTTP on a plain public URL: no Secure (the browser would drop the cookie), no HSTS.
    let app = spawn_app(Db::Sqlite).await;
    let t = app.create_tenant("Plain Co").await;
    let email = app
        .create_user(Some(t), "tenant_owner", "o@plain.test")
        .await;
    let http = no_redirects().build().unwrap();
    let (page, res) = form_login(&http, &app.base, &email).await;
    for r in [&page, &res] {
        assert!(r.headers().get("strict-transport-security").is_none());
        assert!(
            cookies(r).iter().all(|c| !c.contains("Secure")),
            "{:?}",
            cookies(r)
        );
    }

    // The same app served by the TLS listener.
    let cert =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap();
    let acceptor = avb_server::listen::tls_acceptor(
        cert.cert.pem().as_bytes(),
        cert.signing_key.serialize_pem().as_bytes(),
    )
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tls_base = format!("https://{}", listener.local_addr().unwrap());
    let routes = avb_server::app(app.ctx.clone());
    let (_stop, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(avb_server::listen::serve_tls(
        listener, acceptor, routes, stop_rx,
    ));
    let https = no_redirects()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let (page, res) = form_login(&https, &tls_base, &email).await;
    for r in [&page, &res] {
        assert_eq!(r.headers()["strict-transport-security"], "max-age=31536000");
        let set = cookies(r);
        assert!(
            !set.is_empty() && set.iter().all(|c| c.ends_with("; Secure")),
            "{set:?}"
        );
    }
    assert!(cookies(&res).iter().any(|c| c.starts_with("avb_session=")));
    let res = https
        .get(format!("{tls_base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.headers()["strict-transport-security"],
        "max-age=31536000"
    );

    // Plain HTTP behind a TLS-terminating proxy: the public URL says https.
    let app = avb_testkit::spawn_app_with(Db::Sqlite, |c| {
        c.server.public_url = Some("https://voice.example.com".into());
    })
    .await;
    let t = app.create_tenant("Proxied Co").await;
    let email = app
        .create_user(Some(t), "tenant_owner", "o@proxied.test")
        .await;
    let (page, res) = form_login(&http, &app.base, &email).await;
    for r in [&page, &res] {
        assert!(r.headers().get("strict-transport-security").is_some());
        let set = cookies(r);
        assert!(
            !set.is_empty() && set.iter().all(|c| c.ends_with("; Secure")),
            "{set:?}"
        );
    }
}

/// `/setup` (form, its errors, a refused post) has the portal pages' security headers: a
/// strict CSP that forbids framing and admits only the page's own style, X-Frame-Options,
/// nosniff and no-store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_page_has_the_security_headers() {
    let app = spawn_app(Db::Sqlite).await;
    let http = reqwest::Client::new();
    let answers = [
        http.get(format!("{}/setup?token=abc", app.base)),
        http.get(format!("{}/setup", app.base)),
        http.post(format!("{}/setup", app.base)).form(&[
            ("token", "wrong"),
            ("email", "a@b.test"),
            ("name", "A"),
            ("password", "Test-Password-42"),
        ]),
    ];
    for (i, req) in answers.into_iter().enumerate() {
        let res = req.send().await.unwrap();
        let h = res.headers();
        let csp = h
            .get("content-security-policy")
            .unwrap_or_else(|| panic!("answer {i} has no CSP"))
            .to_str()
            .unwrap();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("default-src 'none'")
                && csp.contains("style-src 'sha256-")
                && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        assert_eq!(h["x-frame-options"], "DENY");
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(h["cache-control"], "no-store");
    }
}
