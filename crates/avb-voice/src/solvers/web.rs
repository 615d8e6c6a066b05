//! The web solvers, each against a configurable base URL (the public service, a proxy, or a
//! stand-in in tests), following no redirects:
//! - Wikipedia's REST summary: `GET {base}/api/rest_v1/page/summary/{title}` -> `extract`
//!   (404 or a disambiguation page: no answer; a redirect page's relative target is followed
//!   once);
//! - DuckDuckGo's Instant Answer API: `GET {base}/?q=&format=json&no_html=1&skip_disambig=1`
//!   -> `Answer`, else `AbstractText`, else `Definition`;
//! - Wolfram Alpha's Spoken Results API: `GET {base}/v1/spoken?appid=&i=` -> the answer as
//!   plain text (501: it did not understand the question).

use super::Solver;
use crate::EngineError;
use serde_json::Value;
use std::time::Duration;

fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

fn failed(e: impl std::fmt::Display) -> EngineError {
    EngineError::Failed {
        stage: "solver",
        message: e.to_string(),
    }
}

fn base(url: &str) -> Result<String, String> {
    let u = reqwest::Url::parse(url).map_err(|_| format!("{url} is not an absolute URL"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{url} is not an http(s) URL"));
    }
    Ok(url.trim_end_matches('/').to_string())
}

/// The first `n` sentences of `text`: spoken answers stay short.
fn sentences(text: &str, n: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    for part in text.split_inclusive(". ") {
        out.push_str(part);
        count += 1;
        if count == n {
            break;
        }
    }
    out.trim().to_string()
}

/// Asks `url`; `Ok(None)` for the statuses that mean "no answer here".
async fn get(
    http: &reqwest::Client,
    url: reqwest::Url,
    no_answer: &[u16],
) -> Result<Option<reqwest::Response>, EngineError> {
    let res = http.get(url).send().await.map_err(failed)?;
    let status = res.status().as_u16();
    if no_answer.contains(&status) {
        return Ok(None);
    }
    if !res.status().is_success() {
        return Err(failed(format!("answered HTTP {status}")));
    }
    Ok(Some(res))
}

/// Wikipedia's page summaries.
pub struct Wikipedia {
    http: reqwest::Client,
    base: String,
}

impl Wikipedia {
    /// Summaries from `base_url` (e.g. `https://en.wikipedia.org`).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            http: client(timeout)?,
            base: base(base_url)?,
        })
    }
}

#[async_trait::async_trait]
impl Solver for Wikipedia {
    async fn answer(&self, question: &str, _lang: &str) -> Result<Option<String>, EngineError> {
        // MediaWiki titles begin with a capital letter.
        let subject = super::subject(question).replace(' ', "_");
        let mut chars = subject.chars();
        let title: String = chars
            .next()
            .map(|c| c.to_uppercase().chain(chars).collect())
            .unwrap_or_default();
        if title.is_empty() {
            return Ok(None);
        }
        let mut url = reqwest::Url::parse(&format!("{}/api/rest_v1/page/summary/", self.base))
            .map_err(failed)?;
        url.path_segments_mut()
            .map_err(|_| failed("bad base URL"))?
            .pop_if_empty()
            .push(&title);
        let mut res = self.http.get(url.clone()).send().await.map_err(failed)?;
        // A redirect page answers 302 with the target title: followed once, and only to a
        // relative location under the same summary path.
        if res.status().is_redirection()
            && let Some(target) = res
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .filter(|l| !l.contains("//") && !l.starts_with('/'))
                .and_then(|l| url.join(l).ok())
        {
            res = self.http.get(target).send().await.map_err(failed)?;
        }
        match res.status().as_u16() {
            404 => return Ok(None),
            s if !(200..300).contains(&s) => return Err(failed(format!("answered HTTP {s}"))),
            _ => {}
        }
        let page: Value = res.json().await.map_err(failed)?;
        if page["type"] == "disambiguation" {
            return Ok(None);
        }
        Ok(page["extract"]
            .as_str()
            .map(|e| sentences(e, 2))
            .filter(|e| !e.is_empty()))
    }

    async fn check(&self) -> Result<(), String> {
        let url = format!("{}/api/rest_v1/page/summary/Wikipedia", self.base);
        // Any answer of the API (a page, a redirect, "not found") shows it is there.
        match self.http.get(&url).send().await {
            Ok(r)
                if r.status().is_success()
                    || r.status().is_redirection()
                    || r.status().as_u16() == 404 =>
            {
                Ok(())
            }
            Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
            Err(e) => Err(format!("not reachable: {e}")),
        }
    }
}

/// DuckDuckGo's Instant Answer API.
pub struct DuckDuckGo {
    http: reqwest::Client,
    base: String,
}

impl DuckDuckGo {
    /// Instant answers from `base_url` (e.g. `https://api.duckduckgo.com`).
    pub fn new(base_url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(Self {
            http: client(timeout)?,
            base: base(base_url)?,
        })
    }

    fn url(&self, q: &str) -> Result<reqwest::Url, EngineError> {
        reqwest::Url::parse_with_params(
            &format!("{}/", self.base),
            &[
                ("q", q),
                ("format", "json"),
                ("no_html", "1"),
                ("skip_disambig", "1"),
            ],
        )
        .map_err(failed)
    }
}

#[async_trait::async_trait]
impl Solver for DuckDuckGo {
    async fn answer(&self, question: &str, _lang: &str) -> Result<Option<String>, EngineError> {
        let Some(res) = get(&self.http, self.url(question.trim())?, &[]).await? else {
            return Ok(None);
        };
        let v: Value = res.json().await.map_err(failed)?;
        Ok(["Answer", "AbstractText", "Definition"]
            .iter()
            .filter_map(|k| v[*k].as_str())
            .map(|t| sentences(t, 2))
            .find(|t| !t.is_empty()))
    }

    async fn check(&self) -> Result<(), String> {
        match self
            .http
            .get(self.url("duckduckgo").map_err(|e| e.to_string())?)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
            Err(e) => Err(format!("not reachable: {e}")),
        }
    }
}

/// Wolfram Alpha's Spoken Results API.
pub struct WolframAlpha {
    http: reqwest::Client,
    base: String,
    appid: String,
}

impl WolframAlpha {
    /// Spoken results from `base_url` (e.g. `https://api.wolframalpha.com`) with `appid`.
    pub fn new(base_url: &str, appid: &str, timeout: Duration) -> Result<Self, String> {
        if appid.trim().is_empty() {
            return Err("Wolfram Alpha needs an AppID".into());
        }
        Ok(Self {
            http: client(timeout)?,
            base: base(base_url)?,
            appid: appid.to_string(),
        })
    }

    fn url(&self, i: &str) -> Result<reqwest::Url, EngineError> {
        reqwest::Url::parse_with_params(
            &format!("{}/v1/spoken", self.base),
            &[("appid", self.appid.as_str()), ("i", i)],
        )
        .map_err(failed)
    }
}

#[async_trait::async_trait]
impl Solver for WolframAlpha {
    async fn answer(&self, question: &str, _lang: &str) -> Result<Option<String>, EngineError> {
        let Some(res) = get(&self.http, self.url(question.trim())?, &[501]).await? else {
            return Ok(None);
        };
        let text = res.text().await.map_err(failed)?;
        Ok(Some(text.trim().to_string()).filter(|t| !t.is_empty()))
    }

    async fn check(&self) -> Result<(), String> {
        match self
            .http
            .get(self.url("1+1").map_err(|e| e.to_string())?)
            .send()
            .await
        {
            // 501 is the API's "no spoken answer": it was reached and took the AppID.
            Ok(r) if r.status().is_success() || r.status().as_u16() == 501 => Ok(()),
            Ok(r) if r.status().as_u16() == 403 => Err("the AppID was refused (HTTP 403)".into()),
            Ok(r) => Err(format!("answered HTTP {}", r.status().as_u16())),
            Err(e) => Err(format!("not reachable: {e}")),
        }
    }
}
