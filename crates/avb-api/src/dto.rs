//! Request and response bodies of `/api/v1`, with their OpenAPI schemas.

use crate::error::ApiError;
use avb_core::PageRequest;
use avb_core::services::projects::ProjectView;
use avb_core::views::{ApiKey, AuditEvent, Invitation, SessionRecord, Tenant};
use avb_domain::InvitationStatus;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A page of results with an opaque cursor for the next page.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    /// The rows, newest first.
    pub data: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
    /// Whether another page exists.
    pub has_more: bool,
}

impl<T> ListResponse<T> {
    /// Builds a response from a storage page.
    pub fn from_page<U>(page: avb_core::Page<U>, f: impl FnMut(U) -> T) -> Self {
        let next_cursor = page.next.map(|id| URL_SAFE_NO_PAD.encode(id.as_bytes()));
        Self {
            has_more: next_cursor.is_some(),
            next_cursor,
            data: page.items.into_iter().map(f).collect(),
        }
    }
}

/// Turns `limit` and `cursor` query parameters into a page request.
pub fn page_request(limit: Option<u64>, cursor: Option<&str>) -> Result<PageRequest, ApiError> {
    let limit =
        avb_core::services::page_limit(limit).map_err(|e| ApiError::field(e.field, e.message))?;
    let after = match cursor.filter(|c| !c.is_empty()) {
        None => None,
        Some(c) => {
            let bytes = URL_SAFE_NO_PAD
                .decode(c)
                .map_err(|_| ApiError::field("cursor", "is not a valid cursor"))?;
            Some(
                Uuid::from_slice(&bytes)
                    .map_err(|_| ApiError::field("cursor", "is not a valid cursor"))?,
            )
        }
    };
    Ok(PageRequest { limit, after })
}

/// Parses an RFC 3339 time query parameter.
pub fn parse_time(field: &str, raw: Option<&str>) -> Result<Option<DateTime<Utc>>, ApiError> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                .map_err(|_| {
                    ApiError::field(
                        field,
                        "must be an RFC 3339 date-time such as 2026-01-31T00:00:00Z",
                    )
                })
        })
        .transpose()
}

/// `GET /api/v1/me`
#[derive(Debug, Serialize, ToSchema)]
pub struct MeResponse {
    /// `user`, `external_user` or `api_key`.
    pub actor_type: String,
    pub actor_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub saas_admin: bool,
    pub totp_enabled: bool,
    pub tenant: Option<TenantDto>,
    pub role: Option<String>,
    /// Effective permissions.
    pub permissions: Vec<String>,
    /// Every tenant this account belongs to, with its role there.
    pub memberships: Vec<MembershipDto>,
}

/// A tenant the account belongs to.
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipDto {
    pub tenant_id: Uuid,
    pub role: String,
}

/// A tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct TenantDto {
    pub id: Uuid,
    pub name: String,
    pub billing_email: String,
    pub plan: String,
    /// `active` or `suspended`.
    pub status: String,
    pub timezone: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Tenant> for TenantDto {
    fn from(t: Tenant) -> Self {
        Self {
            id: t.id.into(),
            name: t.name,
            billing_email: t.billing_email,
            plan: t.plan,
            status: t.status.to_string(),
            timezone: t.timezone,
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// `POST /api/v1/admin/tenants`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    pub name: String,
    pub billing_email: String,
    pub plan: Option<String>,
    pub timezone: Option<String>,
}

/// `POST /api/v1/admin/tenants/{id}/suspend`
#[derive(Debug, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct SuspendRequest {
    /// Why the tenant is suspended (kept in the audit log).
    pub reason: Option<String>,
}

/// A project.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProjectDto {
    pub id: Uuid,
    pub name: String,
    /// `production`, `staging` or `development`.
    pub environment: String,
    pub description: String,
    /// Keys attached to the project that are not revoked.
    pub key_count: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ProjectView> for ProjectDto {
    fn from(v: ProjectView) -> Self {
        let p = v.project;
        Self {
            id: p.id.into(),
            name: p.name,
            environment: p.environment,
            description: p.description,
            key_count: v.key_count,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// `POST /api/v1/projects`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProjectRequest {
    pub name: String,
    pub environment: String,
    pub description: Option<String>,
}

/// `PATCH /api/v1/projects/{id}`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProjectRequest {
    pub name: Option<String>,
    pub environment: Option<String>,
    pub description: Option<String>,
}

/// An API key (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyDto {
    pub id: Uuid,
    pub name: String,
    /// The public prefix, e.g. `ab12CD34`; the key reads `avb_<env>_<prefix>_...`.
    pub prefix: String,
    /// `live` or `test`.
    pub environment: String,
    pub scopes: Vec<String>,
    pub project_id: Option<Uuid>,
    /// `active`, `expiring` (rotated, in its grace period), `expired`, `revoked` or `suspended`.
    pub status: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub rotated_to: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub request_count: i64,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyDto {
    fn from(k: ApiKey) -> Self {
        let status = k.display_status().to_string();
        Self {
            id: k.id.into(),
            name: k.name,
            prefix: k.prefix,
            environment: k.environment,
            scopes: k
                .scopes
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            project_id: k.project_id.map(Into::into),
            status,
            expires_at: k.expires_at,
            rotated_to: k.rotated_to.map(Into::into),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            request_count: k.request_count,
            revoked_at: k.revoked_at,
        }
    }
}

/// A key just created or rotated, with its secret (shown this once only).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedKeyDto {
    #[serde(flatten)]
    pub key: ApiKeyDto,
    /// The full key. It cannot be retrieved again.
    pub secret: String,
}

/// `POST /api/v1/api-keys`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateKeyRequest {
    pub name: String,
    pub project_id: Option<Uuid>,
    /// Any of `realtime`, `sessions`, `usage`; default `["realtime"]`.
    pub scopes: Option<Vec<String>>,
    /// `live` (default) or `test`.
    pub environment: Option<String>,
}

/// `PATCH /api/v1/api-keys/{id}`; `project_id: null` detaches the key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateKeyRequest {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Uuid>)]
    pub project_id: Option<Option<Uuid>>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<Uuid>>, D::Error> {
    Option::<Uuid>::deserialize(d).map(Some)
}

/// A member of the tenant.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberDto {
    pub membership_id: Uuid,
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: String,
    pub status: String,
    pub joined_at: DateTime<Utc>,
}

/// `POST /api/v1/invitations`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteRequest {
    pub email: String,
    /// `tenant_owner`, `tenant_admin`, `billing_admin`, `developer` or `viewer`.
    pub role: String,
}

/// An invitation.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationDto {
    pub id: Uuid,
    pub email: String,
    pub role: String,
    /// `pending`, `accepted` or `expired`.
    pub status: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub accepted_at: Option<DateTime<Utc>>,
}

impl From<Invitation> for InvitationDto {
    fn from(i: Invitation) -> Self {
        let status = if i.status == InvitationStatus::Pending && i.expires_at <= Utc::now() {
            "expired".into()
        } else {
            i.status.to_string()
        };
        Self {
            id: i.id.into(),
            email: i.email,
            role: i.role,
            status,
            expires_at: i.expires_at,
            created_at: i.created_at,
            accepted_at: i.accepted_at,
        }
    }
}

/// `POST /api/v1/invitations/accept`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitationRequest {
    pub token: String,
    /// Required when the e-mail has no account yet.
    pub name: Option<String>,
    /// Required when the e-mail has no account yet.
    pub password: Option<String>,
}

/// An audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditDto {
    pub id: Uuid,
    pub tenant_id: Option<Uuid>,
    pub seq: i64,
    pub actor_type: String,
    pub actor_id: String,
    pub actor_label: String,
    pub action: String,
    pub resource_type: String,
    pub resource_id: String,
    pub ip: String,
    pub user_agent: String,
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
    pub result: String,
    pub created_at: DateTime<Utc>,
    pub hash: String,
}

impl From<AuditEvent> for AuditDto {
    fn from(a: AuditEvent) -> Self {
        Self {
            id: a.id.into(),
            tenant_id: a.tenant_id.map(Into::into),
            seq: a.seq,
            actor_type: a.actor_type,
            actor_id: a.actor_id,
            actor_label: a.actor_label,
            action: a.action,
            resource_type: a.resource_type,
            resource_id: a.resource_id,
            ip: a.ip,
            user_agent: a.user_agent,
            summary: a.summary,
            result: a.result,
            created_at: a.created_at,
            hash: a.hash,
        }
    }
}

/// `POST /api/v1/auth/token`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    pub email: String,
    pub password: String,
    /// Six-digit code, required when TOTP is enabled.
    pub totp: Option<String>,
    /// Tenant to act in (defaults to the first membership).
    pub tenant_id: Option<Uuid>,
}

/// `POST /api/v1/auth/refresh`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

/// Tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenResponse {
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
    pub tenant_id: Option<Uuid>,
}

impl From<avb_core::identity::TokenPair> for TokenResponse {
    fn from(t: avb_core::identity::TokenPair) -> Self {
        Self {
            access_token: t.access_token,
            token_type: t.token_type.to_string(),
            expires_in: t.expires_in,
            refresh_token: t.refresh_token,
            tenant_id: t.tenant_id.map(|t| t.as_uuid()),
        }
    }
}

/// `POST /api/v1/auth/password-reset`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    pub email: String,
}

/// `POST /api/v1/auth/password-reset/confirm`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetConfirm {
    pub token: String,
    pub password: String,
}

/// `POST /api/v1/me/password`
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// A TOTP secret to load into an authenticator.
#[derive(Debug, Serialize, ToSchema)]
pub struct TotpSetupResponse {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URL (render as a QR code).
    pub otpauth_url: String,
}

/// `POST /api/v1/me/totp/enable`: turns TOTP on, or replaces the authenticator.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpEnableRequest {
    /// The new secret (from `POST /api/v1/me/totp`).
    pub secret: String,
    /// A current code of the new secret.
    pub code: String,
    /// The account's current password.
    pub password: String,
    /// A current code of the authenticator in use; required when TOTP is already on.
    #[serde(default)]
    pub current_code: Option<String>,
}

/// `POST /api/v1/me/totp/disable`: turns TOTP off.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TotpDisableRequest {
    /// The account's current password.
    pub password: String,
    /// A current code of the authenticator in use.
    pub current_code: String,
}

/// A login attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginEventDto {
    pub id: Uuid,
    pub ip: String,
    pub user_agent: String,
    pub success: bool,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

/// `POST /setup` (JSON form).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetupRequest {
    pub token: String,
    pub email: String,
    pub name: String,
    pub password: String,
}

/// A realtime session record.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDto {
    pub id: Uuid,
    /// The `sess_...` id the client saw.
    pub realtime_id: String,
    /// `active` or `closed`.
    pub status: String,
    pub model: String,
    /// `beta` or `ga`.
    pub dialect: String,
    pub project_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub client_ip: String,
    pub user_agent: String,
    pub started_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
    /// Milliseconds from start to end (or to now while active).
    pub duration_ms: i64,
    pub close_reason: String,
    /// Responses created in the session.
    pub responses: i32,
    /// The persona the session started with (its default persona), if any.
    pub persona_id: Option<Uuid>,
    /// The published version of that persona.
    pub persona_version: Option<i32>,
}

impl From<SessionRecord> for SessionDto {
    fn from(s: SessionRecord) -> Self {
        let end = s.ended_at.unwrap_or_else(Utc::now);
        Self {
            id: s.id.into(),
            realtime_id: s.realtime_id,
            status: s.status.to_string(),
            model: s.model,
            dialect: s.dialect,
            project_id: s.project_id.map(Into::into),
            api_key_id: s.api_key_id.map(Into::into),
            client_ip: s.client_ip,
            user_agent: s.user_agent,
            duration_ms: (end - s.started_at).num_milliseconds().max(0),
            started_at: s.started_at,
            ended_at: s.ended_at,
            close_reason: s.close_reason,
            responses: s.responses,
            persona_id: s.persona_id,
            persona_version: s.persona_version,
        }
    }
}

/// A stored conversation item.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionItemDto {
    pub item_id: String,
    /// `message`, `function_call` or `function_call_output`.
    pub kind: String,
    /// `user`, `assistant`, `system` or `tool`.
    pub role: String,
    /// Text, transcript, or call summary.
    pub text: String,
    pub created_at: DateTime<Utc>,
}

/// The timing waterfall of one turn, in milliseconds.
#[derive(Debug, Serialize, ToSchema)]
pub struct TurnDto {
    pub response_id: String,
    /// `completed`, `failed` or `cancelled`.
    pub status: String,
    pub stt_ms: Option<i64>,
    pub llm_first_token_ms: Option<i64>,
    pub tts_first_byte_ms: Option<i64>,
    pub first_audio_ms: Option<i64>,
    /// End of the user's turn to the first audio delta.
    pub voice_to_voice_ms: Option<i64>,
    /// OVOS intent and skill, asked before the LLM (tenants with skills on).
    pub skill_ms: Option<i64>,
    pub created_at: DateTime<Utc>,
}

/// A session with its conversation and timings.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionDetailDto {
    #[serde(flatten)]
    pub session: SessionDto,
    pub items: Vec<SessionItemDto>,
    pub turns: Vec<TurnDto>,
}
