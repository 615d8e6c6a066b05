//! Identity: lockout, TOTP, refresh rotation, password reset, login history, Keycloak tokens
//! against a local JWKS, and key revocation across replicas through Redis.
#![allow(clippy::unwrap_used)]

use avb_testkit::{Db, PASSWORD, TestApp, spawn_app, spawn_app_with, spawn_on};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn login(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.call(Method::POST, "/api/v1/auth/token", None, Some(body))
        .await
}

fn mailed_token(body: &str) -> String {
    body.lines()
        .find_map(|l| l.strip_prefix("Token: "))
        .unwrap()
        .to_string()
}

/// The code of the next 30 s step (the server accepts one step of skew).
fn next_code(totp: &totp_rs::TOTP) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    totp.generate(now + 30)
}

fn totp_of(secret: &str) -> totp_rs::TOTP {
    totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        totp_rs::Secret::Encoded(secret.to_string())
            .to_bytes()
            .unwrap(),
        None,
        "x".into(),
    )
    .unwrap()
}

async fn last_mail(app: &TestApp, to: &str) -> String {
    let scope = avb_core::Scope::local_operator(None);
    let page = avb_core::services::users::outbox(
        &app.ctx,
        &scope,
        Some(to),
        avb_core::PageRequest::default(),
    )
    .await
    .unwrap();
    page.items[0].body.clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lockout_after_repeated_failures_and_history_is_kept() {
    let app = spawn_app_with(Db::Sqlite, |c| c.identity.lockout_threshold = 3).await;
    let t = app.create_tenant("Lock").await;
    app.create_user(Some(t), "viewer", "v@lock.io").await;
    for _ in 0..2 {
        let (s, p) = login(
            &app,
            json!({"email": "v@lock.io", "password": "Wrong-Password-1"}),
        )
        .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
    }
    let (s, p) = login(
        &app,
        json!({"email": "v@lock.io", "password": "Wrong-Password-1"}),
    )
    .await;
    // The attempt that locks answers like any failure...
    assert_eq!(
        (s, p["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid e-mail or password")),
        "{p}"
    );
    // ...and a locked account answers exactly like an unknown address (no 423 telling an
    // attacker the account exists), even to the right password.
    let (locked_status, locked) =
        login(&app, json!({"email": "v@lock.io", "password": PASSWORD})).await;
    let (unknown_status, unknown) = login(
        &app,
        json!({"email": "nobody@lock.io", "password": PASSWORD}),
    )
    .await;
    assert_eq!(locked_status, StatusCode::UNAUTHORIZED, "{locked}");
    assert_eq!((locked_status, &locked), (unknown_status, &unknown));
    // The real owner is told by e-mail.
    let mail = last_mail(&app, "v@lock.io").await;
    assert!(
        mail.contains("locked after 3 failed sign-in attempts"),
        "{mail}"
    );

    // The operator resets the lock by resetting the password; the history shows every attempt.
    app.raw_sql("UPDATE users SET locked_until = NULL WHERE email = 'v@lock.io'")
        .await
        .unwrap();
    let token = app.login("v@lock.io").await;
    let (_, history) = app.get("/api/v1/me/logins", &token).await;
    let rows = history["data"].as_array().unwrap();
    assert_eq!(rows.len(), 5);
    assert_eq!(rows[0]["success"], true);
    assert_eq!(
        rows.iter()
            .filter(|r| r["reason"] == "bad_password")
            .count(),
        3
    );
    assert_eq!(rows.iter().filter(|r| r["reason"] == "locked").count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_refresh_logout_and_password_flows() {
    let app = spawn_app(Db::Sqlite).await;
    let t = app.create_tenant("Totp").await;
    app.create_user(Some(t), "developer", "d@totp.io").await;
    let token = app.login("d@totp.io").await;

    // Enrol TOTP.
    let (s, setup) = app.post("/api/v1/me/totp", &token, json!({})).await;
    assert_eq!(s, StatusCode::OK);
    let secret = setup["secret"].as_str().unwrap().to_string();
    assert!(
        setup["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/")
    );
    let totp = totp_rs::TOTP::new(
        totp_rs::Algorithm::SHA1,
        6,
        1,
        30,
        totp_rs::Secret::Encoded(secret.clone()).to_bytes().unwrap(),
        None,
        "x".into(),
    )
    .unwrap();
    let (s, _) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            json!({"secret": secret, "code": "000000", "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            json!({"secret": secret, "code": totp.generate_current().unwrap(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = login(&app, json!({"email": "d@totp.io", "password": PASSWORD})).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required"))
    );
    // The enrolment's code is spent: sign in with the next one.
    let (s, pair) = login(
        &app,
        json!({"email": "d@totp.io", "password": PASSWORD, "totp": next_code(&totp)}),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{pair}");

    // Refresh rotates; the old refresh token stops working.
    let refresh = pair["refresh_token"].as_str().unwrap().to_string();
    let (s, next) = app
        .post_anon("/api/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(s, StatusCode::OK, "{next}");
    let (s, _) = app
        .post_anon("/api/v1/auth/refresh", json!({"refresh_token": refresh}))
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let access = next["access_token"].as_str().unwrap().to_string();
    assert_eq!(app.get("/api/v1/me", &access).await.0, StatusCode::OK);

    // Password change checks the current password and the policy.
    let (s, p) = app
        .post(
            "/api/v1/me/password",
            &access,
            json!({"current_password": "nope", "new_password": "Another-Pass-77"}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_password"))
    );
    let (s, p) = app
        .post(
            "/api/v1/me/password",
            &access,
            json!({"current_password": PASSWORD, "new_password": "short"}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );

    // Password reset by mailed token ends every session.
    let (s, _) = app
        .post_anon("/api/v1/auth/password-reset", json!({"email": "d@totp.io"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/password-reset",
            json!({"email": "ghost@totp.io"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "unknown addresses look the same");
    let reset = mailed_token(&last_mail(&app, "d@totp.io").await);
    let confirm = |pw: &str| json!({"token": reset, "password": pw});
    let (s, _) = app
        .post_anon("/api/v1/auth/password-reset/confirm", confirm("weak"))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, body) = app
        .post_anon(
            "/api/v1/auth/password-reset/confirm",
            confirm("Brand-New-Pass-9"),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{body}");
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/password-reset/confirm",
            confirm("Brand-New-Pass-10"),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a reset token works once"
    );
    assert_eq!(
        app.get("/api/v1/me", &access).await.0,
        StatusCode::UNAUTHORIZED,
        "sessions ended by the reset"
    );
    // The new password is right (the second factor is still asked for).
    let (s, p) = login(
        &app,
        json!({"email": "d@totp.io", "password": "Brand-New-Pass-9"}),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required"))
    );
}

/// Keycloak: tokens signed by a realm key served from a local JWKS endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keycloak_tokens_are_verified_against_the_realm_jwks() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    use p256::pkcs8::EncodePrivateKey;

    let secret = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let jwk: Value = serde_json::from_str(&secret.public_key().to_jwk_string()).unwrap();
    let mut jwk = jwk;
    jwk["kid"] = json!("realm-key-1");
    jwk["alg"] = json!("ES256");
    jwk["use"] = json!("sig");
    let jwks = json!({"keys": [jwk]});
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    let router = axum::Router::new().route(
        "/realms/avb/protocol/openid-connect/certs",
        axum::routing::get(move || {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let body = jwks.clone();
            async move { axum::Json(body) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}/realms/avb", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });

    let iss = issuer.clone();
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.identity.provider = avb_core::config::IdentityProvider::Keycloak;
        c.keycloak.issuer = Some(iss);
    })
    .await;
    let tenant = app.create_tenant("Realm").await;
    let key = EncodingKey::from_ec_der(secret.to_pkcs8_der().unwrap().as_bytes());
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("realm-key-1".into());
    let now = chrono::Utc::now().timestamp();
    let sign = |claims: Value| jsonwebtoken::encode(&header, &claims, &key).unwrap();
    let base = json!({"iss": issuer, "aud": "avb-api", "sub": "kc-user-1", "email": "kc@realm.io", "iat": now, "exp": now + 300,
                      "realm_access": {"roles": ["developer", "offline_access"]}, "tenant_id": tenant.to_string()});

    let good = sign(base.clone());
    let (s, me) = app.get("/api/v1/me", &good).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    assert_eq!(
        (me["actor_type"].as_str(), me["role"].as_str()),
        (Some("external_user"), Some("developer"))
    );
    assert_eq!(me["email"], "kc@realm.io");
    // Disabled in Keycloak: its already-issued token is refused here at once, then accepted again.
    use avb_core::services::revocation::Revocation;
    app.ctx
        .revocations
        .revoke(None, vec![Revocation::ExternalSubject("kc-user-1".into())])
        .await;
    assert_eq!(
        app.get("/api/v1/me", &good).await.0,
        StatusCode::UNAUTHORIZED
    );
    app.ctx
        .revocations
        .revoke(
            None,
            vec![Revocation::ExternalSubjectRestored("kc-user-1".into())],
        )
        .await;
    assert_eq!(app.get("/api/v1/me", &good).await.0, StatusCode::OK);
    let (s, _) = app
        .post(
            "/api/v1/projects",
            &good,
            json!({"name": "kc", "environment": "development"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        app.get("/api/v1/audit", &good).await.0,
        StatusCode::FORBIDDEN,
        "developer lacks audit:view"
    );

    let mut wrong_aud = base.clone();
    wrong_aud["aud"] = json!("someone-else");
    let mut wrong_iss = base.clone();
    wrong_iss["iss"] = json!("http://evil/realms/avb");
    let mut expired = base.clone();
    expired["exp"] = json!(now - 600);
    let mut other_tenant = base.clone();
    other_tenant["tenant_id"] = json!(uuid::Uuid::now_v7().to_string());
    for (what, claims) in [
        ("audience", wrong_aud),
        ("issuer", wrong_iss),
        ("expiry", expired),
        ("tenant", other_tenant),
    ] {
        let (s, p) = app.get("/api/v1/me", &sign(claims)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what}: {p}");
    }
    // A token signed by another key with the same kid fails the signature check.
    let impostor = p256::SecretKey::random(&mut rand::rngs::OsRng);
    let bad_key = EncodingKey::from_ec_der(impostor.to_pkcs8_der().unwrap().as_bytes());
    let forged = jsonwebtoken::encode(&header, &base, &bad_key).unwrap();
    assert_eq!(
        app.get("/api/v1/me", &forged).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Keys are cached: a handful of requests fetched the JWKS once (plus at most one refetch
    // for the unknown-kid path, which is rate limited).
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) <= 2);
    // Password login is not offered when Keycloak is the provider.
    let (s, _) = login(&app, json!({"email": "x@y.io", "password": PASSWORD})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Two replicas share PostgreSQL and Redis: a revocation on one is honoured by the other at
/// once, although the other had the key cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revocation_reaches_other_replicas_through_redis() {
    let redis = avb_testkit::redis_url();
    let r1 = redis.clone();
    let one = spawn_app_with(Db::Postgres, move |c| {
        c.redis.url = Some(avb_core::Secret::new(r1));
        c.api_keys.cache_ttl_secs = 3600;
    })
    .await;
    let r2 = redis.clone();
    let two = spawn_on(&one.database_url, None, move |c| {
        c.redis.url = Some(avb_core::Secret::new(r2));
        c.api_keys.cache_ttl_secs = 3600;
        c.identity.session_cache_secs = 3600;
    })
    .await;
    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(two.ctx.revocations.clone().listen(Some(ready_tx)));
    ready_rx.await.unwrap();

    let (_, owner) = one.tenant_with_owner("Replicas").await;
    let (_, key) = one
        .post("/api/v1/api-keys", &owner, json!({"name": "shared"}))
        .await;
    let secret = key["secret"].as_str().unwrap().to_string();
    assert_eq!(
        two.get("/api/v1/me", &secret).await.0,
        StatusCode::OK,
        "replica two caches the key"
    );
    let kid = key["id"].as_str().unwrap();
    let (s, _) = one
        .post(&format!("/api/v1/api-keys/{kid}/revoke"), &owner, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let (s, _) = two.get("/api/v1/me", &secret).await;
        if s == StatusCode::UNAUTHORIZED {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "replica two still accepts the revoked key"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// A minimal SMTP server: accepts one session and returns the DATA it received.
pub(crate) async fn smtp_sink() -> (u16, tokio::sync::oneshot::Receiver<String>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut tx = Some(tx);
    tokio::spawn(async move {
        let (sock, _) = listener.accept().await.unwrap();
        let (read, mut write) = sock.into_split();
        let mut lines = BufReader::new(read).lines();
        write.write_all(b"220 sink ESMTP\r\n").await.unwrap();
        let mut data = String::new();
        let mut in_data = false;
        while let Ok(Some(line)) = lines.next_line().await {
            if in_data {
                if line == "." {
                    in_data = false;
                    write.write_all(b"250 queued\r\n").await.unwrap();
                    // The client pools its connection, so report the message now.
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(std::mem::take(&mut data));
                    }
                } else {
                    data.push_str(&line);
                    data.push('\n');
                }
                continue;
            }
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_uppercase();
            let reply: &[u8] = match verb.as_str() {
                "EHLO" | "HELO" => b"250 sink\r\n",
                "DATA" => {
                    in_data = true;
                    b"354 go ahead\r\n"
                }
                "QUIT" => {
                    write.write_all(b"221 bye\r\n").await.unwrap();
                    break;
                }
                _ => b"250 ok\r\n",
            };
            write.write_all(reply).await.unwrap();
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_mail_is_delivered_over_smtp_when_configured() {
    let (port, received) = smtp_sink().await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.smtp.host = Some("127.0.0.1".into());
        c.smtp.port = port;
        c.smtp.starttls = false;
    })
    .await;
    let t = app.create_tenant("Mail").await;
    app.create_user(Some(t), "viewer", "m@mail.io").await;
    let (s, _) = app
        .post_anon("/api/v1/auth/password-reset", json!({"email": "m@mail.io"}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let sent = app.ctx.mailer.deliver_due(&app.ctx.store).await.unwrap();
    assert_eq!(sent, 1);
    let data = tokio::time::timeout(std::time::Duration::from_secs(10), received)
        .await
        .unwrap()
        .unwrap();
    assert!(
        data.contains("Subject: Reset your AgentVoiceBox password"),
        "{data}"
    );
    assert!(data.contains("Token: "), "{data}");
    let scope = avb_core::Scope::local_operator(None);
    let outbox = avb_core::services::users::outbox(
        &app.ctx,
        &scope,
        Some("m@mail.io"),
        avb_core::PageRequest::default(),
    )
    .await
    .unwrap();
    assert_eq!(outbox.items[0].status.as_str(), "sent");
    assert_eq!(
        app.ctx.mailer.deliver_due(&app.ctx.store).await.unwrap(),
        0,
        "sent mail is not sent twice"
    );
}

/// Finding 4: a password change ends every other session of the user (access tokens, refresh
/// tokens, portal cookies); the session that changed it keeps working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_change_ends_every_other_session() {
    let app = spawn_app(Db::Sqlite).await;
    let t = app.create_tenant("Pw").await;
    app.create_user(Some(t), "tenant_owner", "d@pw.io").await;
    let mine = app.login_full("d@pw.io").await;
    let other = app.login_full("d@pw.io").await;
    let browser = avb_testkit::browser::Browser::new(&app);
    let portal = browser.session("d@pw.io").await;
    assert_eq!(
        browser.get("/account", &portal).await.status(),
        StatusCode::OK
    );
    let access = mine["access_token"].as_str().unwrap();
    let (s, p) = app
        .post(
            "/api/v1/me/password",
            access,
            json!({"current_password": PASSWORD, "new_password": "Another-Pass-77"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{p}");
    assert_eq!(app.get("/api/v1/me", access).await.0, StatusCode::OK);
    assert_eq!(
        app.get("/api/v1/me", other["access_token"].as_str().unwrap())
            .await
            .0,
        StatusCode::UNAUTHORIZED,
        "the other access token is dead"
    );
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/refresh",
            json!({"refresh_token": other["refresh_token"]}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "the other refresh token is dead"
    );
    let res = browser.get("/account", &portal).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the portal cookie is dead"
    );
    // The caller's own refresh token still works.
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/refresh",
            json!({"refresh_token": mine["refresh_token"]}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, audit) = app
        .call(
            Method::GET,
            "/api/v1/audit?action=user.password_change",
            Some(access),
            None,
        )
        .await;
    assert_eq!(audit["data"][0]["summary"]["sessions_ended"], 2, "{audit}");
}

/// Finding 5: replacing or turning off the second factor needs the password and a current code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_replace_and_disable_need_password_and_current_code() {
    let app = spawn_app(Db::Sqlite).await;
    let t = app.create_tenant("Factor").await;
    app.create_user(Some(t), "tenant_owner", "d@factor.io")
        .await;
    let token = app.login("d@factor.io").await;
    let enrol = |secret: &str, code: String, extra: Value| {
        let mut body = json!({"secret": secret, "code": code});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let (_, setup) = app.post("/api/v1/me/totp", &token, json!({})).await;
    let first = setup["secret"].as_str().unwrap().to_string();
    let first_totp = totp_of(&first);
    // An access token alone no longer turns it on.
    let (s, _) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            enrol(&first, first_totp.generate_current().unwrap(), json!({})),
        )
        .await;
    assert!(s.is_client_error(), "{s}");
    let (s, p) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            enrol(
                &first,
                first_totp.generate_current().unwrap(),
                json!({"password": "Wrong-Password-1"}),
            ),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let (s, p) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            enrol(
                &first,
                first_totp.generate_current().unwrap(),
                json!({"password": PASSWORD}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{p}");

    // Replacing: the password alone is not enough while TOTP is on.
    let (_, setup) = app.post("/api/v1/me/totp", &token, json!({})).await;
    let second = setup["secret"].as_str().unwrap().to_string();
    let second_code = totp_of(&second).generate_current().unwrap();
    let (s, p) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            enrol(&second, second_code.clone(), json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_code")),
        "{p}"
    );
    let (s, p) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            enrol(
                &second,
                second_code.clone(),
                json!({"password": PASSWORD, "current_code": "000000"}),
            ),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_code")),
        "{p}"
    );
    let (s, p) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            enrol(
                &second,
                second_code,
                json!({"password": PASSWORD, "current_code": next_code(&first_totp)}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{p}");

    // Turning it off: password and a current code of the authenticator in use.
    let second_totp = totp_of(&second);
    let (s, p) = app
        .post(
            "/api/v1/me/totp/disable",
            &token,
            json!({"password": PASSWORD, "current_code": next_code(&first_totp)}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("current_code")),
        "the replaced authenticator no longer counts: {p}"
    );
    let (s, p) = app
        .post(
            "/api/v1/me/totp/disable",
            &token,
            json!({"password": "Wrong-Password-1", "current_code": next_code(&second_totp)}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let (s, p) = app
        .post(
            "/api/v1/me/totp/disable",
            &token,
            json!({"password": PASSWORD, "current_code": next_code(&second_totp)}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{p}");
    let (s, _) = login(&app, json!({"email": "d@factor.io", "password": PASSWORD})).await;
    assert_eq!(s, StatusCode::OK, "no second factor any more");
    let (_, audit) = app.get("/api/v1/audit?limit=50", &token).await;
    let actions = audit.to_string();
    for a in ["user.totp_enable", "user.totp_replace", "user.totp_disable"] {
        assert!(actions.contains(a), "{a} audited");
    }
}

/// Finding 6a: a TOTP code signs in once; the same code again in its window is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_code_is_accepted_once() {
    let app = spawn_app(Db::Sqlite).await;
    let t = app.create_tenant("Replay").await;
    app.create_user(Some(t), "developer", "d@replay.io").await;
    let token = app.login("d@replay.io").await;
    let (_, setup) = app.post("/api/v1/me/totp", &token, json!({})).await;
    let secret = setup["secret"].as_str().unwrap().to_string();
    let totp = totp_of(&secret);
    let (s, _) = app
        .post(
            "/api/v1/me/totp/enable",
            &token,
            json!({"secret": secret, "code": totp.generate_current().unwrap(), "password": PASSWORD}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let code = next_code(&totp);
    let body = json!({"email": "d@replay.io", "password": PASSWORD, "totp": code});
    let (s, p) = login(&app, body.clone()).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, p) = login(&app, body).await;
    assert_eq!(
        (s, p["detail"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid TOTP code")),
        "a replayed code is refused"
    );
}

/// Finding 6b: using one reset link voids every other outstanding link of the user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_reset_link_voids_the_older_ones() {
    let app = spawn_app(Db::Sqlite).await;
    let t = app.create_tenant("Links").await;
    app.create_user(Some(t), "developer", "d@links.io").await;
    let mut tokens = Vec::new();
    for _ in 0..2 {
        let (s, _) = app
            .post_anon(
                "/api/v1/auth/password-reset",
                json!({"email": "d@links.io"}),
            )
            .await;
        assert_eq!(s, StatusCode::ACCEPTED);
        tokens.push(mailed_token(&last_mail(&app, "d@links.io").await));
    }
    assert_ne!(tokens[0], tokens[1]);
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": tokens[1], "password": "Brand-New-Pass-9"}),
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, p) = app
        .post_anon(
            "/api/v1/auth/password-reset/confirm",
            json!({"token": tokens[0], "password": "Attacker-Pass-99"}),
        )
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("token")),
        "the older link died with the newer one: {p}"
    );
}

/// A reset link refused for a weak password stays usable, and of two concurrent uses of one
/// link exactly one succeeds (the link was read, then written, so both could win).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reset_link_is_used_once_even_concurrently() {
    let app = spawn_app(Db::Postgres).await;
    let t = app.create_tenant("Races").await;
    app.create_user(Some(t), "developer", "d@races.io").await;
    let (s, _) = app
        .post_anon(
            "/api/v1/auth/password-reset",
            json!({"email": "d@races.io"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let token = mailed_token(&last_mail(&app, "d@races.io").await);
    let confirm = |pw: &str| json!({"token": token, "password": pw});
    let (s, p) = app
        .post_anon("/api/v1/auth/password-reset/confirm", confirm("weak"))
        .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password"))
    );
    let attempts = (0..4).map(|i| {
        let body = confirm(&format!("Racing-Pass-{i}9x"));
        let app = &app;
        async move {
            app.post_anon("/api/v1/auth/password-reset/confirm", body)
                .await
                .0
        }
    });
    let statuses = futures::future::join_all(attempts).await;
    let won = statuses
        .iter()
        .filter(|s| **s == StatusCode::NO_CONTENT)
        .count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::NO_CONTENT || *s == StatusCode::UNPROCESSABLE_ENTITY),
        "{statuses:?}"
    );
}

/// Waits out the end of the current clock minute when less than `margin` seconds are left, so
/// that a burst of attempts falls into one limiter window.
async fn same_minute(margin: u64) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if 60 - secs % 60 < margin {
        tokio::time::sleep(std::time::Duration::from_secs(60 - secs % 60 + 1)).await;
    }
}

/// Finding 6d: 30 logins to 30 accounts from one address hit the per-address limit (the
/// production default), answered 429 problem+json with Retry-After; `X-Forwarded-For` from an
/// untrusted peer changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_attempts_are_throttled_per_address() {
    let defaults = avb_core::config::IdentityConfig::default();
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.identity.login_attempts_per_ip_per_minute = defaults.login_attempts_per_ip_per_minute;
        c.identity.login_attempts_per_network_per_minute =
            defaults.login_attempts_per_network_per_minute;
    })
    .await;
    assert!(defaults.login_attempts_per_ip_per_minute < 30);
    let t = app.create_tenant("Stuffing").await;
    for i in 0..30 {
        app.create_user(Some(t), "viewer", &format!("u{i}@stuffing.io"))
            .await;
    }
    same_minute(20).await;
    let mut refused = None;
    for i in 0..30 {
        let res = app
            .client
            .post(format!("{}/api/v1/auth/token", app.base))
            // Spoofed: the peer is not a trusted proxy, so this is ignored.
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .json(&json!({"email": format!("u{i}@stuffing.io"), "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        if res.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, res));
            break;
        }
        assert_eq!(res.status(), StatusCode::OK);
    }
    let (at, res) = refused.expect("30 logins from one address must be throttled");
    assert_eq!(at as u64, defaults.login_attempts_per_ip_per_minute);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let p: Value = res.json().await.unwrap();
    assert_eq!(p["code"], "rate_limited");
}

/// Finding 6d: behind a trusted proxy the client is the forwarded address; its /24 shares one
/// budget; with Redis the budget is shared by every replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_throttle_trusts_proxies_and_is_shared_through_redis() {
    let tweak = |c: &mut avb_core::config::Config| {
        c.redis.url = Some(avb_core::Secret::new(avb_testkit::redis_url()));
        c.server.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.identity.login_attempts_per_ip_per_minute = 20;
        c.identity.login_attempts_per_network_per_minute = 30;
    };
    let a = spawn_app_with(Db::Postgres, tweak).await;
    let b = spawn_on(&a.database_url, None, tweak).await;
    // A network of our own (random 10.x.y.0/24) so parallel tests cannot share its budget.
    let net = format!(
        "10.{}.{}",
        uuid::Uuid::now_v7().as_bytes()[15],
        uuid::Uuid::now_v7().as_bytes()[14]
    );
    let attempt = |app: &TestApp, host: u8| {
        let req = app
            .client
            .post(format!("{}/api/v1/auth/token", app.base))
            .header("x-forwarded-for", format!("203.0.113.250, {net}.{host}"))
            .json(&json!({"email": "nobody@throttle.io", "password": PASSWORD}));
        async move { req.send().await.unwrap().status() }
    };
    same_minute(20).await;
    // One address: 10 on each replica, then both refuse.
    for _ in 0..10 {
        assert_eq!(attempt(&a, 1).await, StatusCode::UNAUTHORIZED);
        assert_eq!(attempt(&b, 1).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(&a, 1).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt(&b, 1).await, StatusCode::TOO_MANY_REQUESTS);
    // Another address of the same /24: its own address budget, but the network's is 30.
    for _ in 0..10 {
        assert_eq!(attempt(&b, 2).await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt(&a, 3).await, StatusCode::TOO_MANY_REQUESTS);
    // Another network is unaffected.
    let other = a
        .client
        .post(format!("{}/api/v1/auth/token", a.base))
        .header("x-forwarded-for", format!("{net}.9, 192.0.2.77"))
        .json(&json!({"email": "nobody@throttle.io", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}
