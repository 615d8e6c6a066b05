//! Read-only views that services hand to the HTTP layer, built from storage rows. A leaf
//! module: it uses nothing else of this crate, so the services and the identity adapters that
//! build these views do not import one another for them.

use avb_storage::entities::user::Model as User;
use uuid::Uuid;

/// A user with the tenants they belong to (tenant id, name, role).
#[derive(Debug, Clone)]
pub struct UserView {
    pub user: User,
    pub memberships: Vec<(Uuid, String, String)>,
}
