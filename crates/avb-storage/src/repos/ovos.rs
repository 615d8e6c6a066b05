//! A tenant's OVOS settings and its intent events.

use crate::entities::intent_event;
use crate::entities::ovos_tenant_setting::{ActiveModel, Column, Entity, Model};
use crate::error::StorageResult;
use crate::page::{Page, PageRequest};
use crate::store::TenantTx;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};
use uuid::Uuid;

pub use crate::entities::intent_event::Model as IntentEvent;
pub use crate::entities::ovos_tenant_setting::Model as OvosSettings;

/// The transaction tenant's OVOS settings, if saved.
pub async fn settings(tx: &TenantTx) -> StorageResult<Option<Model>> {
    Ok(Entity::find_by_id(tx.tenant_id().as_uuid())
        .one(tx.conn())
        .await?)
}

/// Saves the transaction tenant's OVOS settings (`disabled_skills` as a JSON array).
pub async fn put_settings(
    tx: &TenantTx,
    enabled: bool,
    lang: &str,
    fallback_skills: bool,
    disabled_skills: &[String],
) -> StorageResult<()> {
    Entity::insert(ActiveModel {
        tenant_id: Set(tx.tenant_id().as_uuid()),
        enabled: Set(enabled),
        lang: Set(lang.to_string()),
        fallback_skills: Set(fallback_skills),
        disabled_skills: Set(serde_json::to_string(disabled_skills).unwrap_or_default()),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(Column::TenantId)
            .update_columns([
                Column::Enabled,
                Column::Lang,
                Column::FallbackSkills,
                Column::DisabledSkills,
                Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(tx.conn())
    .await?;
    Ok(())
}

/// One turn's intent outcome to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewIntentEvent {
    pub session_id: Option<Uuid>,
    pub utterance: String,
    pub outcome: String,
    pub intent: Option<String>,
    pub skill: Option<String>,
    pub confidence: Option<f64>,
    pub latency_ms: i64,
    pub error: String,
}

/// Records an intent event in the transaction's tenant.
pub async fn insert_event(tx: &TenantTx, e: NewIntentEvent) -> StorageResult<()> {
    intent_event::Entity::insert(intent_event::ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tx.tenant_id().as_uuid()),
        session_id: Set(e.session_id),
        created_at: Set(Utc::now()),
        utterance: Set(e.utterance),
        outcome: Set(e.outcome),
        intent: Set(e.intent),
        skill: Set(e.skill),
        confidence: Set(e.confidence),
        latency_ms: Set(e.latency_ms),
        error: Set(e.error),
    })
    .exec_without_returning(tx.conn())
    .await?;
    Ok(())
}

fn in_range(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    outcome: Option<&str>,
) -> sea_orm::Condition {
    let mut c = sea_orm::Condition::all();
    if let Some(from) = from {
        c = c.add(intent_event::Column::CreatedAt.gte(from));
    }
    if let Some(to) = to {
        c = c.add(intent_event::Column::CreatedAt.lt(to));
    }
    if let Some(o) = outcome {
        c = c.add(intent_event::Column::Outcome.eq(o));
    }
    c
}

/// The tenant's events in `[from, to)` (optionally of one outcome), newest first, a page.
pub async fn events(
    tx: &TenantTx,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    outcome: Option<&str>,
    page: PageRequest,
) -> StorageResult<Page<IntentEvent>> {
    let mut q = intent_event::Entity::find()
        .filter(intent_event::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(in_range(from, to, outcome));
    if let Some(after) = page.after {
        q = q.filter(intent_event::Column::Id.lt(after));
    }
    let rows = q
        .order_by_desc(intent_event::Column::Id)
        .limit(page.limit + 1)
        .all(tx.conn())
        .await?;
    Ok(Page::from_rows(rows, page.limit, |e| e.id))
}

/// At most `cap` of the tenant's events in `[from, to)`, newest first, for aggregation.
pub async fn events_for_summary(
    tx: &TenantTx,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    cap: u64,
) -> StorageResult<Vec<IntentEvent>> {
    Ok(intent_event::Entity::find()
        .filter(intent_event::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(in_range(from, to, None))
        .order_by_desc(intent_event::Column::Id)
        .limit(cap)
        .all(tx.conn())
        .await?)
}

/// Every tenant's intent events in `[from, to)`, newest first, at most `cap` (platform
/// transaction: the pipeline view).
pub async fn events_between(
    tx: &crate::store::PlatformTx,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    cap: u64,
) -> StorageResult<Vec<IntentEvent>> {
    Ok(intent_event::Entity::find()
        .filter(in_range(Some(from), Some(to), None))
        .order_by_desc(intent_event::Column::Id)
        .limit(cap)
        .all(tx.conn())
        .await?)
}

/// The platform's values for a skill's settings (a JSON object), if any were saved.
pub async fn skill_settings(
    tx: &crate::store::Tx,
    skill_id: &str,
) -> StorageResult<Option<String>> {
    use crate::entities::ovos_skill_setting::Entity as Settings;
    Ok(Settings::find_by_id(skill_id.to_string())
        .one(tx.conn())
        .await?
        .map(|m| m.settings))
}

/// Saves the platform's values for a skill's settings (`settings` is a JSON object).
pub async fn put_skill_settings(
    tx: &crate::store::PlatformTx,
    skill_id: &str,
    settings: &str,
    updated_by: &str,
) -> StorageResult<()> {
    use crate::entities::ovos_skill_setting::{ActiveModel, Column, Entity as Settings};
    Settings::insert(ActiveModel {
        skill_id: Set(skill_id.to_string()),
        settings: Set(settings.to_string()),
        updated_at: Set(Utc::now()),
        updated_by: Set(updated_by.to_string()),
    })
    .on_conflict(
        OnConflict::column(Column::SkillId)
            .update_columns([Column::Settings, Column::UpdatedAt, Column::UpdatedBy])
            .to_owned(),
    )
    .exec(tx.conn())
    .await?;
    Ok(())
}
