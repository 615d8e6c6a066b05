//! Custom voices of the transaction's tenant, their samples, and the job queue they form (a
//! queued voice, or one whose job lease lapsed, is due; a worker leases it row by row).

use crate::entities::custom_voice::{ActiveModel, Column, Entity, Model};
use crate::entities::custom_voice_sample;
use crate::error::{StorageError, StorageResult};
use crate::page::{Page, PageRequest};
use crate::repos::paginate;
use crate::store::{TenantTx, Tx};
use avb_domain::CustomVoiceStatus;
use chrono::{DateTime, Utc};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    Set,
};
use uuid::Uuid;

/// A voice to make, with what the sample check measured.
#[derive(Debug, Clone)]
pub struct NewVoice {
    pub name: String,
    pub method: String,
    pub sample_seconds: f64,
    pub sample_level_dbfs: f64,
    pub sample_snr_db: f64,
    pub created_by: String,
}

/// What a finished job made.
#[derive(Debug, Clone, Default)]
pub struct Made {
    pub engine_voice: String,
    pub similarity: Option<f64>,
    pub best_stock_voice: Option<String>,
    pub best_stock_similarity: Option<f64>,
    pub report: String,
}

/// Queues a voice with its sample (a 16-bit PCM mono WAV) in the transaction's tenant.
pub async fn insert(tx: &TenantTx, v: NewVoice, wav: Vec<u8>) -> StorageResult<Model> {
    let now = Utc::now();
    let tenant = tx.tenant_id().as_uuid();
    let voice = ActiveModel {
        id: Set(Uuid::now_v7()),
        tenant_id: Set(tenant),
        name: Set(v.name),
        method: Set(v.method),
        status: Set(CustomVoiceStatus::Queued.as_str().into()),
        progress: Set(0.0),
        stage: Set("waiting for a worker".into()),
        error: Set(String::new()),
        engine_voice: Set(None),
        similarity: Set(None),
        best_stock_voice: Set(None),
        best_stock_similarity: Set(None),
        report: Set(String::new()),
        sample_seconds: Set(v.sample_seconds),
        sample_level_dbfs: Set(v.sample_level_dbfs),
        sample_snr_db: Set(v.sample_snr_db),
        attempts: Set(0),
        lease_until: Set(None),
        created_by: Set(v.created_by),
        created_at: Set(now),
        updated_at: Set(now),
        finished_at: Set(None),
    }
    .insert(tx.conn())
    .await?;
    custom_voice_sample::ActiveModel {
        voice_id: Set(voice.id),
        tenant_id: Set(tenant),
        wav: Set(wav),
    }
    .insert(tx.conn())
    .await?;
    Ok(voice)
}

/// A voice of the tenant; another tenant's is `NotFound`.
pub async fn get(tx: &TenantTx, id: Uuid) -> StorageResult<Model> {
    Entity::find_by_id(id)
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?
        .ok_or(StorageError::NotFound)
}

/// The tenant's voice with this name, if any.
pub async fn find_by_name(tx: &TenantTx, name: &str) -> StorageResult<Option<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Name.eq(name))
        .one(tx.conn())
        .await?)
}

/// The tenant's voices, newest first.
pub async fn list(tx: &TenantTx, page: PageRequest) -> StorageResult<Page<Model>> {
    let q = Entity::find().filter(Column::TenantId.eq(tx.tenant_id().as_uuid()));
    let rows = paginate(q, Column::Id, page).all(tx.conn()).await?;
    Ok(Page::from_rows(rows, page.limit, |r| r.id))
}

/// The tenant's ready voices by name (for pickers and for resolving session voices).
pub async fn ready(tx: &TenantTx) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Status.eq(CustomVoiceStatus::Ready.as_str()))
        .order_by_asc(Column::Name)
        .all(tx.conn())
        .await?)
}

/// How many voices the tenant has that are queued or being made.
pub async fn pending_count(tx: &TenantTx) -> StorageResult<u64> {
    use sea_orm::PaginatorTrait;
    Ok(Entity::find()
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Status.is_in([
            CustomVoiceStatus::Queued.as_str(),
            CustomVoiceStatus::Making.as_str(),
        ]))
        .count(tx.conn())
        .await?)
}

/// Renames a voice.
pub async fn rename(tx: &TenantTx, id: Uuid, name: &str) -> StorageResult<Model> {
    let mut m: ActiveModel = get(tx, id).await?.into();
    m.name = Set(name.to_string());
    m.updated_at = Set(Utc::now());
    Ok(m.update(tx.conn()).await?)
}

/// Deletes a voice and its sample; returns what was deleted.
pub async fn delete(tx: &TenantTx, id: Uuid) -> StorageResult<Model> {
    let v = get(tx, id).await?;
    delete_sample(tx, id).await?;
    Entity::delete_many()
        .filter(Column::Id.eq(id))
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(v)
}

/// Voices due for a job across tenants (platform transaction), oldest first: queued ones whose
/// retry time has come, and ones being made whose lease lapsed (their worker stopped).
pub async fn due(tx: &Tx, now: DateTime<Utc>, limit: u64) -> StorageResult<Vec<Model>> {
    Ok(Entity::find()
        .filter(Column::Status.is_in([
            CustomVoiceStatus::Queued.as_str(),
            CustomVoiceStatus::Making.as_str(),
        ]))
        .filter(
            Condition::any()
                .add(Column::LeaseUntil.is_null())
                .add(Column::LeaseUntil.lt(now)),
        )
        .order_by_asc(Column::Id)
        .limit(limit)
        .all(tx.conn())
        .await?)
}

/// Takes a due voice until `lease_until` (status `making`, one more attempt); false when another
/// worker took it first.
pub async fn claim(tx: &TenantTx, v: &Model, lease_until: DateTime<Utc>) -> StorageResult<bool> {
    let mut q = Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(CustomVoiceStatus::Making.as_str()),
        )
        .col_expr(Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(Column::Attempts, Expr::value(v.attempts + 1))
        .col_expr(Column::Stage, Expr::value("starting"))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(v.id))
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Status.eq(v.status.clone()))
        .filter(Column::Attempts.eq(v.attempts));
    q = match v.lease_until {
        Some(l) => q.filter(Column::LeaseUntil.eq(l)),
        None => q.filter(Column::LeaseUntil.is_null()),
    };
    Ok(q.exec(tx.conn()).await?.rows_affected == 1)
}

/// The sample of a voice whose job has not ended.
pub async fn sample(tx: &TenantTx, id: Uuid) -> StorageResult<Vec<u8>> {
    custom_voice_sample::Entity::find_by_id(id)
        .filter(custom_voice_sample::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .one(tx.conn())
        .await?
        .map(|s| s.wav)
        .ok_or(StorageError::NotFound)
}

/// Records a job's progress and extends its lease; false when the voice is gone or no longer
/// being made (deleted meanwhile), so the job can stop.
pub async fn progress(
    tx: &TenantTx,
    id: Uuid,
    fraction: f64,
    stage: &str,
    lease_until: DateTime<Utc>,
) -> StorageResult<bool> {
    let r = Entity::update_many()
        .col_expr(Column::Progress, Expr::value(fraction.clamp(0.0, 1.0)))
        .col_expr(Column::Stage, Expr::value(stage))
        .col_expr(Column::LeaseUntil, Expr::value(lease_until))
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .filter(Column::Status.eq(CustomVoiceStatus::Making.as_str()))
        .exec(tx.conn())
        .await?;
    Ok(r.rows_affected == 1)
}

/// Marks a voice ready with what its job made, and deletes its sample.
pub async fn finish_ready(tx: &TenantTx, id: Uuid, made: Made) -> StorageResult<Model> {
    let mut m: ActiveModel = get(tx, id).await?.into();
    let now = Utc::now();
    m.status = Set(CustomVoiceStatus::Ready.as_str().into());
    m.progress = Set(1.0);
    m.stage = Set("ready".into());
    m.error = Set(String::new());
    m.engine_voice = Set(Some(made.engine_voice));
    m.similarity = Set(made.similarity);
    m.best_stock_voice = Set(made.best_stock_voice);
    m.best_stock_similarity = Set(made.best_stock_similarity);
    m.report = Set(made.report);
    m.lease_until = Set(None);
    m.updated_at = Set(now);
    m.finished_at = Set(Some(now));
    let v = m.update(tx.conn()).await?;
    delete_sample(tx, id).await?;
    Ok(v)
}

/// Marks a voice failed with the reason, and deletes its sample.
pub async fn finish_failed(tx: &TenantTx, id: Uuid, error: &str) -> StorageResult<Model> {
    let mut m: ActiveModel = get(tx, id).await?.into();
    let now = Utc::now();
    m.status = Set(CustomVoiceStatus::Failed.as_str().into());
    m.stage = Set("failed".into());
    m.error = Set(error.to_string());
    m.lease_until = Set(None);
    m.updated_at = Set(now);
    m.finished_at = Set(Some(now));
    let v = m.update(tx.conn()).await?;
    delete_sample(tx, id).await?;
    Ok(v)
}

/// Puts a voice back in the queue after a job that may be retried, not before `retry_at`.
pub async fn requeue(
    tx: &TenantTx,
    id: Uuid,
    why: &str,
    retry_at: DateTime<Utc>,
) -> StorageResult<()> {
    Entity::update_many()
        .col_expr(
            Column::Status,
            Expr::value(CustomVoiceStatus::Queued.as_str()),
        )
        .col_expr(Column::LeaseUntil, Expr::value(retry_at))
        .col_expr(
            Column::Stage,
            Expr::value(format!("waiting to try again: {why}")),
        )
        .col_expr(Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(Column::Id.eq(id))
        .filter(Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

async fn delete_sample(tx: &TenantTx, id: Uuid) -> StorageResult<()> {
    custom_voice_sample::Entity::delete_many()
        .filter(custom_voice_sample::Column::VoiceId.eq(id))
        .filter(custom_voice_sample::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .exec(tx.conn())
        .await?;
    Ok(())
}

/// Voices of the tenant whose sample is still stored (for tests and checks).
pub async fn with_samples(tx: &TenantTx) -> StorageResult<Vec<Uuid>> {
    Ok(custom_voice_sample::Entity::find()
        .select_only()
        .column(custom_voice_sample::Column::VoiceId)
        .filter(custom_voice_sample::Column::TenantId.eq(tx.tenant_id().as_uuid()))
        .into_tuple::<Uuid>()
        .all(tx.conn())
        .await?)
}

/// Where the tenant uses a voice name: the voice profiles that name it (`None` = the tenant
/// default, else the project) and the personas whose draft or published version names it.
pub async fn uses(tx: &TenantTx, voice: &str) -> StorageResult<(Vec<Option<Uuid>>, Vec<String>)> {
    use crate::entities::{persona, persona_version, voice_profile};
    let tenant = tx.tenant_id().as_uuid();
    let profiles = voice_profile::Entity::find()
        .filter(voice_profile::Column::TenantId.eq(tenant))
        .filter(voice_profile::Column::Voice.eq(voice))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|p| p.project_id)
        .collect();
    let published: Vec<(Uuid, i32)> = persona_version::Entity::find()
        .filter(persona_version::Column::TenantId.eq(tenant))
        .filter(persona_version::Column::Voice.eq(voice))
        .all(tx.conn())
        .await?
        .into_iter()
        .map(|v| (v.persona_id, v.version))
        .collect();
    let personas = persona::Entity::find()
        .filter(persona::Column::TenantId.eq(tenant))
        .order_by_asc(persona::Column::Name)
        .all(tx.conn())
        .await?
        .into_iter()
        .filter(|p| {
            p.voice == voice
                || p.published_version
                    .is_some_and(|v| published.contains(&(p.id, v)))
        })
        .map(|p| p.name)
        .collect();
    Ok((profiles, personas))
}
