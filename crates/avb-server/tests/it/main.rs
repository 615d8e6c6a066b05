//! Every integration test of the `avb` server, one module per area, in one test binary (one
//! link per cold run instead of eighteen).

mod admin_portal;
mod bad_input;
mod billing;
mod cli;
mod custom_voices;
mod identity;
mod isolation;
mod jobs;
mod kafka;
mod keycloak_admin;
mod keycloak_real;
mod lago_billing;
mod lago_sync;
mod local_engines;
mod oidc_login;
mod one_app;
mod ovos_bus;
mod ovos_skills;
mod personas;
mod playground;
mod portal;
mod portal_errors;
mod portal_pages;
mod prometheus_monitoring;
mod rate_limits;
mod realtime;
mod solvers;
mod story;
mod stripe_payments;
mod support;
mod team_api;
mod voice_console;
mod voice_profiles;
mod voice_studio;
mod work_queue;
