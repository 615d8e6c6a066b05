//! Stand-ins for the web knowledge solvers, built from their documented responses (the real
//! services need the internet), and as strict: one server answering
//! - Wikipedia's REST summary `GET /api/rest_v1/page/summary/{title}`: `Ada_Lovelace` (a
//!   standard page), `Lovelace` (a redirect: 302 with a relative `Location`), `Mercury` (a
//!   disambiguation page), anything else 404 with the REST API's problem body;
//! - DuckDuckGo's Instant Answer API `GET /?q=&format=json`: an abstract for questions about
//!   Ada Lovelace, empty fields otherwise; 400 without `q`;
//! - Wolfram Alpha's Spoken Results API `GET /v1/spoken?appid=&i=`: 403 "Error 1: Invalid appid"
//!   unless `appid` is [`WOLFRAM_APPID`]; "The answer is 4" for two plus two; 501 otherwise.
//!
//! Every request is counted by path prefix (`wikipedia`, `duckduckgo`, `wolfram`).

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The AppID the Wolfram stand-in accepts.
pub const WOLFRAM_APPID: &str = "TEST-APPID-42";

/// Requests seen per service.
pub type Seen = Arc<Mutex<HashMap<&'static str, usize>>>;

/// Starts the stand-in on a loopback port; returns its base URL and the request counts.
pub async fn spawn_solvers() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let count = |seen: &Seen, what: &'static str| {
        *seen.lock().expect("seen").entry(what).or_default() += 1;
    };
    let (s1, s2, s3) = (seen.clone(), seen.clone(), seen.clone());
    let router = axum::Router::new()
        .route(
            "/api/rest_v1/page/summary/{title}",
            axum::routing::get(move |Path(title): Path<String>| {
                count(&s1, "wikipedia");
                async move { wikipedia(&title) }
            }),
        )
        .route(
            "/",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                count(&s2, "duckduckgo");
                async move { duckduckgo(&q) }
            }),
        )
        .route(
            "/v1/spoken",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| {
                count(&s3, "wolfram");
                async move { wolfram(&q) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    (url, seen)
}

fn wikipedia(title: &str) -> Response {
    match title {
        "Ada_Lovelace" => axum::Json(json!({
            "type": "standard",
            "title": "Ada Lovelace",
            "extract": "Augusta Ada King, Countess of Lovelace was an English mathematician and writer, chiefly known for her work on Charles Babbage's proposed mechanical general-purpose computer, the Analytical Engine. She was the first to recognise that the machine had applications beyond pure calculation. Lovelace was the only legitimate child of poet Lord Byron.",
            "lang": "en",
        }))
        .into_response(),
        "Lovelace" => (
            StatusCode::FOUND,
            [("location", "Ada_Lovelace")],
            axum::Json(json!({"type": "standard", "title": "Lovelace"})),
        )
            .into_response(),
        "Mercury" => axum::Json(json!({
            "type": "disambiguation",
            "title": "Mercury",
            "extract": "Mercury commonly refers to: Mercury (planet), Mercury (element).",
        }))
        .into_response(),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "type": "https://mediawiki.org/wiki/HyperSwitch/errors/not_found",
                "title": "Not found.",
                "method": "get",
                "detail": "Page or revision not found.",
                "uri": format!("/en.wikipedia.org/v1/page/summary/{title}"),
            })),
        )
            .into_response(),
    }
}

fn duckduckgo(q: &HashMap<String, String>) -> Response {
    let Some(query) = q.get("q").filter(|q| !q.is_empty()) else {
        return (StatusCode::BAD_REQUEST, "missing q").into_response();
    };
    if q.get("format").map(String::as_str) != Some("json") {
        return (
            StatusCode::OK,
            "<html>instant answers need format=json</html>",
        )
            .into_response();
    }
    let about_ada = query.to_lowercase().contains("lovelace");
    axum::Json(json!({
        "Abstract": "",
        "AbstractText": if about_ada { "Ada Lovelace was an English mathematician and writer. She is regarded as the first computer programmer." } else { "" },
        "AbstractSource": if about_ada { "Wikipedia" } else { "" },
        "Answer": "",
        "AnswerType": "",
        "Definition": "",
        "Heading": if about_ada { "Ada Lovelace" } else { "" },
        "RelatedTopics": [],
        "Type": if about_ada { "A" } else { "" },
    }))
    .into_response()
}

fn wolfram(q: &HashMap<String, String>) -> Response {
    if q.get("appid").map(String::as_str) != Some(WOLFRAM_APPID) {
        return (StatusCode::FORBIDDEN, "Error 1: Invalid appid").into_response();
    }
    let input = q.get("i").map(|i| i.to_lowercase()).unwrap_or_default();
    if input.contains("2 plus 2") || input.contains("two plus two") {
        return (StatusCode::OK, "The answer is 4").into_response();
    }
    (
        StatusCode::NOT_IMPLEMENTED,
        "Wolfram|Alpha did not understand your input",
    )
        .into_response()
}
