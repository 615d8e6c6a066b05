//! `custom_voices` table: a tenant's voice made from a sample, and the state of its job.
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "custom_voices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub name: String,
    /// `stock_blend` or `remote_clone`.
    pub method: String,
    /// `queued`, `making`, `ready` or `failed`.
    pub status: String,
    /// 0.0-1.0 while the job runs.
    pub progress: f64,
    /// What the job is doing, in words.
    pub stage: String,
    /// Why the job failed (empty otherwise).
    pub error: String,
    /// What the TTS engine is sent as `voice`, once ready.
    pub engine_voice: Option<String>,
    pub similarity: Option<f64>,
    pub best_stock_voice: Option<String>,
    pub best_stock_similarity: Option<f64>,
    /// The engine's final report (JSON), or empty.
    pub report: String,
    pub sample_seconds: f64,
    pub sample_level_dbfs: f64,
    pub sample_snr_db: f64,
    pub attempts: i32,
    pub lease_until: Option<DateTimeUtc>,
    pub created_by: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
