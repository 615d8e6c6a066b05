//! Command-line interface.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

/// AgentVoiceBox: a self-hostable, multi-tenant voice-agent platform.
#[derive(Debug, Parser)]
#[command(name = "avb", version, about)]
pub struct Cli {
    /// Configuration file (TOML). Environment variables AVB_SECTION__KEY override it.
    #[arg(long, global = true, env = "AVB_CONFIG_FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate,
    /// Configuration helpers.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Operator commands (run on the server machine; they use the configured database).
    Admin {
        /// Print machine-readable JSON.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        command: AdminCommand,
    },
}

/// `avb serve` options.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which parts to run: `all` (HTTP API, Realtime gateway, background jobs, and a queue
    /// worker when queue.backend = "redis"), `api` or `gateway` (the same without the worker),
    /// or `worker` (only consumes engine jobs from the Redis queue).
    #[arg(long, default_value = "all", value_parser = ["all", "api", "gateway", "worker"])]
    pub role: String,
    /// PEM certificate for the TLS listener (with --tls-key).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for the TLS listener (with --tls-cert).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve TLS with a self-signed certificate for localhost (kept under <data_dir>/tls/).
    #[arg(long, conflicts_with = "tls_cert")]
    pub tls_self_signed: bool,
    /// Address of the TLS listener (default 127.0.0.1:8443 when TLS is on).
    #[arg(long)]
    pub tls_listen: Option<String>,
}

/// `avb config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print a commented example configuration.
    Example,
    /// Print the effective configuration (secrets redacted).
    Show,
}

/// `avb admin ...`
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// API keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// The mail outbox.
    Mail {
        #[command(subcommand)]
        command: MailCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Print a fresh one-time setup URL if no SaaS admin exists yet.
    SetupUrl,
}

/// `avb admin tenant ...`
#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant.
    Create {
        #[arg(long)]
        name: String,
        /// Billing e-mail.
        #[arg(long)]
        email: String,
        #[arg(long)]
        plan: Option<String>,
        /// IANA time zone (default UTC).
        #[arg(long)]
        timezone: Option<String>,
    },
    /// List tenants.
    List {
        /// Search name, e-mail or id.
        #[arg(long)]
        q: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u64,
    },
    /// Suspend a tenant (disables its keys).
    Suspend {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Reactivate a tenant (restores its keys).
    Reactivate { id: String },
}

/// `avb admin user ...`
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from standard input.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Tenant id to join.
        #[arg(long, requires = "role")]
        tenant: Option<String>,
        /// Role in the tenant: tenant_owner, tenant_admin, billing_admin, developer, viewer.
        #[arg(long, requires = "tenant")]
        role: Option<String>,
        /// Make the user a SaaS (platform) admin.
        #[arg(long)]
        saas_admin: bool,
        /// Read the password from standard input (required).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
}

/// `avb admin key ...`
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Create an API key; the secret is printed once.
    Create {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        name: String,
        /// Comma-separated: realtime, sessions, usage.
        #[arg(long, default_value = "realtime")]
        scopes: String,
        /// Make an `avb_test_...` key instead of a live one.
        #[arg(long)]
        test: bool,
    },
}

/// `avb admin mail ...`
#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// List queued and sent mail, newest first.
    List {
        /// Only mail to this address.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
}

/// `avb admin audit ...`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Verify the hash chains; exits non-zero when a row was altered or removed.
    Verify {
        /// Only this tenant's chain.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Move rows older than N days to compressed archive files (the chains stay verifiable).
    Archive {
        /// Age in days (default: `audit.retention_days`).
        #[arg(long)]
        older_than_days: Option<u32>,
    },
}

/// Loads configuration with a readable error.
pub fn load_config(file: Option<&Path>) -> anyhow::Result<avb_core::config::Config> {
    avb_core::config::Config::load(file).context("loading configuration")
}
