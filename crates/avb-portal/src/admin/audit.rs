//! `/admin/audit`: the audit log across tenants with filters, full-text search, pagination, an
//! entry's full detail, CSV/JSON export of the filtered rows, and chain verification.

use super::failed;
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{Require, Visitor, perm};
use askama::Template;
use avb_core::services::audit::{self, AuditFilter};
use avb_domain::TenantId;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use serde::Deserialize;
use std::fmt::Write as _;

/// The filter form.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    tenant: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    resource_type: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    after: String,
    #[serde(default)]
    format: String,
}

fn opt(s: &str) -> Option<String> {
    Some(s.trim().to_string()).filter(|s| !s.is_empty())
}

impl AuditQuery {
    fn parse(&self) -> Result<(Option<TenantId>, AuditFilter), String> {
        let tenant = match opt(&self.tenant) {
            None => None,
            Some(t) => {
                Some(TenantId(t.parse().map_err(|_| {
                    "tenant: paste a tenant id (a UUID)".to_string()
                })?))
            }
        };
        let day =
            |raw: &str, field: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
                match opt(raw) {
                    None => Ok(None),
                    Some(d) => NaiveDate::parse_from_str(&d, "%Y-%m-%d")
                        .ok()
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                        .map(|t| Some(t.and_utc()))
                        .ok_or_else(|| format!("{field}: use a date like 2026-11-25")),
                }
            };
        Ok((
            tenant,
            AuditFilter {
                actor: opt(&self.actor),
                action: opt(&self.action),
                resource_type: opt(&self.resource_type),
                from: day(&self.from, "from")?,
                to: day(&self.to, "to")?.map(|t| t + chrono::Duration::days(1)),
                q: opt(&self.q),
            },
        ))
    }

    fn query_string(&self) -> String {
        let mut out = String::new();
        for (k, v) in [
            ("tenant", &self.tenant),
            ("action", &self.action),
            ("actor", &self.actor),
            ("resource_type", &self.resource_type),
            ("from", &self.from),
            ("to", &self.to),
            ("q", &self.q),
        ] {
            if !v.trim().is_empty() {
                let _ = write!(
                    out,
                    "{}{k}={}",
                    if out.is_empty() { "" } else { "&" },
                    form_urlencoded::byte_serialize(v.trim().as_bytes()).collect::<String>()
                );
            }
        }
        out
    }
}

/// A row of the log.
pub struct EntryRow {
    pub id: String,
    pub at: String,
    pub tenant: String,
    pub actor: String,
    pub action: String,
    pub resource: String,
    pub ip: String,
}

#[derive(Template)]
#[template(path = "admin/audit/list.html")]
struct AdminAuditListPage {
    chrome: Chrome,
    f: AuditQuery,
    rows: Vec<EntryRow>,
    next: Option<String>,
    filters: String,
    error: Option<String>,
    verified: Option<String>,
    retention: String,
    archives: Vec<ArchiveRow>,
}

/// One archive file.
pub struct ArchiveRow {
    pub id: String,
    pub chain: String,
    pub range: String,
    pub rows: i64,
    pub span: String,
    pub file: String,
}

async fn archive_rows(state: &PortalState, v: &Visitor) -> (String, Vec<ArchiveRow>) {
    let retention = match state.ctx.config.audit.retention_days {
        Some(d) => format!("rows older than {d} days move to compressed archives daily"),
        None => "rows are kept indefinitely (no [audit] retention_days configured)".to_string(),
    };
    let rows = audit::archives(&state.ctx, &v.scope)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|a| ArchiveRow {
            id: a.id.to_string(),
            range: format!("#{}–#{}", a.first_seq, a.last_seq),
            rows: a.rows,
            span: format!(
                "{} to {}",
                a.oldest_at.format("%Y-%m-%d"),
                a.newest_at.format("%Y-%m-%d")
            ),
            file: a.file,
            chain: a.chain,
        })
        .collect();
    (retention, rows)
}

/// `GET /admin/audit` (requires `platform:audit`).
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::PlatformAudit>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let (tenant, filter, error) = match q.parse() {
        Ok((t, f)) => (t, f, None),
        Err(e) => (None, AuditFilter::default(), Some(e)),
    };
    let request = avb_core::PageRequest {
        limit: 50,
        after: q.after.parse().ok(),
    };
    let page = audit::platform_list(&state.ctx, &v.scope, tenant, &filter, request)
        .await
        .map_err(failed("audit log"))?;
    let filters = q.query_string();
    let (retention, archives) = archive_rows(&state, &v).await;
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    Ok(render(
        &AdminAuditListPage {
            chrome: v.chrome("/admin/audit", None),
            rows: page
                .items
                .into_iter()
                .map(|e| EntryRow {
                    id: e.id.to_string(),
                    at: e.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                    tenant: e
                        .tenant_id
                        .map(|t| t.to_string()[..8].to_string())
                        .unwrap_or_else(|| "platform".into()),
                    actor: e.actor_label,
                    action: e.action,
                    resource: format!("{} {}", e.resource_type, e.resource_id),
                    ip: e.ip,
                })
                .collect(),
            next: page.next.map(|n| n.to_string()),
            filters,
            error,
            verified: None,
            retention,
            archives,
            f: q,
        },
        status,
    ))
}

#[derive(Template)]
#[template(path = "admin/audit/entry.html")]
struct AdminAuditEntryPage {
    chrome: Chrome,
    id: String,
    at: String,
    tenant: String,
    chain: String,
    seq: i64,
    actor: String,
    actor_type: String,
    action: String,
    resource: String,
    result: String,
    ip: String,
    agent: String,
    payload: String,
    hash: String,
    prev_hash: String,
}

/// `GET /admin/audit/{id}` (requires `platform:audit`).
pub async fn entry(
    State(state): State<PortalState>,
    v: Require<perm::PlatformAudit>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Ok(id) = id.parse::<avb_domain::AuditId>() else {
        return Err(PageError::not_found("audit entry"));
    };
    let e = audit::platform_get(&state.ctx, &v.scope, id)
        .await
        .map_err(failed("audit entry"))?;
    Ok(render(
        &AdminAuditEntryPage {
            chrome: v.chrome("/admin/audit", None),
            id: e.id.to_string(),
            at: e.created_at.to_rfc3339(),
            tenant: e
                .tenant_id
                .map(|t| t.to_string())
                .unwrap_or_else(|| "platform".into()),
            chain: e.chain,
            seq: e.seq,
            actor: e.actor_label,
            actor_type: format!("{} {}", e.actor_type, e.actor_id),
            action: e.action,
            resource: format!("{} {}", e.resource_type, e.resource_id),
            result: e.result,
            ip: e.ip,
            agent: e.user_agent,
            payload: serde_json::to_string_pretty(&e.summary).unwrap_or_default(),
            hash: e.hash,
            prev_hash: e.prev_hash,
        },
        StatusCode::OK,
    ))
}

/// `GET /admin/audit/export?format=csv|json&...filters` (requires `platform:audit`).
pub async fn export(
    State(state): State<PortalState>,
    v: Require<perm::PlatformAudit>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, PageError> {
    let (tenant, filter) = match q.parse() {
        Ok(x) => x,
        Err(e) => return Err(PageError::Invalid(e)),
    };
    let rows = audit::platform_export(&state.ctx, &v.scope, tenant, &filter)
        .await
        .map_err(failed("audit export"))?;
    let (body, kind, name) = if q.format == "json" {
        let items: Vec<serde_json::Value> = rows
            .into_iter()
            .map(|e| {
                serde_json::json!({
                    "id": e.id, "tenant_id": e.tenant_id, "chain": e.chain, "seq": e.seq,
                    "actor_type": e.actor_type, "actor_id": e.actor_id, "actor": e.actor_label,
                    "action": e.action, "resource_type": e.resource_type,
                    "resource_id": e.resource_id, "ip": e.ip, "user_agent": e.user_agent,
                    "summary": e.summary, "result": e.result, "created_at": e.created_at,
                    "hash": e.hash,
                })
            })
            .collect();
        (
            serde_json::to_string(&items).unwrap_or_default(),
            "application/json",
            "audit.json",
        )
    } else {
        let mut out = String::from(
            "id,created_at,tenant_id,actor,action,resource_type,resource_id,ip,result,summary\n",
        );
        for e in rows {
            let fields = [
                e.id.to_string(),
                e.created_at.to_rfc3339(),
                e.tenant_id.map(|t| t.to_string()).unwrap_or_default(),
                e.actor_label,
                e.action,
                e.resource_type,
                e.resource_id,
                e.ip,
                e.result,
                e.summary.to_string(),
            ];
            crate::csv::row(&mut out, &fields);
        }
        (out, "text/csv; charset=utf-8", "audit.csv")
    };
    let mut res = (StatusCode::OK, body).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

/// `GET /admin/audit/verify` (requires `platform:audit`): checks every hash chain.
pub async fn verify(
    State(state): State<PortalState>,
    v: Require<perm::PlatformAudit>,
) -> Result<Response, PageError> {
    let verified = match audit::verify(&state.ctx, &v.scope, None).await {
        Ok((n, breaks)) if breaks.is_empty() => {
            format!("All {n} rows verified: every hash chain is intact.")
        }
        Ok((n, breaks)) => format!(
            "{} of {n} rows break their chain (first: {:?}). Investigate before trusting the log.",
            breaks.len(),
            breaks.first()
        ),
        Err(e) => return Err(failed("audit verification")(e)),
    };
    Ok(verified_page(&state, &v, verified).await)
}

async fn verified_page(state: &PortalState, v: &Visitor, verified: String) -> Response {
    let (retention, archives) = archive_rows(state, v).await;
    render(
        &AdminAuditListPage {
            chrome: v.chrome("/admin/audit", None),
            f: AuditQuery::default(),
            rows: Vec::new(),
            next: None,
            filters: String::new(),
            error: None,
            verified: Some(verified),
            retention,
            archives,
        },
        StatusCode::OK,
    )
}

/// `GET /admin/audit/archives/{id}/verify` (requires `platform:audit`): checks an archive
/// file row by row.
pub async fn verify_archive(
    State(state): State<PortalState>,
    v: Require<perm::PlatformAudit>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let Ok(id) = id.parse() else {
        return Err(PageError::not_found("archive"));
    };
    let verified = match audit::verify_archive(&state.ctx, &v.scope, id).await {
        Ok(n) => format!("Archive verified: its {n} rows are intact and chained."),
        Err(avb_core::CoreError::Conflict(m)) => format!("Archive verification FAILED: {m}."),
        Err(e) => return Err(failed("audit archive")(e)),
    };
    Ok(verified_page(&state, &v, verified).await)
}
