//! The SaaS admin portal: platform overview, tenants (search, detail, suspend, reactivate,
//! read-only impersonation), users (search, detail, disable, password reset, failed logins), the
//! cross-tenant audit log, and monitoring. Every page needs a platform permission.

pub mod alerts;
pub mod audit;
pub mod billing;
pub mod monitoring;
pub mod onboarding;
pub mod overview;
pub mod ovos;
pub mod pipeline;
pub mod plans;
pub mod tenants;
pub mod users;

use crate::chrome::Chrome;
use crate::error::PageError;
use crate::extract::Visitor;
use askama::Template;
use avb_core::CoreError;
use avb_domain::Permission;

/// The 403 page naming `permission` unless the visitor holds it as a SaaS admin (never while
/// impersonating).
pub(crate) fn require(v: &Visitor, permission: Permission) -> Result<(), PageError> {
    if v.scope.is_saas_admin() && v.scope.has(permission) {
        Ok(())
    } else {
        Err(PageError::Forbidden(permission))
    }
}

/// The page error for a failed platform call about `what` (`"tenant"`: "No such tenant.").
pub(crate) fn failed(what: &'static str) -> impl FnOnce(CoreError) -> PageError {
    PageError::or_not_found(what)
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
#[template(path = "admin/confirm.html")]
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
