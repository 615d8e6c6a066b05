//! The web portal: server-rendered pages over the same services as `/api/v1`. A browser signs
//! in with a form (the local identity provider) or the OpenID provider, gets an HttpOnly session
//! cookie, and every page builds its `Scope` from the server-side tokens exactly as the API does
//! for a bearer.
//!
//! Where things go:
//! - One module per resource (`projects`, `api_keys`, `sessions`, `team`, `settings`, `usage`,
//!   `account`, `dashboard`, `admin::*`), its templates in `templates/<resource>/<view>.html`,
//!   the parts served alone to htmx as `_<part>.html`, page structs named `<Resource><View>Page`.
//! - A handler names what it needs as extractors (`extract`): `Visitor` (signed in),
//!   `Require<perm::X>` (holding a permission), `CsrfForm<T>` (a checked form post). It returns
//!   `Result<_, PageError>` (`error`) and uses `?` on service calls; the error page, or the
//!   htmx fragment and toast, is rendered in one place. Its doc line names the permission.
//! - Shared template pieces are askama macros in `templates/macros.html`; the shell (navigation
//!   by role, toasts) is `chrome`; who is signed in is `visitor`; sign-in and sign-out are
//!   `login`; response headers are `headers`.

mod account;
mod admin;
mod api_keys;
mod assets;
mod billing;
mod charts;
mod chrome;
mod csv;
mod dashboard;
mod error;
mod extract;
mod headers;
mod intents;
mod login;
mod no_route;
mod oidc;
mod onboarding;
mod personas;
mod playground;
mod projects;
pub mod session;
mod sessions;
mod settings;
mod setup;
mod skill_settings;
mod skills;
mod team;
mod usage;
mod visitor;
mod voice;
mod voice_custom;
mod voice_llm;
mod voice_stt;
mod wake_words;
mod waterfall;

use avb_core::AppContext;
use axum::Router;
use axum::routing::get;
use std::sync::Arc;

/// State of the portal routes.
#[derive(Clone)]
pub struct PortalState {
    /// Platform services.
    pub ctx: AppContext,
    /// Browser sessions.
    pub sessions: Arc<session::Sessions>,
    /// Sign-ins under way at the OpenID provider.
    pub pending: Arc<session::PendingLogins>,
}

/// The portal's routes (`/`, `/login`, `/logout`, `/dashboard`, `/projects`, `/api-keys`, `/assets/*`).
pub fn router(ctx: AppContext) -> Router {
    Router::new()
        .route("/", get(login::home))
        .route("/login", get(login::login_form).post(login::login))
        .route("/logout", axum::routing::post(login::logout))
        .route(
            "/invitations/accept",
            get(onboarding::invitation_form).post(onboarding::accept_invitation),
        )
        .route(
            "/reset-password",
            get(onboarding::reset_form).post(onboarding::reset),
        )
        .route("/auth/oidc/start", get(oidc::start))
        .route("/auth/oidc/callback", get(oidc::callback))
        .route(
            "/auth/oidc/backchannel-logout",
            axum::routing::post(oidc::backchannel_logout),
        )
        .route("/dashboard", get(dashboard::page))
        .route("/dashboard/panel", get(dashboard::refresh))
        .route("/dashboard/status", get(dashboard::status))
        .route("/projects", get(projects::list).post(projects::create))
        .route(
            "/voice/personas",
            get(personas::list).post(personas::create),
        )
        .route("/voice/personas/new", get(personas::new_form))
        .route(
            "/voice/personas/{id}",
            get(personas::detail).post(personas::update),
        )
        .route("/voice/personas/{id}/edit", get(personas::edit_form))
        .route(
            "/voice/personas/{id}/publish",
            axum::routing::post(personas::publish),
        )
        .route(
            "/voice/personas/{id}/archive",
            axum::routing::post(personas::archive),
        )
        .route(
            "/voice/personas/{id}/default",
            axum::routing::post(personas::make_default),
        )
        .route(
            "/voice/personas/{id}/project-default",
            axum::routing::post(personas::project_default),
        )
        .route(
            "/voice/personas/{id}/rollback",
            get(personas::confirm_rollback).post(personas::rollback),
        )
        .route(
            "/voice/personas/{id}/delete",
            get(personas::confirm_delete).post(personas::delete),
        )
        .route(
            "/voice/personas/{id}/chat",
            axum::routing::post(personas::chat),
        )
        .route("/api-keys", get(api_keys::list).post(api_keys::create))
        .route(
            "/api-keys/{id}/revoke",
            get(api_keys::confirm_revoke).post(api_keys::revoke),
        )
        .route(
            "/api-keys/{id}/rotate",
            get(api_keys::confirm_rotate).post(api_keys::rotate),
        )
        .route("/sessions", get(sessions::list))
        .route("/sessions/table", get(sessions::live_table))
        .route("/sessions/export.csv", get(sessions::export_csv))
        .route("/sessions/{id}", get(sessions::detail))
        .route("/sessions/{id}/status", get(sessions::status))
        .route(
            "/sessions/{id}/end",
            get(sessions::confirm_end).post(sessions::end),
        )
        .route("/usage", get(usage::page))
        .route("/usage/export.csv", get(usage::export_csv))
        .route("/voice", get(voice::show).post(voice::save))
        .route("/voice/preview", get(voice::preview))
        .route("/voice/playground", get(playground::show))
        .route(
            "/voice/playground/secret",
            axum::routing::post(playground::secret),
        )
        .route(
            "/voice/playground/sessions/{realtime_id}",
            get(playground::session),
        )
        .route(
            "/projects/{id}/voice",
            get(voice::show_project).post(voice::save_project),
        )
        .route("/team", get(team::list))
        .route("/team/invite", axum::routing::post(team::invite))
        .route(
            "/team/members/{user}/role",
            axum::routing::post(team::change_role),
        )
        .route(
            "/team/members/{user}/remove",
            get(team::confirm_remove).post(team::remove),
        )
        .route(
            "/team/invitations/{id}/revoke",
            axum::routing::post(team::revoke_invitation),
        )
        .route("/account", get(account::show))
        .route("/account/profile", axum::routing::post(account::profile))
        .route("/account/password", axum::routing::post(account::password))
        .route(
            "/account/totp",
            get(account::totp_form).post(account::totp_enable),
        )
        .route(
            "/account/totp/keycloak",
            axum::routing::post(account::totp_keycloak),
        )
        .route(
            "/account/totp/disable",
            axum::routing::post(account::totp_disable),
        )
        .route(
            "/account/sessions/end-others",
            axum::routing::post(account::end_others),
        )
        .route("/settings", get(settings::show))
        .route("/settings/profile", axum::routing::post(settings::profile))
        .route(
            "/settings/notifications",
            axum::routing::post(settings::notifications),
        )
        .route(
            "/settings/webhooks",
            axum::routing::post(settings::create_webhook),
        )
        .route("/settings/webhooks/{id}", get(settings::log))
        .route(
            "/settings/webhooks/{id}/test",
            axum::routing::post(settings::test),
        )
        .route(
            "/settings/webhooks/{id}/delete",
            axum::routing::post(settings::delete),
        )
        .route("/voice/skills", get(skills::show))
        .route("/voice/skills/settings", axum::routing::post(skills::save))
        .route("/voice/skills/toggle", axum::routing::post(skills::toggle))
        .route("/voice/skills/test", axum::routing::post(skills::test))
        .route(
            "/voice/skills/{skill_id}/settings",
            get(skill_settings::tenant_show).post(skill_settings::tenant_save),
        )
        .route(
            "/voice/wake-words",
            get(wake_words::show).post(wake_words::add),
        )
        .route(
            "/voice/wake-words/validate",
            axum::routing::post(wake_words::validate),
        )
        .route(
            "/voice/wake-words/test",
            axum::routing::post(wake_words::test)
                .layer(axum::extract::DefaultBodyLimit::max(4 * 1024 * 1024)),
        )
        .route(
            "/voice/wake-words/{id}",
            axum::routing::post(wake_words::change),
        )
        .route(
            "/voice/wake-words/{id}/delete",
            axum::routing::post(wake_words::delete),
        )
        .route(
            "/voice/wake-words/events/{id}/mark",
            axum::routing::post(wake_words::mark),
        )
        .route("/voice/intents", get(intents::show))
        .route("/voice/intents/export.csv", get(intents::export))
        .route("/voice/stt", get(voice_stt::show).post(voice_stt::save))
        .route(
            "/voice/stt/test",
            axum::routing::post(voice_stt::test).layer(axum::extract::DefaultBodyLimit::max(
                avb_core::services::voice_console::MAX_UPLOAD_BYTES + 256 * 1024,
            )),
        )
        .route(
            "/voice/custom",
            get(voice_custom::list).post(voice_custom::create).layer(
                axum::extract::DefaultBodyLimit::max(
                    avb_core::services::custom_voices::MAX_SAMPLE_BYTES + 256 * 1024,
                ),
            ),
        )
        .route("/voice/custom/table", get(voice_custom::live_table))
        .route("/voice/custom/{id}", get(voice_custom::detail))
        .route(
            "/voice/custom/{id}/rename",
            axum::routing::post(voice_custom::rename),
        )
        .route(
            "/voice/custom/{id}/default",
            axum::routing::post(voice_custom::make_default),
        )
        .route(
            "/voice/custom/{id}/delete",
            axum::routing::post(voice_custom::delete),
        )
        .route("/billing", get(billing::show))
        .route(
            "/billing/change",
            get(billing::confirm).post(billing::change),
        )
        .route(
            "/billing/cancel-change",
            axum::routing::post(billing::cancel_change),
        )
        .route("/billing/invoices/{id}", get(billing::pdf))
        .route("/billing/payment-methods", get(billing::payment_methods))
        .route(
            "/billing/payment-methods/checkout",
            get(billing::payment_checkout),
        )
        .route(
            "/billing/payment-methods/{id}/remove",
            axum::routing::post(billing::remove_card),
        )
        .route("/voice/llm", get(voice_llm::show).post(voice_llm::save))
        .route(
            "/voice/llm/key/remove",
            axum::routing::post(voice_llm::remove_key),
        )
        .route("/voice/llm/test", axum::routing::post(voice_llm::test))
        .route(
            "/voice/llm/test/stream",
            axum::routing::post(voice_llm::test_stream),
        )
        .route("/admin", get(admin::overview::page))
        .route("/admin/panel", get(admin::overview::refresh))
        .route(
            "/admin/plans",
            get(admin::plans::list).post(admin::plans::create),
        )
        .route(
            "/admin/plans/{id}",
            get(admin::plans::detail).post(admin::plans::update),
        )
        .route(
            "/admin/plans/{id}/{action}",
            axum::routing::post(admin::plans::set_offered),
        )
        .route("/admin/billing", get(admin::billing::show))
        .route("/admin/billing/export.csv", get(admin::billing::export))
        .route(
            "/admin/billing/payments.csv",
            get(admin::billing::export_payments),
        )
        .route(
            "/admin/billing/invoices/{id}/{action}",
            axum::routing::post(admin::billing::act),
        )
        .route("/admin/tenants", get(admin::tenants::list))
        .route("/admin/tenants/table", get(admin::tenants::search))
        .route(
            "/admin/tenants/new",
            get(admin::onboarding::form).post(admin::onboarding::create),
        )
        .route("/admin/tenants/{id}", get(admin::tenants::detail))
        .route(
            "/admin/tenants/{id}/impersonate",
            axum::routing::post(admin::tenants::impersonate),
        )
        .route(
            "/admin/tenants/{id}/{action}",
            get(admin::tenants::confirm_status).post(admin::tenants::set_status),
        )
        .route(
            "/admin/impersonation/stop",
            axum::routing::post(admin::tenants::stop),
        )
        .route("/admin/users", get(admin::users::list))
        .route("/admin/users/table", get(admin::users::search))
        .route(
            "/admin/users/failed-logins",
            get(admin::users::failed_logins),
        )
        .route("/admin/users/{id}", get(admin::users::detail))
        .route(
            "/admin/users/{id}/{action}",
            get(admin::users::confirm_status).post(admin::users::act),
        )
        .route("/admin/audit", get(admin::audit::list))
        .route("/admin/audit/export", get(admin::audit::export))
        .route("/admin/audit/verify", get(admin::audit::verify))
        .route(
            "/admin/audit/archives/{id}/verify",
            get(admin::audit::verify_archive),
        )
        .route("/admin/audit/{id}", get(admin::audit::entry))
        .route("/admin/monitoring", get(admin::monitoring::page))
        .route("/admin/pipeline", get(admin::pipeline::show))
        .route("/admin/ovos", get(admin::ovos::show))
        .route(
            "/admin/ovos/restart",
            axum::routing::post(admin::ovos::restart),
        )
        .route(
            "/admin/ovos/skills/install",
            axum::routing::post(admin::ovos::install),
        )
        .route(
            "/admin/ovos/skills/{skill_id}/settings",
            get(skill_settings::admin_show).post(skill_settings::admin_save),
        )
        .route("/admin/monitoring/logs", get(admin::monitoring::logs))
        .route(
            "/admin/monitoring/alerts",
            get(admin::alerts::list).post(admin::alerts::create),
        )
        .route(
            "/admin/monitoring/alerts/{id}/delete",
            axum::routing::post(admin::alerts::delete),
        )
        .route(
            "/admin/monitoring/incidents/{id}",
            get(admin::alerts::incident),
        )
        .route(
            "/admin/monitoring/health",
            get(admin::monitoring::health_fragment),
        )
        .route("/assets/{name}", get(assets::serve))
        .fallback(no_route::page)
        .layer(axum::middleware::from_fn(error::render_errors))
        .layer(axum::middleware::from_fn(headers::remember_path))
        .layer(axum::middleware::from_fn(headers::security_headers))
        // Pages and assets gzip-compressed for browsers that ask (Accept-Encoding).
        .layer(tower_http::compression::CompressionLayer::new().gzip(true))
        // After the layers: the setup page sets its own, stricter headers.
        .merge(setup::routes())
        .with_state(PortalState {
            sessions: Arc::new(session::Sessions::new(ctx.clone())),
            ctx,
            pending: Arc::default(),
        })
}
