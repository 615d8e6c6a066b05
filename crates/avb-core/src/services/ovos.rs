//! The OVOS messagebus as the SaaS admin sees it (O1, A1.2, A5.1): status, clients,
//! throughput, probe latency and the alerts that say it is unhealthy (ovos-core not connected,
//! skills not ready, probe p99 over its threshold); a graceful restart; and client departures
//! written to the audit log.

use crate::context::AppContext;
use crate::error::{CoreError, CoreResult};
use crate::scope::Scope;
use avb_domain::Permission;
use avb_ovos::{BusEvent, BusStatus};
use avb_storage::repos::audit as audit_repo;
use serde::Serialize;
use std::time::Duration;

/// The bus page's figures.
#[derive(Debug, Clone, Serialize)]
pub struct OvosStatus {
    pub enabled: bool,
    pub listen: String,
    pub route: String,
    pub core_client_id: String,
    pub core_connected: bool,
    /// ovos-core's answer to `mycroft.skills.is_ready`; `None` when it did not answer.
    pub skills_ready: Option<bool>,
    pub probe_alert_ms: f64,
    pub bus: Option<BusStatus>,
    /// Why the bus is unhealthy, in words; empty when healthy.
    pub alerts: Vec<String>,
}

/// The bus's status (requires `platform:tenants`).
pub async fn status(ctx: &AppContext, scope: &Scope) -> CoreResult<OvosStatus> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let cfg = &ctx.config.ovos;
    let Some(bus) = &ctx.ovos_bus else {
        return Ok(OvosStatus {
            enabled: false,
            listen: cfg.bus_listen.clone(),
            route: cfg.bus_route.clone(),
            core_client_id: cfg.core_client_id.clone(),
            core_connected: false,
            skills_ready: None,
            probe_alert_ms: cfg.probe_alert_ms,
            bus: None,
            alerts: Vec::new(),
        });
    };
    let snapshot = bus.snapshot();
    let bridged = bus.bridged_to();
    // Relayed to an external bus, ovos-core is not our client: its answer is the sign of life.
    let (core_connected, skills_ready) = if bridged.is_some() {
        let ready = skills_ready(bus).await;
        (ready.is_some(), ready)
    } else if bus.is_connected(&cfg.core_client_id) {
        (true, skills_ready(bus).await)
    } else {
        (false, None)
    };
    let mut alerts = Vec::new();
    if !core_connected && let Some(b) = &bridged {
        alerts.push(format!(
            "ovos-core does not answer on the external bus {b}: skills do not answer"
        ));
    } else if !core_connected {
        alerts.push(format!(
            "ovos-core is not connected (no client '{}'): skills do not answer",
            cfg.core_client_id
        ));
    } else if skills_ready != Some(true) {
        alerts.push("ovos-core did not report its skills ready (mycroft.skills.is_ready)".into());
    }
    if let Some([_, _, p99]) = snapshot.latency_ms
        && p99 > cfg.probe_alert_ms
    {
        alerts.push(format!(
            "probe round trip p99 is {p99:.1} ms, over the {:.0} ms threshold",
            cfg.probe_alert_ms
        ));
    }
    Ok(OvosStatus {
        enabled: true,
        listen: bridged
            .clone()
            .map(|b| format!("relayed to {b}"))
            .or_else(|| bus.address())
            .unwrap_or_else(|| cfg.bus_listen.clone()),
        route: cfg.bus_route.clone(),
        core_client_id: cfg.core_client_id.clone(),
        core_connected,
        skills_ready,
        probe_alert_ms: cfg.probe_alert_ms,
        bus: Some(snapshot),
        alerts,
    })
}

/// Asks ovos-core `mycroft.skills.is_ready` over the bus (one second at most).
async fn skills_ready(bus: &avb_ovos::Bus) -> Option<bool> {
    let mut me = bus.attach("avb-admin");
    avb_ovos::request(
        &mut me,
        "mycroft.skills.is_ready",
        serde_json::json!({}),
        "avb-admin",
        "mycroft.skills.is_ready.response",
        Duration::from_secs(1),
    )
    .await?["status"]
        .as_bool()
}

/// Restarts the bus gracefully (requires `platform:tenants`; audited): clients are told, then
/// closed, and reconnect; records survive. Returns how many clients were closed.
pub async fn restart(ctx: &AppContext, scope: &Scope) -> CoreResult<usize> {
    ctx.policy
        .authorize(scope, Permission::PlatformTenants, None)?;
    let bus = ctx.ovos_bus.as_ref().ok_or_else(|| {
        CoreError::Conflict("the OVOS bus is not enabled ([ovos] enabled)".into())
    })?;
    let closed = bus.restart();
    let tx = ctx.store.platform_tx(true).await?;
    audit_repo::append(
        &tx,
        crate::audit::entry(
            scope,
            None,
            "ovos.bus.restart",
            "ovos_bus",
            "bus",
            serde_json::json!({"clients_closed": closed}),
        ),
    )
    .await?;
    tx.commit().await?;
    Ok(closed)
}

/// Writes each client departure to the audit log (system actor) until the bus is gone.
pub async fn audit_departures(ctx: AppContext) {
    let Some(bus) = ctx.ovos_bus.clone() else {
        return;
    };
    let mut events = bus.events();
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "OVOS bus events were missed by the audit writer"
                );
                continue;
            }
            Err(_) => return,
        };
        let BusEvent::Disconnected {
            client_id,
            peer,
            reason,
        } = event
        else {
            continue;
        };
        // The platform's own in-process clients (admin questions, voice turns) come and go.
        if peer == "in-process" {
            continue;
        }
        let entry = avb_storage::repos::audit::NewAudit {
            tenant: None,
            actor_type: "system".into(),
            actor_id: "ovos-bus".into(),
            actor_label: "OVOS bus".into(),
            action: "ovos.bus.disconnect".into(),
            resource_type: "ovos_client".into(),
            resource_id: client_id.clone(),
            ip: peer.clone(),
            user_agent: String::new(),
            summary: serde_json::json!({"client_id": client_id, "peer": peer, "reason": reason}),
            result: "success".into(),
        };
        let written = async {
            let tx = ctx.store.platform_tx(true).await?;
            audit_repo::append(&tx, entry).await?;
            tx.commit().await?;
            Ok::<(), CoreError>(())
        }
        .await;
        if let Err(e) = written {
            tracing::warn!(error = %e, "could not audit an OVOS bus disconnect");
        }
    }
}

/// Plays OVOS's PHAL network role (spec/ovos.md 3.2): skills that need the network load only
/// once `mycroft.network.connected` / `mycroft.internet.connected` were said, and ovos-core
/// waits for an answer to `ovos.PHAL.internet_check` at start. Says both whenever ovos-core
/// connects or reports its skills initialised, and answers every internet check.
pub async fn play_network_role(ctx: AppContext) {
    let Some(bus) = ctx.ovos_bus.clone() else {
        return;
    };
    let core = ctx.config.ovos.core_client_id.clone();
    let mut me = bus.attach("avb-network");
    let mut events = bus.events();
    let announce = |me: &avb_ovos::Attached| {
        for kind in ["mycroft.network.connected", "mycroft.internet.connected"] {
            let _ = me.send(&avb_ovos::message(
                kind,
                serde_json::json!({}),
                serde_json::json!({"source": "avb-network"}),
            ));
        }
    };
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Ok(BusEvent::Connected { client_id, .. }) if client_id == core => announce(&me),
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                _ => {}
            },
            frame = me.recv() => {
                let Some(frame) = frame else { return };
                let Ok(v) = serde_json::from_str::<serde_json::Value>(&frame) else {
                    continue;
                };
                match v["type"].as_str() {
                    Some("mycroft.skills.initialized") => announce(&me),
                    Some("ovos.PHAL.internet_check") => {
                        let _ = me.send(&avb_ovos::message(
                            "ovos.PHAL.internet_check.response",
                            serde_json::json!({"internet_connected": true, "network_connected": true}),
                            v["context"].clone(),
                        ));
                    }
                    _ => {}
                }
            }
        }
    }
}
