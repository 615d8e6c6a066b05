//! OVOS in the voice path and for the tenant: a tenant with OVOS on gets a skill's answer
//! instead of the LLM's; no match, a skill error or silence past the deadline go to the LLM and
//! failures are recorded against the Skill stage; a tenant with OVOS off keeps today's path and
//! ovos-core never sees its words; every answered turn is an intent event in the analytics.
//! The ovos-core here is an in-process client on the platform's bus that answers like the real
//! one (spec/ovos.md 3.1); the real ovos-core runs in `ovos_bus::the_real_ovos_core_...`.
#![allow(clippy::unwrap_used)]

use avb_testkit::ws::{open_session, recv, send, until};
use avb_testkit::{Db, spawn_app_with};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// A stand-in ovos-core on `bus`: "what time is it" matches the date-time skill, "break it"
/// makes the skill fail, "say nothing" is never answered, anything else is a complete failure.
/// Returns every utterance it saw, with its session.
fn fake_core(bus: &avb_ovos::Bus) -> Arc<Mutex<Vec<(String, Value)>>> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let mut core = bus.attach("ovos-core");
    let log = seen.clone();
    tokio::spawn(async move {
        while let Some(frame) = core.recv().await {
            let v: Value = serde_json::from_str(&frame).unwrap();
            if v["type"] != "recognizer_loop:utterance" {
                continue;
            }
            let text = v["data"]["utterances"][0].as_str().unwrap().to_string();
            let session = v["context"]["session"].clone();
            log.lock().unwrap().push((text.clone(), session.clone()));
            let ctx =
                json!({"session": session, "source": ["skills"], "destination": "avb-gateway"});
            let say = |kind: &str, data: Value| avb_ovos::message(kind, data, ctx.clone());
            let frames = match text.as_str() {
                "what time is it" => vec![
                    say(
                        "ovos-skill-date-time.openvoiceos:what.time.is.it.intent",
                        json!({"utterance": text}),
                    ),
                    say("speak", json!({"utterance": "It is half past six."})),
                    say("ovos.utterance.handled", json!({})),
                ],
                "break it" => vec![
                    say("ovos-skill-parrot.openvoiceos:speak.intent", json!({})),
                    say(
                        "mycroft.skill.handler.error",
                        json!({"exception": "KeyError: 'sentence'"}),
                    ),
                ],
                "say nothing" => vec![],
                _ => vec![
                    say("complete_intent_failure", json!({})),
                    say("ovos.utterance.handled", json!({})),
                ],
            };
            for f in frames {
                core.send(&f).unwrap();
            }
        }
    });
    seen
}

async fn ask(ws: &mut avb_testkit::ws::Ws, text: &str) -> Value {
    send(ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})).await;
    assert_eq!(recv(ws).await["type"], "conversation.item.added");
    assert_eq!(recv(ws).await["type"], "conversation.item.done");
    send(ws, json!({"type": "response.create"})).await;
    let events = until(ws, "response.done").await;
    events.last().unwrap()["response"].clone()
}

fn said(response: &Value) -> &str {
    response["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_answer_first_and_the_llm_takes_the_rest() {
    let metrics = crate::support::prometheus();
    let llm = crate::realtime::llm_double().await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.ovos.enabled = true;
        c.ovos.turn_deadline_ms = 400;
    })
    .await;
    let bus = app.ctx.ovos_bus.clone().unwrap();
    let seen = fake_core(&bus);

    // Two tenants: A turns OVOS on and one skill off, B leaves it off.
    let (_, owner_a) = app.tenant_with_owner("Skills A").await;
    let (s, settings) = app.get("/api/v1/ovos/settings", &owner_a).await;
    assert_eq!(s, 200);
    assert_eq!(settings["enabled"], false);
    let (s, bad) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/ovos/settings",
            Some(&owner_a),
            Some(json!({"enabled": true, "lang": "english", "fallback_skills": false, "disabled_skills": []})),
        )
        .await;
    assert_eq!(s, 422, "{bad}");
    assert_eq!(bad["errors"][0]["field"], "lang");
    let (s, saved) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/ovos/settings",
            Some(&owner_a),
            Some(
                json!({"enabled": true, "lang": "en-US", "fallback_skills": false,
                        "disabled_skills": ["ovos-skill-hello-world.openvoiceos"]}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{saved}");
    let (_, key_a) = app
        .post(
            "/api/v1/api-keys",
            &owner_a,
            json!({"name": "rt", "scopes": ["realtime"]}),
        )
        .await;
    let mut ws = open_session(&app, key_a["secret"].as_str().unwrap()).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    assert_eq!(recv(&mut ws).await["type"], "session.updated");

    // Matched: the skill's words are the answer; the LLM is not asked (no tokens).
    let r = ask(&mut ws, "what time is it").await;
    assert_eq!(
        (r["status"].as_str(), said(&r)),
        (Some("completed"), "It is half past six.")
    );
    assert_eq!(r["usage"]["total_tokens"], 0);
    // Unmatched: the persona's LLM answers.
    let r = ask(&mut ws, "tell me something").await;
    assert_eq!(said(&r), "Hello world.");
    // The skill fails, or ovos-core stays silent past the deadline: the LLM answers anyway.
    let r = ask(&mut ws, "break it").await;
    assert_eq!(said(&r), "Hello world.");
    let r = ask(&mut ws, "say nothing").await;
    assert_eq!(said(&r), "Hello world.");
    drop(ws);

    // ovos-core saw A's turns with A's session: its pipeline without fallback stages and the
    // skill A turned off blacklisted.
    let turns = seen.lock().unwrap().clone();
    assert_eq!(turns.len(), 4, "{turns:?}");
    let (_, session) = &turns[0];
    assert_eq!(session["lang"], "en-US");
    assert_eq!(
        session["blacklisted_skills"],
        json!(["ovos-skill-hello-world.openvoiceos"])
    );
    assert!(
        !session["pipeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s.as_str().unwrap().starts_with("fallback")),
        "{session}"
    );
    assert_ne!(
        turns[0].1["session_id"], turns[1].1["session_id"],
        "a fresh session per turn"
    );

    // B (OVOS off): the LLM answers and ovos-core never hears it.
    let key_b = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key_b).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    recv(&mut ws).await;
    let r = ask(&mut ws, "what time is it").await;
    assert_eq!(said(&r), "Hello world.");
    drop(ws);
    assert_eq!(seen.lock().unwrap().len(), 4);

    // A's intent analytics: one event per turn (written by the session's background writer).
    let mut events = Value::Null;
    for _ in 0..50 {
        let (s, body) = app.get("/api/v1/intents/events", &owner_a).await;
        assert_eq!(s, 200);
        if body["data"].as_array().unwrap().len() == 4 {
            events = body;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let rows = events["data"].as_array().expect("four events");
    let by_utterance = |u: &str| rows.iter().find(|e| e["utterance"] == u).unwrap().clone();
    let matched = by_utterance("what time is it");
    assert_eq!(matched["outcome"], "intent");
    assert_eq!(
        matched["intent"],
        "ovos-skill-date-time.openvoiceos:what.time.is.it.intent"
    );
    assert_eq!(matched["skill"], "ovos-skill-date-time.openvoiceos");
    assert_eq!(by_utterance("tell me something")["outcome"], "persona");
    let broken = by_utterance("break it");
    assert_eq!(broken["outcome"], "failure");
    assert!(
        broken["error"].as_str().unwrap().contains("KeyError"),
        "{broken}"
    );
    let silent = by_utterance("say nothing");
    assert_eq!(silent["outcome"], "failure");
    assert!(
        silent["error"].as_str().unwrap().contains("400 ms"),
        "{silent}"
    );
    assert!(silent["latency_ms"].as_i64().unwrap() >= 400);

    let (s, summary) = app.get("/api/v1/intents/summary", &owner_a).await;
    assert_eq!(s, 200, "{summary}");
    assert_eq!(summary["total"], 4);
    assert_eq!(
        summary["by_outcome"],
        json!({"failure": 2, "intent": 1, "persona": 1})
    );
    assert_eq!(summary["unrecognised"].as_array().unwrap().len(), 1);
    let (s, bad) = app
        .get("/api/v1/intents/events?outcome=maybe", &owner_a)
        .await;
    assert_eq!(
        (s.as_u16(), bad["errors"][0]["field"].as_str()),
        (400, Some("outcome"))
    );
    let (_, failures) = app
        .get("/api/v1/intents/events?outcome=failure&limit=1", &owner_a)
        .await;
    assert_eq!(failures["data"].as_array().unwrap().len(), 1);
    assert_eq!(failures["has_more"], true);

    // Another tenant sees none of A's events.
    let (_, owner_c) = app.tenant_with_owner("Skills C").await;
    let (_, other) = app.get("/api/v1/intents/summary", &owner_c).await;
    assert_eq!(other["total"], 0);

    // Skill stage failures are Prometheus series.
    let metrics = metrics.render();
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("avb_realtime_stage_errors_total")
                && l.contains("stage=\"skill\"")),
        "no skill stage errors in /metrics"
    );
    // The admin's voice pipeline: the skill stage failed twice (its causes listed) and is over
    // the p99 threshold set as an alert rule; both tenants, charts and waterfalls are there.
    avb_core::services::alerts::create_rule(
        &app.ctx,
        &avb_core::Scope::local_operator(None),
        avb_core::services::alerts::RuleInput {
            name: "Skill stage slow".into(),
            metric: "stage_p99_ms".into(),
            target: "skill".into(),
            threshold: "5".into(),
            for_secs: "0".into(),
            channel: "email".into(),
            destination: "ops@skills.test".into(),
        },
    )
    .await
    .unwrap();
    let admin = app
        .create_user(None, "saas_admin", "root@skills.test")
        .await;
    let browser = avb_testkit::browser::Browser::new(&app);
    let cookie = browser.session(&admin).await;
    let html = browser
        .page("/admin/pipeline?window=1h&stage=skill", &cookie)
        .await;
    assert!(html.contains("5 turns in the last hour"), "{html}");
    let skill_box = html
        .split("data-stage=\"skill\"")
        .nth(1)
        .and_then(|rest| rest.split("</li>").next())
        .unwrap();
    assert!(skill_box.contains("2 failed"), "{skill_box}");
    assert!(skill_box.contains("alert at p99 &gt; 5 ms"), "{skill_box}");
    assert!(html.contains("class=\"stage stage-unhealthy\" data-stage=\"skill\""));
    assert!(
        html.contains("KeyError"),
        "the skill error is in the breakdown"
    );
    assert!(html.contains("did not answer within 400 ms"));
    assert!(
        html.contains("Skills A") && html.contains("RT "),
        "both tenants: {html}"
    );
    assert_eq!(html.matches("class=\"chart-data\"").count(), 3);
    assert!(
        html.contains(">Intent + skill</text>"),
        "a waterfall with the skill stage: {html}"
    );
    let html = browser.page("/admin/monitoring", &cookie).await;
    assert!(html.contains("Voice to voice, last 24 hours"), "{html}");

    // The settings change was audited.
    let (_, audit) = app
        .get("/api/v1/audit?action=ovos.settings.update", &owner_a)
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1);
}

/// The tenant's Skills and Intents pages: settings saved with inline errors, a skill turned off
/// for the tenant only (and on again), the test box through the stand-in ovos-core, a member's
/// read-only view; the analytics page with its outcomes, top intents, unrecognised utterances,
/// date range and CSV export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skills_and_intents_pages() {
    use avb_testkit::browser::{Browser, field};
    let llm = crate::realtime::llm_double().await;
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.ovos.enabled = true;
        c.ovos.turn_deadline_ms = 400;
    })
    .await;
    let bus = app.ctx.ovos_bus.clone().unwrap();
    let browser = Browser::new(&app);
    let tenant = app.create_tenant("Pages").await;
    let owner = app
        .create_user(Some(tenant), "tenant_owner", "owner@pages.test")
        .await;
    let member = app
        .create_user(Some(tenant), "developer", "member@pages.test")
        .await;
    let cookie = browser.session(&owner).await;

    // ovos-core absent: the page says so and lists the catalogue.
    let html = browser.page("/voice/skills", &cookie).await;
    assert!(html.contains("ovos-core is not connected"), "{html}");
    assert!(
        html.contains("Date and time") && html.contains("Not loaded"),
        "{html}"
    );
    let csrf = field(&html, "csrf");
    let res = browser
        .post(
            "/voice/skills/test",
            &cookie,
            &[("csrf", &csrf), ("utterance", "what time is it")],
        )
        .await;
    assert_eq!(res.status(), 409);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("ovos-core is not connected")
    );

    // Bad language: said inline, nothing saved.
    let res = browser
        .post(
            "/voice/skills/settings",
            &cookie,
            &[("csrf", &csrf), ("enabled", "1"), ("lang", "English!")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("lang: must be a language tag")
    );
    let to = browser
        .submit(
            "/voice/skills/settings",
            &cookie,
            &[("csrf", &csrf), ("enabled", "1"), ("lang", "en-GB")],
        )
        .await;
    assert_eq!(to, "/voice/skills?done=ovos_saved");

    // With ovos-core (the stand-in answering skillmanager.list and the manifests too).
    let mut core = bus.attach("ovos-core");
    tokio::spawn(async move {
        while let Some(frame) = core.recv().await {
            let v: Value = serde_json::from_str(&frame).unwrap();
            let ctx = json!({"session": v["context"]["session"].clone()});
            let reply = |kind: &str, data: Value| avb_ovos::message(kind, data, ctx.clone());
            let frames = match v["type"].as_str().unwrap() {
                "skillmanager.list" => vec![reply(
                    "mycroft.skills.list",
                    json!({
                    "ovos-skill-date-time.openvoiceos": {"active": true, "id": "ovos-skill-date-time.openvoiceos"},
                    "ovos-skill-parrot.openvoiceos": {"active": true, "id": "ovos-skill-parrot.openvoiceos"},
                    "local-skill.someone": {"active": true, "id": "local-skill.someone"}}),
                )],
                "intent.service.padatious.manifest.get" => vec![reply(
                    "intent.service.padatious.manifest",
                    json!({"intents": ["ovos-skill-date-time.openvoiceos:what.time.is.it.intent", "ovos-skill-parrot.openvoiceos:speak.intent"]}),
                )],
                "intent.service.adapt.manifest.get" => vec![reply(
                    "intent.service.adapt.manifest",
                    json!({"intents": []}),
                )],
                "recognizer_loop:utterance" => {
                    let blocked = v["context"]["session"]["blacklisted_skills"].to_string();
                    if blocked.contains("date-time") {
                        vec![
                            reply("complete_intent_failure", json!({})),
                            reply("ovos.utterance.handled", json!({})),
                        ]
                    } else {
                        vec![
                            reply(
                                "ovos-skill-date-time.openvoiceos:what.time.is.it.intent",
                                json!({}),
                            ),
                            reply("speak", json!({"utterance": "It is noon."})),
                            reply("ovos.utterance.handled", json!({})),
                        ]
                    }
                }
                _ => vec![],
            };
            for f in frames {
                core.send(&f).unwrap();
            }
        }
    });
    let html = browser.page("/voice/skills", &cookie).await;
    assert!(!html.contains("ovos-core is not connected"), "{html}");
    assert!(html.contains("what.time.is.it.intent"), "{html}");
    assert!(
        html.contains("local-skill.someone"),
        "an unknown skill is listed by id: {html}"
    );
    assert!(html.contains("value=\"en-GB\""));
    let res = browser
        .post(
            "/voice/skills/test",
            &cookie,
            &[("csrf", &csrf), ("utterance", "what time is it")],
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.text().await.unwrap();
    assert!(
        body.contains("Matched an intent") && body.contains("It is noon."),
        "{body}"
    );
    // Off for this tenant: the test box no longer matches it.
    let to = browser
        .submit(
            "/voice/skills/toggle",
            &cookie,
            &[
                ("csrf", &csrf),
                ("skill", "ovos-skill-date-time.openvoiceos"),
                ("turn", "off"),
            ],
        )
        .await;
    assert_eq!(to, "/voice/skills?done=skill_disabled");
    let body = browser
        .post(
            "/voice/skills/test",
            &cookie,
            &[("csrf", &csrf), ("utterance", "what time is it")],
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(body.contains("Nothing matched"), "{body}");
    assert!(body.contains("Off for you"), "{body}");

    // A member sees the skills read-only and cannot change them.
    let member_cookie = browser.session(&member).await;
    let html = browser.page("/voice/skills", &member_cookie).await;
    assert!(html.contains("needs the settings permission"), "{html}");
    assert!(!html.contains("action=\"/voice/skills/toggle\""));
    let res = browser
        .post(
            "/voice/skills/toggle",
            &member_cookie,
            &[
                ("csrf", &field(&html, "csrf")),
                ("skill", "ovos-skill-parrot.openvoiceos"),
                ("turn", "off"),
            ],
        )
        .await;
    assert_eq!(res.status(), 403);

    // Intent analytics: empty first, then one recorded turn of each kind.
    let html = browser.page("/voice/intents", &cookie).await;
    assert!(html.contains("No turns in this range"), "{html}");
    let t = avb_core::services::intents::record;
    for (utterance, outcome, intent) in [
        (
            "what time is it",
            "intent",
            Some("ovos-skill-date-time.openvoiceos:what.time.is.it.intent"),
        ),
        (
            "what time is it now",
            "intent",
            Some("ovos-skill-date-time.openvoiceos:what.time.is.it.intent"),
        ),
        ("=cmd|' /C calc'!A0", "persona", None),
    ] {
        t(
            &app.ctx,
            tenant,
            None,
            avb_core::services::intents::NewIntentEvent {
                session_id: None,
                utterance: utterance.into(),
                outcome: outcome.into(),
                intent: intent.map(str::to_string),
                skill: intent.map(|_| "ovos-skill-date-time.openvoiceos".to_string()),
                confidence: None,
                latency_ms: 30,
                error: String::new(),
            },
        )
        .await
        .unwrap();
    }
    let html = browser.page("/voice/intents", &cookie).await;
    assert!(html.contains("id=\"intents-total\">3<"), "{html}");
    assert!(html.contains("what.time.is.it.intent"), "{html}");
    assert!(html.contains("class=\"chart-data\""), "{html}");
    assert!(
        html.contains("=cmd|"),
        "the unrecognised utterance is listed: {html}"
    );
    let html = browser
        .page("/voice/intents?from=2020-01-01&to=2020-01-31", &cookie)
        .await;
    assert!(html.contains("No turns in this range"), "{html}");
    let html = browser.page("/voice/intents?from=yesterday", &cookie).await;
    assert!(html.contains("From must be a date"), "{html}");
    let csv = browser
        .get("/voice/intents/export.csv", &cookie)
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.contains("\"'=cmd|"),
        "formula cells are neutralised: {csv}"
    );
}

/// Wake words with the real sidecar (`scripts/ovos.sh wakeword`, openWakeWord and PocketSphinx)
/// and, when the local engines run, Kokoro to synthesise and faster-whisper to transcribe:
/// built-in and custom phrases, the dictionary check, rates on synthesised speech, the portal's
/// recording test, and a voice turn "Hey Jarvis, what time is it" recorded as a detection with
/// what followed. Runs when `TEST_OVOS=1`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wake_words_with_the_real_sidecar() {
    if std::env::var("TEST_OVOS").as_deref() != Ok("1") {
        eprintln!("TEST_OVOS is not 1: the wake-word sidecar is not exercised in this run");
        return;
    }
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let _sidecar = tokio::process::Command::new("bash")
        .arg(root.join("scripts/ovos.sh"))
        .arg("wakeword")
        .arg(port.to_string())
        .kill_on_drop(true)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    while reqwest::get(format!("{url}/health")).await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "the sidecar did not start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let engines = avb_testkit::speech::LocalEngines::from_env();
    let sidecar_url = url.clone();
    let local = engines.clone();
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.ovos.wakeword_url = Some(sidecar_url);
        if let Some(e) = &local {
            e.configure(c);
        }
    })
    .await;
    let tenant = app.create_tenant("Wake").await;
    let email = app
        .create_user(Some(tenant), "tenant_owner", "owner@wake.test")
        .await;
    let owner = app.login(&email).await;

    let (s, w) = app
        .post(
            "/api/v1/wake-words",
            &owner,
            json!({"phrase": "Hey Jarvis"}),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    assert_eq!(
        (w["engine"].as_str(), w["accuracy"].as_str()),
        (Some("openwakeword"), Some("high"))
    );
    let (s, w) = app
        .post(
            "/api/v1/wake-words",
            &owner,
            json!({"phrase": "hey computer", "sensitivity": 0.3}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), w["accuracy"].as_str()),
        (201, Some("experimental")),
        "{w}"
    );
    let (s, bad) = app
        .post(
            "/api/v1/wake-words",
            &owner,
            json!({"phrase": "hey zorblaxian"}),
        )
        .await;
    assert_eq!(s, 422, "{bad}");
    assert!(
        bad["detail"].as_str().unwrap().contains("zorblaxian"),
        "{bad}"
    );
    let (s, bad) = app
        .post("/api/v1/wake-words", &owner, json!({"phrase": "computer"}))
        .await;
    assert_eq!(s, 422, "one word is too short: {bad}");
    let (s, dup) = app
        .post(
            "/api/v1/wake-words",
            &owner,
            json!({"phrase": "hey_jarvis"}),
        )
        .await;
    assert_eq!(s, 409, "{dup}");

    let Some(engines) = engines else {
        eprintln!("no local engines: synthesised rates and the voice turn are not checked");
        return;
    };
    // Validate on synthesised speech (Kokoro), as the page does.
    let (s, v) = app
        .post(
            "/api/v1/wake-words/validate",
            &owner,
            json!({"phrase": "hey jarvis"}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let rates = &v["rates"];
    eprintln!(
        "hey jarvis on Kokoro: detected {} of {}, false alarms {} of {}",
        rates["detected"], rates["positives"], rates["false_alarms"], rates["negatives"]
    );
    assert_eq!(rates["positives"], 6, "{v}");
    assert!(rates["negatives"].as_u64().unwrap() >= 4, "{v}");
    assert!(rates["detected"].as_u64().unwrap() >= 4, "{v}");

    // The recording test: Kokoro's "hey jarvis" through the portal's endpoint.
    let tts = avb_voice::OpenAiSpeech::new(
        &engines.tts_url,
        None,
        "kokoro",
        24_000,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let speak = |text: &'static str| {
        let tts = &tts;
        async move {
            use avb_voice::TextToSpeech;
            use futures::StreamExt;
            let mut s = tts.speak(text, "am_adam", 1.0).await.unwrap();
            let mut bytes = Vec::new();
            while let Some(c) = s.next().await {
                bytes.extend(c.unwrap());
            }
            let mut pcm = vec![0i16; 12_000];
            pcm.extend(avb_voice::audio::pcm16_decode(&bytes));
            pcm.extend(vec![0i16; 24_000]);
            pcm
        }
    };
    let clip = speak("Hey Jarvis, what time is it?").await;
    let browser = avb_testkit::browser::Browser::new(&app);
    let cookie = browser.session(&email).await;
    let html = browser.page("/voice/wake-words", &cookie).await;
    assert!(html.contains("hey computer") && html.contains("experimental"));
    let csrf = avb_testkit::browser::field(&html, "csrf");
    use base64::Engine as _;
    let b64 =
        base64::engine::general_purpose::STANDARD.encode(avb_voice::audio::pcm16_encode(&clip));
    let res = browser
        .post(
            "/voice/wake-words/test",
            &cookie,
            &[("csrf", &csrf), ("rate", "24000"), ("audio", &b64)],
        )
        .await;
    assert_eq!(res.status(), 200);
    let report: Value = res.json().await.unwrap();
    let jarvis = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["phrase"] == "hey jarvis")
        .unwrap()
        .clone();
    eprintln!(
        "recording test: hey jarvis max {} at {} ms; CPU per 80 ms chunk {}",
        jarvis["max"], jarvis["max_t_ms"], report["cpu_ms"]
    );
    assert!(jarvis["max"].as_f64().unwrap() > 0.5, "{jarvis}");

    // A voice turn: detected in the background, with the words that followed.
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "rt", "scopes": ["realtime"]}),
        )
        .await;
    let mut ws = open_session(&app, key["secret"].as_str().unwrap()).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"], "turn_detection": null}})).await;
    recv(&mut ws).await;
    avb_testkit::ws::stream_audio(&mut ws, &clip).await;
    send(&mut ws, json!({"type": "input_audio_buffer.commit"})).await;
    let _ = avb_testkit::ws::until(&mut ws, "conversation.item.done").await;
    let mut events = Value::Null;
    for _ in 0..100 {
        let (_, a) = app.get("/api/v1/wake-words/analytics", &owner).await;
        if a["recent"].as_array().is_some_and(|r| !r.is_empty()) {
            events = a;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let first = &events["recent"][0];
    assert_eq!(first["phrase"], "hey jarvis", "{events}");
    assert_eq!(first["kind"], "detection", "{events}");
    assert!(
        first["utterance"].as_str().unwrap().contains("time"),
        "{events}"
    );
    assert_eq!(events["detections"], 1);
}

/// Skill settings from `settingsmeta.json`: the form from the package's metadata; values
/// checked against it; applied to ovos-core, which must confirm (409 and nothing kept when it
/// is absent); audited. Tenants may change only a per-tenant-safe skill's settings (date-time's
/// display setting), the SaaS admin any skill's, from the API and the portal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skill_settings_from_their_metadata() {
    use avb_testkit::browser::{Browser, field};
    use reqwest::Method;
    let dir = std::env::temp_dir().join(format!("avb-skills-{}", uuid::Uuid::now_v7().simple()));
    std::fs::create_dir_all(dir.join("ovos_skill_date_time")).unwrap();
    std::fs::create_dir_all(dir.join("ovos_skill_parrot")).unwrap();
    // As the date-time package ships it, and a parrot with a choice and a number.
    std::fs::write(
        dir.join("ovos_skill_date_time/settingsmeta.json"),
        r#"{"skillMetadata": {"sections": [{"name": "Display", "fields": [
            {"name": "show_time", "type": "checkbox", "label": "Show digital clock when idle", "value": "false"}]}]}}"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("ovos_skill_parrot/settingsmeta.json"),
        r#"{"skillMetadata": {"sections": [{"name": "Voice", "fields": [
            {"name": "mode", "type": "select", "label": "Mode", "value": "echo", "options": "Echo|echo;Whisper|whisper"},
            {"name": "repeats", "type": "number", "label": "Repeats", "value": "1"}]}]}}"#,
    )
    .unwrap();
    let skills_dir = dir.clone();
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.ovos.enabled = true;
        c.ovos.skills_dir = Some(skills_dir);
    })
    .await;
    let bus = app.ctx.ovos_bus.clone().unwrap();
    let (_, owner) = app.tenant_with_owner("Settings").await;
    let date_time = "/api/v1/ovos/skills/ovos-skill-date-time.openvoiceos/settings";
    let parrot = "/api/v1/ovos/skills/ovos-skill-parrot.openvoiceos/settings";
    let put = |path: &'static str, token: String, body: Value| {
        let app = &app;
        async move { app.call(Method::PUT, path, Some(&token), Some(body)).await }
    };

    // The form, with the skill's default.
    let (status, form) = app.get(date_time, &owner).await;
    assert_eq!(status, 200, "{form}");
    assert_eq!(form["sections"][0]["fields"][0]["kind"], "checkbox");
    assert_eq!(form["values"]["show_time"], false);
    assert_eq!(form["tenant_configurable"], true);

    // ovos-core absent: refused, nothing kept.
    let (status, body) = put(date_time, owner.clone(), json!({"show_time": true})).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("not connected"),
        "{body}"
    );
    assert_eq!(
        app.get(date_time, &owner).await.1["values"]["show_time"],
        false
    );

    // A stand-in ovos-core that confirms settings as the real one does (the skill writes its
    // settings.json; the skill manager's file watcher announces it).
    let seen: Arc<Mutex<Vec<Value>>> = Arc::default();
    let log = seen.clone();
    let mut core = bus.attach("ovos-core");
    tokio::spawn(async move {
        while let Some(frame) = core.recv().await {
            let v: Value = serde_json::from_str(&frame).unwrap();
            if v["type"] != "mycroft.skills.settings.changed" {
                continue;
            }
            log.lock().unwrap().push(v["data"].clone());
            for id in v["data"].as_object().unwrap().keys() {
                let done = avb_ovos::message(
                    "ovos.skills.settings_changed",
                    json!({"skill_id": id}),
                    json!({}),
                );
                core.send(&done).unwrap();
            }
        }
    });

    // Bad values are refused before anything reaches ovos-core.
    let (status, body) = put(date_time, owner.clone(), json!({"show_time": "yes"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = put(date_time, owner.clone(), json!({"rm": true})).await;
    assert_eq!(status, 422, "{body}");
    assert!(seen.lock().unwrap().is_empty());

    // The tenant changes the per-tenant-safe skill: applied, kept, audited.
    let (status, body) = put(date_time, owner.clone(), json!({"show_time": true})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &json!({"ovos-skill-date-time.openvoiceos": {"show_time": true}})
    );
    assert_eq!(
        app.get(date_time, &owner).await.1["values"]["show_time"],
        true
    );
    let (_, audit) = app
        .get("/api/v1/audit?action=ovos.skill.settings.update", &owner)
        .await;
    assert_eq!(audit["data"].as_array().unwrap().len(), 1, "{audit}");

    // Not the others' (their settings are everyone's), and not what is not in the catalogue.
    let (status, _) = app.get(parrot, &owner).await;
    assert_eq!(status, 403);
    let (status, _) = put(parrot, owner.clone(), json!({"repeats": 2})).await;
    assert_eq!(status, 403);
    let (status, _) = app
        .get("/api/v1/ovos/skills/evil.skill/settings", &owner)
        .await;
    assert_eq!(status, 404);

    // A member sees the safe skill's settings and cannot change them.
    let tenant = app.create_tenant("Settings members").await;
    let member = app
        .create_user(Some(tenant), "developer", "member@settings.test")
        .await;
    let member = app.login(&member).await;
    assert_eq!(app.get(date_time, &member).await.0, 200);
    assert_eq!(
        put(date_time, member, json!({"show_time": false})).await.0,
        403
    );

    // The SaaS admin changes any skill's, here through the portal form.
    let admin = app
        .create_user(None, "saas_admin", "root@settings.test")
        .await;
    let browser = Browser::new(&app);
    let cookie = browser.session(&admin).await;
    let html = browser
        .page(
            "/admin/ovos/skills/ovos-skill-parrot.openvoiceos/settings",
            &cookie,
        )
        .await;
    assert!(
        html.contains("<option value=\"whisper\">Whisper</option>"),
        "{html}"
    );
    let csrf = field(&html, "csrf");
    let path = "/admin/ovos/skills/ovos-skill-parrot.openvoiceos/settings";
    let res = browser
        .post(
            path,
            &cookie,
            &[("csrf", &csrf), ("mode", "shout"), ("repeats", "2")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("mode: must be one of echo, whisper")
    );
    let res = browser
        .post(
            path,
            &cookie,
            &[("csrf", &csrf), ("mode", "whisper"), ("repeats", "many")],
        )
        .await;
    assert_eq!(res.status(), 422);
    assert!(
        res.text()
            .await
            .unwrap()
            .contains("Repeats: must be a number")
    );
    let to = browser
        .submit(
            path,
            &cookie,
            &[("csrf", &csrf), ("mode", "whisper"), ("repeats", "2")],
        )
        .await;
    assert_eq!(to, format!("{path}?done=skill_settings_saved"));
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &json!({"ovos-skill-parrot.openvoiceos": {"mode": "whisper", "repeats": 2.0}})
    );
    let html = browser.page(path, &cookie).await;
    assert!(
        html.contains("<option value=\"whisper\" selected>"),
        "{html}"
    );

    // The tenant's page links the safe skill's form; its checkbox shows the value in force.
    let owner_email = "owner2@settings.test";
    let t2 = app.create_tenant("Settings portal").await;
    app.create_user(Some(t2), "tenant_owner", owner_email).await;
    let tc = browser.session(owner_email).await;
    let html = browser
        .page(
            "/voice/skills/ovos-skill-date-time.openvoiceos/settings",
            &tc,
        )
        .await;
    assert!(
        html.contains("name=\"show_time\" value=\"1\" checked"),
        "{html}"
    );
    let to = browser
        .submit(
            "/voice/skills/ovos-skill-date-time.openvoiceos/settings",
            &tc,
            &[("csrf", &field(&html, "csrf"))],
        )
        .await;
    assert!(to.ends_with("?done=skill_settings_saved"), "{to}");
    assert_eq!(
        seen.lock().unwrap().last().unwrap(),
        &json!({"ovos-skill-date-time.openvoiceos": {"show_time": false}}),
        "an unticked box is false"
    );
    let res = browser
        .get("/voice/skills/ovos-skill-parrot.openvoiceos/settings", &tc)
        .await;
    assert_eq!(res.status(), 403);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A turn whose speech could not be transcribed: the client gets the transcription failure,
/// the turn is still answered, and the admin's pipeline page shows the STT stage failed with
/// the engine's error in its breakdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_stt_failure_shows_on_the_pipeline_page() {
    let llm = crate::realtime::llm_double().await;
    // Nothing listens here: every transcription fails to connect.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let stt = format!("http://{}/v1", probe.local_addr().unwrap());
    drop(probe);
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.engines.stt_url = Some(stt);
    })
    .await;
    let key = app.realtime_key(&["realtime"]).await;
    let mut ws = open_session(&app, &key).await;
    send(
        &mut ws,
        json!({"type": "session.update", "session": {"type": "realtime",
        "audio": {"input": {"transcription": {"model": "tiny.en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 300}}}}}),
    )
    .await;
    recv(&mut ws).await;
    let mut audio = avb_voice::vad::synthetic_voice(600, 24_000);
    audio.extend(vec![0i16; 24_000]);
    avb_testkit::ws::stream_audio(&mut ws, &audio).await;
    let events = until(&mut ws, "response.done").await;
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "conversation.item.input_audio_transcription.failed"),
        "{events:?}"
    );
    drop(ws);

    let admin = app.create_user(None, "saas_admin", "root@stt.test").await;
    let browser = avb_testkit::browser::Browser::new(&app);
    let cookie = browser.session(&admin).await;
    let mut html = String::new();
    // The turn is recorded when the session's recorder flushes it.
    for _ in 0..50 {
        html = browser
            .page("/admin/pipeline?window=1h&stage=stt", &cookie)
            .await;
        if html.contains("1 turn in the last hour") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let stt_box = html
        .split("data-stage=\"stt\"")
        .nth(1)
        .and_then(|rest| rest.split("</li>").next())
        .unwrap();
    assert!(stt_box.contains("1 failed"), "{stt_box}");
    assert!(
        html.contains("class=\"stage stage-unhealthy\" data-stage=\"stt\""),
        "{html}"
    );
    let breakdown = html
        .split("data-stage-errors=\"stt\"")
        .nth(1)
        .and_then(|rest| rest.split("</details>").next())
        .unwrap();
    assert!(
        breakdown.contains("<li>stt engine failed: error sending request"),
        "the engine's error, said once: {breakdown}"
    );
}
