//! `/settings` (requires `settings:manage`): the tenant's profile and time zone, usage
//! notifications, and webhook endpoints with test sends and their delivery log.

use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, CsrfOnly, Require, Visitor, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::{tenants, webhooks};
use avb_domain::Permission;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// One webhook endpoint row.
pub struct EndpointRow {
    pub id: String,
    pub url: String,
    pub description: String,
    pub events: String,
}

/// An event checkbox.
pub struct EventChoice {
    pub name: &'static str,
    pub checked: bool,
}

/// What the forms held and which one failed.
#[derive(Default)]
struct Forms {
    name: String,
    billing_email: String,
    timezone: String,
    threshold: String,
    notify_email: String,
    hook_url: String,
    hook_description: String,
    hook_events: Vec<String>,
    error_form: &'static str,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "settings/show.html")]
struct SettingsShowPage {
    chrome: Chrome,
    name: String,
    billing_email: String,
    timezone: String,
    threshold: String,
    notify_email: String,
    endpoints: Vec<EndpointRow>,
    events: Vec<EventChoice>,
    hook_url: String,
    hook_description: String,
    error_form: &'static str,
    error: Option<String>,
}

/// `?done=`.
#[derive(Debug, Default, Deserialize)]
pub struct SettingsQuery {
    #[serde(default)]
    done: String,
}

async fn page(
    state: &PortalState,
    v: &Visitor,
    done: &str,
    mut forms: Forms,
    status: StatusCode,
) -> Result<Response, PageError> {
    if !v.scope.has(Permission::SettingsManage) {
        return Err(PageError::Forbidden(Permission::SettingsManage));
    }
    let ctx = &state.ctx;
    let (tenant, settings, endpoints) = tokio::try_join!(
        tenants::current(ctx, &v.scope),
        tenants::settings(ctx, &v.scope),
        webhooks::list(ctx, &v.scope)
    )?;
    let tenant = tenant.ok_or(PageError::Forbidden(Permission::SettingsManage))?;
    if forms.error_form != "profile" {
        forms.name = tenant.name;
        forms.billing_email = tenant.billing_email;
        forms.timezone = tenant.timezone;
    }
    if forms.error_form != "notifications" {
        forms.threshold = settings
            .as_ref()
            .and_then(|s| s.usage_threshold_requests)
            .map(|t| t.to_string())
            .unwrap_or_default();
        forms.notify_email = settings.map(|s| s.notify_email).unwrap_or_default();
    }
    let page = SettingsShowPage {
        chrome: v.chrome("/settings", Some(done)),
        name: forms.name,
        billing_email: forms.billing_email,
        timezone: forms.timezone,
        threshold: forms.threshold,
        notify_email: forms.notify_email,
        endpoints: endpoints
            .into_iter()
            .map(|e| EndpointRow {
                id: e.id.to_string(),
                url: e.url,
                description: e.description,
                events: e.events.replace(',', ", "),
            })
            .collect(),
        events: webhooks::EVENTS
            .iter()
            .map(|name| EventChoice {
                name,
                checked: forms.hook_events.is_empty()
                    || forms.hook_events.iter().any(|e| e == name),
            })
            .collect(),
        hook_url: forms.hook_url,
        hook_description: forms.hook_description,
        error_form: forms.error_form,
        error: forms.error,
    };
    Ok(render(&page, status))
}

/// `GET /settings` (requires `settings:manage`).
pub async fn show(
    State(state): State<PortalState>,
    v: Visitor,
    Query(q): Query<SettingsQuery>,
) -> Result<Response, PageError> {
    page(&state, &v, &q.done, Forms::default(), StatusCode::OK).await
}

fn message(e: &CoreError) -> Option<String> {
    match e {
        CoreError::Validation(v) => Some(format!("{}: {}", v.field, v.message)),
        _ => None,
    }
}

/// The tenant profile form.
#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    billing_email: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(ProfileForm);

/// `POST /settings/profile` (requires `settings:manage`).
pub async fn profile(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<ProfileForm>,
) -> Result<Response, PageError> {
    match tenants::update_profile(&state.ctx, &v.scope, &f.name, &f.billing_email, &f.timezone)
        .await
    {
        Ok(_) => Ok(Redirect::to("/settings?done=settings_saved").into_response()),
        Err(e) => match message(&e) {
            Some(error) => {
                let forms = Forms {
                    name: f.name,
                    billing_email: f.billing_email,
                    timezone: f.timezone,
                    error_form: "profile",
                    error: Some(error),
                    ..Forms::default()
                };
                page(&state, &v, "", forms, StatusCode::UNPROCESSABLE_ENTITY).await
            }
            None => Err(e.into()),
        },
    }
}

/// The notifications form.
#[derive(Debug, Deserialize)]
pub struct NotificationsForm {
    #[serde(default)]
    threshold: String,
    #[serde(default)]
    notify_email: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(NotificationsForm);

/// `POST /settings/notifications` (requires `settings:manage`).
pub async fn notifications(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<NotificationsForm>,
) -> Result<Response, PageError> {
    let refuse = |error: String, f: NotificationsForm| Forms {
        threshold: f.threshold,
        notify_email: f.notify_email,
        error_form: "notifications",
        error: Some(error),
        ..Forms::default()
    };
    let raw = f.threshold.trim();
    let threshold = if raw.is_empty() {
        None
    } else {
        match raw.parse::<i64>() {
            Ok(t) => Some(t),
            Err(_) => {
                let forms = refuse("usage_threshold: must be a whole number".into(), f);
                return page(&state, &v, "", forms, StatusCode::UNPROCESSABLE_ENTITY).await;
            }
        }
    };
    match tenants::update_notifications(&state.ctx, &v.scope, threshold, &f.notify_email).await {
        Ok(()) => Ok(Redirect::to("/settings?done=settings_saved").into_response()),
        Err(e) => match message(&e) {
            Some(error) => {
                let forms = refuse(error, f);
                page(&state, &v, "", forms, StatusCode::UNPROCESSABLE_ENTITY).await
            }
            None => Err(e.into()),
        },
    }
}

#[derive(Template)]
#[template(path = "settings/webhook_created.html")]
struct SettingsWebhookCreatedPage {
    chrome: Chrome,
    url: String,
    secret: String,
}

/// `POST /settings/webhooks` (requires `settings:manage`): the form arrives url-encoded with repeated `events` fields.
pub async fn create_webhook(
    State(state): State<PortalState>,
    v: Visitor,
    body: String,
) -> Result<Response, PageError> {
    let mut csrf = String::new();
    let mut url = String::new();
    let mut description = String::new();
    let mut events = Vec::new();
    for (k, val) in form_urlencoded::parse(body.as_bytes()) {
        match k.as_ref() {
            "csrf" => csrf = val.into_owned(),
            "url" => url = val.into_owned(),
            "description" => description = val.into_owned(),
            "events" => events.push(val.into_owned()),
            _ => {}
        }
    }
    v.check_form(&csrf)?;
    match webhooks::create(&state.ctx, &v.scope, &url, &description, &events).await {
        Ok((e, secret)) => {
            let page = SettingsWebhookCreatedPage {
                chrome: v.chrome("/settings", None),
                url: e.url,
                secret,
            };
            let mut res = render(&page, StatusCode::CREATED);
            res.headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(res)
        }
        Err(e) => match message(&e) {
            Some(error) => {
                let forms = Forms {
                    hook_url: url,
                    hook_description: description,
                    hook_events: events,
                    error_form: "webhook",
                    error: Some(error),
                    ..Forms::default()
                };
                page(&state, &v, "", forms, StatusCode::UNPROCESSABLE_ENTITY).await
            }
            None => Err(e.into()),
        },
    }
}

/// A row of the delivery log.
pub struct DeliveryRow {
    pub event: String,
    pub status: String,
    pub code: String,
    pub error: String,
    pub created: String,
    pub tried: Vec<AttemptRow>,
}

/// One attempt of a delivery.
pub struct AttemptRow {
    pub n: i32,
    pub at: String,
    pub code: String,
    pub error: String,
    pub ms: i64,
}

#[derive(Template)]
#[template(path = "settings/webhook_log.html")]
struct SettingsWebhookLogPage {
    chrome: Chrome,
    id: String,
    url: String,
    rows: Vec<DeliveryRow>,
    next: Option<String>,
    test: Option<String>,
}

/// `?after=` and the last test's result.
#[derive(Debug, Default, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    after: String,
    #[serde(default)]
    test: String,
}

/// The endpoint id of the path, or the 404.
fn endpoint_id(raw: &str) -> Result<avb_domain::WebhookEndpointId, PageError> {
    raw.parse()
        .map_err(|_| PageError::not_found("webhook endpoint"))
}

/// `GET /settings/webhooks/{id}` (requires `settings:manage`): the endpoint's deliveries with every attempt.
pub async fn log(
    State(state): State<PortalState>,
    v: Require<perm::SettingsManage>,
    Path(id): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    let endpoints = webhooks::list(&state.ctx, &v.scope).await?;
    let endpoint = endpoints
        .into_iter()
        .find(|e| e.id == id)
        .ok_or(PageError::not_found("webhook endpoint"))?;
    let request = avb_core::PageRequest {
        limit: 25,
        after: q.after.parse().ok(),
    };
    let listed = webhooks::deliveries(&state.ctx, &v.scope, Some(id), request).await?;
    let mut rows = Vec::with_capacity(listed.items.len());
    for d in listed.items {
        let tried = webhooks::attempts(&state.ctx, &v.scope, d.id).await?;
        rows.push(DeliveryRow {
            event: d.event_type,
            status: d.status.to_string(),
            code: d
                .last_status_code
                .map(|c| c.to_string())
                .unwrap_or_else(|| "—".into()),
            error: d.last_error,
            created: d.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
            tried: tried
                .into_iter()
                .map(|a| AttemptRow {
                    n: a.attempt,
                    at: a.created_at.format("%H:%M:%S").to_string(),
                    code: a
                        .status_code
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "—".into()),
                    error: a.error,
                    ms: a.duration_ms,
                })
                .collect(),
        });
    }
    let test = match q.test.as_str() {
        "" => None,
        t if t.chars().all(|c| c.is_ascii_digit()) => {
            Some(format!("The endpoint answered HTTP {t}."))
        }
        "timeout" => Some("The endpoint did not answer in time.".into()),
        _ => Some("The endpoint could not be reached.".into()),
    };
    let page = SettingsWebhookLogPage {
        chrome: v.chrome("/settings", None),
        id: id.to_string(),
        url: endpoint.url,
        rows,
        next: listed.next.map(|n| n.to_string()),
        test,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /settings/webhooks/{id}/test` (requires `settings:manage`): sends a signed
/// `webhook.test` now and shows the answer.
pub async fn test(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    match webhooks::send_test(&state.ctx, &v.scope, id).await {
        Ok(r) => {
            let outcome = match r.status_code {
                Some(code) => code.to_string(),
                None if r.error.contains("timed out") => "timeout".into(),
                None => "unreachable".into(),
            };
            Ok(Redirect::to(&format!("/settings/webhooks/{id}?test={outcome}")).into_response())
        }
        Err(e) => Err(PageError::or_not_found("webhook endpoint")(e)),
    }
}

/// `POST /settings/webhooks/{id}/delete` (requires `settings:manage`).
pub async fn delete(
    State(state): State<PortalState>,
    Path(id): Path<String>,
    CsrfForm(v, _): CsrfForm<CsrfOnly>,
) -> Result<Response, PageError> {
    let id = endpoint_id(&id)?;
    match webhooks::delete(&state.ctx, &v.scope, id).await {
        Ok(()) => Ok(Redirect::to("/settings?done=webhook_deleted").into_response()),
        Err(e) => Err(PageError::or_not_found("webhook endpoint")(e)),
    }
}
