//! `/sessions`: the tenant's realtime sessions with filters, live status, detail (conversation
//! and per-turn latency waterfall), ending a live session, and CSV export of the filtered list.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, perm};
use crate::waterfall::{Waterfall, waterfall};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::sessions::{self, SessionFilter, SessionRecord};
use avb_core::services::{api_keys, projects};
use avb_domain::{Permission, SessionStatus};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Deserialize;
use std::fmt::Write as _;
use uuid::Uuid;

const PAGE_SIZE: u64 = 25;
/// Most rows one CSV export holds.
const EXPORT_MAX: usize = 100_000;

/// The list's filters as the form sends them (empty strings mean "any").
#[derive(Debug, Default, Deserialize)]
pub struct FilterQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    project: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    done: String,
}

/// A filter field the form got wrong.
struct BadFilter {
    field: &'static str,
    message: &'static str,
}

fn parse_day(raw: &str, field: &'static str) -> Result<Option<DateTime<Utc>>, BadFilter> {
    if raw.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| Some(t.and_utc()))
        .ok_or(BadFilter {
            field,
            message: "use a date like 2026-11-25",
        })
}

fn parse_id(raw: &str, field: &'static str) -> Result<Option<Uuid>, BadFilter> {
    if raw.is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(|_| BadFilter {
        field,
        message: "choose one from the list",
    })
}

impl FilterQuery {
    /// The storage filter; `to` includes the whole day it names.
    fn filter(&self) -> Result<SessionFilter, BadFilter> {
        let status = match self.status.as_str() {
            "" => None,
            "active" | "closed" => Some(self.status.clone()),
            _ => {
                return Err(BadFilter {
                    field: "status",
                    message: "choose active, closed or any",
                });
            }
        };
        let from = parse_day(&self.from, "from")?;
        let to = parse_day(&self.to, "to")?.map(|t| t + chrono::Duration::days(1));
        if let (Some(f), Some(t)) = (from, to)
            && f >= t
        {
            return Err(BadFilter {
                field: "to",
                message: "must not be before the start date",
            });
        }
        Ok(SessionFilter {
            status,
            project: parse_id(&self.project, "project")?,
            api_key: parse_id(&self.key, "key")?,
            from,
            to,
        })
    }

    /// The filters as a query string (without `after`), for links that keep them.
    fn query_string(&self) -> String {
        let mut out = String::new();
        for (k, v) in [
            ("status", &self.status),
            ("project", &self.project),
            ("key", &self.key),
            ("from", &self.from),
            ("to", &self.to),
        ] {
            if !v.is_empty() {
                if !out.is_empty() {
                    out.push('&');
                }
                let _ = write!(out, "{k}={}", urlencode(v));
            }
        }
        out
    }
}

/// Percent-encodes a query value (filters hold dates, uuids and fixed words; free text too).
pub(crate) fn urlencode(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One `<option>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// A row of the list.
pub struct SessionRow {
    pub id: String,
    pub started: String,
    pub status: SessionStatus,
    pub project: String,
    pub key: String,
    pub model: String,
    pub responses: i32,
    pub duration: String,
}

/// Names of the tenant's projects and keys, for rows and filter choices.
struct Names {
    projects: Vec<(Uuid, String)>,
    keys: Vec<(Uuid, String)>,
}

impl Names {
    async fn load(state: &PortalState, v: &Visitor) -> Names {
        let request = avb_core::PageRequest {
            limit: 100,
            after: None,
        };
        let projects = match projects::list(&state.ctx, &v.scope, None, request).await {
            Ok(p) => p
                .items
                .into_iter()
                .map(|p| (p.project.id.as_uuid(), p.project.name))
                .collect(),
            Err(_) => Vec::new(),
        };
        let filter = api_keys::KeyFilter {
            project: None,
            status: None,
        };
        let keys = match api_keys::list(&state.ctx, &v.scope, filter, request).await {
            Ok(k) => k
                .items
                .into_iter()
                .map(|k| (k.id.as_uuid(), k.name))
                .collect(),
            Err(_) => Vec::new(),
        };
        Names { projects, keys }
    }

    fn lookup(list: &[(Uuid, String)], id: Option<Uuid>) -> String {
        match id {
            None => "—".into(),
            Some(id) => list
                .iter()
                .find(|(i, _)| *i == id)
                .map(|(_, n)| n.clone())
                .unwrap_or_else(|| id.to_string()[..8].to_string()),
        }
    }

    fn choices(list: &[(Uuid, String)], selected: &str) -> Vec<Choice> {
        list.iter()
            .map(|(id, name)| Choice {
                value: id.to_string(),
                label: name.clone(),
                selected: id.to_string() == selected,
            })
            .collect()
    }
}

fn duration(s: &SessionRecord) -> String {
    let end = s.ended_at.unwrap_or_else(Utc::now);
    let secs = (end - s.started_at).num_seconds().max(0);
    format!("{}m {:02}s", secs / 60, secs % 60)
}

fn row(s: SessionRecord, names: &Names) -> SessionRow {
    SessionRow {
        id: s.id.to_string(),
        started: s.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        project: Names::lookup(&names.projects, s.project_id.map(Into::into)),
        key: Names::lookup(&names.keys, s.api_key_id.map(Into::into)),
        duration: duration(&s),
        status: s.status,
        model: s.model,
        responses: s.responses,
    }
}

#[derive(Template)]
#[template(path = "sessions/list.html")]
struct SessionsListPage {
    chrome: Chrome,
    table: SessionsTable,
    statuses: Vec<Choice>,
    projects: Vec<Choice>,
    keys: Vec<Choice>,
    from: String,
    to: String,
    error: Option<String>,
    error_field: &'static str,
    filters: String,
}

/// The table part, also served alone for the live refresh.
#[derive(Template)]
#[template(path = "sessions/_table.html")]
struct SessionsTable {
    rows: Vec<SessionRow>,
    next: Option<String>,
    filters: String,
    live_url: Option<String>,
    filtered: bool,
}

async fn table(
    state: &PortalState,
    v: &Visitor,
    q: &FilterQuery,
    filter: &SessionFilter,
    names: &Names,
) -> Result<SessionsTable, PageError> {
    let after = q.after.parse().ok();
    let request = avb_core::PageRequest {
        limit: PAGE_SIZE,
        after,
    };
    let listed = sessions::list(&state.ctx, &v.scope, filter, request).await?;
    let filters = q.query_string();
    let sep = if filters.is_empty() { "" } else { "&" };
    Ok(SessionsTable {
        rows: listed.items.into_iter().map(|s| row(s, names)).collect(),
        next: listed
            .next
            .map(|id| format!("/sessions?{filters}{sep}after={id}")),
        // Only the first page refreshes itself (later pages would shift under the reader).
        live_url: after
            .is_none()
            .then(|| format!("/sessions/table?{filters}")),
        filtered: !filters.is_empty(),
        filters,
    })
}

/// `GET /sessions` (requires `sessions:view`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::SessionsView>,
    Query(q): Query<FilterQuery>,
) -> Result<Response, PageError> {
    let names = Names::load(&state, &v).await;
    let (filter, error) = match q.filter() {
        Ok(f) => (f, None),
        Err(bad) => (SessionFilter::default(), Some(bad)),
    };
    let table = table(&state, &v, &q, &filter, &names).await?;
    let statuses = [
        ("", "Any status"),
        ("active", "Active"),
        ("closed", "Ended"),
    ]
    .iter()
    .map(|(value, label)| Choice {
        value: value.to_string(),
        label: label.to_string(),
        selected: *value == q.status,
    })
    .collect();
    let page = SessionsListPage {
        chrome: v.chrome("/sessions", Some(q.done.as_str())),
        filters: table.filters.clone(),
        table,
        statuses,
        projects: Names::choices(&names.projects, &q.project),
        keys: Names::choices(&names.keys, &q.key),
        error_field: error.as_ref().map(|b| b.field).unwrap_or(""),
        error: error.map(|b| format!("{}: {}", b.field, b.message)),
        from: q.from,
        to: q.to,
    };
    let status = if page.error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(&page, status))
}

/// `GET /sessions/table` (requires `sessions:view`): the table alone, polled every 5 s by the
/// list page.
pub async fn live_table(
    State(state): State<PortalState>,
    v: Require<perm::SessionsView>,
    Query(q): Query<FilterQuery>,
) -> Result<Response, PageError> {
    let filter = q
        .filter()
        .map_err(|bad| PageError::Invalid(format!("{}: {}", bad.field, bad.message)))?;
    let names = Names::load(&state, &v).await;
    let t = table(&state, &v, &q, &filter, &names).await?;
    Ok(render(&t, StatusCode::OK))
}

/// `GET /sessions/export.csv` (requires `sessions:view`): every session matching the filters
/// (up to 100,000 rows).
pub async fn export_csv(
    State(state): State<PortalState>,
    v: Require<perm::SessionsView>,
    Query(q): Query<FilterQuery>,
) -> Result<Response, PageError> {
    let filter = q
        .filter()
        .map_err(|bad| PageError::Invalid(format!("{}: {}", bad.field, bad.message)))?;
    let names = Names::load(&state, &v).await;
    let mut out = String::from(
        "id,realtime_id,status,started_at,ended_at,project,api_key,model,dialect,responses,close_reason\n",
    );
    let mut after = None;
    let mut written = 0usize;
    loop {
        let request = avb_core::PageRequest { limit: 1000, after };
        let page = sessions::list(&state.ctx, &v.scope, &filter, request).await?;
        for s in &page.items {
            let fields = [
                s.id.to_string(),
                s.realtime_id.clone(),
                s.status.to_string(),
                s.started_at.to_rfc3339(),
                s.ended_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                Names::lookup(&names.projects, s.project_id.map(Into::into)),
                Names::lookup(&names.keys, s.api_key_id.map(Into::into)),
                s.model.clone(),
                s.dialect.clone(),
                s.responses.to_string(),
                s.close_reason.clone(),
            ];
            crate::csv::row(&mut out, &fields);
            written += 1;
        }
        match page.next {
            Some(next) if written < EXPORT_MAX => after = Some(next),
            _ => break,
        }
    }
    let name = format!("sessions-{}.csv", Utc::now().format("%Y%m%d-%H%M%S"));
    let mut res = (StatusCode::OK, out).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(res)
}

/// One conversation message.
pub struct Message {
    pub at: String,
    pub role: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "sessions/detail.html")]
struct SessionsDetailPage {
    chrome: Chrome,
    s: SessionRow,
    realtime_id: String,
    dialect: String,
    ended: String,
    close_reason: String,
    client: String,
    messages: Vec<Message>,
    turns: Vec<Waterfall>,
    can_end: bool,
    /// The persona it started with: (id, published version).
    persona: Option<(String, i32)>,
    /// Its usage at the plan's prices, for those who may see amounts.
    cost: Option<String>,
}

/// The badge alone, polled by the detail page of a live session.
#[derive(Template)]
#[template(
    source = "<span class=\"badge badge-{{ status }}\" id=\"live-status\"{% if status == \"active\" %} hx-get=\"/sessions/{{ id }}/status\" hx-trigger=\"every 5s, resume from:body\" hx-swap=\"outerHTML\"{% endif %}>{{ status }}</span>",
    ext = "html"
)]
pub(crate) struct StatusBadge {
    pub id: String,
    pub status: String,
}

/// The session id of the path, or the 404.
fn session_id(raw: &str) -> Result<avb_domain::SessionId, PageError> {
    raw.parse().map_err(|_| PageError::not_found("session"))
}

/// `GET /sessions/{id}` (requires `sessions:view`).
pub async fn detail(
    State(state): State<PortalState>,
    v: Require<perm::SessionsView>,
    Path(id): Path<String>,
    Query(q): Query<FilterQuery>,
) -> Result<Response, PageError> {
    let id = session_id(&id)?;
    let (s, items, turns) = sessions::detail(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("session"))?;
    let names = Names::load(&state, &v).await;
    let can_end = s.is_active() && v.scope.has(Permission::SessionsManage);
    let cost = if v.scope.has(Permission::BillingView) {
        avb_core::services::subscriptions::session_cost(&state.ctx, &v.scope, id.as_uuid())
            .await
            .ok()
    } else {
        None
    };
    let page = SessionsDetailPage {
        chrome: v.chrome("/sessions", Some(q.done.as_str())),
        realtime_id: s.realtime_id.clone(),
        dialect: s.dialect.clone(),
        ended: s
            .ended_at
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_else(|| "—".into()),
        close_reason: s.close_reason.clone(),
        client: format!("{} · {}", s.client_ip, s.user_agent),
        messages: items
            .into_iter()
            .filter(|i| !i.text.is_empty())
            .map(|i| Message {
                at: i.created_at.format("%H:%M:%S").to_string(),
                role: i.role,
                text: i.text,
            })
            .collect(),
        turns: turns.iter().map(waterfall).collect(),
        can_end,
        persona: s
            .persona_id
            .zip(s.persona_version)
            .map(|(p, n)| (p.to_string(), n)),
        cost,
        s: row(s, &names),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /sessions/{id}/status` (requires `sessions:view`): the live badge.
pub async fn status(
    State(state): State<PortalState>,
    v: Require<perm::SessionsView>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let s = sessions::get(&state.ctx, &v.scope, session_id(&id)?)
        .await
        .map_err(PageError::or_not_found("session"))?;
    Ok(render(
        &StatusBadge {
            id: s.id.to_string(),
            status: s.status.to_string(),
        },
        StatusCode::OK,
    ))
}

#[derive(Template)]
#[template(path = "sessions/confirm_end.html")]
struct SessionsConfirmEndPage {
    chrome: Chrome,
    id: String,
    started: String,
}

/// `GET /sessions/{id}/end` (requires `sessions:manage`): the confirmation page.
pub async fn confirm_end(
    State(state): State<PortalState>,
    v: Require<perm::SessionsManage>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let s = sessions::get(&state.ctx, &v.scope, session_id(&id)?)
        .await
        .map_err(PageError::or_not_found("session"))?;
    if !s.is_active() {
        return Ok(Redirect::to(&format!("/sessions/{}", s.id)).into_response());
    }
    Ok(render(
        &SessionsConfirmEndPage {
            chrome: v.chrome("/sessions", None),
            id: s.id.to_string(),
            started: s.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        },
        StatusCode::OK,
    ))
}

/// `POST /sessions/{id}/end` (requires `sessions:manage`): ends the live session on whichever
/// replica holds it.
pub async fn end(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Redirect, PageError> {
    let id = session_id(&id)?;
    match sessions::close(&state.ctx, &v.scope, id).await {
        Ok(_) => Ok(Redirect::to(&format!("/sessions/{id}?done=session_ended"))),
        Err(CoreError::Conflict(_)) => Ok(Redirect::to(&format!("/sessions/{id}"))),
        Err(e) => Err(PageError::or_not_found("session")(e)),
    }
}
