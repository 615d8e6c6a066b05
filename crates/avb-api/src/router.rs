//! Every route of the HTTP API in one place.

use crate::error::ApiError;
use crate::handlers::{
    admin_tenants, api_keys, audit, auth, billing, custom_voices, health, me, members, ovos,
    personas, projects, sessions, usage, voice_console, voice_profiles, voices, wake_words,
    webhooks,
};
use avb_core::AppContext;
use axum::Router;
use axum::http::StatusCode;
use axum::routing::{get, post};

/// State shared by handlers.
#[derive(Clone)]
pub struct AppState {
    /// Services and configuration.
    pub ctx: AppContext,
}

/// The problem+json 404 for a path under `/api` that no route serves.
pub async fn not_found() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "no such route",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "this route does not accept that method",
    )
}

async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(crate::openapi::document())
}

/// Builds the router with all routes. The middleware every route of the process shares
/// (request id, body limit, metrics, tracing) and the 404 for unknown `/api` paths are added
/// where the whole app is assembled (`avb_server::app`).
pub fn router(ctx: AppContext) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/.well-known/jwks.json", get(health::jwks))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/auth/token", post(auth::token))
        .route("/api/v1/auth/refresh", post(auth::refresh))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/auth/password-reset", post(auth::password_reset))
        .route(
            "/api/v1/auth/password-reset/confirm",
            post(auth::password_reset_confirm),
        )
        .route("/api/v1/me", get(me::get))
        .route("/api/v1/me/password", post(me::change_password))
        .route("/api/v1/me/totp", post(me::totp_setup))
        .route("/api/v1/me/totp/enable", post(me::totp_enable))
        .route("/api/v1/me/totp/disable", post(me::totp_disable))
        .route("/api/v1/me/logins", get(me::logins))
        .route(
            "/api/v1/projects",
            get(projects::list).post(projects::create),
        )
        .route(
            "/api/v1/projects/{id}",
            get(projects::get)
                .patch(projects::update)
                .delete(projects::delete),
        )
        .route(
            "/api/v1/projects/{id}/voice-profile",
            get(voice_profiles::get_project)
                .put(voice_profiles::put_project)
                .delete(voice_profiles::delete_project),
        )
        .route(
            "/api/v1/personas",
            get(personas::list).post(personas::create),
        )
        .route(
            "/api/v1/personas/{id}",
            get(personas::get)
                .patch(personas::update)
                .delete(personas::delete),
        )
        .route("/api/v1/personas/{id}/publish", post(personas::publish))
        .route("/api/v1/personas/{id}/archive", post(personas::archive))
        .route("/api/v1/personas/{id}/versions", get(personas::versions))
        .route("/api/v1/personas/{id}/rollback", post(personas::rollback))
        .route("/api/v1/personas/{id}/test", post(personas::test))
        .route(
            "/api/v1/persona-default",
            get(personas::get_default).put(personas::put_default),
        )
        .route(
            "/api/v1/voice-profile",
            get(voice_profiles::get_tenant)
                .put(voice_profiles::put_tenant)
                .delete(voice_profiles::delete_tenant),
        )
        .route("/api/v1/voices", get(voices::list))
        .route(
            "/api/v1/voices/preview",
            axum::routing::post(voices::preview),
        )
        .route("/api/v1/billing", get(billing::overview))
        .route("/api/v1/billing/plan", post(billing::change_plan))
        .route(
            "/api/v1/billing/pending-change",
            axum::routing::delete(billing::cancel_pending),
        )
        .route("/api/v1/invoices", get(billing::list_invoices))
        .route("/api/v1/invoices/{id}", get(billing::get_invoice))
        .route("/api/v1/invoices/{id}/pdf", get(billing::invoice_pdf))
        .route(
            "/api/v1/admin/plans",
            get(billing::list_plans).post(billing::create_plan),
        )
        .route(
            "/api/v1/admin/plans/{id}",
            get(billing::get_plan).put(billing::update_plan),
        )
        .route(
            "/api/v1/admin/plans/{id}/deprecate",
            post(billing::deprecate_plan),
        )
        .route(
            "/api/v1/admin/plans/{id}/reactivate",
            post(billing::reactivate_plan),
        )
        .route("/api/v1/admin/invoices", get(billing::admin_invoices))
        .route(
            "/api/v1/admin/invoices/{id}/void",
            post(billing::void_invoice),
        )
        .route(
            "/api/v1/admin/invoices/{id}/payment",
            post(billing::record_payment),
        )
        .route(
            "/api/v1/admin/tenants/{id}/credits",
            post(billing::grant_credit),
        )
        .route("/api/v1/admin/revenue", get(billing::revenue))
        .route(
            "/api/v1/admin/invoices/{id}/retry-payment",
            post(billing::retry_payment),
        )
        .route(
            "/api/v1/billing/payment-portal",
            get(billing::payment_portal),
        )
        .route("/api/v1/lago/webhooks", post(billing::lago_webhook))
        .route("/api/v1/stripe/webhooks", post(billing::stripe_webhook))
        .route(
            "/api/v1/custom-voices",
            get(custom_voices::list).post(custom_voices::create).layer(
                axum::extract::DefaultBodyLimit::max(
                    avb_core::services::custom_voices::MAX_SAMPLE_BYTES + 256 * 1024,
                ),
            ),
        )
        .route("/api/v1/custom-voices/methods", get(custom_voices::methods))
        .route(
            "/api/v1/custom-voices/{id}",
            get(custom_voices::get)
                .patch(custom_voices::rename)
                .delete(custom_voices::delete),
        )
        .route(
            "/api/v1/custom-voices/{id}/default",
            post(custom_voices::set_default),
        )
        .route("/api/v1/voice/stt-models", get(voice_console::stt_models))
        .route(
            "/api/v1/voice/stt-test",
            post(voice_console::stt_test).layer(axum::extract::DefaultBodyLimit::max(
                avb_core::services::voice_console::MAX_UPLOAD_BYTES + 256 * 1024,
            )),
        )
        .route("/api/v1/voice/llm-models", get(voice_console::llm_models))
        .route("/api/v1/voice/llm-test", post(voice_console::llm_test))
        .route(
            "/api/v1/ovos/settings",
            get(ovos::get_settings).put(ovos::put_settings),
        )
        .route("/api/v1/ovos/skills", get(ovos::list_skills))
        .route("/api/v1/ovos/skills/test", post(ovos::test_skill))
        .route(
            "/api/v1/ovos/skills/{skill_id}/settings",
            get(ovos::get_skill_settings).put(ovos::put_skill_settings),
        )
        .route("/api/v1/intents/summary", get(ovos::summary))
        .route("/api/v1/intents/events", get(ovos::events))
        .route("/api/v1/solvers", get(personas::solvers))
        .route(
            "/api/v1/wake-words",
            get(wake_words::list).post(wake_words::create),
        )
        .route("/api/v1/wake-words/validate", post(wake_words::validate))
        .route("/api/v1/wake-words/analytics", get(wake_words::analytics))
        .route(
            "/api/v1/wake-words/{id}",
            axum::routing::patch(wake_words::update).delete(wake_words::delete),
        )
        .route(
            "/api/v1/api-keys",
            get(api_keys::list).post(api_keys::create),
        )
        .route(
            "/api/v1/api-keys/{id}",
            get(api_keys::get).patch(api_keys::update),
        )
        .route("/api/v1/api-keys/{id}/rotate", post(api_keys::rotate))
        .route("/api/v1/api-keys/{id}/revoke", post(api_keys::revoke))
        .route("/api/v1/sessions", get(sessions::list))
        .route("/api/v1/sessions/{id}", get(sessions::get))
        .route("/api/v1/sessions/{id}/close", post(sessions::close))
        .route("/api/v1/usage", get(usage::totals))
        .route("/api/v1/members", get(members::list))
        .route(
            "/api/v1/invitations",
            get(members::list_invitations).post(members::invite),
        )
        .route("/api/v1/invitations/accept", post(members::accept))
        .route(
            "/api/v1/invitations/{id}/revoke",
            post(members::revoke_invitation),
        )
        .route(
            "/api/v1/members/{user_id}",
            axum::routing::patch(members::change_role).delete(members::remove),
        )
        .route(
            "/api/v1/webhooks",
            get(webhooks::list).post(webhooks::create),
        )
        .route(
            "/api/v1/webhooks/{id}",
            axum::routing::delete(webhooks::delete),
        )
        .route("/api/v1/webhooks/{id}/test", post(webhooks::test))
        .route(
            "/api/v1/webhooks/{id}/deliveries",
            get(webhooks::deliveries),
        )
        .route("/api/v1/audit", get(audit::list))
        .route("/api/v1/audit/export", get(audit::export))
        .route(
            "/api/v1/admin/tenants",
            get(admin_tenants::list).post(admin_tenants::create),
        )
        .route("/api/v1/admin/tenants/{id}", get(admin_tenants::get))
        .route(
            "/api/v1/admin/tenants/{id}/suspend",
            post(admin_tenants::suspend),
        )
        .route(
            "/api/v1/admin/tenants/{id}/reactivate",
            post(admin_tenants::reactivate),
        )
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(AppState { ctx })
}
