//! Extractors of the portal's handlers (docs.rs's `AxumNope` style): a handler names what it
//! needs in its arguments and never repeats the checks.
//!
//! - [`Visitor`]: the signed-in visitor, else the redirect to the login page.
//! - [`Require<P>`]: the visitor holding permission `P` (a marker of [`perm`]), else the 403
//!   page naming it.
//! - [`CsrfForm<T>`]: a posted form whose `csrf` field matches the session's token, from a
//!   visitor who may change things (not a read-only view of a tenant).
//!
//! Every rejection is a [`PageError`], rendered by [`crate::error::render_errors`].

use crate::PortalState;
use crate::error::{ErrorShell, PageError};
use crate::session::same_token;
pub(crate) use crate::visitor::Visitor;
use avb_core::Scope;
use avb_domain::{Permission, TenantId};
use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::Deref;

/// The peer address of the connection (unspecified when the server was started without
/// connect info, as in some in-process tests).
pub(crate) struct Peer(pub SocketAddr);

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Peer(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0)
                .unwrap_or_else(|| SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
        ))
    }
}

impl FromRequestParts<PortalState> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Self, PageError> {
        if let Some(v) = parts.extensions.get::<Visitor>() {
            return Ok(v.clone());
        }
        let Peer(peer) = Peer::from_request_parts(parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let v = crate::visitor::visitor(state, &parts.headers, peer).await?;
        if let Some(shell) = parts.extensions.get::<ErrorShell>() {
            shell.set(&v);
        }
        // A second extractor of the same request (Require and CsrfForm both) looks it up once:
        // an impersonated page view is audited once.
        parts.extensions.insert(v.clone());
        Ok(v)
    }
}

/// A permission a handler requires, as a type (see [`perm`]).
pub(crate) trait RequiredPermission {
    /// The permission.
    const PERMISSION: Permission;
    /// Whether it is a platform permission, which only a SaaS admin acting as themselves
    /// (never while viewing a tenant) holds.
    const PLATFORM: bool;
}

/// The permissions handlers require, as marker types for [`Require`].
pub(crate) mod perm {
    use super::RequiredPermission;
    use avb_domain::Permission;

    macro_rules! markers {
        ($($name:ident: $platform:literal;)*) => {$(
            #[doc = concat!("`", stringify!($name), "`.")]
            pub(crate) struct $name;
            impl RequiredPermission for $name {
                const PERMISSION: Permission = Permission::$name;
                const PLATFORM: bool = $platform;
            }
        )*};
    }

    markers! {
        SessionsView: false;
        SessionsManage: false;
        ProjectsView: false;
        ApiKeysView: false;
        ApiKeysManage: false;
        TeamView: false;
        TeamManage: false;
        SettingsManage: false;
        UsageView: false;
        BillingView: false;
        BillingManage: false;
        PlatformTenants: true;
        PlatformUsers: true;
        PlatformAudit: true;
    }
}

/// The signed-in visitor holding permission `P`; derefs to the [`Visitor`].
pub(crate) struct Require<P> {
    visitor: Visitor,
    _p: PhantomData<P>,
}

impl<P> Deref for Require<P> {
    type Target = Visitor;
    fn deref(&self) -> &Visitor {
        &self.visitor
    }
}

/// Whether `scope` holds `P` (a platform permission only as a SaaS admin).
pub(crate) fn holds<P: RequiredPermission>(scope: &Scope) -> bool {
    scope.has(P::PERMISSION) && (!P::PLATFORM || scope.is_saas_admin())
}

impl<P: RequiredPermission + Send + Sync> FromRequestParts<PortalState> for Require<P> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &PortalState) -> Result<Self, PageError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        if !holds::<P>(&visitor.scope) {
            return Err(PageError::Forbidden(P::PERMISSION));
        }
        Ok(Require {
            visitor,
            _p: PhantomData,
        })
    }
}

/// A form with the session's CSRF token in its `csrf` field.
pub(crate) trait HasCsrf {
    /// The posted token.
    fn csrf(&self) -> &str;
}

/// Implements [`HasCsrf`] for forms with a `csrf: String` field.
macro_rules! has_csrf {
    ($($form:ty),* $(,)?) => {$(
        impl crate::extract::HasCsrf for $form {
            fn csrf(&self) -> &str {
                &self.csrf
            }
        }
    )*};
}
pub(crate) use has_csrf;

/// A form that carries only the CSRF field (confirmations, row actions, logout).
#[derive(Debug, Deserialize)]
pub struct CsrfOnly {
    #[serde(default)]
    pub csrf: String,
}
has_csrf!(CsrfOnly);

impl Visitor {
    /// Whether the visitor may post a form carrying `csrf`: refused while a SaaS admin views a
    /// tenant read-only, and when the token is not the session's (a stale or forged form).
    /// [`CsrfForm`] does this; handlers parsing a body by hand call it.
    pub(crate) fn check_form(&self, csrf: &str) -> Result<(), PageError> {
        if self.impersonating.is_some() {
            return Err(PageError::ReadOnly);
        }
        if !same_token(&self.csrf, csrf) {
            return Err(PageError::FormExpired);
        }
        Ok(())
    }
}

/// A posted form from the signed-in visitor, its CSRF token checked, refused while a SaaS
/// admin views a tenant read-only.
pub(crate) struct CsrfForm<T>(pub Visitor, pub T);

impl<T> FromRequest<PortalState> for CsrfForm<T>
where
    T: DeserializeOwned + HasCsrf + Send,
{
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &PortalState) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (mut parts, body) = req.into_parts();
        let visitor = Visitor::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        visitor
            .check_form(form.csrf())
            .map_err(IntoResponse::into_response)?;
        Ok(CsrfForm(visitor, form))
    }
}

/// The signed-in user as themselves, whatever tenant they are viewing, with that tenant and
/// the form's CSRF check: for signing out and for leaving a read-only view (neither is a page
/// of the tenant to audit, and both must work while viewing).
pub(crate) struct SelfForm {
    pub scope: Scope,
    pub viewing: Option<TenantId>,
}

impl FromRequest<PortalState> for SelfForm {
    type Rejection = axum::response::Response;

    async fn from_request(req: Request, state: &PortalState) -> Result<Self, Self::Rejection> {
        use axum::response::IntoResponse;
        let (mut parts, body) = req.into_parts();
        let Peer(peer) = Peer::from_request_parts(&mut parts, state)
            .await
            .unwrap_or_else(|e| match e {});
        let (scope, session) = crate::visitor::own_scope(state, &parts.headers, peer)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<CsrfOnly>::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if !same_token(&session.csrf, &form.csrf) {
            return Err(PageError::FormExpired.into_response());
        }
        Ok(SelfForm {
            scope,
            viewing: session.impersonating,
        })
    }
}
