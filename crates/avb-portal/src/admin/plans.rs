//! `/admin/plans`: every plan with price, interval, features, limits and subscribers; create a
//! plan, edit it (a new version for new subscriptions), deprecate or offer it again. Usage
//! charges are entered per metric as a price per unit; graduated and package charges in Lago's
//! JSON form. Requires `platform:tenants`.

use super::require;
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::plans::{self, PlanVersionView, PlanView};
use avb_domain::Permission;
use avb_domain::pricing::{METRICS, PlanTerms};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

/// The plan form's fields, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub currency: String,
    #[serde(default)]
    pub interval: String,
    #[serde(default)]
    pub amount: String,
    /// One feature per line.
    #[serde(default)]
    pub features: String,
    #[serde(default)]
    pub seats: String,
    #[serde(default)]
    pub concurrent_sessions: String,
    #[serde(default)]
    pub requests_per_minute: String,
    #[serde(default)]
    pub tokens_per_minute: String,
    #[serde(default)]
    pub monthly_audio_minutes: String,
    #[serde(default)]
    pub price_audio_minutes_input: String,
    #[serde(default)]
    pub price_audio_minutes_output: String,
    #[serde(default)]
    pub price_llm_tokens_input: String,
    #[serde(default)]
    pub price_llm_tokens_output: String,
    #[serde(default)]
    pub price_api_requests: String,
    /// Other charges (graduated, package) as a JSON array in Lago's form.
    #[serde(default)]
    pub advanced_charges: String,
    #[serde(default)]
    pub csrf: String,
}
has_csrf!(PlanForm);

impl PlanForm {
    fn price(&self, metric: &str) -> &str {
        match metric {
            "audio_minutes_input" => &self.price_audio_minutes_input,
            "audio_minutes_output" => &self.price_audio_minutes_output,
            "llm_tokens_input" => &self.price_llm_tokens_input,
            "llm_tokens_output" => &self.price_llm_tokens_output,
            _ => &self.price_api_requests,
        }
    }

    /// The form of an existing plan's terms.
    fn from_terms(t: &PlanTerms) -> Self {
        let mut f = Self {
            code: t.code.clone(),
            name: t.name.clone(),
            description: t.description.clone(),
            currency: t.currency.code().into(),
            interval: serde_json::to_value(t.interval)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            amount: t.amount.to_string(),
            features: t.features.join("\n"),
            ..Self::default()
        };
        let n = |v: Option<u64>| v.map(|n| n.to_string()).unwrap_or_default();
        f.seats = n(t.limits.seats);
        f.concurrent_sessions = n(t.limits.concurrent_sessions);
        f.requests_per_minute = n(t.limits.requests_per_minute);
        f.tokens_per_minute = n(t.limits.tokens_per_minute);
        f.monthly_audio_minutes = n(t.limits.monthly_audio_minutes);
        let mut advanced = Vec::new();
        for c in &t.charges {
            let v = serde_json::to_value(c).unwrap_or(Value::Null);
            if v["charge_model"] == "standard" {
                let price = v["amount"].as_str().unwrap_or_default().to_string();
                match c.metric.as_str() {
                    "audio_minutes_input" => f.price_audio_minutes_input = price,
                    "audio_minutes_output" => f.price_audio_minutes_output = price,
                    "llm_tokens_input" => f.price_llm_tokens_input = price,
                    "llm_tokens_output" => f.price_llm_tokens_output = price,
                    _ => f.price_api_requests = price,
                }
            } else {
                advanced.push(v);
            }
        }
        if !advanced.is_empty() {
            f.advanced_charges = serde_json::to_string_pretty(&advanced).unwrap_or_default();
        }
        f
    }

    /// The terms the form describes, or what is wrong with it (field: message).
    fn terms(&self) -> Result<PlanTerms, String> {
        let number = |field: &str, raw: &str| -> Result<Value, String> {
            match raw.trim() {
                "" => Ok(Value::Null),
                s => s.parse::<u64>().map(|n| json!(n)).map_err(|_| {
                    format!("{field}: must be a whole number, or empty for unlimited")
                }),
            }
        };
        let mut charges: Vec<Value> = Vec::new();
        for m in METRICS {
            let p = self.price(m).trim();
            if !p.is_empty() {
                charges.push(json!({"metric": m, "charge_model": "standard", "amount": p}));
            }
        }
        if !self.advanced_charges.trim().is_empty() {
            match serde_json::from_str::<Value>(&self.advanced_charges) {
                Ok(Value::Array(more)) => charges.extend(more),
                _ => {
                    return Err(
                        "advanced_charges: must be a JSON array of charges, e.g. [{\"metric\": \"llm_tokens_output\", \"charge_model\": \"package\", \"amount\": \"1\", \"package_size\": 1000, \"free_units\": 0}]"
                            .into(),
                    );
                }
            }
        }
        let body = json!({
            "code": self.code.trim(),
            "name": self.name.trim(),
            "description": self.description.trim(),
            "currency": self.currency.trim(),
            "interval": self.interval.trim(),
            "amount": if self.amount.trim().is_empty() { "0" } else { self.amount.trim() },
            "charges": charges,
            "features": self.features.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>(),
            "limits": {
                "seats": number("seats", &self.seats)?,
                "concurrent_sessions": number("concurrent_sessions", &self.concurrent_sessions)?,
                "requests_per_minute": number("requests_per_minute", &self.requests_per_minute)?,
                "tokens_per_minute": number("tokens_per_minute", &self.tokens_per_minute)?,
                "monthly_audio_minutes": number("monthly_audio_minutes", &self.monthly_audio_minutes)?,
            },
        });
        serde_json::from_value(body).map_err(|e| format!("plan: {e}"))
    }
}

/// A plan row of the list.
pub struct PlanRow {
    pub p: PlanView,
    pub price: String,
}

#[derive(Template)]
#[template(path = "admin/plans/list.html")]
struct ListPage {
    chrome: Chrome,
    rows: Vec<PlanRow>,
    form: PlanForm,
    metrics: &'static [&'static str],
    currencies: Vec<&'static str>,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "admin/plans/detail.html")]
struct DetailPage {
    chrome: Chrome,
    row: PlanRow,
    versions: Vec<(PlanVersionView, String)>,
    subscribers: Vec<plans::SubscriberView>,
    form: PlanForm,
    metrics: &'static [&'static str],
    currencies: Vec<&'static str>,
    error: Option<String>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct DoneQuery {
    #[serde(default)]
    done: String,
}

fn currencies() -> Vec<&'static str> {
    avb_domain::pricing::Currency::all()
        .iter()
        .map(|c| c.code())
        .collect()
}

async fn list_page(
    state: &PortalState,
    v: &crate::extract::Visitor,
    done: &str,
    form: PlanForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    require(v, Permission::PlatformTenants)?;
    let rows = plans::list(&state.ctx, &v.scope)
        .await?
        .into_iter()
        .map(|p| PlanRow {
            price: crate::billing::price(&p.terms),
            p,
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        chrome: v.chrome("/admin/plans", Some(done)),
        rows,
        form,
        metrics: METRICS,
        currencies: currencies(),
        error,
    };
    Ok(render(&page, status))
}

/// `GET /admin/plans`.
pub async fn list(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    let form = PlanForm {
        currency: "USD".into(),
        interval: "monthly".into(),
        ..PlanForm::default()
    };
    list_page(&state, &v, &q.done, form, None).await
}

/// `POST /admin/plans`: creates a plan; a refused form is shown again with the reason.
pub async fn create(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<PlanForm>,
) -> Result<Response, PageError> {
    require(&v, Permission::PlatformTenants)?;
    let terms = match f.terms() {
        Ok(t) => t,
        Err(e) => return list_page(&state, &v, "", f, Some(e)).await,
    };
    match plans::create(&state.ctx, &v.scope, terms).await {
        Ok(p) => {
            Ok(Redirect::to(&format!("/admin/plans/{}?done=plan_created", p.id)).into_response())
        }
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            list_page(&state, &v, "", f, Some(msg)).await
        }
        Err(e) => Err(e.into()),
    }
}

async fn detail_page(
    state: &PortalState,
    v: &crate::extract::Visitor,
    id: Uuid,
    done: &str,
    form: Option<PlanForm>,
    error: Option<String>,
) -> Result<Response, PageError> {
    require(v, Permission::PlatformTenants)?;
    let (p, versions) = plans::get(&state.ctx, &v.scope, id)
        .await
        .map_err(PageError::or_not_found("plan"))?;
    let subscribers = plans::subscribers(&state.ctx, &v.scope, id).await?;
    let form = form.unwrap_or_else(|| PlanForm::from_terms(&p.terms));
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = DetailPage {
        chrome: v.chrome("/admin/plans", Some(done)),
        versions: versions
            .into_iter()
            .map(|ver| {
                let p = crate::billing::price(&ver.terms);
                (ver, p)
            })
            .collect(),
        row: PlanRow {
            price: crate::billing::price(&p.terms),
            p,
        },
        subscribers,
        form,
        metrics: METRICS,
        currencies: currencies(),
        error,
    };
    Ok(render(&page, status))
}

fn parse_id(raw: &str) -> Result<Uuid, PageError> {
    raw.parse().map_err(|_| PageError::NotFound("plan"))
}

/// `GET /admin/plans/{id}`.
pub async fn detail(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
    Path(id): Path<String>,
    Query(q): Query<DoneQuery>,
) -> Result<Response, PageError> {
    detail_page(&state, &v, parse_id(&id)?, &q.done, None, None).await
}

/// `POST /admin/plans/{id}`: saves the form as the plan's next version.
pub async fn update(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, f): CsrfForm<PlanForm>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let terms = match f.terms() {
        Ok(t) => t,
        Err(e) => return detail_page(&state, &v, id, "", Some(f), Some(e)).await,
    };
    match plans::update(&state.ctx, &v.scope, id, terms).await {
        Ok(_) => Ok(Redirect::to(&format!("/admin/plans/{id}?done=plan_updated")).into_response()),
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            detail_page(&state, &v, id, "", Some(f), Some(msg)).await
        }
        Err(e) => Err(PageError::or_not_found("plan")(e)),
    }
}

/// `POST /admin/plans/{id}/deprecate` and `/reactivate`.
pub async fn set_offered(
    State(state): State<PortalState>,
    Path((id, action)): Path<(String, String)>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let offered = match action.as_str() {
        "deprecate" => false,
        "reactivate" => true,
        _ => return Err(PageError::NotFound("action")),
    };
    plans::set_offered(&state.ctx, &v.scope, id, offered)
        .await
        .map_err(PageError::or_not_found("plan"))?;
    let done = if offered {
        "plan_reactivated"
    } else {
        "plan_deprecated"
    };
    Ok(Redirect::to(&format!("/admin/plans/{id}?done={done}")).into_response())
}
