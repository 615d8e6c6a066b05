//! Repositories. Tenant-owned tables take the tenant from the transaction, never from callers.

pub mod alerts;
pub mod api_keys;
pub mod audit;
pub mod auth_sessions;
pub mod custom_voices;
pub mod events;
pub mod invitations;
pub mod invoices;
pub mod leases;
pub mod login_events;
pub mod mail;
pub mod memberships;
pub mod ovos;
pub mod payments;
pub mod personas;
pub mod plans;
pub mod portal_sessions;
pub mod projects;
pub mod realtime_records;
pub mod realtime_secrets;
pub mod realtime_sessions;
pub mod replicas;
pub mod secrets;
pub mod stt_tests;
pub mod subscriptions;
pub mod tenant_settings;
pub mod tenants;
pub mod tokens;
pub mod usage;
pub mod users;
pub mod voice_profiles;
pub mod wake_words;
pub mod webhooks;

use crate::page::PageRequest;
use sea_orm::sea_query::IntoCondition;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

/// Applies newest-first cursor pagination on a UUIDv7 id column.
pub(crate) fn paginate<E: EntityTrait, C: ColumnTrait>(
    q: Select<E>,
    id: C,
    page: PageRequest,
) -> Select<E> {
    let q = match page.after {
        Some(after) => q.filter(id.lt(after).into_condition()),
        None => q,
    };
    q.order_by_desc(id).limit(page.limit + 1)
}
