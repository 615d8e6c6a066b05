//! Reading, exporting and verifying the audit log.

use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::{Permission, TenantId};
use avb_storage::entities::audit_event::Model as AuditRow;
use avb_storage::repos::audit::AuditArchive as ArchiveRow;
use avb_storage::repos::audit::{self as audit_repo};

pub use avb_storage::repos::audit::{AuditFilter, ChainBreak};
use avb_storage::{Page, PageRequest};

/// Rows an export returns at most.
pub const EXPORT_LIMIT: usize = 100_000;

/// Lists the caller's tenant's audit log.
pub async fn list(
    ctx: &AppContext,
    scope: &Scope,
    filter: &AuditFilter,
    page: PageRequest,
) -> CoreResult<Page<AuditEvent>> {
    let tenant = tenant_of(scope, Permission::AuditView)?;
    ctx.policy
        .authorize(scope, Permission::AuditView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let page = audit_repo::list(&tx, None, filter, page).await?;
    tx.commit().await?;
    Ok(page.map(AuditEvent::from))
}

/// Every matching row (up to [`EXPORT_LIMIT`]), newest first, for CSV/JSON export.
pub async fn export(
    ctx: &AppContext,
    scope: &Scope,
    filter: &AuditFilter,
) -> CoreResult<Vec<AuditEvent>> {
    let tenant = tenant_of(scope, Permission::AuditView)?;
    ctx.policy
        .authorize(scope, Permission::AuditView, Some(tenant))?;
    let tx = ctx.store.tenant_tx(tenant, false).await?;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = audit_repo::list(&tx, None, filter, PageRequest { limit: 1000, after }).await?;
        out.extend(page.items.into_iter().map(AuditEvent::from));
        after = page.next;
        if after.is_none() || out.len() >= EXPORT_LIMIT {
            break;
        }
    }
    tx.commit().await?;
    out.truncate(EXPORT_LIMIT);
    Ok(out)
}

/// Verifies the hash chains: one tenant's, or every chain for a platform caller.
pub async fn verify(
    ctx: &AppContext,
    scope: &Scope,
    tenant: Option<TenantId>,
) -> CoreResult<(u64, Vec<ChainBreak>)> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = match tenant {
        Some(t) => avb_storage::AnyTx::Tenant(ctx.store.tenant_tx(t, false).await?),
        None => avb_storage::AnyTx::Platform(ctx.store.platform_tx(false).await?),
    };
    let res = audit_repo::verify(&tx).await?;
    tx.commit().await?;
    Ok(res)
}

/// The audit log across tenants, or one tenant's (requires `platform:audit`).
pub async fn platform_list(
    ctx: &AppContext,
    scope: &Scope,
    tenant: Option<TenantId>,
    filter: &AuditFilter,
    page: PageRequest,
) -> CoreResult<Page<AuditEvent>> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let page = audit_repo::list(&tx, tenant, filter, page).await?;
    tx.commit().await?;
    Ok(page.map(AuditEvent::from))
}

/// Every matching row across tenants (up to [`EXPORT_LIMIT`]), newest first (requires
/// `platform:audit`).
pub async fn platform_export(
    ctx: &AppContext,
    scope: &Scope,
    tenant: Option<TenantId>,
    filter: &AuditFilter,
) -> CoreResult<Vec<AuditEvent>> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page =
            audit_repo::list(&tx, tenant, filter, PageRequest { limit: 1000, after }).await?;
        out.extend(page.items.into_iter().map(AuditEvent::from));
        after = page.next;
        if after.is_none() || out.len() >= EXPORT_LIMIT {
            break;
        }
    }
    tx.commit().await?;
    out.truncate(EXPORT_LIMIT);
    Ok(out)
}

/// One row of any tenant (requires `platform:audit`).
pub async fn platform_get(
    ctx: &AppContext,
    scope: &Scope,
    id: avb_domain::AuditId,
) -> CoreResult<AuditEvent> {
    let id = id.as_uuid();
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let row = audit_repo::get(&tx, id).await?;
    tx.commit().await?;
    Ok(row.into())
}

pub use crate::views::{AuditArchive, AuditEvent};

/// Where archives go.
fn archive_dir(ctx: &AppContext) -> std::path::PathBuf {
    ctx.config
        .audit
        .archive_dir
        .clone()
        .unwrap_or_else(|| ctx.config.server.data_dir.join("audit-archive"))
}

fn row_json(r: &AuditRow) -> serde_json::Value {
    serde_json::json!({
        "id": r.id, "tenant_id": r.tenant_id, "chain": r.chain, "seq": r.seq,
        "actor_type": r.actor_type, "actor_id": r.actor_id, "actor_label": r.actor_label,
        "action": r.action, "resource_type": r.resource_type, "resource_id": r.resource_id,
        "ip": r.ip, "user_agent": r.user_agent, "summary": r.summary, "result": r.result,
        "search_text": r.search_text,
        "created_at": r.created_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "prev_hash": r.prev_hash, "hash": r.hash,
    })
}

fn row_from_json(v: &serde_json::Value) -> Option<AuditRow> {
    let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Some(AuditRow {
        id: s("id")?.parse().ok()?,
        tenant_id: s("tenant_id").and_then(|t| t.parse().ok()),
        chain: s("chain")?,
        seq: v.get("seq")?.as_i64()?,
        actor_type: s("actor_type")?,
        actor_id: s("actor_id")?,
        actor_label: s("actor_label")?,
        action: s("action")?,
        resource_type: s("resource_type")?,
        resource_id: s("resource_id")?,
        ip: s("ip")?,
        user_agent: s("user_agent")?,
        summary: v.get("summary")?.clone(),
        result: s("result")?,
        search_text: s("search_text").unwrap_or_default(),
        created_at: chrono::DateTime::parse_from_rfc3339(&s("created_at")?)
            .ok()?
            .with_timezone(&chrono::Utc),
        prev_hash: s("prev_hash")?,
        hash: s("hash")?,
    })
}

/// Writes `rows` (one chain's consecutive rows) as gzip JSON lines; returns the file's SHA-256.
fn write_archive(path: &std::path::Path, rows: &[AuditRow]) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for r in rows {
        serde_json::to_writer(&mut gz, &row_json(r))?;
        gz.write_all(b"\n")?;
    }
    let bytes = gz.finish()?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, &bytes)?;
    std::fs::rename(&tmp, path)?;
    Ok(hex::encode(Sha256::digest(&bytes)))
}

/// Moves audit rows older than `days` into compressed archive files, chain by chain (requires
/// `platform:audit`). Each archive keeps every row with its hash; the database chain continues
/// from the archive's last hash, so verification still covers what remains.
pub async fn archive_older_than(
    ctx: &AppContext,
    scope: &Scope,
    days: u32,
) -> CoreResult<Vec<AuditArchive>> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let cutoff = chrono::Utc::now() - chrono::Duration::days(i64::from(days));
    let dir = archive_dir(ctx);
    let mut made = Vec::new();
    loop {
        let tx = ctx.store.platform_tx(true).await?;
        let rows = audit_repo::older_than(&tx, cutoff, 10_000).await?;
        let Some(first) = rows.first() else {
            tx.commit().await?;
            break;
        };
        // One chain per archive: the leading run of rows of the first chain.
        let chain = first.chain.clone();
        let run: Vec<AuditRow> = rows.into_iter().take_while(|r| r.chain == chain).collect();
        let (base_seq, base_hash) = audit_repo::archive_base(&tx, &chain).await?;
        let (Some(head), Some(tail)) = (run.first(), run.last()) else {
            break;
        };
        if head.seq != base_seq + 1 || head.prev_hash != base_hash {
            return Err(crate::CoreError::Conflict(format!(
                "audit chain {chain} does not continue its last archive at seq {}; run verification",
                head.seq
            )));
        }
        let file = dir.join(format!(
            "audit-{chain}-{:010}-{:010}.jsonl.gz",
            head.seq, tail.seq
        ));
        let sha = write_archive(&file, &run)
            .map_err(|e| crate::CoreError::Internal(format!("writing {}: {e}", file.display())))?;
        let a = audit_repo::archive_rows(
            &tx,
            ArchiveRow {
                id: uuid::Uuid::now_v7(),
                chain: chain.clone(),
                tenant_id: head.tenant_id,
                first_seq: head.seq,
                last_seq: tail.seq,
                last_hash: tail.hash.clone(),
                rows: run.len() as i64,
                file: file.display().to_string(),
                file_sha256: sha,
                oldest_at: head.created_at,
                newest_at: tail.created_at,
                created_at: chrono::Utc::now(),
            },
        )
        .await?;
        tx.commit().await?;
        made.push(AuditArchive::from(a));
    }
    if !made.is_empty() {
        let tx = ctx.store.platform_tx(true).await?;
        let rows: i64 = made.iter().map(|a| a.rows).sum();
        audit_repo::append(
            &tx,
            crate::audit::entry(
                scope,
                None,
                "audit.archive",
                "audit_archive",
                "*",
                serde_json::json!({"archives": made.len(), "rows": rows, "older_than_days": days}),
            ),
        )
        .await?;
        tx.commit().await?;
    }
    Ok(made)
}

/// Every archive, newest first (requires `platform:audit`).
pub async fn archives(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<AuditArchive>> {
    ctx.policy
        .authorize(scope, Permission::PlatformAudit, None)?;
    let tx = ctx.store.platform_tx(false).await?;
    let out = audit_repo::archives(&tx).await?;
    tx.commit().await?;
    Ok(out.into_iter().map(AuditArchive::from).collect())
}

/// Checks an archive file against its record: the file's SHA-256, then every row's hash and
/// link, from the chain's previous archive to the recorded last hash. Returns rows checked.
pub async fn verify_archive(
    ctx: &AppContext,
    scope: &Scope,
    id: avb_domain::AuditArchiveId,
) -> CoreResult<u64> {
    use sha2::{Digest, Sha256};
    use std::io::BufRead;
    let all = archives(ctx, scope).await?;
    let a = all
        .iter()
        .find(|a| a.id == id)
        .ok_or(crate::CoreError::NotFound)?;
    let bad = |m: String| crate::CoreError::Conflict(m);
    let bytes = std::fs::read(&a.file).map_err(|e| bad(format!("cannot read {}: {e}", a.file)))?;
    if hex::encode(Sha256::digest(&bytes)) != a.file_sha256 {
        return Err(bad("the file's SHA-256 does not match the record".into()));
    }
    // The row before this archive: the previous archive of the chain, if any.
    let (mut seq, mut prev) = all
        .iter()
        .filter(|o| o.chain == a.chain && o.last_seq < a.first_seq)
        .max_by_key(|o| o.last_seq)
        .map(|o| (o.last_seq, o.last_hash.clone()))
        .unwrap_or((0, String::new()));
    let mut n = 0;
    for line in std::io::BufReader::new(flate2::read::GzDecoder::new(&bytes[..])).lines() {
        let line = line.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let v: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(format!("corrupt row: {e}")))?;
        let row = row_from_json(&v).ok_or_else(|| bad("a row lacks fields".into()))?;
        if row.seq != seq + 1 || row.prev_hash != prev {
            return Err(bad(format!("row {} does not follow row {seq}", row.seq)));
        }
        if avb_storage::repos::audit::row_hash(&row) != row.hash {
            return Err(bad(format!("row {} does not match its hash", row.seq)));
        }
        seq = row.seq;
        prev = row.hash;
        n += 1;
    }
    if seq != a.last_seq || prev != a.last_hash {
        return Err(bad("the archive ends before its recorded last row".into()));
    }
    Ok(n)
}
