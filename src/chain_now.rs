//! Talking to the chain from the command line: where it is (the node's own config, then
//! `DAEMON_GRPC_ADDRESS` / `SWITCHYARD_RPC_ADDRESS`, then flags), and a quick, best-effort look
//! for commands that check input against it (`add-upgrade --height`).

use std::time::Duration;

use switchyard_core::ScheduledPlan;
use switchyard_watcher::{EndpointInputs, Endpoints};

use crate::config::Config;

/// The chain endpoints for this configuration (no flags).
pub(crate) fn endpoints(cfg: &Config) -> Result<Endpoints, switchyard_watcher::WatchError> {
    endpoints_with(cfg, None, None)
}

/// The chain endpoints, with `--rpc` / `--grpc` flags taking precedence.
pub(crate) fn endpoints_with(
    cfg: &Config,
    flag_rpc: Option<&str>,
    flag_grpc: Option<&str>,
) -> Result<Endpoints, switchyard_watcher::WatchError> {
    let resolved = switchyard_watcher::resolve_endpoints(&EndpointInputs {
        home: cfg.home.clone(),
        env_grpc: cfg.grpc_address.clone(),
        env_rpc: cfg.rpc_address.clone(),
        flag_rpc: flag_rpc.map(str::to_string),
        flag_grpc: flag_grpc.map(str::to_string),
    })?;
    for note in &resolved.notes {
        tracing::debug!("{note}");
    }
    Ok(resolved.endpoints)
}

/// The supervised node's identity from its home (`config/node_key.json`, `config/genesis.json`),
/// to hold every chain answer against. Nothing to check without a home; a home whose files
/// cannot be read is said in the log, and then nothing is checked either.
pub(crate) fn node_identity(cfg: &Config) -> switchyard_watcher::NodeIdentity {
    let Some(home) = &cfg.home else {
        return Default::default();
    };
    match switchyard_watcher::NodeIdentity::read(home) {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!("cannot tell which node is ours, so answers are not checked: {e}");
            Default::default()
        }
    }
}

/// (latest height, scheduled plan), if the node answers within a few seconds; `None` when it
/// can't be asked (callers then check against switchyard's own records only, and say so).
pub(crate) fn quick_look(cfg: &Config) -> Option<(Option<i64>, Option<ScheduledPlan>)> {
    let endpoints = endpoints(cfg).ok()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    rt.block_on(async {
        let limits = switchyard_watcher::Limits {
            timeout: Duration::from_secs(3),
            max_response_bytes: 4 * 1024 * 1024,
        };
        let client = switchyard_watcher::ChainClient::connect(&endpoints, limits)
            .await
            .ok()?
            .with_identity(node_identity(cfg));
        let height = client.status().await.ok().map(|s| s.latest_block_height);
        let plan = client
            .current_plan()
            .await
            .ok()?
            .and_then(|p| p.scheduled_plan(cfg.disable_recase).ok());
        Some((height, plan))
    })
}
