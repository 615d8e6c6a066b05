//! Projects: a tenant's environments for keys and sessions.

use crate::audit;
use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
pub use crate::views::Project;
use avb_domain::{Environment, Name, Permission, ProjectId, TenantId, ValidationError};
use avb_storage::repos::{api_keys, audit as audit_repo, projects, voice_profiles};
use avb_storage::{Page, PageRequest};
use std::collections::HashMap;

/// A project with its live key count.
#[derive(Debug, Clone)]
pub struct ProjectView {
    pub project: Project,
    pub key_count: u64,
}

/// Validated fields for create/update.
#[derive(Debug, Default)]
pub struct ProjectInput {
    pub name: Option<String>,
    pub environment: Option<String>,
    pub description: Option<String>,
}

/// The caller's tenant, or `Forbidden(perm)` for callers acting in no tenant.
pub(crate) fn tenant_of(scope: &Scope, perm: Permission) -> CoreResult<TenantId> {
    scope.tenant().ok_or(CoreError::Forbidden(perm))
}

fn description(raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    match raw {
        Some(d) if d.chars().count() > 2000 => Err(ValidationError::new(
            "description",
            "must be at most 2000 characters",
        )),
        Some(d) => Ok(Some(d.trim().to_string())),
        None => Ok(None),
    }
}

/// Lists the caller's projects.
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    environment: Option<&str>,
    page: PageRequest,
) -> CoreResult<Page<ProjectView>> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let env = environment.map(str::parse::<Environment>).transpose()?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = projects::list(&tx, env.as_ref().map(|e| e.as_str()), page).await?;
    let ids: Vec<_> = page.items.iter().map(|p| p.id).collect();
    let counts: HashMap<_, _> = projects::key_counts(&tx, &ids).await?;
    tx.commit().await?;
    Ok(page.map(|p| ProjectView {
        key_count: counts.get(&p.id).copied().unwrap_or(0),
        project: p.into(),
    }))
}

/// Creates a project.
pub async fn create(
    ctx: &AppContext,
    scope: &Scope,
    input: ProjectInput,
) -> CoreResult<ProjectView> {
    let tenant = tenant_of(scope, Permission::ProjectsManage)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsManage, Some(tenant))?;
    let name = Name::parse("name", input.name.as_deref().unwrap_or_default())?;
    let env: Environment = input
        .environment
        .as_deref()
        .ok_or_else(|| ValidationError::new("environment", "is required"))?
        .parse()?;
    let desc = description(input.description.as_deref())?.unwrap_or_default();
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let p = projects::insert(&tx, name.as_str(), env.as_str(), &desc).await?;
    let summary = serde_json::json!({"name": name.as_str(), "environment": env.as_str()});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "project.create",
            "project",
            p.id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(ProjectView {
        project: p.into(),
        key_count: 0,
    })
}

/// One project.
pub async fn get(ctx: &AppContext, scope: &Scope, id: ProjectId) -> CoreResult<ProjectView> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let p = projects::get(&tx, id).await?;
    let key_count = projects::key_counts(&tx, &[p.id])
        .await?
        .get(&p.id)
        .copied()
        .unwrap_or(0);
    tx.commit().await?;
    Ok(ProjectView {
        project: p.into(),
        key_count,
    })
}

/// Updates a project's name, environment or description.
pub async fn update(
    ctx: &AppContext,
    scope: &Scope,
    id: ProjectId,
    input: ProjectInput,
) -> CoreResult<ProjectView> {
    let tenant = tenant_of(scope, Permission::ProjectsManage)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsManage, Some(tenant))?;
    let name = input
        .name
        .as_deref()
        .map(|n| Name::parse("name", n))
        .transpose()?;
    let env = input
        .environment
        .as_deref()
        .map(str::parse::<Environment>)
        .transpose()?;
    let desc = description(input.description.as_deref())?;
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    let p = projects::update(
        &tx,
        id,
        name.as_ref().map(|n| n.as_str()),
        env.map(|e| e.as_str()),
        desc.as_deref(),
    )
    .await?;
    let key_count = projects::key_counts(&tx, &[p.id])
        .await?
        .get(&p.id)
        .copied()
        .unwrap_or(0);
    let summary = serde_json::json!({
        "name": name.as_ref().map(|n| n.as_str()), "environment": env.map(|e| e.as_str()),
        "description_changed": desc.is_some(),
    });
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "project.update",
            "project",
            id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(ProjectView {
        project: p.into(),
        key_count,
    })
}

/// Deletes a project; with `revoke_keys` its keys are revoked, otherwise they are detached.
pub async fn delete(
    ctx: &AppContext,
    scope: &Scope,
    id: ProjectId,
    revoke_keys: bool,
) -> CoreResult<usize> {
    let tenant = tenant_of(scope, Permission::ProjectsManage)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsManage, Some(tenant))?;
    if revoke_keys {
        ctx.policy
            .authorize(scope, Permission::ApiKeysManage, Some(tenant))?;
    }
    let tx = ctx.store.tenant_tx(tenant, true).await?;
    projects::get(&tx, id).await?;
    let revoked = if revoke_keys {
        api_keys::revoke_for_project(&tx, id).await?
    } else {
        Vec::new()
    };
    let had_voice_profile = voice_profiles::delete(&tx, Some(id)).await?;
    projects::delete(&tx, id).await?;
    let summary = serde_json::json!({"revoke_keys": revoke_keys, "keys_revoked": revoked.len(),
        "voice_profile_removed": had_voice_profile});
    audit_repo::append(
        &tx,
        audit::entry(
            scope,
            Some(tenant),
            "project.delete",
            "project",
            id,
            summary,
        ),
    )
    .await?;
    tx.commit().await?;
    let prefixes: Vec<String> = revoked.iter().map(|k| k.prefix.clone()).collect();
    ctx.revocations.revoke_keys(tenant, &prefixes).await;
    ctx.revocations
        .end_realtime_of_keys(tenant, &prefixes)
        .await;
    Ok(revoked.len())
}
