//! Voice profiles of the transaction's tenant: the tenant default and per-project overrides.

use crate::entities::voice_profile::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::TenantTx;
use avb_domain::ProjectId;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// The settable columns of a profile (`None` = inherit).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProfileFields {
    pub voice: Option<String>,
    pub speed: Option<f64>,
    pub stt_model: Option<String>,
    pub stt_language: Option<String>,
    pub stt_vad: Option<bool>,
    pub llm_provider: Option<String>,
    pub llm_base_url: Option<String>,
    pub llm_model: Option<String>,
    pub llm_api_key_enc: Option<String>,
    pub temperature: Option<f64>,
    pub max_output_tokens: Option<i32>,
    pub instructions: Option<String>,
}

fn scope_key(project: Option<ProjectId>) -> String {
    project.map_or_else(|| "tenant".to_string(), |p| p.as_uuid().to_string())
}

/// The profile stored for the tenant (`project` = `None`) or one of its projects.
pub async fn get(tx: &TenantTx, project: Option<ProjectId>) -> StorageResult<Option<Model>> {
    let tenant = tx.tenant_id();
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::ScopeKey.eq(scope_key(project)))
        .one(tx.conn())
        .await?)
}

/// Creates or replaces the profile for the tenant or one of its projects.
pub async fn put(
    tx: &TenantTx,
    project: Option<ProjectId>,
    fields: ProfileFields,
) -> StorageResult<Model> {
    let tenant = tx.tenant_id();
    let existing = get(tx, project).await?;
    let mut row = match &existing {
        Some(m) => ActiveModel::from(m.clone()),
        None => ActiveModel {
            id: Set(uuid::Uuid::now_v7()),
            tenant_id: Set(tenant.as_uuid()),
            project_id: Set(project.map(|p| p.as_uuid())),
            scope_key: Set(scope_key(project)),
            ..Default::default()
        },
    };
    row.voice = Set(fields.voice);
    row.speed = Set(fields.speed);
    row.stt_model = Set(fields.stt_model);
    row.stt_language = Set(fields.stt_language);
    row.stt_vad = Set(fields.stt_vad);
    row.llm_provider = Set(fields.llm_provider);
    row.llm_base_url = Set(fields.llm_base_url);
    row.llm_model = Set(fields.llm_model);
    row.llm_api_key_enc = Set(fields.llm_api_key_enc);
    row.temperature = Set(fields.temperature);
    row.max_output_tokens = Set(fields.max_output_tokens);
    row.instructions = Set(fields.instructions);
    row.updated_at = Set(Utc::now());
    Ok(match existing {
        Some(_) => row.update(tx.conn()).await?,
        None => row.insert(tx.conn()).await?,
    })
}

/// Removes the profile; returns whether one existed.
pub async fn delete(tx: &TenantTx, project: Option<ProjectId>) -> StorageResult<bool> {
    let tenant = tx.tenant_id();
    let res = Entity::delete_many()
        .filter(Column::TenantId.eq(tenant.as_uuid()))
        .filter(Column::ScopeKey.eq(scope_key(project)))
        .exec(tx.conn())
        .await?;
    Ok(res.rows_affected > 0)
}
