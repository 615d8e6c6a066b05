//! Route handlers, one module per resource.

pub mod admin_tenants;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod billing;
pub mod custom_voices;
pub mod health;
pub mod me;
pub mod members;
pub mod ovos;
pub mod personas;
pub mod projects;
pub mod sessions;
pub mod usage;
pub mod voice_console;
pub mod voice_profiles;
pub mod voices;
pub mod wake_words;
pub mod webhooks;
