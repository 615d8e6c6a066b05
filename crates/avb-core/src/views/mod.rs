//! Read-only views that services hand to the handlers, built from storage rows: typed ids and
//! status enums instead of database columns, and no secrets (hashes, sealed keys). Handlers
//! never see a storage entity, so a column rename stays inside storage and core. A leaf
//! module: it uses nothing else of this crate, so the services and the identity adapters that
//! build these views do not import one another for them.

pub mod alerts;
pub mod audit;
pub mod sessions;
pub mod tenants;
pub mod users;
pub mod webhooks;

pub use alerts::{AlertRule, Incident, IncidentEvent};
pub use audit::{AuditArchive, AuditEvent};
pub use sessions::{ItemRecord, SessionRecord, TurnRecord};
pub use tenants::{ApiKey, Invitation, Member, Membership, Project, Tenant, TenantSettings};
pub use users::{LoginEvent, Mail, User, UserView};
pub use webhooks::{Attempt, Delivery, Endpoint};
