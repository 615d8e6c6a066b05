//! The tenant's audit log and its export.

use crate::auth::Auth;
use crate::dto::{AuditDto, ListResponse, page_request, parse_time};
use crate::error::{ApiError, ApiResult};
use crate::extract::Query;
use crate::router::AppState;
use avb_core::services::audit;
use avb_core::services::audit::AuditFilter;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use utoipa::IntoParams;

/// Audit filters.
#[derive(Debug, Deserialize, IntoParams, Default)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Actor id or label (e-mail).
    pub actor: Option<String>,
    /// Exact action, e.g. `api_key.revoke`.
    pub action: Option<String>,
    /// Resource type, e.g. `project`.
    pub resource_type: Option<String>,
    /// RFC 3339 lower bound (inclusive).
    pub from: Option<String>,
    /// RFC 3339 upper bound (exclusive).
    pub to: Option<String>,
    /// Full-text search over actor, action, resource, IP and summary.
    pub q: Option<String>,
    pub limit: Option<u64>,
    pub cursor: Option<String>,
    /// Export format: `csv` or `json` (export route only).
    pub format: Option<String>,
}

fn filter(q: &AuditQuery) -> ApiResult<AuditFilter> {
    let non_empty = |s: &Option<String>| s.clone().filter(|v| !v.trim().is_empty());
    Ok(AuditFilter {
        actor: non_empty(&q.actor),
        action: non_empty(&q.action),
        resource_type: non_empty(&q.resource_type),
        from: parse_time("from", q.from.as_deref())?,
        to: parse_time("to", q.to.as_deref())?,
        q: non_empty(&q.q),
    })
}

/// `GET /api/v1/audit` (requires `audit:view`).
#[utoipa::path(get, path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = ListResponse<AuditDto>)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<axum::Json<ListResponse<AuditDto>>> {
    if q.format.is_some() {
        return Err(ApiError::field(
            "format",
            "only applies to /api/v1/audit/export",
        ));
    }
    let page = audit::list(
        &state.ctx,
        &scope,
        &filter(&q)?,
        page_request(q.limit, q.cursor.as_deref())?,
    )
    .await?;
    Ok(axum::Json(ListResponse::from_page(page, Into::into)))
}

/// `GET /api/v1/audit/export?format=csv|json` (requires `audit:view`): every matching row.
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "audit", params(AuditQuery),
    responses((status = 200, description = "CSV or JSON file")), security(("bearer" = [])))]
pub async fn export(
    State(state): State<AppState>,
    Auth(scope): Auth,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Response> {
    let format = q.format.clone().unwrap_or_else(|| "csv".into());
    if !matches!(format.as_str(), "csv" | "json") {
        return Err(ApiError::field("format", "must be csv or json"));
    }
    if q.limit.is_some() || q.cursor.is_some() {
        return Err(ApiError::field(
            "limit",
            "export returns every matching row; remove limit and cursor",
        ));
    }
    let rows: Vec<AuditDto> = audit::export(&state.ctx, &scope, &filter(&q)?)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    let (body, ctype) = if format == "json" {
        (
            serde_json::to_vec(&rows).map_err(|e| avb_core::CoreError::Internal(e.to_string()))?,
            "application/json",
        )
    } else {
        (to_csv(&rows)?, "text/csv; charset=utf-8")
    };
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    let disposition = format!("attachment; filename=\"audit.{format}\"");
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        res.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(res)
}

fn to_csv(rows: &[AuditDto]) -> ApiResult<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::from(avb_core::CoreError::Internal(e.to_string()));
    w.write_record([
        "id",
        "created_at",
        "seq",
        "actor_type",
        "actor_id",
        "actor_label",
        "action",
        "resource_type",
        "resource_id",
        "ip",
        "user_agent",
        "result",
        "summary",
        "hash",
    ])
    .map_err(internal)?;
    for r in rows {
        w.write_record([
            r.id.to_string(),
            r.created_at.to_rfc3339(),
            r.seq.to_string(),
            r.actor_type.clone(),
            r.actor_id.clone(),
            r.actor_label.clone(),
            r.action.clone(),
            r.resource_type.clone(),
            r.resource_id.clone(),
            r.ip.clone(),
            r.user_agent.clone(),
            r.result.clone(),
            r.summary.to_string(),
            r.hash.clone(),
        ])
        .map_err(internal)?;
    }
    w.into_inner()
        .map_err(|e| ApiError::from(avb_core::CoreError::Internal(e.to_string())))
}
