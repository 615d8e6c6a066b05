//! `avb admin ...`: operator commands with human or `--json` output.

use crate::cli::{AdminCommand, AuditCommand, KeyCommand, MailCommand, TenantCommand, UserCommand};
use anyhow::{Context, bail};
use avb_core::services::{api_keys, audit, tenants, users};
use avb_core::{AppContext, PageRequest, Scope};
use avb_domain::{KeyEnvironment, ProjectId, TenantId};
use serde_json::json;
use std::io::Read;

fn out(json_mode: bool, value: serde_json::Value, human: String) -> anyhow::Result<()> {
    if json_mode {
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{human}");
    }
    Ok(())
}

fn tenant_id(raw: &str) -> anyhow::Result<TenantId> {
    raw.parse()
        .map_err(|_| anyhow::anyhow!("--tenant: '{raw}' is not a tenant id (UUID)"))
}

fn tenant_json(t: &avb_core::views::Tenant) -> serde_json::Value {
    json!({"id": t.id, "name": t.name, "billing_email": t.billing_email, "plan": t.plan,
           "status": t.status, "timezone": t.timezone, "created_at": t.created_at})
}

/// Runs an admin command as the local operator.
pub async fn run(ctx: &AppContext, cmd: AdminCommand, json_mode: bool) -> anyhow::Result<()> {
    let operator = Scope::local_operator(None);
    match cmd {
        AdminCommand::Tenant { command } => match command {
            TenantCommand::Create {
                name,
                email,
                plan,
                timezone,
            } => {
                let t = tenants::create(
                    ctx,
                    &operator,
                    tenants::NewTenantInput {
                        name,
                        billing_email: email,
                        plan,
                        timezone,
                    },
                )
                .await?;
                out(
                    json_mode,
                    tenant_json(&t),
                    format!("created tenant {} ({})", t.id, t.name),
                )
            }
            TenantCommand::List { q, limit } => {
                let page = tenants::list(
                    ctx,
                    &operator,
                    q.as_deref(),
                    PageRequest {
                        limit: limit.clamp(1, 1000),
                        after: None,
                    },
                )
                .await?;
                let rows: Vec<_> = page.items.iter().map(tenant_json).collect();
                let human = if page.items.is_empty() {
                    "no tenants".to_string()
                } else {
                    page.items
                        .iter()
                        .map(|t| format!("{}  {:<10} {:<8} {}", t.id, t.status, t.plan, t.name))
                        .collect::<Vec<_>>()
                        .join("\n")
                };
                out(json_mode, json!(rows), human)
            }
            TenantCommand::Suspend { id, reason } => {
                let t = tenants::suspend(ctx, &operator, tenant_id(&id)?, reason).await?;
                out(
                    json_mode,
                    tenant_json(&t),
                    format!("suspended tenant {}", t.id),
                )
            }
            TenantCommand::Reactivate { id } => {
                let t = tenants::reactivate(ctx, &operator, tenant_id(&id)?).await?;
                out(
                    json_mode,
                    tenant_json(&t),
                    format!("reactivated tenant {}", t.id),
                )
            }
        },
        AdminCommand::User {
            command:
                UserCommand::Create {
                    email,
                    name,
                    tenant,
                    role,
                    saas_admin,
                    password_stdin,
                },
        } => {
            if !password_stdin {
                bail!("pass --password-stdin and write the password to standard input");
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("reading the password from standard input")?;
            let password = password.trim_end_matches(['\n', '\r']).to_string();
            let tenant = match (tenant, role) {
                (Some(t), Some(r)) => Some((tenant_id(&t)?, r)),
                _ => None,
            };
            let u = users::create(
                ctx,
                &operator,
                users::NewUserInput {
                    email,
                    name,
                    password,
                    tenant: tenant.clone(),
                    saas_admin,
                },
            )
            .await?;
            let value = json!({"id": u.id, "email": u.email, "name": u.name, "saas_admin": u.is_saas_admin,
                               "tenant_id": tenant.as_ref().map(|t| t.0), "role": tenant.as_ref().map(|t| t.1.clone())});
            out(
                json_mode,
                value,
                format!("created user {} ({})", u.id, u.email),
            )
        }
        AdminCommand::Key {
            command:
                KeyCommand::Create {
                    tenant,
                    project,
                    name,
                    scopes,
                    test,
                },
        } => {
            let tenant = tenant_id(&tenant)?;
            let project = project
                .map(|p| {
                    p.parse::<ProjectId>()
                        .map_err(|_| anyhow::anyhow!("--project: '{p}' is not a project id (UUID)"))
                })
                .transpose()?;
            let scope = Scope::local_operator(Some(tenant));
            let input = api_keys::NewKeyInput {
                name,
                project,
                scopes: scopes
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
                environment: if test {
                    KeyEnvironment::Test
                } else {
                    KeyEnvironment::Live
                },
            };
            let created = api_keys::create(ctx, &scope, input).await?;
            let k = &created.key;
            let value = json!({"id": k.id, "tenant_id": k.tenant_id, "project_id": k.project_id, "name": k.name,
                               "prefix": k.prefix, "scopes": k.scopes.split(',').collect::<Vec<_>>(), "secret": created.secret});
            out(
                json_mode,
                value,
                format!(
                    "created key {} ({})\nsecret (shown once, store it now): {}",
                    k.id, k.prefix, created.secret
                ),
            )
        }
        AdminCommand::Mail {
            command: MailCommand::List { to, limit },
        } => {
            let page = users::outbox(
                ctx,
                &operator,
                to.as_deref(),
                PageRequest {
                    limit: limit.clamp(1, 1000),
                    after: None,
                },
            )
            .await?;
            let rows: Vec<_> = page
                .items
                .iter()
                .map(|m| json!({"id": m.id, "to": m.to_address, "subject": m.subject, "body": m.body,
                                "status": m.status, "created_at": m.created_at, "sent_at": m.sent_at}))
                .collect();
            let human = if page.items.is_empty() {
                "the outbox is empty".to_string()
            } else {
                page.items
                    .iter()
                    .map(|m| {
                        format!(
                            "--- {} to {} [{}]\nSubject: {}\n\n{}",
                            m.created_at, m.to_address, m.status, m.subject, m.body
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            out(json_mode, json!(rows), human)
        }
        AdminCommand::Audit {
            command: AuditCommand::Verify { tenant },
        } => {
            let tenant = tenant.map(|t| tenant_id(&t)).transpose()?;
            let (checked, breaks) = audit::verify(ctx, &operator, tenant).await?;
            let ok = breaks.is_empty();
            let human = if ok {
                format!("audit chain intact: {checked} rows verified")
            } else {
                let lines: Vec<_> = breaks
                    .iter()
                    .map(|b| format!("  chain {} seq {} ({}): {}", b.chain, b.seq, b.id, b.reason))
                    .collect();
                format!(
                    "audit chain BROKEN: {} problem(s) in {checked} rows\n{}",
                    breaks.len(),
                    lines.join("\n")
                )
            };
            out(
                json_mode,
                json!({"ok": ok, "rows_checked": checked, "breaks": breaks}),
                human,
            )?;
            if !ok {
                std::process::exit(2);
            }
            Ok(())
        }
        AdminCommand::Audit {
            command: AuditCommand::Archive { older_than_days },
        } => {
            let days = older_than_days
                .or(ctx.config.audit.retention_days)
                .context("give --older-than-days or set audit.retention_days")?;
            let made = audit::archive_older_than(ctx, &operator, days).await?;
            let rows: i64 = made.iter().map(|a| a.rows).sum();
            let human = if made.is_empty() {
                format!("nothing older than {days} days to archive")
            } else {
                let lines: Vec<_> = made
                    .iter()
                    .map(|a| format!("  {} rows of chain {} -> {}", a.rows, a.chain, a.file))
                    .collect();
                format!(
                    "archived {rows} rows in {} file(s)\n{}",
                    made.len(),
                    lines.join("\n")
                )
            };
            let files: Vec<_> = made
                .iter()
                .map(|a| json!({"chain": a.chain, "rows": a.rows, "file": a.file, "sha256": a.file_sha256}))
                .collect();
            out(json_mode, json!({"rows": rows, "archives": files}), human)
        }
        AdminCommand::SetupUrl => {
            match avb_core::identity::local::setup_token_if_needed(ctx).await? {
                Some(token) => {
                    let url = format!("{}/setup?token={token}", ctx.config.public_url());
                    out(json_mode, json!({"setup_url": url}), url)
                }
                None => out(
                    json_mode,
                    json!({"setup_url": null}),
                    "an administrator already exists".into(),
                ),
            }
        }
    }
}
