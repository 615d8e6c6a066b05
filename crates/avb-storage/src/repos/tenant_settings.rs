//! A tenant's notification settings (one row per tenant, absent until first saved).

use crate::entities::tenant_settings::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::store::TenantTx;
use chrono::Utc;
use sea_orm::sea_query::OnConflict;
use sea_orm::{EntityTrait, Set};

pub use crate::entities::tenant_settings::Model as TenantSettings;

/// The transaction tenant's settings, if saved.
pub async fn get(tx: &TenantTx) -> StorageResult<Option<Model>> {
    let tenant = tx.tenant_id();
    Ok(Entity::find_by_id(tenant.as_uuid()).one(tx.conn()).await?)
}

/// Saves the transaction tenant's settings.
pub async fn put(tx: &TenantTx, threshold: Option<i64>, notify_email: &str) -> StorageResult<()> {
    let tenant = tx.tenant_id();
    Entity::insert(ActiveModel {
        tenant_id: Set(tenant.as_uuid()),
        usage_threshold_requests: Set(threshold),
        notify_email: Set(notify_email.to_string()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(Column::TenantId)
            .update_columns([
                Column::UsageThresholdRequests,
                Column::NotifyEmail,
                Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(tx.conn())
    .await?;
    Ok(())
}
