//! Keeps a sidecar process running (ovos-core and the wake-word sidecar of `[ovos]
//! core_command` and `wakeword_command`): it is
//! started with `avb serve`, restarted with backoff (1 s doubling to 30 s, reset after a minute
//! up) whenever it exits, and stopped when the server stops.

use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Runs `command` until `stop` turns true, restarting it whenever it exits.
pub async fn supervise(
    name: &'static str,
    command: Vec<String>,
    env: Vec<(String, String)>,
    mut stop: watch::Receiver<bool>,
) {
    let Some((program, args)) = command.split_first() else {
        return;
    };
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        let child = tokio::process::Command::new(program)
            .args(args)
            .envs(env.iter().cloned())
            .kill_on_drop(true)
            .spawn();
        let mut child = match child {
            Ok(c) => {
                tracing::info!(sidecar = name, pid = c.id(), "sidecar started");
                c
            }
            Err(e) => {
                tracing::error!(sidecar = name, error = %e, "sidecar could not be started");
                if wait_or_stop(&mut stop, backoff).await {
                    return;
                }
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        tokio::select! {
            status = child.wait() => {
                tracing::warn!(sidecar = name, status = ?status.ok(), "sidecar exited; restarting");
                metrics::counter!("avb_sidecar_restarts_total", "sidecar" => name).increment(1);
            }
            _ = stopped(stop.clone()) => {
                let _ = child.kill().await;
                return;
            }
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        if wait_or_stop(&mut stop, backoff).await {
            return;
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

/// Waits `d`; true when the server is stopping.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(d) => false,
        _ = stopped(stop.clone()) => true,
    }
}

/// Resolves once the server is stopping (or the sender is gone).
async fn stopped(mut stop: watch::Receiver<bool>) {
    loop {
        let now = *stop.borrow_and_update();
        if now || stop.changed().await.is_err() {
            return;
        }
    }
}
