//! The SaaS admin's platform-wide views: totals, top tenants by usage, a tenant's detail, and
//! user administration across tenants (list, detail, disable, password reset, failed logins).
//! Every call requires a platform permission; platform-wide reads are audited.
//!
//! When Keycloak holds the users (`ctx.keycloak_admin` is set), the user calls are answered by
//! its Admin REST API through [`KeycloakAdmin`], audited here the same way; list cursors are
//! then Keycloak offsets (see `identity::keycloak_admin`).

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::keycloak_admin::{KeycloakAdmin, KeycloakUserExt, UPDATE_PASSWORD};
use crate::scope::{Actor, Scope};
use crate::services::revocation::Revocation;
pub use crate::views::{LoginEvent, User, UserView};
use avb_domain::{Permission, TenantId, TenantStatus, UserId, UserStatus};
use avb_storage::repos::{
    audit as audit_repo, auth_sessions, login_events, memberships, realtime_sessions, tenants,
    usage, users,
};
use avb_storage::{Page, PageRequest};
use chrono::{Duration, Utc};
use std::collections::HashMap;
use uuid::Uuid;

/// One tenant's usage in the window.
#[derive(Debug, Clone)]
pub struct TenantUsage {
    pub tenant_id: Uuid,
    pub name: String,
    pub requests: f64,
    pub audio_minutes: f64,
}

/// The admin dashboard's figures.
#[derive(Debug, Clone)]
pub struct Overview {
    pub tenants: u64,
    pub suspended: u64,
    pub active_sessions: u64,
    pub requests_30d: f64,
    pub audio_minutes_30d: f64,
    pub tokens_30d: f64,
    /// The 10 tenants with the most requests in 30 days.
    pub top: Vec<TenantUsage>,
}

/// Platform totals for the admin dashboard (requires `platform:tenants`).
pub async fn overview(ctx: &AppContext, scope: &Scope) -> CoreResult<Overview> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let now = Utc::now();
    let all = tenants::list(
        &tx,
        None,
        PageRequest {
            limit: 10_000,
            after: None,
        },
    )
    .await?;
    let names: HashMap<Uuid, (String, TenantStatus)> = all
        .items
        .iter()
        .map(|t| (t.id, (t.name.clone(), TenantStatus::from_stored(&t.status))))
        .collect();
    let active_sessions = realtime_sessions::active_ids(&tx).await?.len() as u64;
    let rows = usage::by_tenant(&tx, now - Duration::days(30), now).await?;
    tx.commit().await?;
    let mut per: HashMap<Uuid, TenantUsage> = HashMap::new();
    let (mut requests, mut minutes, mut tokens) = (0.0, 0.0, 0.0);
    for (tenant, metric, total) in rows {
        let e = per.entry(tenant).or_insert_with(|| TenantUsage {
            tenant_id: tenant,
            name: names
                .get(&tenant)
                .map(|(n, _)| n.clone())
                .unwrap_or_else(|| tenant.to_string()),
            requests: 0.0,
            audio_minutes: 0.0,
        });
        match metric.as_str() {
            "requests" => {
                e.requests += total;
                requests += total;
            }
            "audio_minutes_input" | "audio_minutes_output" => {
                e.audio_minutes += total;
                minutes += total;
            }
            "llm_tokens_input" | "llm_tokens_output" => tokens += total,
            _ => {}
        }
    }
    let mut top: Vec<TenantUsage> = per.into_values().collect();
    top.sort_by(|a, b| {
        b.requests
            .total_cmp(&a.requests)
            .then(b.audio_minutes.total_cmp(&a.audio_minutes))
    });
    top.truncate(10);
    Ok(Overview {
        tenants: names.len() as u64,
        suspended: names
            .values()
            .filter(|(_, s)| *s == TenantStatus::Suspended)
            .count() as u64,
        active_sessions,
        requests_30d: requests,
        audio_minutes_30d: minutes,
        tokens_30d: tokens,
        top,
    })
}

async fn with_memberships(tx: &avb_storage::store::Tx, user: User) -> CoreResult<UserView> {
    let ms = memberships::for_user(tx, user.id).await?;
    let mut out = Vec::with_capacity(ms.len());
    for m in ms {
        let name = tenants::get(tx, TenantId(m.tenant_id))
            .await
            .map(|t| t.name)
            .unwrap_or_default();
        out.push((TenantId(m.tenant_id), name, m.role));
    }
    Ok(UserView {
        user,
        memberships: out,
    })
}

/// Users across the platform, searching name, e-mail or id (requires `platform:users`).
pub async fn users(
    ctx: &AppContext,
    scope: &Scope,
    q: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<UserView>> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    if let Some(kc) = &ctx.keycloak_admin {
        return keycloak_users(ctx, kc, q, page).await;
    }
    let tx = ctx.store.platform_tx(false).await?;
    let listed = users::list(&tx, q, page).await?;
    let mut items = Vec::with_capacity(listed.items.len());
    for u in listed.items {
        items.push(with_memberships(&tx, u.into()).await?);
    }
    tx.commit().await?;
    Ok(Page {
        items,
        next: listed.next,
    })
}

/// One user with memberships and recent logins (requires `platform:users`; audited).
pub async fn user(
    ctx: &AppContext,
    scope: &Scope,
    id: UserId,
) -> CoreResult<(UserView, Vec<LoginEvent>)> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    if let Some(kc) = &ctx.keycloak_admin {
        return keycloak_user(ctx, kc, scope, id).await;
    }
    let tx = ctx.store.platform_tx(true).await?;
    let u = users::get(&tx, id).await.map_err(|_| CoreError::NotFound)?;
    let view = with_memberships(&tx, u.into()).await?;
    let logins = login_events::list_for_user(
        &tx,
        id,
        PageRequest {
            limit: 20,
            after: None,
        },
    )
    .await?
    .items
    .into_iter()
    .map(LoginEvent::from)
    .collect();
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "admin.user.view",
            "user",
            id,
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((view, logins))
}

/// Disables a user (signing them out everywhere) or enables them again (requires
/// `platform:users`). Nobody disables themselves.
pub async fn set_user_enabled(
    ctx: &AppContext,
    scope: &Scope,
    id: UserId,
    enabled: bool,
) -> CoreResult<User> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    if scope.actor().user_id() == Some(id) {
        return Err(CoreError::Conflict("you cannot disable yourself".into()));
    }
    if let Some(kc) = &ctx.keycloak_admin {
        return keycloak_set_enabled(ctx, kc, scope, id, enabled).await;
    }
    let tx = ctx.store.platform_tx(true).await?;
    let current = users::get(&tx, id).await.map_err(|_| CoreError::NotFound)?;
    let status = if enabled {
        UserStatus::Active
    } else {
        UserStatus::Disabled
    };
    if UserStatus::from_stored(&current.status) == status {
        return Err(CoreError::Conflict(format!("the user is already {status}")));
    }
    let u = users::set_status(&tx, id, status.as_str()).await?;
    let ended = if enabled {
        0
    } else {
        auth_sessions::revoke_all_for_user(&tx, id).await?
    };
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            if enabled {
                "admin.user.enable"
            } else {
                "admin.user.disable"
            },
            "user",
            id,
            serde_json::json!({"email": u.email, "sessions_ended": ended}),
        ),
    )
    .await?;
    tx.commit().await?;
    if !enabled {
        ctx.revocations
            .revoke(
                None,
                vec![
                    Revocation::User(id),
                    Revocation::RealtimeOfUser {
                        user: id,
                        tenant: None,
                    },
                ],
            )
            .await;
    }
    Ok(u.into())
}

/// Mails the user a password-reset link (requires `platform:users`; audited).
pub async fn send_password_reset(ctx: &AppContext, scope: &Scope, id: UserId) -> CoreResult<()> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    if let Some(kc) = &ctx.keycloak_admin {
        return keycloak_password_reset(ctx, kc, scope, id).await;
    }
    let tx = ctx.store.platform_tx(true).await?;
    let u = users::get(&tx, id).await.map_err(|_| CoreError::NotFound)?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "admin.user.password_reset",
            "user",
            id,
            serde_json::json!({"email": u.email}),
        ),
    )
    .await?;
    tx.commit().await?;
    crate::identity::local::request_password_reset(ctx, &u.email).await
}

/// Failed logins across the platform, newest first (requires `platform:users`).
pub async fn failed_logins(
    ctx: &AppContext,
    scope: &Scope,
    page: PageRequest,
) -> CoreResult<Page<LoginEvent>> {
    ctx.policy
        .authorize(scope, Permission::PlatformUsers, None)?;
    if let Some(kc) = &ctx.keycloak_admin {
        return kc.failed_logins(page).await;
    }
    let tx = ctx.store.platform_tx(false).await?;
    let p = login_events::failures(&tx, page).await?;
    tx.commit().await?;
    Ok(p.map(LoginEvent::from))
}

// The user calls above, answered by Keycloak. Keycloak is asked first and the audit row written
// once it has acted, so a refused or failed call leaves no row claiming it happened.

async fn keycloak_users(
    ctx: &AppContext,
    kc: &KeycloakAdmin,
    q: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<UserView>> {
    let (rows, next) = kc.users_page(q, page).await?;
    let tx = ctx.store.platform_tx(false).await?;
    let mut items = Vec::with_capacity(rows.len());
    for (u, roles) in &rows {
        items.extend(kc.view(&tx, u, roles).await?);
    }
    tx.commit().await?;
    Ok(Page { items, next })
}

async fn keycloak_user(
    ctx: &AppContext,
    kc: &KeycloakAdmin,
    scope: &Scope,
    id: UserId,
) -> CoreResult<(UserView, Vec<LoginEvent>)> {
    let (u, roles) = kc.user_with_roles(id.as_uuid()).await?;
    // The page still shows the user when the history cannot be read (events not readable by
    // the service account); the cause is logged.
    let logins = kc
        .login_history(id.as_uuid(), 20)
        .await
        .unwrap_or_else(|e| {
            tracing::warn!(error = %e, user = %id, "Keycloak login history unavailable");
            Vec::new()
        });
    let tx = ctx.store.platform_tx(true).await?;
    let view = kc.view(&tx, &u, &roles).await?.ok_or(CoreError::NotFound)?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "admin.user.view",
            "user",
            id,
            serde_json::json!({"provider": "keycloak"}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok((view, logins))
}

/// Disabling also ends the user's Keycloak sessions; the change is audited even when only the
/// sign-out failed (then reported as the error).
async fn keycloak_set_enabled(
    ctx: &AppContext,
    kc: &KeycloakAdmin,
    scope: &Scope,
    id: UserId,
    enabled: bool,
) -> CoreResult<User> {
    if matches!(scope.actor(), Actor::External { subject, .. } if *subject == id.to_string()) {
        return Err(CoreError::Conflict("you cannot disable yourself".into()));
    }
    let (u, roles) = kc.user_with_roles(id.as_uuid()).await?;
    let status = if enabled {
        UserStatus::Active
    } else {
        UserStatus::Disabled
    };
    if u.is_enabled() == enabled {
        return Err(CoreError::Conflict(format!("the user is already {status}")));
    }
    let mut user = u.to_user(&roles).ok_or(CoreError::NotFound)?;
    kc.set_enabled(id.as_uuid(), enabled).await?;
    // Tokens Keycloak already issued stay valid until they expire: refuse them here, on every
    // replica, from now on (or accept them again).
    let subject = id.to_string();
    ctx.revocations
        .revoke(
            None,
            vec![if enabled {
                Revocation::ExternalSubjectRestored(subject)
            } else {
                Revocation::ExternalSubject(subject)
            }],
        )
        .await;
    user.status = status;
    let logout = if enabled {
        Ok(())
    } else {
        kc.logout(id.as_uuid()).await
    };
    let tx = ctx.store.platform_tx(true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            if enabled {
                "admin.user.enable"
            } else {
                "admin.user.disable"
            },
            "user",
            id,
            serde_json::json!({
                "email": user.email,
                "provider": "keycloak",
                "sessions_ended": !enabled && logout.is_ok(),
            }),
        ),
    )
    .await?;
    tx.commit().await?;
    logout.map(|()| user)
}

async fn keycloak_password_reset(
    ctx: &AppContext,
    kc: &KeycloakAdmin,
    scope: &Scope,
    id: UserId,
) -> CoreResult<()> {
    let u = kc.get_user(id.as_uuid()).await?;
    let email = u.to_user(&[]).ok_or(CoreError::NotFound)?.email;
    kc.execute_actions_email(id.as_uuid(), &[UPDATE_PASSWORD])
        .await?;
    let tx = ctx.store.platform_tx(true).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "admin.user.password_reset",
            "user",
            id,
            serde_json::json!({"email": email, "provider": "keycloak"}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
