//! The OpenAPI 3.1 document served at `/api/v1/openapi.json`.

use crate::dto::*;
use crate::error::{FieldError, Problem};
use crate::handlers::*;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};
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

/// Makes every operation document the errors it can really answer, as the
/// `application/problem+json` the API sends: problem bodies declared per handler move to that
/// media type, and the answers every route of a kind gives are added where a handler did not
/// name them (400 for a bad parameter or malformed JSON, 401/403 behind a bearer, 404 for a path
/// id, 413/415/422 for a JSON body, 503 while the database is unreachable).
struct ProblemResponses;

const PROBLEM_REF: &str = "#/components/schemas/Problem";

fn problem_response(description: &str) -> RefOr<Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build(),
    )
}

/// The standard answers an operation gives, from its shape.
fn standard_errors(path: &str, op: &Operation) -> Vec<(&'static str, &'static str)> {
    let params = op.parameters.as_deref().unwrap_or_default();
    let body = op.request_body.as_ref();
    let json_body = body.is_some_and(|b| b.content.contains_key("application/json"));
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let mut out = Vec::new();
    if !params.is_empty() || body.is_some() {
        out.push((
            "400",
            "Bad request: malformed JSON, or a query or path parameter that does not parse",
        ));
    }
    if secured {
        out.push(("401", "Missing, malformed, expired or revoked credentials"));
        out.push((
            "403",
            "The caller lacks the permission, or its tenant is suspended",
        ));
    }
    if params.iter().any(|p| p.parameter_in == ParameterIn::Path) {
        out.push(("404", "No such resource (or another tenant's)"));
    }
    if body.is_some() {
        out.push(("413", "The body is larger than `server.body_limit_bytes`"));
    }
    if json_body {
        out.push(("415", "The body is not sent as application/json"));
        out.push((
            "422",
            "The body does not validate; `errors[].field` names the fields",
        ));
    }
    // Plan limits (`CoreError::LimitReached`).
    if path == "/api/v1/invitations" && body.is_some() {
        out.push(("402", "The plan's member limit is reached"));
    }
    if path.starts_with("/api/v1/") {
        out.push((
            "503",
            "The database is unreachable; retry after `Retry-After` seconds",
        ));
    }
    out
}

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ];
            for op in operations.into_iter().flatten() {
                let extra = standard_errors(path, op);
                let responses = &mut op.responses.responses;
                for response in responses.values_mut() {
                    let RefOr::T(response) = response else {
                        continue;
                    };
                    let problem = response.content.get("application/json").is_some_and(|c| {
                        matches!(&c.schema, Some(RefOr::Ref(r)) if r.ref_location == PROBLEM_REF)
                    });
                    if problem && let Some(c) = response.content.shift_remove("application/json") {
                        response
                            .content
                            .insert("application/problem+json".into(), c);
                    }
                }
                for (status, description) in extra {
                    responses
                        .entry(status.to_string())
                        .or_insert_with(|| problem_response(description));
                }
            }
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "AgentVoiceBox API", version = "1", description = "Tenant-scoped platform API. Errors are RFC 9457 problem+json; lists use cursor pagination (`limit`, `cursor`)."),
    paths(
        health::healthz, health::readyz, health::jwks,
        auth::token, auth::refresh, auth::logout, auth::password_reset, auth::password_reset_confirm,
        me::get, me::change_password, me::totp_setup, me::totp_enable, me::totp_disable, me::logins,
        projects::list, projects::create, projects::get, projects::update, projects::delete,
        api_keys::list, api_keys::create, api_keys::get, api_keys::update, api_keys::rotate, api_keys::revoke,
        sessions::list, sessions::get, sessions::close, usage::totals,
        members::list, members::invite, members::list_invitations, members::accept,
        members::change_role, members::remove, members::revoke_invitation,
        webhooks::list, webhooks::create, webhooks::delete, webhooks::test, webhooks::deliveries,
        audit::list, audit::export,
        voice_profiles::get_tenant, voice_profiles::put_tenant, voice_profiles::delete_tenant,
        voice_profiles::get_project, voice_profiles::put_project, voice_profiles::delete_project,
        voices::list, voices::preview,
        billing::overview, billing::change_plan, billing::cancel_pending, billing::list_invoices,
        billing::get_invoice, billing::invoice_pdf, billing::list_plans, billing::create_plan,
        billing::get_plan, billing::update_plan, billing::deprecate_plan, billing::reactivate_plan,
        billing::admin_invoices, billing::void_invoice, billing::record_payment, billing::grant_credit,
        billing::revenue, billing::lago_webhook, billing::stripe_webhook, billing::retry_payment, billing::payment_portal,
        custom_voices::list, custom_voices::methods, custom_voices::create, custom_voices::get,
        custom_voices::rename, custom_voices::delete, custom_voices::set_default,
        personas::list, personas::create, personas::get, personas::update, personas::delete,
        personas::publish, personas::archive, personas::versions, personas::rollback,
        personas::get_default, personas::put_default, personas::test,
        voice_console::stt_models, voice_console::stt_test, voice_console::llm_models, voice_console::llm_test,
        ovos::get_settings, ovos::put_settings, ovos::list_skills, ovos::test_skill, ovos::get_skill_settings, ovos::put_skill_settings, ovos::summary, ovos::events,
        wake_words::list, wake_words::create, wake_words::update, wake_words::delete,
        wake_words::validate, wake_words::analytics,
        personas::solvers,
        admin_tenants::list, admin_tenants::create, admin_tenants::get, admin_tenants::suspend, admin_tenants::reactivate,
    ),
    components(schemas(
        Problem, FieldError, MeResponse, MembershipDto, TenantDto, CreateTenantRequest, SuspendRequest,
        ProjectDto, CreateProjectRequest, UpdateProjectRequest, ApiKeyDto, CreatedKeyDto, CreateKeyRequest,
        UpdateKeyRequest, MemberDto, InviteRequest, InvitationDto, AcceptInvitationRequest, AuditDto,
        TokenRequest, RefreshRequest, TokenResponse, PasswordResetRequest, PasswordResetConfirm,
        ChangePasswordRequest, TotpSetupResponse, TotpEnableRequest, TotpDisableRequest, LoginEventDto, SessionDto,
        avb_core::services::voice_profiles::VoiceProfileInput,
        avb_core::services::voice_profiles::VoiceProfileView,
        avb_core::services::voices::Catalogue, avb_core::services::voices::VoiceEntry,
        voices::PreviewRequest,
        billing::ChangePlanRequest, billing::PlanDetail, billing::VoidRequest, billing::PaymentRequest,
        billing::CreditRequest, billing::CreditGranted, billing::PortalUrl,
        avb_core::services::subscriptions::BillingOverview, avb_core::services::subscriptions::LimitUsage,
        avb_core::services::subscriptions::PlanOption, avb_core::services::subscriptions::PendingChange,
        avb_core::services::subscriptions::ChangeOutcome, avb_core::services::invoices::InvoiceView,
        avb_core::services::invoices::Revenue, avb_core::services::plans::PlanView,
        avb_core::services::plans::PlanVersionView, avb_core::services::plans::SubscriberView,
        custom_voices::CreateForm, custom_voices::RenameRequest, custom_voices::MethodsResponse,
        avb_core::services::custom_voices::CustomVoiceView, avb_core::services::custom_voices::BlendPart,
        avb_core::services::custom_voices::MethodView,
        avb_core::services::personas::PersonaInput, avb_core::services::personas::PersonaView,
        avb_core::services::personas::PersonaVersionView,
        avb_core::services::personas::PersonaDefaults, avb_core::services::personas::ProjectDefault,
        personas::RollbackRequest, personas::DefaultRequest,
        voice_console::SttModelsResponse, voice_console::SttTestForm, voice_console::LlmModelsResponse,
        voice_console::LlmTestRequest,
        avb_core::services::voice_console::SttModels, avb_core::services::voice_console::SttModelChoice,
        avb_core::services::voice_console::EngineState, avb_core::services::voice_console::SttStats,
        avb_core::services::voice_console::StageLatency, avb_core::services::voice_console::SttTestResult,
        avb_core::services::voice_console::LlmModels, avb_core::services::voice_console::LlmTestResult,
        members::RoleRequest, webhooks::WebhookDto, webhooks::NewWebhookRequest,
        webhooks::CreatedWebhookDto, webhooks::TestSendDto, webhooks::DeliveryDto,
        ovos::SkillTestRequest, avb_core::services::skills::TenantOvos,
        avb_core::services::skills::SkillsView, avb_core::services::skills::SkillRow,
        avb_core::services::skills::SkillTest, avb_core::services::skill_settings::SkillSettings, avb_core::services::skill_settings::SettingsSection, avb_core::services::skill_settings::SettingsField, avb_core::services::skill_settings::SelectOption, avb_core::services::intents::IntentSummary,
        avb_core::services::intents::IntentStat, avb_core::services::intents::DayStat,
        avb_core::services::intents::IntentEventView,
        wake_words::NewWakeWord, wake_words::WakeWordChange,
        avb_core::services::wake_words::WakeWords, avb_core::services::wake_words::WakeWordView,
        avb_core::services::wake_words::Validation, avb_core::services::wake_words::SynthRates,
        avb_core::services::wake_words::WakeAnalytics, avb_core::services::wake_words::WakeDay,
        avb_core::services::wake_words::WakeEventView,
        avb_core::services::solvers::SolverState,
    )),
    modifiers(&BearerAuth, &ProblemResponses),
)]
struct ApiDoc;

/// The OpenAPI document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use serde_json::Value;

    /// Every error answer is documented as problem+json, and the answers the extractors and
    /// the authentication give are documented on every route that can give them.
    #[test]
    fn errors_are_documented_as_problem_json() {
        let doc = serde_json::to_value(super::document()).unwrap();
        let mut operations = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                operations += 1;
                let responses = op["responses"].as_object().unwrap();
                for (status, r) in responses {
                    if (status.starts_with('4') || status.starts_with('5'))
                        && let Some(content) = r.get("content")
                    {
                        assert!(
                            content.get("application/json").is_none()
                                && content.get("application/problem+json").is_some(),
                            "{method} {path} {status}: {content}"
                        );
                    }
                }
                if op.get("requestBody").is_some() {
                    for s in ["400", "413"] {
                        assert!(responses.contains_key(s), "{method} {path} lacks {s}");
                    }
                }
                if op["requestBody"]["content"]
                    .get("application/json")
                    .is_some()
                {
                    for s in ["415", "422"] {
                        assert!(responses.contains_key(s), "{method} {path} lacks {s}");
                    }
                }
                if op.get("security").is_some() {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
                if path.starts_with("/api/v1/") {
                    assert!(responses.contains_key("503"), "{method} {path} lacks 503");
                }
            }
        }
        assert!(operations > 40);
        let invite = &doc["paths"]["/api/v1/invitations"]["post"]["responses"];
        assert!(
            invite.get("402").is_some(),
            "the plan limit on members: {invite}"
        );
        let list = &doc["paths"]["/api/v1/webhooks"]["get"];
        let schema = &list["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(
            schema.to_string().contains("ListResponse")
                || schema
                    .get("properties")
                    .is_some_and(|p: &Value| p.get("has_more").is_some()),
            "{schema}"
        );
    }
}
