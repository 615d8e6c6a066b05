//! The local identity provider: password (+ TOTP) login with lockout, refresh-token rotation,
//! logout, password reset and first-admin setup by e-mailed or printed one-time tokens.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::identity::{password, throttle, totp};
use crate::scope::{Actor, RequestMeta, Scope};
use crate::services::revocation::Revocation;
use crate::token::{hash_token, random_alnum};
use avb_domain::{
    Email, Name, TenantId, UserId, UserStatus, ValidationError, check_password_policy,
};
use avb_storage::repos::{
    audit as audit_repo, auth_sessions, login_events, memberships, tokens, users,
};
use chrono::{Duration, Utc};
use serde::Serialize;

/// Tokens returned by login and refresh.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
    pub refresh_token: String,
    /// The tenant the access token acts in, if any.
    pub tenant_id: Option<TenantId>,
}

/// A login request.
pub struct LoginInput<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub totp: Option<&'a str>,
    pub tenant: Option<TenantId>,
}

const SETUP_PURPOSE: &str = "setup";
const RESET_PURPOSE: &str = "password_reset";

fn issue(
    ctx: &AppContext,
    user: UserId,
    sid: uuid::Uuid,
    tenant: Option<TenantId>,
    refresh: String,
) -> CoreResult<TokenPair> {
    let ttl = ctx.config.identity.access_token_ttl_secs;
    let access = ctx.jwt.sign(
        &user.to_string(),
        &sid.to_string(),
        tenant.map(|t| t.to_string()),
        ttl,
    )?;
    Ok(TokenPair {
        access_token: access,
        token_type: "Bearer",
        expires_in: ttl,
        refresh_token: refresh,
        tenant_id: tenant,
    })
}

/// Password (+ TOTP) login. Every attempt is recorded in the login history; attempts beyond the
/// client's per-minute budget are refused with [`CoreError::RateLimited`] before any check.
pub async fn login(
    ctx: &AppContext,
    input: LoginInput<'_>,
    meta: &RequestMeta,
) -> CoreResult<TokenPair> {
    let (tx, user, email) = verify_login(ctx, &input, meta).await?;
    start_session(ctx, tx, user, input.tenant, &email, meta).await
}

/// Counts a password attempt from the client against its address's and network's budgets.
async fn throttle(ctx: &AppContext, meta: &RequestMeta) -> CoreResult<()> {
    let budget = throttle::LoginBudget {
        per_ip: ctx.config.identity.login_attempts_per_ip_per_minute,
        per_network: ctx.config.identity.login_attempts_per_network_per_minute,
    };
    ctx.login_limiter
        .attempt(&meta.ip, budget)
        .await
        .map_err(CoreError::RateLimited)
}

/// Checks a login's credentials (throttle, lockout, password, status, TOTP once per step).
/// Failures are recorded (and committed) here and answer without telling an unknown address
/// from a locked account; on success the open transaction is handed back with the user.
async fn verify_login(
    ctx: &AppContext,
    input: &LoginInput<'_>,
    meta: &RequestMeta,
) -> CoreResult<(
    avb_storage::store::PlatformTx,
    avb_storage::entities::user::Model,
    String,
)> {
    throttle(ctx, meta).await?;
    let email = input.email.trim().to_lowercase();
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::find_by_email(&tx, &email).await?;
    let fail = |reason: &'static str, user: Option<UserId>| (reason, user);
    let outcome: Result<_, (&'static str, Option<UserId>)> = async {
        let Some(user) = user else {
            password::verify(input.password.to_string(), None).await;
            return Err(fail("unknown_email", None));
        };
        let uid = UserId(user.id);
        if user.locked_until.is_some_and(|u| u > Utc::now()) {
            // Same work and same answer as an unknown address.
            password::verify(input.password.to_string(), None).await;
            return Err(fail("locked", Some(uid)));
        }
        if !password::verify(input.password.to_string(), user.password_hash.clone()).await {
            return Err(fail("bad_password", Some(uid)));
        }
        if UserStatus::from_stored(&user.status) != UserStatus::Active {
            return Err(fail("disabled", Some(uid)));
        }
        if let Some(secret) = &user.totp_secret {
            let Some(code) = input.totp else {
                return Err(fail("totp_required", Some(uid)));
            };
            let Some(step) = totp::verify(secret, code) else {
                return Err(fail("bad_totp", Some(uid)));
            };
            if !users::use_totp_step(&tx, uid, step)
                .await
                .map_err(|_| fail("bad_totp", Some(uid)))?
            {
                return Err(fail("totp_reused", Some(uid)));
            }
        }
        Ok(user)
    }
    .await;

    match outcome {
        Ok(user) => Ok((tx, user, email)),
        Err((reason, uid)) => {
            login_events::insert(&tx, uid, &email, &meta.ip, &meta.user_agent, false, reason)
                .await?;
            if let (Some(uid), true) = (
                uid,
                matches!(reason, "bad_password" | "bad_totp" | "totp_reused"),
            ) {
                let user = users::get(&tx, uid).await?;
                let failures = user.failed_logins + 1;
                let mut locked = None;
                if failures >= ctx.config.identity.lockout_threshold {
                    let until = Utc::now() + Duration::minutes(ctx.config.identity.lockout_minutes);
                    locked = Some(until);
                }
                users::record_failure(&tx, uid, locked).await?;
                if let Some(until) = locked {
                    tell_owner_locked(ctx, &tx, &user.email, failures, until, meta).await?;
                }
            }
            tx.commit().await?;
            Err(match reason {
                "totp_required" => CoreError::TotpRequired,
                "bad_totp" | "totp_reused" => CoreError::Unauthorized("invalid TOTP code"),
                // Only said to whoever knows the password.
                "disabled" => CoreError::Unauthorized("account is disabled"),
                // Unknown address, wrong password, locked account: one answer.
                _ => CoreError::Unauthorized("invalid e-mail or password"),
            })
        }
    }
}

/// Mails the owner of an account that repeated failures just locked it (the login answer
/// itself says nothing an unknown address would not get).
async fn tell_owner_locked(
    ctx: &AppContext,
    tx: &avb_storage::store::Tx,
    email: &str,
    failures: i32,
    until: chrono::DateTime<Utc>,
    meta: &RequestMeta,
) -> CoreResult<()> {
    let reset = format!("{}/login", ctx.config.public_url());
    let body = format!(
        "Your AgentVoiceBox account was locked after {failures} failed sign-in attempts (the last from {}).\n\nIt unlocks by itself at {} UTC. If these attempts were not yours, someone may be guessing your password: once you can sign in again, change it (or ask for a password reset from {reset}) and turn on two-factor authentication.",
        meta.ip,
        until.format("%Y-%m-%d %H:%M")
    );
    ctx.mailer
        .queue(tx, email, "Your AgentVoiceBox account is locked", &body)
        .await
}

/// Signs in a user whose e-mail an OpenID Connect provider verified (the ID token was checked
/// against the provider's keys by the caller). Only existing, active accounts may sign in this
/// way; the attempt is recorded in the login history.
pub async fn login_federated(
    ctx: &AppContext,
    email: &str,
    meta: &RequestMeta,
) -> CoreResult<TokenPair> {
    let email = email.trim().to_lowercase();
    let tx = ctx.store.platform_tx(true).await?;
    let user = match users::find_by_email(&tx, &email).await? {
        Some(u) if UserStatus::from_stored(&u.status) == UserStatus::Active => u,
        found => {
            let reason = if found.is_some() {
                "disabled"
            } else {
                "unknown_email"
            };
            let uid = found.map(|u| UserId(u.id));
            login_events::insert(&tx, uid, &email, &meta.ip, &meta.user_agent, false, reason)
                .await?;
            tx.commit().await?;
            return Err(CoreError::Unauthorized(if reason == "disabled" {
                "account is disabled"
            } else {
                "no account here has this e-mail address; ask an administrator for an invitation"
            }));
        }
    };
    start_session(ctx, tx, user, None, &email, meta).await
}

/// Opens the login session of a verified user: picks the tenant, records the login, issues the
/// token pair. Commits `tx`.
async fn start_session(
    ctx: &AppContext,
    tx: avb_storage::store::PlatformTx,
    user: avb_storage::entities::user::Model,
    requested: Option<TenantId>,
    email: &str,
    meta: &RequestMeta,
) -> CoreResult<TokenPair> {
    let uid = UserId(user.id);
    let member_of = memberships::tenants_of(&tx, uid).await?;
    let tenant = match requested {
        Some(t) if member_of.contains(&t) => Some(t),
        Some(_) => {
            tx.commit().await?;
            return Err(CoreError::Unauthorized(
                "not a member of the requested tenant",
            ));
        }
        None => member_of.first().copied(),
    };
    if tenant.is_none() && !user.is_saas_admin {
        login_events::insert(
            &tx,
            Some(uid),
            email,
            &meta.ip,
            &meta.user_agent,
            false,
            "no_tenant",
        )
        .await?;
        tx.commit().await?;
        return Err(CoreError::Unauthorized("this account belongs to no tenant"));
    }
    users::record_success(&tx, uid).await?;
    let refresh = format!("rt_{}", random_alnum(48));
    let expires = Utc::now() + Duration::seconds(ctx.config.identity.refresh_token_ttl_secs as i64);
    let session = auth_sessions::insert(
        &tx,
        uid,
        tenant,
        hash_token(&refresh),
        &meta.ip,
        &meta.user_agent,
        expires,
    )
    .await?;
    login_events::insert(
        &tx,
        Some(uid),
        email,
        &meta.ip,
        &meta.user_agent,
        true,
        "ok",
    )
    .await?;
    tx.commit().await?;
    issue(ctx, uid, session.id, tenant, refresh)
}

/// Exchanges a refresh token for a new pair; the old refresh token stops working.
pub async fn refresh(ctx: &AppContext, refresh_token: &str) -> CoreResult<TokenPair> {
    let tx = ctx.store.platform_tx(true).await?;
    let session = auth_sessions::find_by_refresh(&tx, &hash_token(refresh_token.trim()))
        .await?
        .ok_or(CoreError::Unauthorized("invalid refresh token"))?;
    if session.revoked_at.is_some() || session.expires_at <= Utc::now() {
        return Err(CoreError::Unauthorized("session has ended"));
    }
    let user = users::get(&tx, UserId(session.user_id)).await?;
    if UserStatus::from_stored(&user.status) != UserStatus::Active {
        return Err(CoreError::Unauthorized("account is disabled"));
    }
    let next = format!("rt_{}", random_alnum(48));
    let expires = Utc::now() + Duration::seconds(ctx.config.identity.refresh_token_ttl_secs as i64);
    let tenant = session.tenant_id.map(TenantId);
    let session = auth_sessions::rotate(&tx, session, hash_token(&next), expires).await?;
    tx.commit().await?;
    issue(ctx, UserId(user.id), session.id, tenant, next)
}

/// Ends the caller's login session.
pub async fn logout(ctx: &AppContext, scope: &Scope) -> CoreResult<()> {
    let Some(sid) = scope.session() else {
        return Err(CoreError::Validation(ValidationError::new(
            "authorization",
            "only login sessions can log out",
        )));
    };
    let tx = ctx.store.platform_tx(true).await?;
    auth_sessions::revoke(&tx, sid).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            None,
            "auth.logout",
            "session",
            sid,
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    ctx.revocations
        .revoke(scope.tenant(), vec![Revocation::Session(sid)])
        .await;
    Ok(())
}

/// Starts a password reset: mails a one-hour token if the address belongs to a user.
/// Always succeeds so that the response reveals nothing about which addresses exist.
pub async fn request_password_reset(ctx: &AppContext, email: &str) -> CoreResult<()> {
    let Ok(email) = Email::parse("email", email) else {
        return Ok(());
    };
    let tx = ctx.store.platform_tx(true).await?;
    if let Some(user) = users::find_by_email(&tx, email.as_str()).await? {
        let token = random_alnum(40);
        tokens::insert(
            &tx,
            RESET_PURPOSE,
            hash_token(&token),
            Some(UserId(user.id)),
            Utc::now() + Duration::hours(1),
        )
        .await?;
        let link = format!("{}/reset-password?token={token}", ctx.config.public_url());
        let body = format!(
            "Someone asked to reset the password of your AgentVoiceBox account.\n\nOpen this link within one hour to choose a new password:\n{link}\n\nToken: {token}\n\nIf it was not you, ignore this message."
        );
        ctx.mailer
            .queue(
                &tx,
                email.as_str(),
                "Reset your AgentVoiceBox password",
                &body,
            )
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Completes a password reset; every session of the user ends and every other reset link of
/// the user stops working.
pub async fn confirm_password_reset(
    ctx: &AppContext,
    token: &str,
    new_password: &str,
    meta: &RequestMeta,
) -> CoreResult<()> {
    reset_password(ctx, token, new_password, None, meta)
        .await
        .map(|_| ())
}

/// What a password-reset link is worth now (for the portal's page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetLink {
    /// Usable: for this account, which has TOTP on or not.
    Valid { email: String, totp: bool },
    /// Used already (or made void by a newer one that was used).
    Used,
    /// Past its hour.
    Expired,
    /// Not a reset token at all.
    Unknown,
}

/// Looks a reset token up without using it.
pub async fn reset_link(ctx: &AppContext, token: &str) -> CoreResult<ResetLink> {
    let tx = ctx.store.platform_tx(false).await?;
    let found = tokens::find(&tx, RESET_PURPOSE, &hash_token(token.trim())).await?;
    let state = match found {
        None => ResetLink::Unknown,
        Some(t) if t.used_at.is_some() => ResetLink::Used,
        Some(t) if t.expires_at <= Utc::now() => ResetLink::Expired,
        Some(t) => match t.user_id {
            Some(uid) => {
                let user = users::get(&tx, UserId(uid)).await?;
                ResetLink::Valid {
                    email: user.email,
                    totp: user.totp_secret.is_some(),
                }
            }
            None => ResetLink::Unknown,
        },
    };
    tx.commit().await?;
    Ok(state)
}

/// Completes a password reset from the portal and opens a login session (the second factor is
/// asked for when the account has one: a mailed link alone never signs in past it). `None`
/// when the password changed but the account cannot sign in here (disabled, or no tenant).
pub async fn reset_password_and_sign_in(
    ctx: &AppContext,
    token: &str,
    new_password: &str,
    totp_code: &str,
    meta: &RequestMeta,
) -> CoreResult<Option<TokenPair>> {
    reset_password(ctx, token, new_password, Some(totp_code), meta).await
}

async fn reset_password(
    ctx: &AppContext,
    token: &str,
    new_password: &str,
    sign_in: Option<&str>,
    meta: &RequestMeta,
) -> CoreResult<Option<TokenPair>> {
    let invalid =
        || CoreError::Validation(ValidationError::new("token", "is invalid, used or expired"));
    let hash = hash_token(token.trim());
    let tx = ctx.store.platform_tx(true).await?;
    // Everything is checked before the link is used up: bad input leaves it usable.
    let t = tokens::find(&tx, RESET_PURPOSE, &hash)
        .await?
        .filter(|t| t.used_at.is_none() && t.expires_at > Utc::now())
        .ok_or_else(invalid)?;
    let uid = UserId(t.user_id.ok_or(CoreError::NotFound)?);
    let user = users::get(&tx, uid).await?;
    check_password_policy(new_password, Some(&user.email))?;
    if let (Some(code), Some(secret)) = (sign_in, &user.totp_secret) {
        // Checked before anything is written: a wrong code leaves the link usable.
        let step = totp::verify(secret, code).ok_or_else(|| {
            ValidationError::new("totp", "is not the current code of your authenticator")
        })?;
        if !users::use_totp_step(&tx, uid, step).await? {
            return Err(
                ValidationError::new("totp", "was already used; wait for the next code").into(),
            );
        }
    }
    match tokens::consume(&tx, RESET_PURPOSE, &hash).await {
        Ok(_) => {}
        Err(avb_storage::StorageError::NotFound) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    }
    users::set_password(&tx, uid, password::hash(new_password.to_string()).await?).await?;
    let ended = auth_sessions::revoke_all_for_user(&tx, uid).await?;
    let voided = tokens::invalidate_for_user(&tx, RESET_PURPOSE, uid).await?;
    let scope = Scope::new(
        Actor::User {
            id: uid,
            email: user.email.clone(),
        },
        None,
        None,
        false,
        None,
        meta.clone(),
    );
    audit_repo::append(
        &tx,
        audit::entry(
            &scope,
            None,
            "user.password_reset",
            "user",
            uid,
            serde_json::json!({"sessions_ended": ended, "other_links_voided": voided}),
        ),
    )
    .await?;
    tx.commit().await?;
    ctx.revocations
        .revoke(None, vec![Revocation::User(uid)])
        .await;
    if sign_in.is_none() || UserStatus::from_stored(&user.status) != UserStatus::Active {
        return Ok(None);
    }
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::get(&tx, uid).await?;
    let email = user.email.clone();
    match start_session(ctx, tx, user, None, &email, meta).await {
        Ok(pair) => Ok(Some(pair)),
        Err(CoreError::Unauthorized(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Changes the caller's own password after checking the current one. Every other login session
/// of the user ends (other browsers, devices and refresh tokens); the caller's stays. Reset
/// links still outstanding stop working.
pub async fn change_password(
    ctx: &AppContext,
    scope: &Scope,
    current: &str,
    new_password: &str,
) -> CoreResult<()> {
    let uid = scope
        .actor()
        .user_id()
        .ok_or(CoreError::Unauthorized("only local users have passwords"))?;
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::get(&tx, uid).await?;
    if let Some((kc, id)) =
        crate::identity::keycloak_account::account(ctx, uid, &user.email).await?
    {
        // Keycloak holds the password (C2.3): it checks the current one and sets the new one
        // under its own policy.
        crate::identity::keycloak_account::change_password(
            ctx,
            kc,
            id,
            &user.email,
            current,
            new_password,
        )
        .await?;
    } else {
        if !password::verify(current.to_string(), user.password_hash.clone()).await {
            return Err(CoreError::Validation(ValidationError::new(
                "current_password",
                "is not correct",
            )));
        }
        check_password_policy(new_password, Some(&user.email))?;
        users::set_password(&tx, uid, password::hash(new_password.to_string()).await?).await?;
    }
    let ended = match scope.session() {
        Some(sid) => auth_sessions::revoke_others(&tx, uid, sid).await?,
        None => {
            auth_sessions::revoke_all_for_user(&tx, uid).await?;
            Vec::new()
        }
    };
    tokens::invalidate_for_user(&tx, RESET_PURPOSE, uid).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            scope.tenant(),
            "user.password_change",
            "user",
            uid,
            serde_json::json!({"sessions_ended": ended.len()}),
        ),
    )
    .await?;
    tx.commit().await?;
    let mut revoked: Vec<Revocation> = ended.into_iter().map(Revocation::Session).collect();
    if scope.session().is_none() {
        revoked.push(Revocation::User(uid));
    }
    ctx.revocations.revoke(scope.tenant(), revoked).await;
    Ok(())
}

/// A fresh TOTP secret for the caller to load into an authenticator (not yet enabled).
pub fn totp_begin(scope: &Scope) -> CoreResult<(String, String)> {
    if scope.actor().user_id().is_none() {
        return Err(CoreError::Unauthorized("only local users can enrol TOTP"));
    }
    totp::new_secret(&scope.actor().label())
}

/// Proof of the account's current factors for changing its second factor: the password, and a
/// code of the current authenticator when TOTP is on (used once).
pub struct FactorProof<'a> {
    pub password: &'a str,
    pub current_code: Option<&'a str>,
}

/// Checks `proof` against `user` inside `tx`; field errors name `password` / `current_code`.
async fn check_proof(
    tx: &avb_storage::store::Tx,
    user: &avb_storage::entities::user::Model,
    proof: &FactorProof<'_>,
) -> CoreResult<()> {
    if !password::verify(proof.password.to_string(), user.password_hash.clone()).await {
        return Err(ValidationError::new("password", "is not correct").into());
    }
    if let Some(secret) = &user.totp_secret {
        let code = proof.current_code.map(str::trim).unwrap_or_default();
        if code.is_empty() {
            return Err(ValidationError::new(
                "current_code",
                "is required while two-factor authentication is on",
            )
            .into());
        }
        let step = totp::verify(secret, code).ok_or_else(|| {
            ValidationError::new(
                "current_code",
                "is not the current code of your authenticator",
            )
        })?;
        if !users::use_totp_step(tx, UserId(user.id), step).await? {
            return Err(ValidationError::new(
                "current_code",
                "was already used; wait for the next code",
            )
            .into());
        }
    }
    Ok(())
}

/// Enables TOTP (or replaces the authenticator) after the caller proves the new authenticator
/// works and proves the account's current factors.
pub async fn totp_enable(
    ctx: &AppContext,
    scope: &Scope,
    secret: &str,
    code: &str,
    proof: FactorProof<'_>,
) -> CoreResult<()> {
    let uid = scope
        .actor()
        .user_id()
        .ok_or(CoreError::Unauthorized("only local users can enrol TOTP"))?;
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::get(&tx, uid).await?;
    check_proof(&tx, &user, &proof).await?;
    let Some(step) = totp::verify(secret, code) else {
        return Err(CoreError::Validation(ValidationError::new(
            "code",
            "does not match the secret",
        )));
    };
    let replaced = user.totp_secret.is_some();
    users::set_totp(&tx, uid, Some(secret.to_string()), Some(step)).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            scope.tenant(),
            if replaced {
                "user.totp_replace"
            } else {
                "user.totp_enable"
            },
            "user",
            uid,
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Turns TOTP off after the caller proves the password and a current code.
pub async fn totp_disable(
    ctx: &AppContext,
    scope: &Scope,
    proof: FactorProof<'_>,
) -> CoreResult<()> {
    let uid = scope
        .actor()
        .user_id()
        .ok_or(CoreError::Unauthorized("only local users have TOTP"))?;
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::get(&tx, uid).await?;
    if user.totp_secret.is_none() {
        return Err(CoreError::Conflict(
            "two-factor authentication is already off".into(),
        ));
    }
    check_proof(&tx, &user, &proof).await?;
    users::set_totp(&tx, uid, None, None).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            scope.tenant(),
            "user.totp_disable",
            "user",
            uid,
            serde_json::json!({}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Creates a one-time setup token (24 h) when no SaaS admin exists; returns it for printing.
pub async fn setup_token_if_needed(ctx: &AppContext) -> CoreResult<Option<String>> {
    let tx = ctx.store.platform_tx(true).await?;
    if users::any_saas_admin(&tx).await? {
        return Ok(None);
    }
    let token = random_alnum(32);
    tokens::insert(
        &tx,
        SETUP_PURPOSE,
        hash_token(&token),
        None,
        Utc::now() + Duration::hours(24),
    )
    .await?;
    tx.commit().await?;
    Ok(Some(token))
}

/// Creates the first SaaS admin with a setup token. Fails once any admin exists.
pub async fn complete_setup(
    ctx: &AppContext,
    token: &str,
    email: &str,
    name: &str,
    new_password: &str,
    meta: &RequestMeta,
) -> CoreResult<UserId> {
    let email = Email::parse("email", email)?;
    let name = Name::parse("name", name)?;
    check_password_policy(new_password, Some(email.as_str()))?;
    let hash = password::hash(new_password.to_string()).await?;
    let tx = ctx.store.platform_tx(true).await?;
    if users::any_saas_admin(&tx).await? {
        return Err(CoreError::Conflict("setup is already complete".into()));
    }
    tokens::consume(&tx, SETUP_PURPOSE, &hash_token(token.trim()))
        .await
        .map_err(|_| {
            CoreError::Validation(ValidationError::new("token", "is invalid, used or expired"))
        })?;
    let id = UserId::new();
    users::insert(
        &tx,
        users::NewUser {
            id,
            email: email.as_str(),
            name: name.as_str(),
            password_hash: Some(hash),
            is_saas_admin: true,
        },
    )
    .await?;
    let scope = Scope::new(
        Actor::User {
            id,
            email: email.to_string(),
        },
        None,
        None,
        true,
        None,
        meta.clone(),
    );
    audit_repo::append(
        &tx,
        audit::entry(
            &scope,
            None,
            "setup.complete",
            "user",
            id,
            serde_json::json!({"email": email.as_str()}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// Signs the caller out of every other login session (other browsers and devices).
pub async fn end_other_sessions(ctx: &AppContext, scope: &Scope) -> CoreResult<usize> {
    let (Some(uid), Some(sid)) = (scope.actor().user_id(), scope.session()) else {
        return Err(CoreError::Unauthorized("only login sessions can do this"));
    };
    let tx = ctx.store.platform_tx(true).await?;
    let ended = auth_sessions::revoke_others(&tx, uid, sid).await?;
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            scope.tenant(),
            "user.sessions_end_others",
            "user",
            uid,
            serde_json::json!({"ended": ended.len()}),
        ),
    )
    .await?;
    tx.commit().await?;
    let n = ended.len();
    ctx.revocations
        .revoke(
            scope.tenant(),
            ended.into_iter().map(Revocation::Session).collect(),
        )
        .await;
    Ok(n)
}

/// Changes the caller's display name.
pub async fn rename(ctx: &AppContext, scope: &Scope, name: &str) -> CoreResult<()> {
    let uid = scope
        .actor()
        .user_id()
        .ok_or(CoreError::Unauthorized("only local users have a profile"))?;
    let name = avb_domain::Name::parse("name", name)?;
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::set_name(&tx, uid, name.as_str()).await?;
    // Keycloak's copy first when it holds the profile (C2.2); a refusal rolls this back.
    if let Some((kc, id)) =
        crate::identity::keycloak_account::account(ctx, uid, &user.email).await?
    {
        let (first, last) = name.as_str().split_once(' ').unwrap_or((name.as_str(), ""));
        kc.client().set_names(id, first, last).await?;
    }
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            scope.tenant(),
            "user.profile_update",
            "user",
            uid,
            serde_json::json!({"name": name.as_str()}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// How the portal's invitee takes an invitation up.
pub enum InvitationAnswer<'a> {
    /// A new account with this name and password.
    NewAccount { name: &'a str, password: &'a str },
    /// The invited address's existing account, proved like a login (password, TOTP code when
    /// on; throttled and counted like one).
    Existing {
        password: &'a str,
        totp: Option<&'a str>,
    },
}

/// Accepts an invitation from the portal and opens a login session in the invitation's tenant.
pub async fn accept_invitation_and_sign_in(
    ctx: &AppContext,
    token: &str,
    answer: InvitationAnswer<'_>,
    meta: &RequestMeta,
) -> CoreResult<TokenPair> {
    use crate::services::members::{self, InvitationLink, Joiner};
    let (uid, tenant) = match answer {
        InvitationAnswer::NewAccount { name, password } => {
            members::accept_as(
                ctx,
                token,
                Some(name),
                Some(password),
                Joiner::NewAccount,
                meta,
            )
            .await?
        }
        InvitationAnswer::Existing { password, totp } => {
            let InvitationLink::Valid { email, .. } = members::invitation_link(ctx, token).await?
            else {
                return Err(ValidationError::new("token", "is invalid, used or expired").into());
            };
            let input = LoginInput {
                email: &email,
                password,
                totp,
                tenant: None,
            };
            let (tx, user, _) = verify_login(ctx, &input, meta).await?;
            tx.commit().await?;
            members::accept_as(
                ctx,
                token,
                None,
                None,
                Joiner::Account(UserId(user.id)),
                meta,
            )
            .await?
        }
    };
    let tx = ctx.store.platform_tx(true).await?;
    let user = users::get(&tx, uid).await?;
    let email = user.email.clone();
    start_session(ctx, tx, user, Some(tenant), &email, meta).await
}
