//! `/admin/tenants/new`: the SaaS admin creates a tenant (name, billing e-mail, plan, time
//! zone) and invites its owner by e-mail, who lands in the tenant portal when accepting.
//! Requires `platform:tenants`.

use super::require;
use crate::PortalState;
use crate::chrome::Chrome;
use crate::error::{PageError, render};
use crate::extract::{CsrfForm, Require, has_csrf, perm};
use askama::Template;
use avb_core::CoreError;
use avb_core::services::{members, plans, subscriptions, tenants};
use avb_domain::Permission;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The form, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewTenantForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    billing_email: String,
    #[serde(default)]
    plan: String,
    #[serde(default)]
    timezone: String,
    #[serde(default)]
    owner_email: String,
    #[serde(default)]
    csrf: String,
}
has_csrf!(NewTenantForm);

#[derive(Template)]
#[template(path = "admin/tenants/new.html")]
struct NewTenantPage {
    chrome: Chrome,
    form: NewTenantForm,
    /// (code, label).
    plans: Vec<(String, String)>,
    error: Option<String>,
}

async fn page(
    state: &PortalState,
    v: &crate::extract::Visitor,
    form: NewTenantForm,
    error: Option<String>,
) -> Result<Response, PageError> {
    require(v, Permission::PlatformTenants)?;
    let plans = plans::offered(&state.ctx)
        .await?
        .into_iter()
        .map(|p| {
            let label = format!("{} ({})", p.terms.name, p.code);
            (p.code, label)
        })
        .collect();
    let status = if error.is_some() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    let page = NewTenantPage {
        chrome: v.chrome("/admin/tenants", None),
        form,
        plans,
        error,
    };
    Ok(render(&page, status))
}

/// `GET /admin/tenants/new`.
pub async fn form(
    State(state): State<PortalState>,
    v: Require<perm::PlatformTenants>,
) -> Result<Response, PageError> {
    let form = NewTenantForm {
        timezone: "UTC".into(),
        plan: plans::DEFAULT_PLAN.into(),
        ..NewTenantForm::default()
    };
    page(&state, &v, form, None).await
}

/// `POST /admin/tenants/new`: creates the tenant on the chosen plan and invites its owner.
/// Every field is checked first: the plan must be on offer and the owner's e-mail valid.
pub async fn create(
    State(state): State<PortalState>,
    CsrfForm(v, f): CsrfForm<NewTenantForm>,
) -> Result<Response, PageError> {
    require(&v, Permission::PlatformTenants)?;
    let ctx = &state.ctx;
    let offered = plans::offered(ctx).await?;
    if !offered.iter().any(|p| p.code == f.plan) {
        return page(&state, &v, f, Some("plan: choose a plan on offer".into())).await;
    }
    if avb_domain::Email::parse("owner_email", &f.owner_email).is_err() {
        return page(
            &state,
            &v,
            f,
            Some("owner_email: must be an e-mail address".into()),
        )
        .await;
    }
    let input = tenants::NewTenantInput {
        name: f.name.clone(),
        billing_email: f.billing_email.clone(),
        plan: Some(f.plan.clone()),
        timezone: Some(f.timezone.clone()),
    };
    let tenant = match tenants::create(ctx, &v.scope, input).await {
        Ok(t) => t,
        Err(CoreError::Validation(e)) => {
            let msg = format!("{}: {}", e.field, e.message);
            return page(&state, &v, f, Some(msg)).await;
        }
        Err(e) => return Err(e.into()),
    };
    subscriptions::ensure(ctx, tenant.id).await?;
    members::invite_owner(ctx, &v.scope, tenant.id, &f.owner_email).await?;
    Ok(Redirect::to(&format!("/admin/tenants/{}?done=tenant_created", tenant.id)).into_response())
}
