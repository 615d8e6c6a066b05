//! The SaaS admin portal: platform overview, tenants (search, detail, suspend, reactivate,
//! read-only impersonation), users (search, detail, disable, password reset, failed logins), the
//! cross-tenant audit log, and monitoring. Every page needs a platform permission.

pub mod alerts;
pub mod audit;
pub mod monitoring;
pub mod overview;
pub mod tenants;
pub mod users;

use crate::pages::{Chrome, Visitor, forbidden};
use askama::Template;
use avb_core::CoreError;
use avb_domain::Permission;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

/// The 403 page naming `permission` unless the visitor holds it as a SaaS admin (never while
/// impersonating).
pub(crate) fn require(v: &Visitor, permission: Permission) -> Option<Response> {
    if v.scope.is_saas_admin() && v.scope.has(permission) {
        None
    } else {
        Some(forbidden(v, permission))
    }
}

/// The response for a failed platform call.
pub(crate) fn failed(v: &Visitor, what: &str, e: CoreError) -> Response {
    match e {
        CoreError::Forbidden(p) => forbidden(v, p),
        CoreError::NotFound => (StatusCode::NOT_FOUND, format!("No such {what}.")).into_response(),
        CoreError::Conflict(m) => (StatusCode::CONFLICT, m).into_response(),
        e => {
            tracing::error!(error = %e, "admin page: {what} failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("The {what} is unavailable right now. Retry in a moment."),
            )
                .into_response()
        }
    }
}

/// A number for display: whole numbers without decimals.
pub(crate) fn amount(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

/// The confirmation page before a platform action (suspend, reactivate, disable, enable).
#[derive(Template)]
#[template(path = "admin_confirm.html")]
pub(crate) struct ConfirmPage {
    pub chrome: Chrome,
    pub title: String,
    pub body: String,
    /// Where the form posts.
    pub action: String,
    pub button: &'static str,
    /// Where "Cancel" goes.
    pub cancel: String,
}
