//! Test helpers: [`spawn_app`] binds the real app on `127.0.0.1:0` against a fresh SQLite file or
//! a fresh PostgreSQL database, and [`TestApp`] drives it over HTTP.
#![allow(clippy::unwrap_used)]

pub mod browser;
pub mod clone_api;
pub mod lago;
pub mod solvers;
pub mod speech;
pub mod stripe;
pub mod ws;
use avb_core::config::Config;
use avb_core::services::{tenants, users};
use avb_core::{AppContext, Scope};
use avb_domain::TenantId;
pub use clone_api::{CloneApi, spawn_clone_api};
use reqwest::{Method, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::sync::oneshot;

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Server URL of the PostgreSQL used by tests (`TEST_POSTGRES_URL`, default local trust auth).
pub fn postgres_server_url() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Redis URL used by tests (`TEST_REDIS_URL`, default local).
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A fresh, empty database: returns its URL.
pub async fn fresh_database(db: Db) -> anyhow::Result<(String, Option<PathBuf>)> {
    let name = format!("avb_t_{}", uuid::Uuid::now_v7().simple());
    match db {
        Db::Sqlite => {
            let dir = std::env::temp_dir().join(&name);
            std::fs::create_dir_all(&dir)?;
            Ok((
                format!("sqlite://{}?mode=rwc", dir.join("avb.db").display()),
                Some(dir),
            ))
        }
        Db::Postgres => {
            let server = postgres_server_url();
            let admin = Database::connect(format!("{server}/postgres")).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.close().await?;
            Ok((format!("{server}/{name}"), None))
        }
    }
}

/// A running app.
pub struct TestApp {
    /// Base URL, e.g. `http://127.0.0.1:43123`.
    pub base: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// The app's context (for operator set-up through services).
    pub ctx: AppContext,
    /// The database URL.
    pub database_url: String,
    /// HTTP client.
    pub client: reqwest::Client,
    dir: Option<PathBuf>,
    stop: Option<oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(d) = &self.dir {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

/// Spawns the app on a fresh database with default configuration.
pub async fn spawn_app(db: Db) -> TestApp {
    spawn_app_with(db, |_| {}).await
}

/// Spawns the app on a fresh database after `tweak` adjusts the configuration.
pub async fn spawn_app_with(db: Db, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (url, dir) = fresh_database(db).await.expect("create test database");
    spawn_on(&url, dir, tweak).await
}

/// Spawns another replica on an existing database.
pub async fn spawn_on(url: &str, dir: Option<PathBuf>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = Config::default();
    config.database.url = Some(avb_core::Secret::new(url));
    config.database.max_connections = 8;
    config.server.data_dir = dir.clone().unwrap_or_else(std::env::temp_dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    config.server.public_url = Some(format!("http://{addr}"));
    // Every test signs in from 127.0.0.1, and tests with Redis share its counters across
    // processes: the login limiter's production budgets are set again by the tests of it.
    config.identity.login_attempts_per_ip_per_minute = 100_000;
    config.identity.login_attempts_per_network_per_minute = 100_000;
    tweak(&mut config);
    let ctx = AppContext::init(config).await.expect("init app");
    let (tx, rx) = oneshot::channel::<()>();
    let serve_ctx = ctx.clone();
    // The background jobs production runs (key usage, webhook outbox...), stopped with the app.
    let (jobs_stop, jobs_rx) = tokio::sync::watch::channel(false);
    let _jobs = avb_worker::spawn(ctx.clone(), jobs_rx);
    tokio::spawn(async move {
        let app = avb_server::app(serve_ctx);
        let _ = avb_server::listen::serve(listener, app, async move {
            let _ = rx.await;
        })
        .await;
        let _ = jobs_stop.send(true);
    });
    TestApp {
        base: format!("http://{addr}"),
        addr,
        ctx,
        database_url: url.to_string(),
        client: reqwest::Client::new(),
        dir,
        stop: Some(tx),
    }
}

/// `name` as a DNS label for test addresses: lower-case letters and digits, other runs as `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let out = out.trim_matches('-');
    if out.is_empty() {
        "t".into()
    } else {
        out.to_string()
    }
}

/// The password every test user gets (meets the policy).
pub const PASSWORD: &str = "Test-Password-42";

impl TestApp {
    /// Sends a request with an optional bearer token and JSON body; returns status and JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{}", self.base, path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let text = res.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// GET.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// POST with a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// POST with a JSON body and no credentials (login, password reset, invitations).
    pub async fn post_anon(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// Creates a tenant as the operator.
    pub async fn create_tenant(&self, name: &str) -> TenantId {
        let input = tenants::NewTenantInput {
            name: name.into(),
            billing_email: format!("billing@{}.example.com", slug(name)),
            plan: None,
            timezone: None,
        };
        tenants::create(&self.ctx, &Scope::local_operator(None), input)
            .await
            .expect("create tenant")
            .id
    }

    /// Creates a user with `role` in `tenant` (or a SaaS admin when `tenant` is `None`); returns the e-mail.
    pub async fn create_user(&self, tenant: Option<TenantId>, role: &str, email: &str) -> String {
        let input = users::NewUserInput {
            email: email.into(),
            name: format!("User {email}"),
            password: PASSWORD.into(),
            tenant: tenant.map(|t| (t, role.to_string())),
            saas_admin: tenant.is_none(),
        };
        users::create(&self.ctx, &Scope::local_operator(None), input)
            .await
            .expect("create user");
        email.to_string()
    }

    /// Logs in and returns the full token response.
    pub async fn login_full(&self, email: &str) -> Value {
        let (status, body) = self
            .call(
                Method::POST,
                "/api/v1/auth/token",
                None,
                Some(serde_json::json!({"email": email, "password": PASSWORD})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {email}: {body}");
        body
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, email: &str) -> String {
        self.login_full(email).await["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// A tenant with an owner; returns the tenant and the owner's access token.
    pub async fn tenant_with_owner(&self, name: &str) -> (TenantId, String) {
        let t = self.create_tenant(name).await;
        let email = format!(
            "owner-{}@{}.example.com",
            uuid::Uuid::now_v7().simple(),
            slug(name)
        );
        self.create_user(Some(t), "tenant_owner", &email).await;
        (t, self.login(&email).await)
    }

    /// Runs raw SQL against the app's database (tests only: tampering, RLS checks).
    pub async fn raw_sql(&self, sql: &str) -> anyhow::Result<u64> {
        let db = Database::connect(&self.database_url).await?;
        let res = db.execute_unprepared(sql).await?;
        db.close().await?;
        Ok(res.rows_affected())
    }
}

/// Generates one test per backend: `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)($crate::Db::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)($crate::Db::Postgres).await
            }
        }
    };
}
