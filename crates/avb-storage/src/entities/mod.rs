//! SeaORM entities: one model for SQLite and PostgreSQL.

pub mod api_key;
pub mod audit_chain_head;
pub mod audit_event;
pub mod auth_session;
pub mod invitation;
pub mod login_event;
pub mod mail;
pub mod membership;
pub mod one_time_token;
pub mod portal_session;
pub mod project;
pub mod realtime_client_secret;
pub mod realtime_item;
pub mod realtime_session;
pub mod realtime_turn;
pub mod server_secret;
pub mod tenant;
pub mod tenant_settings;
pub mod usage_event;
pub mod user;
pub mod voice_profile;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_endpoint;
