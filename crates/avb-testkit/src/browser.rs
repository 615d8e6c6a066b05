//! A scripted browser for portal tests: no redirects followed, cookies passed by hand, HTML
//! read as text.

use crate::{PASSWORD, TestApp};
use reqwest::StatusCode;

/// A browser: no redirects followed, cookies handled by hand.
pub struct Browser {
    http: reqwest::Client,
    base: String,
}

impl Browser {
    /// A browser for `app`.
    pub fn new(app: &TestApp) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: app.base.clone(),
        }
    }

    /// GET with a cookie header.
    pub async fn get(&self, path: &str, cookie: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .send()
            .await
            .unwrap()
    }

    /// POST a form with a cookie header.
    pub async fn post(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("cookie", cookie)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// Opens the login page and returns its CSRF token (also set as a cookie).
    pub async fn login_csrf(&self) -> String {
        let res = self.get("/login", "").await;
        let cookie = set_cookie(&res, "avb_login_csrf").unwrap();
        let html = res.text().await.unwrap();
        assert_eq!(field(&html, "csrf"), cookie);
        cookie
    }

    /// Signs in; returns the session cookie value.
    pub async fn sign_in(&self, email: &str) -> String {
        let csrf = self.login_csrf().await;
        let res = self
            .post(
                "/login",
                &format!("avb_login_csrf={csrf}"),
                &[("email", email), ("password", PASSWORD), ("csrf", &csrf)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()["location"], "/dashboard");
        set_cookie(&res, "avb_session").unwrap()
    }
}

/// The value a response sets for cookie `name` (checking its flags).
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| {
            assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax"), "{c}");
            c[name.len() + 1..].split(';').next().unwrap().to_string()
        })
}

/// The value of the hidden input `name` in a form.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).unwrap() + marker.len();
    html[start..].split('"').next().unwrap().to_string()
}

impl Browser {
    /// Signs in and returns the `Cookie` header value of the session.
    pub async fn session(&self, email: &str) -> String {
        format!("avb_session={}", self.sign_in(email).await)
    }

    /// GETs a page expecting 200 and returns its HTML.
    pub async fn page(&self, path: &str, cookie: &str) -> String {
        let res = self.get(path, cookie).await;
        let status = res.status();
        let html = res.text().await.unwrap();
        assert_eq!(status, StatusCode::OK, "{path}: {html}");
        html
    }

    /// POSTs a form expecting a redirect; returns where to.
    pub async fn submit(&self, path: &str, cookie: &str, form: &[(&str, &str)]) -> String {
        let res = self.post(path, cookie, form).await;
        let status = res.status();
        let location = res
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let body = res.text().await.unwrap();
        assert_eq!(status, StatusCode::SEE_OTHER, "{path}: {body}");
        location.unwrap()
    }
}

/// The first `href` starting with `prefix` (entities decoded).
pub fn link(html: &str, prefix: &str) -> String {
    let marker = format!("href=\"{prefix}");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no link {prefix} in {html}"))
        + 6;
    html[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&")
}
