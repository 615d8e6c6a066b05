//! The portal's one error type in process: a browser gets an error page (inside the shell when
//! signed in), an htmx request a fragment with an error toast (`HX-Trigger`) and a whole-page
//! redirect to sign in; the favicon is served hashed and linked from every page.
#![allow(clippy::unwrap_used)]

use avb_testkit::browser::Browser;
use avb_testkit::{Db, spawn_app};
use reqwest::StatusCode;

/// A client that does not follow redirects, for requests with extra headers.
fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_pages_for_browsers_and_fragments_with_a_toast_for_htmx() {
    let app = spawn_app(Db::Sqlite).await;
    let tenant = app.create_tenant("Errors Co").await;
    app.create_user(Some(tenant), "tenant_admin", "admin@errors.test")
        .await;
    app.create_user(Some(tenant), "billing_admin", "billing@errors.test")
        .await;
    let browser = Browser::new(&app);
    let admin = format!("avb_session={}", browser.sign_in("admin@errors.test").await);
    let billing = format!(
        "avb_session={}",
        browser.sign_in("billing@errors.test").await
    );

    // A browser: the 404 is a page inside the shell (navigation, sign-out), naming what is missing.
    let res = browser.get("/sessions/not-a-session", &admin).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(res.headers().get("hx-trigger").is_none());
    let html = res.text().await.unwrap();
    assert!(html.contains("No such session."), "{html}");
    assert!(html.contains("id=\"main-nav\"") && html.contains("action=\"/logout\""));

    // htmx: the same error as a fragment (no shell to swap into a table) and an error toast.
    let res = client()
        .get(format!("{}/sessions/not-a-session/status", app.base))
        .header("cookie", &admin)
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let trigger: serde_json::Value =
        serde_json::from_str(res.headers()["hx-trigger"].to_str().unwrap()).unwrap();
    assert_eq!(trigger["toast"]["kind"], "error");
    assert_eq!(trigger["toast"]["message"], "No such session.");
    let html = res.text().await.unwrap();
    assert!(html.contains("No such session.") && html.contains("role=\"alert\""));
    assert!(
        !html.contains("<html") && !html.contains("main-nav"),
        "{html}"
    );

    // A missing permission: the 403 page names it; for htmx, the toast does.
    let res = browser.get("/settings", &billing).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let html = res.text().await.unwrap();
    assert!(html.contains("<code>settings:manage</code>") && html.contains("id=\"main-nav\""));
    let res = client()
        .get(format!("{}/sessions/table", app.base))
        .header("cookie", &billing)
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let toast = res.headers()["hx-trigger"].to_str().unwrap().to_string();
    assert!(toast.contains("sessions:view"), "{toast}");

    // A stale form: 403 page for the browser, toast for htmx.
    let res = browser
        .post("/projects", &admin, &[("name", "X"), ("csrf", "stale")])
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(res.text().await.unwrap().contains("The form expired."));

    // Signed out: a browser is redirected; htmx is told to load the login page as a whole.
    let res = browser.get("/sessions/table", "").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/login");
    let res = client()
        .get(format!("{}/sessions/table", app.base))
        .header("cookie", "avb_session=forged")
        .header("hx-request", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["hx-redirect"], "/login?expired=1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_links_a_hashed_favicon() {
    let app = spawn_app(Db::Sqlite).await;
    let browser = Browser::new(&app);
    let html = browser.get("/login", "").await.text().await.unwrap();
    let start = html
        .find("<link rel=\"icon\" type=\"image/svg+xml\" href=\"")
        .expect("the layout links a favicon");
    let href = html[start..].split('"').nth(5).unwrap().to_string();
    assert!(
        href.starts_with("/assets/favicon-") && href.ends_with(".svg"),
        "{href}"
    );
    let res = browser.get(&href, "").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/svg+xml");
    assert!(
        res.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("immutable")
    );
    assert!(res.text().await.unwrap().starts_with("<svg"));
}
