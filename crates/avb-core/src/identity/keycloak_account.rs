//! A portal user's own account when Keycloak holds it (`identity.provider = "keycloak"` with
//! the admin client configured): the password is checked and changed in Keycloak (C2.3), the
//! name written there (C2.2), and two-factor sign-in set up through Keycloak's
//! `CONFIGURE_TOTP` required action (C2.4).

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::keycloak_admin::KeycloakAdmin;
use crate::scope::Scope;
use avb_domain::{UserId, ValidationError};
use avb_storage::repos::{audit as audit_repo, users};
use uuid::Uuid;

/// Keycloak's admin client and the user's Keycloak id, when Keycloak holds this account.
pub async fn account<'a>(
    ctx: &'a AppContext,
    user: UserId,
    email: &str,
) -> CoreResult<Option<(&'a KeycloakAdmin, Uuid)>> {
    if ctx.config.identity.provider != crate::config::IdentityProvider::Keycloak {
        return Ok(None);
    }
    let Some(kc) = ctx.keycloak_admin.as_ref() else {
        return Ok(None);
    };
    let kc: &KeycloakAdmin = kc;
    Ok(kc.id_of(user.as_uuid(), email).await?.map(|id| (kc, id)))
}

/// Checks `current` with a token request through the portal's client, then sets `new` (under
/// Keycloak's password policy; its refusal is the field's error).
pub async fn change_password(
    ctx: &AppContext,
    kc: &KeycloakAdmin,
    id: Uuid,
    email: &str,
    current: &str,
    new: &str,
) -> CoreResult<()> {
    let secret = ctx
        .config
        .oidc
        .client_secret
        .as_ref()
        .map(|s| s.expose().to_string());
    let ok = kc
        .client()
        .check_password(
            &ctx.config.oidc.client_id,
            secret.as_deref(),
            email,
            current,
        )
        .await?;
    if !ok {
        return Err(ValidationError::new("current_password", "is not correct").into());
    }
    match kc.client().reset_password(id, new).await {
        Ok(()) => Ok(()),
        Err(avb_keycloak::Error::Status { status, body, .. }) if status.as_u16() == 400 => {
            let why: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            let message = why["error_description"]
                .as_str()
                .or_else(|| why["errorMessage"].as_str())
                .unwrap_or("was refused by Keycloak's password policy")
                .to_string();
            Err(ValidationError::new("password", message).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Asks Keycloak to set up two-factor sign-in at the user's next sign-in (audited).
pub async fn require_totp(ctx: &AppContext, scope: &Scope) -> CoreResult<()> {
    let uid = scope.actor().user_id().ok_or(CoreError::Unauthorized(
        "only portal users set up two-factor sign-in",
    ))?;
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::get(&tx, uid).await?;
    let (kc, id) = account(ctx, uid, &user.email).await?.ok_or_else(|| {
        CoreError::Conflict("two-factor sign-in is set up here, not in Keycloak".into())
    })?;
    kc.client().require_action(id, "CONFIGURE_TOTP").await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            scope.tenant(),
            "user.totp_keycloak",
            "user",
            uid,
            serde_json::json!({"required_action": "CONFIGURE_TOTP"}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
