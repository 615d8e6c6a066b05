//! The knowledge solvers of `[solvers]` (O3): built once at start; a persona lists the ones it
//! uses, in order, and the gateway asks them before the LLM. Their state (configured and
//! reachable, or why not) is shown where personas are edited.

use crate::config::SolversConfig;
use crate::context::AppContext;
use crate::error::CoreResult;
use crate::scope::Scope;
use crate::services::projects::tenant_of;
use avb_domain::Permission;
use avb_voice::solvers::{DuckDuckGo, Solvers, Wikipedia, WolframAlpha, WordNet};
use serde::Serialize;
use std::sync::Arc;
use std::time::Duration;

/// The solvers `cfg` configures; a misconfigured one is logged and left out.
pub fn build(cfg: &SolversConfig) -> Solvers {
    let timeout = Duration::from_millis(cfg.timeout_ms.max(100));
    let mut s = Solvers::new(timeout);
    match WordNet::new(&cfg.wordnet_dir) {
        Ok(w) => s = s.with("wordnet", Arc::new(w)),
        Err(e) => tracing::info!(reason = %e, "the WordNet solver is off"),
    }
    let mut web =
        |name: &'static str, made: Option<Result<Arc<dyn avb_voice::solvers::Solver>, String>>| {
            match made {
                Some(Ok(solver)) => s = std::mem::take(&mut s).with(name, solver),
                Some(Err(e)) => tracing::error!(solver = name, error = %e, "solver not set up"),
                None => {}
            }
        };
    web(
        "wikipedia",
        cfg.wikipedia_url.as_deref().map(|u| {
            Wikipedia::new(u, timeout).map(|w| Arc::new(w) as Arc<dyn avb_voice::solvers::Solver>)
        }),
    );
    web(
        "duckduckgo",
        cfg.duckduckgo_url.as_deref().map(|u| {
            DuckDuckGo::new(u, timeout).map(|w| Arc::new(w) as Arc<dyn avb_voice::solvers::Solver>)
        }),
    );
    web(
        "wolfram_alpha",
        cfg.wolfram_url.as_deref().map(|u| {
            let appid = cfg
                .wolfram_appid
                .as_ref()
                .map(|k| k.expose().to_string())
                .unwrap_or_default();
            WolframAlpha::new(u, &appid, timeout)
                .map(|w| Arc::new(w) as Arc<dyn avb_voice::solvers::Solver>)
        }),
    );
    s
}

/// One solver's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SolverState {
    pub name: String,
    pub label: String,
    pub available: bool,
    /// Why it cannot be asked, when it cannot.
    pub reason: Option<String>,
}

/// Every solver a persona may list, with whether it can be asked now (requires
/// `projects:view`).
pub async fn states(ctx: &AppContext, scope: &Scope) -> CoreResult<Vec<SolverState>> {
    let tenant = tenant_of(scope, Permission::ProjectsView)?;
    ctx.policy
        .authorize(scope, Permission::ProjectsView, Some(tenant))?;
    let names: Vec<&str> = crate::services::personas::SOLVERS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    Ok(ctx
        .solvers
        .status(&names)
        .await
        .into_iter()
        .map(|(name, state)| SolverState {
            label: crate::services::personas::SOLVERS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, l)| l.to_string())
                .unwrap_or_else(|| name.clone()),
            name,
            available: state.is_ok(),
            reason: state.err(),
        })
        .collect())
}
