//! `avb serve`: HTTP listener, metrics listener, background jobs, graceful shutdown.

use crate::cli::ServeArgs;
use anyhow::Context;
use avb_core::AppContext;
use avb_core::config::{Config, QueueBackend};
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusBuilder;
use std::time::Instant;
use tokio::net::TcpListener;
use tokio::sync::watch;

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

/// Closes live realtime sessions (each gets an error event and a close frame, and records its
/// end) and waits up to five seconds for them to finish.
async fn drain_realtime_sessions(ctx: &AppContext) {
    let n = ctx.live.close_all();
    if n == 0 {
        return;
    }
    println!("closing {n} realtime session(s)");
    let deadline = Instant::now() + std::time::Duration::from_secs(5);
    while ctx.live.count() > 0 && Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Runs the server until SIGINT/SIGTERM.
/// `logs` is the ring the logging layer writes; the admin portal's log view reads it.
pub async fn run(
    config: Config,
    args: ServeArgs,
    logs: std::sync::Arc<avb_core::monitoring::LogRing>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let queue_on_redis = config.queue.backend == QueueBackend::Redis;
    if args.role == "worker" {
        return run_worker(config).await;
    }
    let listen = config.server.listen.clone();
    let metrics_listen = config.server.metrics_listen.clone();
    let tls = crate::tls::prepare(&config)?;
    let mut ctx = AppContext::init(config)
        .await
        .context("starting services")?;
    ctx.monitor = std::sync::Arc::new(avb_core::monitoring::Monitor::with_logs(logs));

    let recorder = PrometheusBuilder::new()
        .set_buckets(avb_core::monitoring::LATENCY_BUCKETS)
        .context("metric buckets")?
        .install_recorder()
        .context("installing metrics recorder")?;
    {
        let handle = recorder.clone();
        ctx.monitor.set_metrics_source(move || handle.render());
    }
    let metrics_app = axum::Router::new().route(
        "/metrics",
        get(move || std::future::ready(recorder.render())),
    );
    let metrics_listener = TcpListener::bind(&metrics_listen)
        .await
        .with_context(|| format!("binding metrics listener {metrics_listen}"))?;
    let listener = TcpListener::bind(&listen)
        .await
        .with_context(|| format!("binding {listen}"))?;
    let addr = listener.local_addr()?;
    let metrics_addr = metrics_listener.local_addr()?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let jobs = avb_worker::spawn(ctx.clone(), stop_rx.clone());
    let mut metrics_stop = stop_rx.clone();
    let metrics_task = tokio::spawn(async move {
        let _ = axum::serve(metrics_listener, metrics_app)
            .with_graceful_shutdown(async move {
                let _ = metrics_stop.changed().await;
            })
            .await;
    });

    println!(
        "AgentVoiceBox listening on http://{addr} (database: {:?})",
        ctx.store.backend()
    );
    println!("Prometheus metrics on http://{metrics_addr}/metrics");
    let ovos_task = start_ovos_bus(&ctx, &stop_rx).await?;
    if !ctx.config.ovos.wakeword_command.is_empty() {
        tokio::spawn(crate::supervise::supervise(
            "wakeword",
            ctx.config.ovos.wakeword_command.clone(),
            Vec::new(),
            stop_rx.clone(),
        ));
    }
    if let Some(token) = avb_core::identity::local::setup_token_if_needed(&ctx).await? {
        println!("No administrator exists yet. Create one (link valid 24 h, usable once):");
        println!("  {}/setup?token={token}", ctx.config.public_url());
    }
    tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "ready");

    // With the Redis queue, `--role all` also consumes engine jobs; `api`/`gateway` leave
    // that to `--role worker` processes.
    let worker = match (&ctx.redis, queue_on_redis && args.role == "all") {
        (Some(client), true) => Some(tokio::spawn(
            avb_worker::queue::Worker::new(
                client.clone(),
                avb_worker::queue::WorkerEngines::from_config(&ctx.config.engines),
                &avb_worker::queue::consumer_name(),
                ctx.config.queue.clone(),
            )
            .run(stop_rx.clone()),
        )),
        _ => None,
    };
    let server_stop = stop_tx.clone();
    let app = avb_server::app(ctx.clone());
    let tls_task = match tls {
        Some(t) => {
            let acceptor = avb_server::listen::tls_acceptor(&t.cert_pem, &t.key_pem)
                .map_err(anyhow::Error::msg)?;
            let tls_listener = TcpListener::bind(&t.listen)
                .await
                .with_context(|| format!("binding TLS listener {}", t.listen))?;
            println!(
                "TLS (https/wss) on https://{} (certificate {})",
                tls_listener.local_addr()?,
                t.cert_path.display()
            );
            Some(tokio::spawn(avb_server::listen::serve_tls(
                tls_listener,
                acceptor,
                app.clone(),
                stop_rx.clone(),
            )))
        }
        None => None,
    };
    avb_server::listen::serve(listener, app, async move {
        shutdown_signal().await;
        let _ = server_stop.send(true);
    })
    .await
    .context("serving HTTP")?;
    let _ = stop_tx.send(true);
    drain_realtime_sessions(&ctx).await;
    if let Some(t) = tls_task {
        let _ = t.await;
    }
    for j in jobs {
        let _ = j.await;
    }
    if let Some(w) = worker {
        let _ = w.await;
    }
    let _ = metrics_task.await;
    if let Some(t) = ovos_task {
        let _ = t.await;
    }
    println!("AgentVoiceBox stopped");
    Ok(())
}

/// With `[ovos] enabled`: the OVOS messagebus on its own listener, its latency probe, and the
/// audit of client departures; all stop with the server.
async fn start_ovos_bus(
    ctx: &AppContext,
    stop_rx: &watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let Some(bus) = ctx.ovos_bus.clone() else {
        return Ok(None);
    };
    let cfg = &ctx.config.ovos;
    if let Some(url) = &cfg.bus_url {
        println!(
            "OVOS messagebus relayed to {}",
            avb_ovos::bridge_display_url(url)
        );
        tokio::spawn(avb_ovos::bridge(bus.clone(), url.clone(), stop_rx.clone()));
        tokio::spawn(avb_core::services::ovos::audit_departures(ctx.clone()));
        tokio::spawn(avb_core::services::ovos::play_network_role(ctx.clone()));
        tokio::spawn(avb_core::services::skills::watch_registrations(bus.clone()));
        return Ok(None);
    }
    let listener = TcpListener::bind(&cfg.bus_listen)
        .await
        .with_context(|| format!("binding the OVOS bus listener {}", cfg.bus_listen))?;
    let addr = listener.local_addr()?;
    println!("OVOS messagebus on ws://{addr}{}", cfg.bus_route);
    let mut stop = stop_rx.clone();
    let route = cfg.bus_route.clone();
    let server = tokio::spawn({
        let bus = bus.clone();
        async move {
            let shutdown = async move {
                let _ = stop.changed().await;
            };
            if let Err(e) = avb_ovos::serve(bus, listener, &route, shutdown).await {
                tracing::error!(error = %e, "the OVOS bus stopped");
            }
        }
    });
    tokio::spawn(avb_core::services::skills::watch_registrations(bus.clone()));
    tokio::spawn(avb_ovos::run_probe(
        bus,
        addr.to_string(),
        cfg.bus_route.clone(),
        ctx.ovos_probe_token.to_string(),
        std::time::Duration::from_secs(cfg.probe_interval_secs.max(1)),
        stop_rx.clone(),
    ));
    tokio::spawn(avb_core::services::ovos::audit_departures(ctx.clone()));
    tokio::spawn(avb_core::services::ovos::play_network_role(ctx.clone()));
    if !cfg.core_command.is_empty() {
        let token = cfg
            .bus_tokens
            .get(&cfg.core_client_id)
            .map(|t| t.expose().to_string())
            .unwrap_or_else(|| ctx.ovos_core_token.to_string());
        let env = vec![
            ("OVOS_BUS_HOST".to_string(), addr.ip().to_string()),
            ("OVOS_BUS_PORT".to_string(), addr.port().to_string()),
            ("OVOS_BUS_TOKEN".to_string(), token),
        ];
        tokio::spawn(crate::supervise::supervise(
            "ovos-core",
            cfg.core_command.clone(),
            env,
            stop_rx.clone(),
        ));
    }
    Ok(Some(server))
}

/// `avb serve --role worker`: consumes engine jobs from the Redis stream until SIGINT/SIGTERM,
/// with a metrics listener; no HTTP API.
async fn run_worker(config: Config) -> anyhow::Result<()> {
    if config.queue.backend != QueueBackend::Redis {
        anyhow::bail!(
            "--role worker consumes the Redis work queue: set queue.backend = \"redis\" \
             (AVB_QUEUE__BACKEND=redis) and redis.url"
        );
    }
    let url = config
        .redis
        .url
        .as_ref()
        .context("redis.url is required for --role worker")?;
    let client = redis::Client::open(url.expose()).context("redis.url")?;
    // Listen for SIGTERM before announcing readiness, so a stop right after start is graceful.
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let recorder = PrometheusBuilder::new()
        .set_buckets(avb_core::monitoring::LATENCY_BUCKETS)
        .context("metric buckets")?
        .install_recorder()
        .context("installing metrics recorder")?;
    let metrics_listener = TcpListener::bind(&config.server.metrics_listen)
        .await
        .with_context(|| format!("binding metrics listener {}", config.server.metrics_listen))?;
    println!(
        "AgentVoiceBox worker consuming {}:jobs (metrics on http://{}/metrics)",
        config.queue.namespace,
        metrics_listener.local_addr()?
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut metrics_stop = stop_rx.clone();
    let metrics_app = axum::Router::new().route(
        "/metrics",
        get(move || std::future::ready(recorder.render())),
    );
    let metrics_task = tokio::spawn(async move {
        let _ = axum::serve(metrics_listener, metrics_app)
            .with_graceful_shutdown(async move {
                let _ = metrics_stop.changed().await;
            })
            .await;
    });
    let worker = avb_worker::queue::Worker::new(
        client,
        avb_worker::queue::WorkerEngines::from_config(&config.engines),
        &avb_worker::queue::consumer_name(),
        config.queue.clone(),
    );
    let task = tokio::spawn(worker.run(stop_rx));
    #[cfg(unix)]
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    #[cfg(not(unix))]
    shutdown_signal().await;
    let _ = stop_tx.send(true);
    let _ = task.await;
    let _ = metrics_task.await;
    println!("AgentVoiceBox worker stopped");
    Ok(())
}
