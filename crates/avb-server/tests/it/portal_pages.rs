//! The tenant and user portal pages in process (asserting on HTML): sessions (filters, live
//! status, detail with conversation and waterfall, ending, CSV), usage (chart, breakdown, CSV),
//! team (invite, role change, removal, invitations, plan limit), the personal account (password,
//! TOTP with QR, login history, other sessions) and settings with real webhook deliveries.
#![allow(clippy::unwrap_used)]

use avb_core::services::{sessions, usage};
use avb_core::{RequestMeta, Scope};
use avb_testkit::browser::{Browser, field, link};
use avb_testkit::{Db, PASSWORD, both_backends, spawn_app, spawn_app_with, ws};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A tenant with an owner and a viewer; returns (tenant, owner token, owner email, viewer email).
async fn new_tenant(
    app: &avb_testkit::TestApp,
    name: &str,
) -> (avb_domain::TenantId, String, String, String) {
    let t = app.create_tenant(name).await;
    let slug = name.to_lowercase().replace(' ', "-");
    let owner = app
        .create_user(Some(t), "tenant_owner", &format!("owner@{slug}.test"))
        .await;
    let viewer = app
        .create_user(Some(t), "viewer", &format!("viewer@{slug}.test"))
        .await;
    let token = app.login(&owner).await;
    (t, token, owner, viewer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_list_filters_detail_end_and_export() {
    let app = spawn_app(Db::Sqlite).await;
    let (tenant, token, owner, viewer) = new_tenant(&app, "Calls Co").await;
    let (_, project) = app
        .post(
            "/api/v1/projects",
            &token,
            json!({"name": "Hotline", "environment": "production"}),
        )
        .await;
    let project_id = project["id"].as_str().unwrap().to_string();
    let (s, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "kiosk", "scopes": ["realtime"], "project_id": project_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    let secret = key["secret"].as_str().unwrap().to_string();
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;

    // Empty state first.
    let html = browser.page("/sessions", &cookie).await;
    assert!(html.contains("No sessions yet."), "{html}");

    // A live session over the real gateway.
    let mut live = ws::open_session(&app, &secret).await;
    let html = browser.page("/sessions", &cookie).await;
    assert!(html.contains("badge-active") && html.contains("kiosk") && html.contains("Hotline"));
    assert!(
        html.contains("hx-trigger=\"every 5s"),
        "the list refreshes itself"
    );
    let detail = link(&html, "/sessions/0");
    let id = detail.trim_start_matches("/sessions/").to_string();

    // Conversation and timings recorded by the gateway show on the detail page.
    let sid: avb_domain::SessionId = id.parse().unwrap();
    sessions::record_item(
        &app.ctx,
        tenant,
        sid,
        "item_1",
        "message",
        "user",
        "Where is <my> order?",
    )
    .await
    .unwrap();
    sessions::record_item(
        &app.ctx,
        tenant,
        sid,
        "item_2",
        "message",
        "assistant",
        "It ships today.",
    )
    .await
    .unwrap();
    let times = sessions::TurnTimes {
        stt_ms: Some(310),
        llm_first_token_ms: Some(420),
        tts_first_byte_ms: Some(610),
        first_audio_ms: Some(640),
        voice_to_voice_ms: Some(950),
        skill_ms: None,
        stt_error: None,
    };
    sessions::record_turn(
        &app.ctx,
        tenant,
        sid,
        "resp_1",
        avb_domain::TurnStatus::Completed,
        &times,
    )
    .await
    .unwrap();
    let html = browser.page(&detail, &cookie).await;
    assert!(
        html.contains("Where is &#60;my&#62; order?") && html.contains("It ships today."),
        "{html}"
    );
    assert!(html.contains("Voice to voice 950 ms") && html.contains("<rect class=\"bar\""));
    assert!(html.contains(&format!("hx-get=\"/sessions/{id}/status\"")));
    let badge = browser
        .page(&format!("/sessions/{id}/status"), &cookie)
        .await;
    assert!(badge.contains(">active</span>"), "{badge}");

    // A viewer sees it but may not end it.
    let viewer_cookie = browser.session(&viewer).await;
    let html = browser.page(&detail, &viewer_cookie).await;
    assert!(!html.contains("End session"));
    let res = browser
        .get(&format!("/sessions/{id}/end"), &viewer_cookie)
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("<code>sessions:manage</code>")
    );

    // The owner ends it after confirming; the caller's socket closes.
    let confirm = browser.page(&format!("/sessions/{id}/end"), &cookie).await;
    assert!(confirm.contains("cannot be undone") && confirm.contains("Cancel"));
    let csrf = field(&confirm, "csrf");
    let to = browser
        .submit(&format!("/sessions/{id}/end"), &cookie, &[("csrf", &csrf)])
        .await;
    assert_eq!(to, format!("/sessions/{id}?done=session_ended"));
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match futures::StreamExt::next(&mut live).await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None => break,
                Some(Err(_)) => break,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the live socket was closed");
    let html = browser.page(&to, &cookie).await;
    assert!(html.contains("Session ended.") && html.contains("badge-closed"));

    // Filters: status, project, bad dates.
    let html = browser.page("/sessions?status=active", &cookie).await;
    assert!(html.contains("No sessions match these filters."));
    let html = browser
        .page(
            &format!("/sessions?status=closed&project={project_id}"),
            &cookie,
        )
        .await;
    assert!(html.contains("badge-closed"));
    let res = browser.get("/sessions?from=yesterday", &cookie).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("from: use a date like"));
    let res = browser
        .get("/sessions?from=2026-02-02&to=2026-02-01", &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // CSV of the filtered list.
    let res = browser
        .get("/sessions/export.csv?status=closed", &cookie)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    assert!(
        res.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains("attachment")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 2, "{csv}");
    assert!(lines[0].starts_with("id,realtime_id,status"));
    assert!(
        lines[1].contains(&id) && lines[1].contains("\"kiosk\"") && lines[1].contains("\"closed\"")
    );
    let csv = browser
        .get("/sessions/export.csv?status=active", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 1, "header only");

    // Another tenant's session is a 404 here.
    let (_, other_token, other_owner, _) = new_tenant(&app, "Other Co").await;
    let _ = other_token;
    let other = browser.session(&other_owner).await;
    assert_eq!(
        browser.get(&detail, &other).await.status(),
        StatusCode::NOT_FOUND
    );
}

/// Usage rows as the gateway writes them, for the key behind `secret`.
async fn meter(app: &avb_testkit::TestApp, secret: &str, fact: &str, requests: f64, minutes: f64) {
    let scope: Scope =
        avb_core::identity::authenticate_bearer(&app.ctx, secret, RequestMeta::default())
            .await
            .unwrap();
    usage::record(
        &app.ctx,
        &scope,
        None,
        fact,
        &[
            ("requests", requests),
            ("audio_minutes_input", minutes),
            ("llm_tokens_output", 40.0),
        ],
    )
    .await
    .unwrap();
}

async fn usage_page(db: Db) {
    let app = spawn_app(db).await;
    let (_, token, owner, _) = new_tenant(&app, "Meter Co").await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let html = browser.page("/usage", &cookie).await;
    assert!(html.contains("No usage in this period"), "{html}");

    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    let secret = key["secret"].as_str().unwrap();
    meter(&app, secret, "resp_a", 3.0, 1.5).await;
    meter(&app, secret, "resp_b", 2.0, 0.25).await;
    meter(&app, secret, "resp_b", 2.0, 0.25).await; // the same fact again adds nothing

    let html = browser.page("/usage?period=7d", &cookie).await;
    assert!(html.contains(">5</div>"), "5 requests: {html}");
    assert!(html.contains(">1.75</div>"), "1.75 STT minutes");
    assert_eq!(
        html.matches("<rect class=\"bar\"").count(),
        7,
        "one bar per day"
    );
    assert!(html.contains("Peak day: 5."));
    let html = browser
        .page("/usage?period=90d&metric=audio_minutes_input", &cookie)
        .await;
    assert_eq!(html.matches("<rect class=\"bar\"").count(), 90);
    assert!(html.contains("Audio minutes in (STT) per day") && html.contains("Peak day: 1.75."));

    let csv = browser
        .get("/usage/export.csv?period=30d", &cookie)
        .await
        .text()
        .await
        .unwrap();
    let today = chrono::Utc::now().date_naive().to_string();
    assert!(csv.starts_with("day,metric,total\n"), "{csv}");
    assert!(csv.contains(&format!("{today},requests,5")), "{csv}");
    assert!(
        csv.contains(&format!("{today},llm_tokens_output,80")),
        "{csv}"
    );
}

both_backends!(usage_page_totals_chart_and_csv, usage_page);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn team_invite_change_role_remove_and_plan_limit() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.team.plans.insert("free".into(), 4);
    })
    .await;
    let (tenant, _, owner, viewer) = new_tenant(&app, "Team Co").await;
    app.create_user(Some(tenant), "developer", "dev@team-co.test")
        .await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let html = browser.page("/team", &cookie).await;
    assert!(
        html.contains("dev@team-co.test") && html.contains("3 of 4 seats used"),
        "{html}"
    );
    let csrf = field(&html, "csrf");

    // Invalid invitations keep the input and say why.
    let res = browser
        .post(
            "/team/invite",
            &cookie,
            &[
                ("email", "not-an-address"),
                ("role", "developer"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("email:") && html.contains("value=\"not-an-address\""));
    let res = browser
        .post(
            "/team/invite",
            &cookie,
            &[
                ("email", "a@team-co.test"),
                ("role", "saas_admin"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);

    // Invite: pending list, mail in the outbox, then the plan's limit shows the upgrade prompt.
    let to = browser
        .submit(
            "/team/invite",
            &cookie,
            &[
                ("email", "new@team-co.test"),
                ("role", "viewer"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(to, "/team?done=invited");
    let html = browser.page(&to, &cookie).await;
    assert!(html.contains("Invitation sent.") && html.contains("new@team-co.test"));
    assert!(html.contains("member limit is reached") && !html.contains("Send invitation"));
    let res = browser
        .post(
            "/team/invite",
            &cookie,
            &[
                ("email", "more@team-co.test"),
                ("role", "viewer"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("upgrade the plan"));

    // Revoking the invitation frees the seat.
    let action_start = html.find("action=\"/team/invitations/").unwrap() + 8;
    let action = html[action_start..].split('"').next().unwrap().to_string();
    assert_eq!(
        browser.submit(&action, &cookie, &[("csrf", &csrf)]).await,
        "/team?done=invitation_revoked"
    );
    let html = browser.page("/team", &cookie).await;
    assert!(html.contains("No pending invitations.") && html.contains("Send invitation"));

    // Change the developer's role; the viewer cannot.
    let dev_form = html.find("dev@team-co.test").unwrap();
    let action_start = html[dev_form..].find("action=\"/team/members/").unwrap() + dev_form + 8;
    let role_action = html[action_start..].split('"').next().unwrap().to_string();
    let to = browser
        .submit(
            &role_action,
            &cookie,
            &[("role", "tenant_admin"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(to, "/team?done=role_changed");
    let dev_token = app.login("dev@team-co.test").await;
    let (_, me) = app.get("/api/v1/me", &dev_token).await;
    assert!(me.to_string().contains("tenant_admin"), "{me}");
    let viewer_cookie = browser.session(&viewer).await;
    let vhtml = browser.page("/team", &viewer_cookie).await;
    assert!(!vhtml.contains("Send invitation") && !vhtml.contains("Remove…"));
    let vcsrf = field(&vhtml, "csrf");
    let res = browser
        .post(
            &role_action,
            &viewer_cookie,
            &[("role", "viewer"), ("csrf", &vcsrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Remove behind a confirmation; the member's sessions end.
    let remove = role_action.replace("/role", "/remove");
    let confirm = browser.page(&remove, &cookie).await;
    assert!(confirm.contains("signed out everywhere") && confirm.contains("dev@team-co.test"));
    assert_eq!(
        browser.submit(&remove, &cookie, &[("csrf", &csrf)]).await,
        "/team?done=member_removed"
    );
    let html = browser.page("/team?done=member_removed", &cookie).await;
    assert!(html.contains("Member removed.") && !html.contains("dev@team-co.test"));
    let (status, _) = app.get("/api/v1/me", &dev_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the removed member's token stops working"
    );

    // Nobody changes their own role; the audit log has every change.
    let (_, audit) = app
        .get("/api/v1/audit?limit=50", &app.login(&owner).await)
        .await;
    let actions = audit.to_string();
    for a in [
        "invitation.create",
        "invitation.revoke",
        "member.role_change",
        "member.remove",
    ] {
        assert!(actions.contains(a), "{a} audited");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_password_totp_history_and_other_sessions() {
    let app = spawn_app(Db::Sqlite).await;
    let (_, _, _, viewer) = new_tenant(&app, "Self Co").await;
    let browser = Browser::new(&app);
    let other = browser.session(&viewer).await;
    let cookie = browser.session(&viewer).await;
    let html = browser.page("/account", &cookie).await;
    assert!(html.contains("viewer@self-co.test") && html.contains(">viewer<"));
    assert!(html.contains("signed in"), "login history: {html}");
    let csrf = field(&html, "csrf");

    // Password: mismatch, policy, wrong current, then success.
    let res = browser
        .post(
            "/account/password",
            &cookie,
            &[
                ("current", PASSWORD),
                ("new", "Abcdefgh-1234"),
                ("confirm", "other"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Repeated password does not match")
    );
    let res = browser
        .post(
            "/account/password",
            &cookie,
            &[
                ("current", PASSWORD),
                ("new", "short"),
                ("confirm", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("New password must be at least 12 characters")
    );
    let res = browser
        .post(
            "/account/password",
            &cookie,
            &[
                ("current", "wrong-one"),
                ("new", "Abcdefgh-1234"),
                ("confirm", "Abcdefgh-1234"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Current password is not correct")
    );
    let to = browser
        .submit(
            "/account/password",
            &cookie,
            &[
                ("current", PASSWORD),
                ("new", "Abcdefgh-1234"),
                ("confirm", "Abcdefgh-1234"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(to, "/account?done=password_changed");

    // TOTP: QR code and key; a wrong code is refused, the right one turns it on.
    let html = browser.page("/account/totp", &cookie).await;
    assert!(
        html.contains("<svg") && html.contains("crispEdges"),
        "QR code: {html}"
    );
    let secret = field(&html, "secret");
    let res = browser
        .post(
            "/account/totp",
            &cookie,
            &[("secret", &secret), ("code", "000000"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
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
    let code = totp.generate_current().unwrap();
    // Without the password it stays off (finding 5), with an inline error on the field.
    let res = browser
        .post(
            "/account/totp",
            &cookie,
            &[
                ("secret", &secret),
                ("code", &code),
                ("password", "wrong-one"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("The password is not correct.")
            && html.contains("name=\"password\" type=\"password\" autocomplete=\"current-password\" required aria-invalid=\"true\""),
        "{html}"
    );
    let to = browser
        .submit(
            "/account/totp",
            &cookie,
            &[
                ("secret", &secret),
                ("code", &code),
                ("password", "Abcdefgh-1234"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(to, "/account?done=totp_enabled");
    // Turning it off needs a current code too.
    let res = browser
        .post(
            "/account/totp/disable",
            &cookie,
            &[
                ("password", "Abcdefgh-1234"),
                ("current_code", "000000"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("id=\"totp-off-error\""));
    assert!(
        browser
            .page("/account", &cookie)
            .await
            .contains("badge-active\">On")
    );

    // Profile name; then signing out the other browser keeps this one.
    assert_eq!(
        browser
            .submit(
                "/account/profile",
                &cookie,
                &[("name", "Vera Viewer"), ("csrf", &csrf)]
            )
            .await,
        "/account?done=settings_saved"
    );
    assert!(
        browser
            .page("/account", &cookie)
            .await
            .contains("value=\"Vera Viewer\"")
    );
    assert_eq!(
        browser
            .submit("/account/sessions/end-others", &cookie, &[("csrf", &csrf)])
            .await,
        "/account?done=sessions_ended"
    );
    assert_eq!(
        browser.get("/account", &cookie).await.status(),
        StatusCode::OK
    );
    let res = browser.get("/account", &other).await;
    assert_eq!(
        res.status(),
        StatusCode::SEE_OTHER,
        "the other browser was signed out"
    );
    assert!(
        res.headers()["location"]
            .to_str()
            .unwrap()
            .starts_with("/login")
    );
}

/// What the test receiver got: headers of interest and the body.
#[derive(Clone, Debug)]
struct Received {
    id: String,
    timestamp: String,
    signature: String,
    body: String,
}

/// A local webhook receiver answering the statuses in `plan` in turn (then 200).
async fn receiver(plan: Vec<u16>) -> (String, std::sync::Arc<std::sync::Mutex<Vec<Received>>>) {
    use axum::routing::post;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<Received>::new()));
    let plan = std::sync::Arc::new(std::sync::Mutex::new(plan.into_iter()));
    let (s, p) = (seen.clone(), plan.clone());
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let (s, p) = (s.clone(), p.clone());
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default()
                };
                s.lock().unwrap().push(Received {
                    id: h("webhook-id"),
                    timestamp: h("webhook-timestamp"),
                    signature: h("webhook-signature"),
                    body,
                });
                let code = p.lock().unwrap().next().unwrap_or(200);
                axum::http::StatusCode::from_u16(code).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), seen)
}

async fn wait_for(
    seen: &std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
    n: usize,
) -> Vec<Received> {
    for _ in 0..300 {
        let got = seen.lock().unwrap().clone();
        if got.len() >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("only {} deliveries arrived", seen.lock().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_and_signed_webhooks_with_retries() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.webhooks.allow_private_urls = true;
        c.webhooks.poll_secs = 1;
    })
    .await;
    let (_, token, owner, viewer) = new_tenant(&app, "Hook Co").await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let html = browser.page("/settings", &cookie).await;
    assert!(html.contains("No endpoints yet.") && html.contains("value=\"Hook Co\""));
    let csrf = field(&html, "csrf");
    let viewer_cookie = browser.session(&viewer).await;
    let res = browser.get("/settings", &viewer_cookie).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);

    // Organisation and notifications, with validation.
    let res = browser
        .post(
            "/settings/profile",
            &cookie,
            &[
                ("name", "Hook Co"),
                ("billing_email", "b@hook.test"),
                ("timezone", "Not a zone"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("value=\"Not a zone\""));
    assert_eq!(
        browser
            .submit(
                "/settings/profile",
                &cookie,
                &[
                    ("name", "Hook Company"),
                    ("billing_email", "b@hook.test"),
                    ("timezone", "Europe/Berlin"),
                    ("csrf", &csrf)
                ]
            )
            .await,
        "/settings?done=settings_saved"
    );
    let res = browser
        .post(
            "/settings/notifications",
            &cookie,
            &[("threshold", "lots"), ("notify_email", ""), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    browser
        .submit(
            "/settings/notifications",
            &cookie,
            &[
                ("threshold", "3"),
                ("notify_email", "alerts@hook.test"),
                ("csrf", &csrf),
            ],
        )
        .await;
    let html = browser.page("/settings", &cookie).await;
    assert!(
        html.contains("value=\"Hook Company\"")
            && html.contains("value=\"Europe/Berlin\"")
            && html.contains("value=\"3\"")
    );

    // A bad URL is refused; a good one shows its secret once.
    let res = browser
        .post(
            "/settings/webhooks",
            &cookie,
            &[
                ("url", "ftp://x"),
                ("events", "session.closed"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("url: must be an absolute https URL")
    );
    // The receiver fails the first attempt of the first event, then accepts.
    let (url, seen) = receiver(vec![503]).await;
    let res = browser
        .post(
            "/settings/webhooks",
            &cookie,
            &[
                ("url", &url),
                ("description", "ops"),
                ("events", "api_key.revoked"),
                ("events", "usage.threshold_reached"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    let start = html.find("whsec_").unwrap();
    let secret = html[start..].split('<').next().unwrap().to_string();
    assert!(
        !browser.page("/settings", &cookie).await.contains(&secret),
        "shown once"
    );

    // A real event: revoking a key queues api_key.revoked in the same transaction.
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "doomed", "scopes": ["realtime"]}),
        )
        .await;
    let key_id = key["id"].as_str().unwrap();
    let (s, _) = app
        .post(
            &format!("/api/v1/api-keys/{key_id}/revoke"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let got = wait_for(&seen, 2).await; // 503, then the retry after 5 s
    assert_eq!(got[0].id, got[1].id, "a retry keeps its webhook-id");
    for r in &got {
        let expected = avb_core::services::webhooks::sign(
            &secret,
            &r.id,
            r.timestamp.parse().unwrap(),
            &r.body,
        )
        .unwrap();
        assert_eq!(r.signature, expected, "Standard Webhooks signature");
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["type"], "api_key.revoked");
        assert_eq!(body["data"]["name"], "doomed");
    }

    // The usage threshold (3 requests this month) fires once when crossed.
    let (_, k2) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "meter", "scopes": ["realtime"]}),
        )
        .await;
    let k2 = k2["secret"].as_str().unwrap();
    meter(&app, k2, "r1", 2.0, 0.1).await;
    meter(&app, k2, "r2", 2.0, 0.1).await;
    meter(&app, k2, "r3", 2.0, 0.1).await;
    let got = wait_for(&seen, 3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let all = seen.lock().unwrap().clone();
    let thresholds: Vec<&Received> = all
        .iter()
        .filter(|r| r.body.contains("usage.threshold_reached"))
        .collect();
    assert_eq!(thresholds.len(), 1, "{all:?}");
    assert!(
        thresholds[0].body.contains("\"total\":4.0") || thresholds[0].body.contains("\"total\":4"),
        "{}",
        thresholds[0].body
    );
    let _ = got;

    // The delivery log lists every attempt; a test send reports the answer.
    let html = browser.page("/settings", &cookie).await;
    let log = link(&html, "/settings/webhooks/");
    let page = browser.page(&log, &cookie).await;
    assert!(
        page.contains("api_key.revoked")
            && page.contains("HTTP 503")
            && page.contains("badge-delivered"),
        "{page}"
    );
    let to = browser
        .submit(&format!("{log}/test"), &cookie, &[("csrf", &csrf)])
        .await;
    assert_eq!(to, format!("{log}?test=200"));
    let page = browser.page(&to, &cookie).await;
    assert!(page.contains("The endpoint answered HTTP 200.") && page.contains("webhook.test"));

    // Removing the endpoint stops deliveries.
    assert_eq!(
        browser
            .submit(&format!("{log}/delete"), &cookie, &[("csrf", &csrf)])
            .await,
        "/settings?done=webhook_deleted"
    );
    assert!(
        browser
            .page("/settings", &cookie)
            .await
            .contains("No endpoints yet.")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_billing_status_limits_and_refresh() {
    let app = spawn_app_with(Db::Sqlite, |c| {
        c.team.plans.insert("free".into(), 2);
    })
    .await;
    let (_, token, owner, viewer) = new_tenant(&app, "Dash Co").await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&owner).await;
    let csrf = field(&browser.page("/settings", &cookie).await, "csrf");
    browser
        .submit(
            "/settings/notifications",
            &cookie,
            &[("threshold", "10"), ("notify_email", ""), ("csrf", &csrf)],
        )
        .await;
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &token,
            json!({"name": "k", "scopes": ["realtime"]}),
        )
        .await;
    meter(&app, key["secret"].as_str().unwrap(), "d1", 9.0, 2.0).await;

    let html = browser.page("/dashboard", &cookie).await;
    assert!(
        html.contains("9 of the 10 requests of your monthly usage alert are used (90%)"),
        "{html}"
    );
    assert!(html.contains("All 2 member seats of your plan are used."));
    assert!(html.contains("Billing") && html.contains("billing@dash-co.example.com"));
    assert!(html.contains("hx-get=\"/dashboard/panel\"") && html.contains("every 60s"));
    assert!(html.contains("hx-get=\"/dashboard/status\"") && html.contains("skeleton"));
    let panel = browser.page("/dashboard/panel", &cookie).await;
    assert!(panel.starts_with("<div id=\"dashboard-panel\"") && panel.contains(">9</div>"));
    let status = browser.page("/dashboard/status", &cookie).await;
    assert!(
        status.contains("Database") && status.contains("badge-active\">up"),
        "{status}"
    );

    // A viewer: usage yes, billing and limit banners no.
    let vcookie = browser.session(&viewer).await;
    let html = browser.page("/dashboard", &vcookie).await;
    assert!(html.contains("Last 30 days") && !html.contains("Invoices to"));
    assert!(!html.contains("member seats") && !html.contains("usage alert"));
}

/// Finding 7: the invitation link of the e-mail opens a page that creates the account (or joins
/// with the existing one) and lands signed in; a used link says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitation_link_page_creates_the_account_and_signs_in() {
    let app = spawn_app(Db::Sqlite).await;
    let (_, owner_token, _, _) = new_tenant(&app, "Join Co").await;
    let (_, other_owner, _, _) = new_tenant(&app, "Other Co").await;
    let browser = Browser::new(&app);
    let invite = |token: String, email: &'static str| {
        let app = &app;
        async move {
            let (s, p) = app
                .post(
                    "/api/v1/invitations",
                    &token,
                    json!({"email": email, "role": "developer"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{p}");
            let page = avb_core::services::users::outbox(
                &app.ctx,
                &Scope::local_operator(None),
                Some(email),
                avb_core::PageRequest::default(),
            )
            .await
            .unwrap();
            let body = page.items[0].body.clone();
            let url = body
                .lines()
                .find(|l| l.contains("/invitations/accept?token="))
                .unwrap()
                .trim()
                .to_string();
            url.strip_prefix(&app.base).unwrap().to_string()
        }
    };

    // A new address: name and password, then the dashboard of the tenant.
    let path = invite(owner_token.clone(), "new@join-co.test").await;
    let res = browser.get(&path, "").await;
    assert_eq!(res.status(), StatusCode::OK);
    let csrf = avb_testkit::browser::set_cookie(&res, "avb_login_csrf").unwrap();
    let html = res.text().await.unwrap();
    assert!(
        html.contains("Join Co") && html.contains("new@join-co.test"),
        "{html}"
    );
    let token = field(&html, "token");
    let jar = format!("avb_login_csrf={csrf}");
    let res = browser
        .post(
            "/invitations/accept",
            &jar,
            &[
                ("token", token.as_str()),
                ("name", "Nina New"),
                ("password", "short"),
                ("confirm", "short"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Password must be at least 12")
    );
    let res = browser
        .post(
            "/invitations/accept",
            "",
            &[("token", token.as_str()), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "no CSRF cookie, no accept"
    );
    let res = browser
        .post(
            "/invitations/accept",
            &jar,
            &[
                ("token", token.as_str()),
                ("name", "Nina New"),
                ("password", "Nina-Password-42"),
                ("confirm", "Nina-Password-42"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/dashboard");
    let session = avb_testkit::browser::set_cookie(&res, "avb_session").unwrap();
    let html = browser
        .page("/account", &format!("avb_session={session}"))
        .await;
    assert!(
        html.contains("new@join-co.test") && html.contains("Join Co"),
        "{html}"
    );

    // The link is spent: the page says so.
    let res = browser.get(&path, "").await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("accepted already"));
    let res = browser.get("/invitations/accept?token=nope", "").await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // An existing account joins another tenant with its password and lands in that tenant.
    let path = invite(other_owner, "new@join-co.test").await;
    let res = browser.get(&path, "").await;
    let csrf = avb_testkit::browser::set_cookie(&res, "avb_login_csrf").unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains("already has an account"), "{html}");
    let token = field(&html, "token");
    let jar = format!("avb_login_csrf={csrf}");
    let res = browser
        .post(
            "/invitations/accept",
            &jar,
            &[
                ("token", token.as_str()),
                ("password", "Wrong-Password-1"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = browser
        .post(
            "/invitations/accept",
            &jar,
            &[
                ("token", token.as_str()),
                ("password", "Nina-Password-42"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let session = avb_testkit::browser::set_cookie(&res, "avb_session").unwrap();
    let html = browser
        .page("/account", &format!("avb_session={session}"))
        .await;
    assert!(
        html.contains("Other Co"),
        "signed in to the inviting tenant: {html}"
    );
}

/// Finding 7: the reset link of the e-mail opens a page that sets the password and lands
/// signed in; an expired or used link says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_password_page_sets_the_password_and_signs_in() {
    let app = spawn_app(Db::Sqlite).await;
    let (_, _, _, viewer) = new_tenant(&app, "Reset Co").await;
    let browser = Browser::new(&app);
    let old = browser.session(&viewer).await;
    let (s, _) = app
        .post_anon("/api/v1/auth/password-reset", json!({"email": viewer}))
        .await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let page = avb_core::services::users::outbox(
        &app.ctx,
        &Scope::local_operator(None),
        Some(&viewer),
        avb_core::PageRequest::default(),
    )
    .await
    .unwrap();
    let url = page.items[0]
        .body
        .lines()
        .find(|l| l.contains("/reset-password?token="))
        .unwrap()
        .trim()
        .to_string();
    let path = url.strip_prefix(&app.base).unwrap().to_string();
    let res = browser.get(&path, "").await;
    assert_eq!(res.status(), StatusCode::OK);
    let csrf = avb_testkit::browser::set_cookie(&res, "avb_login_csrf").unwrap();
    let html = res.text().await.unwrap();
    assert!(html.contains(&viewer), "{html}");
    let token = field(&html, "token");
    let jar = format!("avb_login_csrf={csrf}");
    let res = browser
        .post(
            "/reset-password",
            &jar,
            &[
                ("token", token.as_str()),
                ("password", "New-Password-123"),
                ("confirm", "Other-Password-123"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = browser
        .post(
            "/reset-password",
            &jar,
            &[
                ("token", token.as_str()),
                ("password", "New-Password-123"),
                ("confirm", "New-Password-123"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/dashboard");
    let session = avb_testkit::browser::set_cookie(&res, "avb_session").unwrap();
    browser
        .page("/account", &format!("avb_session={session}"))
        .await;
    assert_eq!(
        browser.get("/account", &old).await.status(),
        StatusCode::SEE_OTHER,
        "the sessions from before the reset ended"
    );
    let res = browser.get(&path, "").await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("was used already"));
    app.raw_sql("UPDATE one_time_tokens SET used_at = NULL, expires_at = '2000-01-01T00:00:00Z'")
        .await
        .unwrap();
    let res = browser.get(&path, "").await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("has expired"));
}
