//! Builds audit entries from a scope. Services append them inside the same transaction as the
//! change they describe.

use crate::scope::Scope;
use avb_domain::TenantId;
use avb_storage::repos::audit::NewAudit;

/// An audit entry for `action` on `resource_type/resource_id` by the scope's actor.
pub fn entry(
    scope: &Scope,
    tenant: Option<TenantId>,
    action: &str,
    resource_type: &str,
    resource_id: impl ToString,
    summary: serde_json::Value,
) -> NewAudit {
    let actor = scope.actor();
    NewAudit {
        tenant,
        actor_type: actor.kind().into(),
        actor_id: actor.id(),
        actor_label: actor.label(),
        action: action.into(),
        resource_type: resource_type.into(),
        resource_id: resource_id.to_string(),
        ip: scope.meta().ip.clone(),
        user_agent: scope.meta().user_agent.clone(),
        summary,
        result: "success".into(),
    }
}
