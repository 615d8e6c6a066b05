//! `avb`: the AgentVoiceBox binary (serve, migrate, config, admin).

mod admin;
mod cli;
mod serve;
mod supervise;
mod telemetry;
mod tls;

use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: cli::Cli) -> anyhow::Result<()> {
    match cli.command {
        cli::Command::Config {
            command: cli::ConfigCommand::Example,
        } => {
            print!("{}", avb_core::config::EXAMPLE);
            Ok(())
        }
        cli::Command::Config {
            command: cli::ConfigCommand::Show,
        } => {
            let config = cli::load_config(cli.config.as_deref())?;
            println!("{}", serde_json::to_string_pretty(&config)?);
            Ok(())
        }
        cli::Command::Serve(args) => {
            let mut config = cli::load_config(cli.config.as_deref())?;
            if args.tls_cert.is_some() {
                config.server.tls_cert = args.tls_cert.clone();
                config.server.tls_key = args.tls_key.clone();
            }
            config.server.tls_self_signed |= args.tls_self_signed;
            if args.tls_listen.is_some() {
                config.server.tls_listen = args.tls_listen.clone();
            }
            let logs = telemetry::init(&config.log);
            serve::run(config, args, logs).await
        }
        cli::Command::Migrate => {
            let config = cli::load_config(cli.config.as_deref())?;
            let ctx = avb_core::AppContext::init(config).await?;
            println!("migrations applied ({:?} database)", ctx.store.backend());
            Ok(())
        }
        cli::Command::Admin { json, command } => {
            let config = cli::load_config(cli.config.as_deref())?;
            let ctx = avb_core::AppContext::init(config).await?;
            admin::run(&ctx, command, json).await
        }
    }
}
