//! Tenant-scoped services. Each public function takes a [`crate::Scope`] first.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod billing;
pub mod billing_provider;
pub mod custom_voices;
pub mod events;
pub mod housekeeping;
pub mod impersonation;
pub mod intents;
pub mod invoices;
pub mod key_cache;
pub mod lago_sync;
pub mod lago_webhooks;
pub mod leases;
pub mod live;
pub mod liveness;
pub mod members;
pub mod ovos;
pub mod payments;
pub mod personas;
pub mod pipeline;
pub mod plans;
pub mod platform;
pub mod portal_sessions;
pub mod projects;
pub mod realtime;
pub mod revocation;
pub mod sessions;
pub mod skill_settings;
pub mod skills;
pub mod solvers;
pub mod stripe;
pub mod subscriptions;
pub mod tenants;
pub mod usage;
pub mod users;
pub mod voice_console;
pub mod voice_profiles;
pub mod voices;
pub mod wake_words;
pub mod webhooks;

use avb_domain::ValidationError;

/// Clamps a requested page size to 1..=200 (default 50).
pub fn page_limit(limit: Option<u64>) -> Result<u64, ValidationError> {
    match limit {
        None => Ok(50),
        Some(l) if (1..=200).contains(&l) => Ok(l),
        Some(_) => Err(ValidationError::new("limit", "must be between 1 and 200")),
    }
}
