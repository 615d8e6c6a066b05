//! One error type for every page handler ([`PageError`]), rendered in one place.
//!
//! A handler returns `Result<_, PageError>` and uses `?` on service calls: a `CoreError`
//! becomes the matching page (403 naming the permission, 404, 409, 503...). The error itself
//! only carries what went wrong; [`render_errors`] (a middleware that sees the request) turns
//! it into an error page inside the shell for a browser, or a fragment plus an `HX-Trigger`
//! toast for an htmx request (`HX-Request: true`), which must not swap a whole page into a
//! table cell.

use crate::chrome::Chrome;
use crate::extract::Visitor;
use askama::Template;
use avb_core::CoreError;
use avb_domain::Permission;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};
use std::sync::{Arc, OnceLock};

/// Why a page cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PageError {
    /// No session: sign in.
    SignIn,
    /// The session ended (tokens expired and could not be refreshed): sign in again.
    SessionExpired,
    /// The visitor's role lacks this permission.
    Forbidden(Permission),
    /// A form posted without the session's CSRF token (stale or forged).
    FormExpired,
    /// A change attempted while a SaaS admin views a tenant read-only.
    ReadOnly,
    /// Nothing of that kind here (or it belongs to another tenant); names the kind.
    NotFound(&'static str),
    /// A state or uniqueness conflict; the message says which.
    Conflict(String),
    /// Input the service refused; the message names the field.
    Invalid(String),
    /// Too many attempts; retry after this many seconds.
    RateLimited(u64),
    /// A dependency failed (already logged): retry later.
    Unavailable,
}

impl From<CoreError> for PageError {
    fn from(e: CoreError) -> Self {
        match e {
            CoreError::Forbidden(p) => PageError::Forbidden(p),
            CoreError::NotFound => PageError::NotFound("page"),
            CoreError::Conflict(m) | CoreError::LimitReached(m) => PageError::Conflict(m),
            CoreError::Validation(v) => PageError::Invalid(format!("{}: {}", v.field, v.message)),
            CoreError::RateLimited(secs) => PageError::RateLimited(secs),
            CoreError::Unauthorized(_) | CoreError::TotpRequired => PageError::SessionExpired,
            CoreError::TenantSuspended => PageError::Conflict("The tenant is suspended.".into()),
            CoreError::Locked(_) => PageError::Conflict("The account is locked.".into()),
            CoreError::EngineFailed(m) => PageError::Conflict(m),
            e @ (CoreError::Internal(_) | CoreError::Unavailable(_)) => {
                tracing::error!(error = %e, "portal page failed");
                PageError::Unavailable
            }
        }
    }
}

impl PageError {
    /// `NotFound` naming what was looked for (`"key"`, `"session"`...).
    pub(crate) fn not_found(what: &'static str) -> Self {
        PageError::NotFound(what)
    }

    /// Turns `CoreError::NotFound` into a 404 naming `what`, any other error as `From` does.
    pub(crate) fn or_not_found(what: &'static str) -> impl FnOnce(CoreError) -> PageError {
        move |e| match e {
            CoreError::NotFound => PageError::NotFound(what),
            e => e.into(),
        }
    }

    /// The status code of the answer.
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            PageError::SignIn | PageError::SessionExpired => StatusCode::SEE_OTHER,
            PageError::Forbidden(_) | PageError::FormExpired | PageError::ReadOnly => {
                StatusCode::FORBIDDEN
            }
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Conflict(_) => StatusCode::CONFLICT,
            PageError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            PageError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The heading of the error page.
    fn title(&self) -> &'static str {
        match self {
            PageError::SignIn | PageError::SessionExpired => "Sign in",
            PageError::Forbidden(_) | PageError::ReadOnly => "Not allowed",
            PageError::FormExpired => "Form expired",
            PageError::NotFound(_) => "Not found",
            PageError::Conflict(_) => "Not possible",
            PageError::Invalid(_) => "Not accepted",
            PageError::RateLimited(_) => "Too many attempts",
            PageError::Unavailable => "Unavailable",
        }
    }

    /// What the visitor reads (plain text; the templates escape it).
    pub(crate) fn message(&self) -> String {
        match self {
            PageError::SignIn | PageError::SessionExpired => "Sign in to continue.".into(),
            PageError::Forbidden(p) => format!(
                "This page needs the {} permission, which your role does not have.",
                p.as_str()
            ),
            PageError::FormExpired => "The form expired. Reload the page and try again.".into(),
            PageError::ReadOnly => {
                "You are viewing this tenant read-only: nothing can be changed while impersonating."
                    .into()
            }
            PageError::NotFound(what) => format!("No such {what}."),
            PageError::Conflict(m) | PageError::Invalid(m) => m.clone(),
            PageError::RateLimited(secs) => {
                format!("Too many attempts. Try again in {secs} seconds.")
            }
            PageError::Unavailable => "This is unavailable right now. Retry in a moment.".into(),
        }
    }
}

impl IntoResponse for PageError {
    /// The bare answer: a redirect to the login page, or the status with the message as text.
    /// [`render_errors`] replaces the text with the page or fragment the request wants.
    fn into_response(self) -> Response {
        let mut res = match &self {
            PageError::SignIn => Redirect::to("/login").into_response(),
            PageError::SessionExpired => Redirect::to("/login?expired=1").into_response(),
            e => (e.status(), e.message()).into_response(),
        };
        if let PageError::RateLimited(secs) = self {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res.extensions_mut().insert(self);
        res
    }
}

/// Renders a page with the given status, or a 500 when the template fails.
pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "page rendering failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be rendered.",
            )
                .into_response()
        }
    }
}

/// The signed-in visitor of this request, once the [`Visitor`] extractor found them, so an
/// error page can show the shell (navigation, sign-out) around the message.
#[derive(Clone, Default)]
pub(crate) struct ErrorShell(Arc<OnceLock<Visitor>>);

impl ErrorShell {
    /// Records the visitor (first one wins).
    pub(crate) fn set(&self, v: &Visitor) {
        let _ = self.0.set(v.clone());
    }
}

/// The 403 page naming the missing permission.
#[derive(Template)]
#[template(path = "errors/forbidden.html")]
struct ErrorForbiddenPage {
    chrome: Chrome,
    permission: &'static str,
}

/// Any other error inside the shell.
#[derive(Template)]
#[template(path = "errors/page.html")]
struct ErrorShellPage {
    chrome: Chrome,
    title: &'static str,
    message: String,
}

/// An error page for a visitor who is not signed in (no navigation to show).
#[derive(Template)]
#[template(path = "errors/plain.html")]
struct ErrorPlainPage {
    title: &'static str,
    message: String,
}

/// The fragment an htmx request swaps in (and the toast raised with it).
#[derive(Template)]
#[template(path = "errors/_fragment.html")]
struct ErrorFragment {
    message: String,
}

/// Whether the request was sent by htmx.
pub(crate) fn is_htmx(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("hx-request")
        .is_some_and(|v| v.as_bytes() == b"true")
}

/// Renders every [`PageError`] a handler returned: the page (inside the shell when the
/// visitor is known) for a browser, a fragment with an error toast for htmx.
pub async fn render_errors(mut req: Request, next: Next) -> Response {
    let htmx = is_htmx(req.headers());
    let shell = ErrorShell::default();
    req.extensions_mut().insert(shell.clone());
    let mut res = next.run(req).await;
    let Some(error) = res.extensions_mut().remove::<PageError>() else {
        return res;
    };
    if matches!(error, PageError::SignIn | PageError::SessionExpired) {
        if htmx {
            // htmx would follow the redirect and swap the login page into a fragment:
            // ask it to load the login page as a whole instead.
            let to = match error {
                PageError::SignIn => "/login",
                _ => "/login?expired=1",
            };
            let mut res = StatusCode::UNAUTHORIZED.into_response();
            res.headers_mut()
                .insert("hx-redirect", HeaderValue::from_static(to));
            return res;
        }
        return res;
    }
    let status = error.status();
    let mut page = if htmx {
        let mut r = render(
            &ErrorFragment {
                message: error.message(),
            },
            status,
        );
        let trigger = serde_json::json!({
            "toast": { "message": error.message(), "kind": "error" }
        });
        if let Ok(v) = HeaderValue::from_str(&trigger.to_string()) {
            r.headers_mut().insert("hx-trigger", v);
        }
        r
    } else {
        match (shell.0.get(), &error) {
            (Some(v), PageError::Forbidden(p)) => render(
                &ErrorForbiddenPage {
                    chrome: v.chrome("", None),
                    permission: p.as_str(),
                },
                status,
            ),
            (Some(v), e) => render(
                &ErrorShellPage {
                    chrome: v.chrome("", None),
                    title: e.title(),
                    message: e.message(),
                },
                status,
            ),
            (None, e) => render(
                &ErrorPlainPage {
                    title: e.title(),
                    message: e.message(),
                },
                status,
            ),
        }
    };
    for name in [header::RETRY_AFTER, header::SET_COOKIE] {
        for v in res.headers().get_all(&name) {
            page.headers_mut().append(name.clone(), v.clone());
        }
    }
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn core_errors_map_to_page_errors() {
        assert_eq!(
            PageError::from(CoreError::Forbidden(Permission::TeamView)),
            PageError::Forbidden(Permission::TeamView)
        );
        assert_eq!(
            PageError::from(CoreError::Internal("db".into())).status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            PageError::from(CoreError::Conflict("x".into())).status(),
            StatusCode::CONFLICT
        );
        assert_eq!(
            (PageError::or_not_found("key"))(CoreError::NotFound).message(),
            "No such key."
        );
    }

    #[test]
    fn sign_in_errors_redirect() {
        let res = PageError::SessionExpired.into_response();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(res.headers()[header::LOCATION], "/login?expired=1");
    }
}
