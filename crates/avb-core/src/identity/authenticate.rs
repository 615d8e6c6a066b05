//! Turns a presented credential into a [`Scope`]. This is the only place scopes for requests are
//! made: API keys, locally issued JWTs (checked against the server-side session) and Keycloak JWTs.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::session_cache::CachedSession;
use crate::scope::{Actor, RequestMeta, Scope};
use avb_domain::{
    AuthSessionId, KeyScope, Permission, Role, TenantId, TenantStatus, UserId, UserStatus,
};
use avb_storage::repos::{auth_sessions, memberships, tenants, users};
use chrono::Utc;
use std::collections::BTreeSet;

/// A credential taken from a request.
#[derive(Debug, Clone, Copy)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <token>` (API key or JWT).
    Bearer(&'a str),
}

/// Permissions an API key's scopes grant.
pub fn key_permissions(scopes: &[KeyScope]) -> BTreeSet<Permission> {
    scopes
        .iter()
        .map(|s| match s {
            KeyScope::Realtime => Permission::RealtimeConnect,
            KeyScope::Sessions => Permission::SessionsView,
            KeyScope::Usage => Permission::UsageView,
        })
        .collect()
}

/// Authenticates a bearer token of any supported kind.
pub async fn authenticate_bearer(
    ctx: &AppContext,
    token: &str,
    meta: RequestMeta,
) -> CoreResult<Scope> {
    let token = token.trim();
    if token.is_empty() {
        return Err(CoreError::Unauthorized("empty bearer token"));
    }
    if token.starts_with("avb_") {
        let key = ctx.keys.verify(&ctx.store, token).await?;
        let scope = Scope::new(
            Actor::ApiKey {
                id: key.id,
                prefix: key.prefix.clone(),
                project: key.project,
            },
            Some(key.tenant),
            None,
            false,
            None,
            meta,
        );
        return Ok(scope.with_permissions(key_permissions(&key.scopes)));
    }
    if ctx.jwt.is_ours(token) {
        return local_jwt(ctx, token, meta).await;
    }
    if let Some(kc) = &ctx.keycloak {
        return keycloak_jwt(ctx, kc, token, meta).await;
    }
    Err(CoreError::Unauthorized("unrecognised bearer token"))
}

async fn local_jwt(ctx: &AppContext, token: &str, meta: RequestMeta) -> CoreResult<Scope> {
    let claims = ctx.jwt.verify(token)?;
    let user_id: UserId = claims
        .sub
        .parse()
        .map_err(|_| CoreError::Unauthorized("invalid token subject"))?;
    let sid: AuthSessionId = claims
        .sid
        .parse()
        .map_err(|_| CoreError::Unauthorized("invalid token session"))?;
    let tenant: Option<TenantId> = match &claims.tid {
        Some(t) => Some(
            t.parse()
                .map_err(|_| CoreError::Unauthorized("invalid token tenant"))?,
        ),
        None => None,
    };
    let session = match ctx
        .sessions
        .get(sid)
        .filter(|s| s.user == user_id && s.tenant == tenant)
    {
        Some(s) => s,
        None => {
            let s = load_session(ctx, sid, user_id, tenant).await?;
            ctx.sessions.put(sid, s.clone());
            s
        }
    };
    let actor = Actor::User {
        id: user_id,
        email: session.email,
    };
    Ok(Scope::new(
        actor,
        tenant,
        session.role,
        session.saas_admin,
        Some(sid),
        meta,
    ))
}

/// Checks the server-side session, the user and the membership behind a local access token.
async fn load_session(
    ctx: &AppContext,
    sid: AuthSessionId,
    user_id: UserId,
    tenant: Option<TenantId>,
) -> CoreResult<CachedSession> {
    let tx = ctx.store.platform_tx(false).await?;
    let session = auth_sessions::get(&tx, sid)
        .await
        .map_err(|_| CoreError::Unauthorized("session has ended"))?;
    if session.revoked_at.is_some()
        || session.expires_at <= Utc::now()
        || session.user_id != user_id.as_uuid()
    {
        return Err(CoreError::Unauthorized("session has ended"));
    }
    let user = users::get(&tx, user_id)
        .await
        .map_err(|_| CoreError::Unauthorized("user no longer exists"))?;
    if UserStatus::from_stored(&user.status) != UserStatus::Active {
        return Err(CoreError::Unauthorized("user is disabled"));
    }
    let role = match tenant {
        Some(t) => {
            let tenant_row = tenants::get(&tx, t).await?;
            if TenantStatus::from_stored(&tenant_row.status) != TenantStatus::Active {
                return Err(CoreError::TenantSuspended);
            }
            let m = memberships::for_user(&tx, user_id)
                .await?
                .into_iter()
                .find(|m| m.tenant_id == t.as_uuid())
                .ok_or(CoreError::Unauthorized("no longer a member of this tenant"))?;
            Some(
                m.role
                    .parse::<Role>()
                    .map_err(|_| CoreError::Internal("stored role is invalid".into()))?,
            )
        }
        None => None,
    };
    tx.commit().await?;
    Ok(CachedSession::new(
        user_id,
        user.email,
        tenant,
        role,
        user.is_saas_admin,
        session.expires_at,
    ))
}

async fn keycloak_jwt(
    ctx: &AppContext,
    kc: &crate::identity::keycloak::KeycloakVerifier,
    token: &str,
    meta: RequestMeta,
) -> CoreResult<Scope> {
    let id = kc.verify(token).await?;
    if ctx.revocations.blocked.contains(&id.subject) {
        return Err(CoreError::Unauthorized("account is disabled"));
    }
    let saas_admin = id.roles.iter().any(|r| r == Role::SaasAdmin.as_str());
    // The strongest tenant role named in the token wins.
    let role = Role::TENANT_ROLES
        .iter()
        .copied()
        .find(|r| id.roles.iter().any(|n| n == r.as_str()));
    let tenant = match &id.tenant {
        Some(t) => {
            let t: TenantId = t
                .parse()
                .map_err(|_| CoreError::Unauthorized("tenant claim is not a tenant id"))?;
            let tx = ctx.store.platform_tx(false).await?;
            let row = tenants::get(&tx, t)
                .await
                .map_err(|_| CoreError::Unauthorized("unknown tenant in token"))?;
            tx.commit().await?;
            if TenantStatus::from_stored(&row.status) != TenantStatus::Active {
                return Err(CoreError::TenantSuspended);
            }
            Some(t)
        }
        None => None,
    };
    if tenant.is_none() && !saas_admin {
        return Err(CoreError::Unauthorized("token names no tenant"));
    }
    let role = if tenant.is_some() { role } else { None };
    Ok(Scope::new(
        Actor::External {
            subject: id.subject,
            email: id.email,
        },
        tenant,
        role,
        saas_admin,
        None,
        meta,
    ))
}
