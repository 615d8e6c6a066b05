//! Keycloak as the source of truth at sign-in (D1, B7, C2): when a user signs in to the portal
//! through Keycloak, the claims of the access token Keycloak issued (its `tenant_id` and realm
//! roles, as the API reads them) decide their tenant, role and platform-admin flag. The local
//! row is a copy kept so sessions, audit and pages can refer to the user: created on first
//! sign-in (with Keycloak's subject as its id, and no local password), brought in line on every
//! later one, each change audited.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::keycloak::ExternalIdentity;
use crate::scope::{Actor, RequestMeta, Scope};
use avb_domain::{Role, TenantId, UserId};
use avb_storage::repos::{audit as audit_repo, memberships, users};

/// What a sign-in changed in the local copy.
#[derive(Debug, Default, PartialEq)]
pub struct Synced {
    pub created: bool,
    pub saas_admin_changed: bool,
    pub joined: Option<(TenantId, String)>,
    pub role_changed: Option<(TenantId, String, String)>,
    pub left: Vec<TenantId>,
}

/// Brings the local copy of `id` in line with its claims; `name` from the ID token.
pub async fn sync(
    ctx: &AppContext,
    id: &ExternalIdentity,
    name: &str,
    meta: &RequestMeta,
) -> CoreResult<Synced> {
    let email = id.email.trim().to_lowercase();
    if email.is_empty() {
        return Err(CoreError::Unauthorized(
            "Keycloak's token carries no e-mail address",
        ));
    }
    let saas_admin = id.roles.iter().any(|r| r == Role::SaasAdmin.as_str());
    let role = Role::TENANT_ROLES
        .iter()
        .copied()
        .find(|r| id.roles.iter().any(|n| n == r.as_str()));
    let tenant: Option<TenantId> = match &id.tenant {
        Some(t) => Some(
            t.parse()
                .map_err(|_| CoreError::Unauthorized("tenant claim is not a tenant id"))?,
        ),
        None => None,
    };
    // The tenant named must exist (a token can name any id).
    let mut wanted = match (tenant, role) {
        (Some(t), Some(r)) => Some((t, r)),
        _ => None,
    };
    // Keycloak names no tenant yet: an invitation waiting for this e-mail (sent through
    // Keycloak's organization invitation) is taken up now, with the role it carries.
    let mut invited = None;
    if wanted.is_none() {
        let tx = ctx.store.platform_tx(false).await?;
        let pending = avb_storage::repos::invitations::pending_by_email(&tx, &email).await?;
        tx.commit().await?;
        if let Some(inv) = pending
            && let Ok(r) = crate::services::members::parse_tenant_role(&inv.role)
        {
            wanted = Some((TenantId(inv.tenant_id), r));
            invited = Some(inv);
        }
    }
    let scope = Scope::new(
        Actor::External {
            subject: id.subject.clone(),
            email: email.clone(),
        },
        wanted.map(|(t, _)| t),
        wanted.map(|(_, r)| r),
        saas_admin,
        None,
        meta.clone(),
    );
    let from_invitation = invited.is_some();
    let mut out = Synced::default();
    let tx = ctx.store.platform_tx(true).await?;
    if let Some((t, _)) = wanted {
        avb_storage::repos::tenants::get(&tx, t)
            .await
            .map_err(|_| CoreError::Unauthorized("unknown tenant in token"))?;
    }
    let user = match users::find_by_email(&tx, &email).await? {
        Some(u) => u,
        None => {
            let uid = id
                .subject
                .parse::<uuid::Uuid>()
                .map(UserId)
                .unwrap_or_else(|_| UserId::new());
            out.created = true;
            users::insert(
                &tx,
                users::NewUser {
                    id: uid,
                    email: &email,
                    name: if name.trim().is_empty() {
                        &email
                    } else {
                        name.trim()
                    },
                    password_hash: None,
                    is_saas_admin: saas_admin,
                },
            )
            .await?
        }
    };
    let uid = UserId(user.id);
    if !out.created && user.is_saas_admin != saas_admin {
        users::set_saas_admin(&tx, uid, saas_admin).await?;
        out.saas_admin_changed = true;
    }
    let current = memberships::for_user(&tx, uid).await?;
    if out.created || out.saas_admin_changed {
        audit_repo::append(
            &tx,
            audit::entry(
                &scope,
                None,
                if out.created { "identity.keycloak.provision" } else { "identity.keycloak.saas_admin" },
                "user",
                uid,
                serde_json::json!({"email": email, "saas_admin": saas_admin, "subject": id.subject}),
            ),
        )
        .await?;
    }
    tx.commit().await?;

    for m in &current {
        let t = TenantId(m.tenant_id);
        if wanted.is_some_and(|(w, _)| w == t) {
            continue;
        }
        let tx = ctx.store.tenant_tx(t, true).await?;
        memberships::remove(&tx, uid).await?;
        audit_repo::append(
            &tx,
            audit::entry(
                &scope,
                Some(t),
                "member.keycloak_sync",
                "membership",
                m.id,
                serde_json::json!({"user_id": uid, "removed": m.role, "why": "Keycloak no longer names this tenant and role"}),
            ),
        )
        .await?;
        crate::services::events::record(
            &tx,
            "member.removed",
            serde_json::json!({"user_id": uid, "role": m.role, "source": "keycloak"}),
        )
        .await?;
        tx.commit().await?;
        out.left.push(t);
    }
    if let Some((t, r)) = wanted {
        let tx = ctx.store.tenant_tx(t, true).await?;
        match memberships::find(&tx, uid).await? {
            Some(m) if m.role == r.as_str() => {}
            Some(m) => {
                memberships::set_role(&tx, uid, r.as_str()).await?;
                out.role_changed = Some((t, m.role.clone(), r.as_str().to_string()));
            }
            None => {
                memberships::insert(&tx, uid, r.as_str()).await?;
                out.joined = Some((t, r.as_str().to_string()));
            }
        }
        if let Some(inv) = invited.take() {
            avb_storage::repos::invitations::mark_accepted(&tx, inv).await?;
        }
        if out.role_changed.is_some() || out.joined.is_some() {
            let summary =
                serde_json::json!({"user_id": uid, "role": r.as_str(), "source": "keycloak"});
            audit_repo::append(
                &tx,
                audit::entry(
                    &scope,
                    Some(t),
                    "member.keycloak_sync",
                    "user",
                    uid,
                    summary.clone(),
                ),
            )
            .await?;
            let kind = if out.joined.is_some() {
                "member.added"
            } else {
                "member.role_changed"
            };
            crate::services::events::record(&tx, kind, summary).await?;
        }
        tx.commit().await?;
        // Keycloak learns the tenant and role too, so the user's next token carries them.
        if from_invitation
            && out.joined.is_some()
            && let Some(kc) = &ctx.keycloak_admin
            && let Ok(kid) = id.subject.parse::<uuid::Uuid>()
        {
            kc.grant_tenant_role(kid, t, r.as_str()).await?;
        }
    }
    if !out.left.is_empty() || out.role_changed.is_some() || out.saas_admin_changed {
        // Sessions that cached the old roles pick up the new ones now.
        ctx.revocations
            .revoke(
                None,
                vec![crate::services::revocation::Revocation::User(uid)],
            )
            .await;
    }
    Ok(out)
}

/// The identity provider said (back-channel logout) that `subject` signed out: every portal
/// session of the local user with that id ends here and on every replica (audited). Returns
/// how many ended; a subject this platform does not know ends nothing.
pub async fn provider_logout(ctx: &AppContext, subject: &str) -> CoreResult<u64> {
    let Ok(id) = subject.parse::<uuid::Uuid>() else {
        return Ok(0);
    };
    let uid = UserId(id);
    let tx = ctx.store.platform_tx(true).await?;
    let Ok(user) = users::get(&tx, uid).await else {
        return Ok(0);
    };
    let ended = avb_storage::repos::auth_sessions::revoke_all_for_user(&tx, uid).await?;
    let scope = Scope::new(
        Actor::External {
            subject: subject.to_string(),
            email: user.email.clone(),
        },
        None,
        None,
        false,
        None,
        RequestMeta {
            ip: "identity provider".into(),
            user_agent: "back-channel logout".into(),
            request_id: String::new(),
        },
    );
    audit_repo::append(
        &tx,
        audit::entry(
            &scope,
            None,
            "user.provider_logout",
            "user",
            uid,
            serde_json::json!({"sessions_ended": ended}),
        ),
    )
    .await?;
    tx.commit().await?;
    ctx.revocations
        .revoke(
            None,
            vec![crate::services::revocation::Revocation::User(uid)],
        )
        .await;
    Ok(ended)
}
