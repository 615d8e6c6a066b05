//! Authorisation through a Rego policy evaluated in-process by regorus.

use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use avb_domain::{Permission, TenantId};
use std::path::Path;

/// The policy shipped in the binary; `policy.file` overrides it.
pub const EMBEDDED_POLICY: &str = include_str!("../policy/authz.rego");

const ALLOW_RULE: &str = "data.avb.authz.allow";

/// A compiled policy. Cloning the engine per decision keeps evaluation lock-free.
pub struct PolicyEngine {
    engine: regorus::Engine,
}

impl PolicyEngine {
    /// Loads the embedded policy, or the file at `path`.
    pub fn load(path: Option<&Path>) -> CoreResult<Self> {
        let (name, text) = match path {
            Some(p) => (
                p.display().to_string(),
                std::fs::read_to_string(p).map_err(|e| {
                    CoreError::Internal(format!("cannot read policy file {}: {e}", p.display()))
                })?,
            ),
            None => ("authz.rego".to_string(), EMBEDDED_POLICY.to_string()),
        };
        let mut engine = regorus::Engine::new();
        engine
            .add_policy(name, text)
            .map_err(|e| CoreError::Internal(format!("invalid policy: {e}")))?;
        let me = Self { engine };
        // Fail at startup, not on the first request, if the rule is missing.
        me.evaluate(&serde_json::json!({"subject": {}, "action": "", "resource": {}}))?;
        Ok(me)
    }

    fn evaluate(&self, input: &serde_json::Value) -> CoreResult<bool> {
        let mut engine = self.engine.clone();
        let value = regorus::Value::from_json_str(&input.to_string())
            .map_err(|e| CoreError::Internal(format!("policy input: {e}")))?;
        engine.set_input(value);
        let out = engine
            .eval_rule(ALLOW_RULE.to_string())
            .map_err(|e| CoreError::Internal(format!("policy evaluation: {e}")))?;
        Ok(out.as_bool().copied().unwrap_or(false))
    }

    /// Allows `scope` to perform `action` on a resource of `resource_tenant`, or says why not.
    pub fn authorize(
        &self,
        scope: &Scope,
        action: Permission,
        resource_tenant: Option<TenantId>,
    ) -> CoreResult<()> {
        let input = serde_json::json!({
            "subject": {
                "tenant": scope.tenant().map(|t| t.to_string()),
                "permissions": scope.permissions().iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                "saas_admin": scope.is_saas_admin(),
                "operator": scope.is_operator(),
            },
            "action": action.as_str(),
            "resource": { "tenant": resource_tenant.map(|t| t.to_string()) },
        });
        if self.evaluate(&input)? {
            return Ok(());
        }
        if resource_tenant.is_some() && scope.tenant() != resource_tenant && !action.is_platform() {
            // Another tenant's resource reads exactly like a missing one.
            return Err(CoreError::NotFound);
        }
        Err(CoreError::Forbidden(action))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::{Actor, RequestMeta};
    use avb_domain::{Role, UserId};

    fn member(tenant: TenantId, role: Role) -> Scope {
        Scope::new(
            Actor::User {
                id: UserId::new(),
                email: "a@b.io".into(),
            },
            Some(tenant),
            Some(role),
            false,
            None,
            RequestMeta::default(),
        )
    }

    #[test]
    fn tenant_member_allowed_only_in_own_tenant_with_permission() -> CoreResult<()> {
        let p = PolicyEngine::load(None)?;
        let (a, b) = (TenantId::new(), TenantId::new());
        let dev = member(a, Role::Developer);
        assert!(
            p.authorize(&dev, Permission::ProjectsManage, Some(a))
                .is_ok()
        );
        assert!(matches!(
            p.authorize(&dev, Permission::ProjectsManage, Some(b)),
            Err(CoreError::NotFound)
        ));
        assert!(matches!(
            p.authorize(&dev, Permission::AuditView, Some(a)),
            Err(CoreError::Forbidden(Permission::AuditView))
        ));
        assert!(
            p.authorize(&dev, Permission::PlatformTenants, None)
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn saas_admin_has_platform_but_not_tenant_permissions() -> CoreResult<()> {
        let p = PolicyEngine::load(None)?;
        let admin = Scope::new(
            Actor::User {
                id: UserId::new(),
                email: "root@x.io".into(),
            },
            None,
            None,
            true,
            None,
            RequestMeta::default(),
        );
        assert!(
            p.authorize(&admin, Permission::PlatformTenants, None)
                .is_ok()
        );
        assert!(
            p.authorize(&admin, Permission::ProjectsView, Some(TenantId::new()))
                .is_err()
        );
        Ok(())
    }

    #[test]
    fn override_file_is_used() -> CoreResult<()> {
        let dir = std::env::temp_dir().join(format!("avb-policy-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).map_err(|e| CoreError::Internal(e.to_string()))?;
        let file = dir.join("deny.rego");
        std::fs::write(
            &file,
            "package avb.authz\nimport rego.v1\ndefault allow := false\n",
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        let p = PolicyEngine::load(Some(&file))?;
        let t = TenantId::new();
        assert!(
            p.authorize(
                &member(t, Role::TenantOwner),
                Permission::ProjectsView,
                Some(t)
            )
            .is_err()
        );
        Ok(())
    }
}
