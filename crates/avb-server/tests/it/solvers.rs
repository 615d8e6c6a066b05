//! Knowledge solvers at run time (O3): a persona's ordered solvers answer before the LLM
//! (Wolfram Alpha, Wikipedia and DuckDuckGo against stand-ins built from their documented APIs,
//! WordNet from the Debian files), each answered turn is an intent event of outcome `solver`,
//! what none answers goes to the LLM, and a solver the platform has not configured is shown as
//! unavailable and skipped.
#![allow(clippy::unwrap_used)]

use avb_testkit::solvers::{WOLFRAM_APPID, spawn_solvers};
use avb_testkit::ws::{open_session, recv, send, until};
use avb_testkit::{Db, spawn_app_with};
use avb_voice::solvers::Solver;
use serde_json::{Value, json};
use std::time::Duration;

async fn ask(ws: &mut avb_testkit::ws::Ws, text: &str) -> String {
    send(ws, json!({"type": "conversation.item.create", "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}})).await;
    recv(ws).await;
    recv(ws).await;
    send(ws, json!({"type": "response.create"})).await;
    let events = until(ws, "response.done").await;
    events.last().unwrap()["response"]["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_personas_solvers_answer_before_the_llm() {
    let (web, seen) = spawn_solvers().await;
    let llm = crate::realtime::llm_double().await;
    let wordnet = std::path::Path::new("/usr/share/wordnet/index.noun").is_file();
    let base = web.clone();
    let app = spawn_app_with(Db::Sqlite, move |c| {
        c.engines.llm_url = Some(llm);
        c.solvers.wikipedia_url = Some(base.clone());
        c.solvers.wolfram_url = Some(base);
        c.solvers.wolfram_appid = Some(avb_core::Secret::new(WOLFRAM_APPID));
        // A machine loaded by the whole suite can stall a stand-in call for seconds.
        c.solvers.timeout_ms = 30_000;
        // DuckDuckGo is left unconfigured.
    })
    .await;
    let (_, owner) = app.tenant_with_owner("Solvers").await;
    let (s, p) = app
        .post(
            "/api/v1/personas",
            &owner,
            json!({"name": "Librarian", "instructions": "Answer briefly.", "voice": "af_heart",
                   "solvers": ["wolfram_alpha", "duckduckgo", "wikipedia", "wordnet"]}),
        )
        .await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_string();
    let (s, _) = app
        .post(&format!("/api/v1/personas/{id}/publish"), &owner, json!({}))
        .await;
    assert_eq!(s, 200);
    let (s, d) = app
        .call(
            reqwest::Method::PUT,
            "/api/v1/persona-default",
            Some(&owner),
            Some(json!({"persona_id": id})),
        )
        .await;
    assert_eq!(s, 200, "{d}");
    let (_, key) = app
        .post(
            "/api/v1/api-keys",
            &owner,
            json!({"name": "rt", "scopes": ["realtime"]}),
        )
        .await;
    let mut ws = open_session(&app, key["secret"].as_str().unwrap()).await;
    send(&mut ws, json!({"type": "session.update", "session": {"type": "realtime", "output_modalities": ["text"]}})).await;
    recv(&mut ws).await;

    // Wolfram Alpha first; it passes (501) on what it does not understand.
    assert_eq!(ask(&mut ws, "what is 2 plus 2").await, "The answer is 4");
    // Wikipedia next (DuckDuckGo is skipped: not configured), following the redirect page.
    let said = ask(&mut ws, "who was Lovelace?").await;
    assert!(said.starts_with("Augusta Ada King"), "{said}");
    assert!(
        !said.contains("Lord Byron"),
        "two sentences at most: {said}"
    );
    // A disambiguation page is no answer.
    let said = ask(&mut ws, "what is mercury").await;
    if wordnet {
        assert!(said.starts_with("mercury: "), "WordNet defines it: {said}");
        let said = ask(&mut ws, "what is a computer").await;
        assert!(
            said.contains("machine for performing calculations"),
            "{said}"
        );
    } else {
        eprintln!("no WordNet files here: the WordNet answers are not checked");
    }
    // Nothing answers: the LLM does.
    assert_eq!(ask(&mut ws, "blorp fizzle").await, "Hello world.");
    drop(ws);
    assert_eq!(seen.lock().unwrap().get("duckduckgo"), None);

    // Each turn's outcome is in the analytics.
    let mut rows = Vec::new();
    for _ in 0..50 {
        let (_, body) = app
            .get("/api/v1/intents/events?outcome=solver", &owner)
            .await;
        rows = body["data"].as_array().cloned().unwrap_or_default();
        if rows.len() >= if wordnet { 4 } else { 2 } {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let intents: Vec<&str> = rows.iter().filter_map(|r| r["intent"].as_str()).collect();
    assert!(intents.contains(&"solver:wolfram_alpha"), "{rows:?}");
    assert!(intents.contains(&"solver:wikipedia"), "{rows:?}");
    if wordnet {
        assert!(intents.contains(&"solver:wordnet"), "{rows:?}");
    }

    // The persona form says which solvers this platform cannot ask.
    let browser = avb_testkit::browser::Browser::new(&app);
    let email = app
        .create_user(
            Some(app.create_tenant("Solver pages").await),
            "tenant_owner",
            "owner@solvers.test",
        )
        .await;
    let cookie = browser.session(&email).await;
    let html = browser.page("/voice/personas/new", &cookie).await;
    assert!(html.contains("data-unavailable=\"duckduckgo\""), "{html}");
    assert!(!html.contains("data-unavailable=\"wikipedia\""), "{html}");

    // The API says which solvers can be asked, and why not.
    let (s, states) = app.get("/api/v1/solvers", &owner).await;
    assert_eq!(s, 200, "{states}");
    let state = |n: &str| {
        states
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"] == n)
            .cloned()
            .unwrap()
    };
    assert_eq!(state("wikipedia")["available"], true, "{states}");
    assert_eq!(state("wolfram_alpha")["available"], true, "{states}");
    assert_eq!(state("duckduckgo")["available"], false);
    assert_eq!(
        state("duckduckgo")["reason"],
        "not configured on this platform"
    );

    // DuckDuckGo's client against its stand-in; Wolfram with a wrong AppID is an error.
    let ddg = avb_voice::solvers::DuckDuckGo::new(&web, Duration::from_secs(2)).unwrap();
    let got = ddg
        .answer("who is Ada Lovelace", "en")
        .await
        .unwrap()
        .unwrap();
    assert!(got.starts_with("Ada Lovelace was"), "{got}");
    assert_eq!(ddg.answer("blorp", "en").await.unwrap(), None);
    let wrong =
        avb_voice::solvers::WolframAlpha::new(&web, "nope", Duration::from_secs(2)).unwrap();
    assert!(wrong.answer("what is 2 plus 2", "en").await.is_err());
    assert!(wrong.check().await.unwrap_err().contains("403"));
    let _: Value = json!(null);
}
