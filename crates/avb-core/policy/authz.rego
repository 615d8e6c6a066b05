# AgentVoiceBox authorisation policy (Rego v1, evaluated in-process by regorus).
# input = {subject: {tenant, permissions, saas_admin, operator}, action, resource: {tenant}}
package avb.authz

import rego.v1

default allow := false

# The local operator (CLI on the server machine) may do anything.
allow if input.subject.operator

# SaaS admins hold the platform permissions, and nothing inside a tenant by default.
allow if {
	input.subject.saas_admin
	startswith(input.action, "platform:")
}

# Tenant members: the resource must be in the caller's own tenant and the role must grant it.
allow if {
	not startswith(input.action, "platform:")
	is_string(input.subject.tenant)
	input.subject.tenant == input.resource.tenant
	input.action in input.subject.permissions
}

deny_reason := "cross_tenant" if {
	is_string(input.subject.tenant)
	is_string(input.resource.tenant)
	input.subject.tenant != input.resource.tenant
}

deny_reason := "missing_permission" if {
	not allow
	input.subject.tenant == input.resource.tenant
}
