//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`.

use crate::dto::*;
use crate::error::{FieldError, Problem};
use crate::handlers::*;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some("An access token from /api/v1/auth/token, a Keycloak access token, or an API key"))
                        .build(),
                ),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AgentVoiceBox API", version = "1", description = "Tenant-scoped platform API. Errors are RFC 9457 problem+json; lists use cursor pagination (`limit`, `cursor`)."),
    paths(
        health::healthz, health::readyz, health::jwks,
        auth::token, auth::refresh, auth::logout, auth::password_reset, auth::password_reset_confirm,
        me::get, me::change_password, me::totp_setup, me::totp_enable, me::logins,
        projects::list, projects::create, projects::get, projects::update, projects::delete,
        api_keys::list, api_keys::create, api_keys::get, api_keys::update, api_keys::rotate, api_keys::revoke,
        sessions::list, sessions::get, sessions::close, usage::totals,
        members::list, members::invite, members::list_invitations, members::accept,
        members::change_role, members::remove, members::revoke_invitation,
        webhooks::list, webhooks::create, webhooks::delete, webhooks::test, webhooks::deliveries,
        audit::list, audit::export,
        voice_profiles::get_tenant, voice_profiles::put_tenant, voice_profiles::delete_tenant,
        voice_profiles::get_project, voice_profiles::put_project, voice_profiles::delete_project,
        admin_tenants::list, admin_tenants::create, admin_tenants::get, admin_tenants::suspend, admin_tenants::reactivate,
    ),
    components(schemas(
        Problem, FieldError, MeResponse, MembershipDto, TenantDto, CreateTenantRequest, SuspendRequest,
        ProjectDto, CreateProjectRequest, UpdateProjectRequest, ApiKeyDto, CreatedKeyDto, CreateKeyRequest,
        UpdateKeyRequest, MemberDto, InviteRequest, InvitationDto, AcceptInvitationRequest, AuditDto,
        TokenRequest, RefreshRequest, TokenResponse, PasswordResetRequest, PasswordResetConfirm,
        ChangePasswordRequest, TotpSetupResponse, TotpEnableRequest, LoginEventDto, SessionDto,
        avb_core::services::voice_profiles::VoiceProfileInput,
        avb_core::services::voice_profiles::VoiceProfileView,
        members::RoleRequest, webhooks::WebhookDto, webhooks::NewWebhookRequest,
        webhooks::CreatedWebhookDto, webhooks::TestSendDto, webhooks::DeliveryDto,
    )),
    modifiers(&BearerAuth),
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}
