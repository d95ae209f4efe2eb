//! Where the supervisor's observations come from, merged into one stream.
//!
//! - the node's `data/upgrade-info.json` (valid contents only; half-written files are retried);
//! - the chain: committed heights and the scheduled plan, from the chain watcher.
//!
//! Sources that fail (no RPC reachable, say) retry quietly in the background and never disturb
//! the node.

use std::time::Duration;

use switchyard_core::schedule::ChainPlan;
use switchyard_core::{UpgradeInfo, UpgradeInfoError};
use switchyard_store::Layout;
use tokio::sync::mpsc;

use crate::config::Config;

/// One thing the supervisor learned.
#[derive(Debug, Clone)]
pub enum Observation {
    /// data/upgrade-info.json holds this (valid) upgrade.
    HaltFile(UpgradeInfo),
    /// The node committed this height.
    Committed(i64),
    /// The chain's scheduled plan changed (None: no plan).
    Plan(Option<ChainPlan>),
}

/// The merged stream of observations.
pub struct Observer {
    rx: mpsc::Receiver<Observation>,
}

impl Observer {
    pub fn spawn(cfg: &Config, layout: &Layout) -> Observer {
        let (tx, rx) = mpsc::channel(64);
        spawn_file_poller(
            layout.clone(),
            cfg.poll_interval,
            cfg.disable_recase,
            tx.clone(),
        );
        if cfg.watch_chain {
            match crate::chain_now::endpoints(cfg) {
                Ok(endpoints) => {
                    spawn_chain_poller(endpoints, cfg.poll_interval, cfg.disable_recase, tx)
                }
                Err(e) => tracing::warn!("not watching the chain: {e}"),
            }
        }
        Observer { rx }
    }

    pub async fn next(&mut self) -> Option<Observation> {
        self.rx.recv().await
    }

    /// An observation already waiting, without waiting for one.
    pub fn try_next(&mut self) -> Option<Observation> {
        self.rx.try_recv().ok()
    }
}

fn spawn_file_poller(
    layout: Layout,
    every: Duration,
    disable_recase: bool,
    tx: mpsc::Sender<Observation>,
) {
    tokio::spawn(async move {
        let mut last: Option<UpgradeInfo> = None;
        let mut tick = tokio::time::interval(every);
        loop {
            tick.tick().await;
            if let Some(info) = read_upgrade_info_now(&layout, disable_recase).await {
                if last.as_ref() != Some(&info) {
                    last = Some(info.clone());
                    if tx.send(Observation::HaltFile(info)).await.is_err() {
                        return;
                    }
                }
            }
        }
    });
}

/// Polls the node for its committed height (every `every`) and the scheduled plan (every tenth
/// round). Failures are retried with backoff and logged once per kind, never more loudly: the
/// node may simply not be up yet.
fn spawn_chain_poller(
    endpoints: switchyard_watcher::Endpoints,
    every: Duration,
    disable_recase: bool,
    tx: mpsc::Sender<Observation>,
) {
    tokio::spawn(async move {
        let limits = switchyard_watcher::Limits {
            timeout: Duration::from_secs(3),
            max_response_bytes: 4 * 1024 * 1024,
        };
        let mut backoff = every;
        let mut round: u64 = 0;
        let mut last_plan: Option<Option<ChainPlan>> = None;
        let mut failing = false;
        loop {
            let client = match switchyard_watcher::ChainClient::connect(&endpoints, limits).await {
                Ok(c) => c,
                Err(e) => {
                    if !failing {
                        tracing::debug!("chain not reachable yet: {e}");
                        failing = true;
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            loop {
                match client.abci_info().await {
                    Ok(info) => {
                        failing = false;
                        backoff = every;
                        if info.last_block_height > 0
                            && tx
                                .send(Observation::Committed(info.last_block_height))
                                .await
                                .is_err()
                        {
                            return;
                        }
                    }
                    Err(e) => {
                        if !failing {
                            tracing::debug!("chain query failed, retrying: {e}");
                            failing = true;
                        }
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(10));
                        break;
                    }
                }
                if round % 10 == 0 {
                    match client.current_plan().await {
                        Ok(spec) => {
                            let plan = spec.and_then(|p| {
                                switchyard_core::UpgradeName::parse(&p.name, disable_recase)
                                    .ok()
                                    .map(|name| ChainPlan {
                                        name,
                                        height: p.height,
                                    })
                            });
                            if last_plan.as_ref() != Some(&plan) {
                                match (&last_plan, &plan) {
                                    (_, Some(p)) => {
                                        tracing::info!(upgrade = %p.name, height = p.height, "the chain has an upgrade plan")
                                    }
                                    (Some(Some(p)), None) => {
                                        tracing::info!(upgrade = %p.name, "the upgrade plan was cancelled")
                                    }
                                    _ => {}
                                }
                                last_plan = Some(plan.clone());
                                if tx.send(Observation::Plan(plan)).await.is_err() {
                                    return;
                                }
                            }
                        }
                        Err(e) => tracing::debug!("plan query failed: {e}"),
                    }
                }
                round += 1;
                tokio::time::sleep(every).await;
            }
        }
    });
}

/// Reads data/upgrade-info.json, giving a half-written file up to a second to complete.
/// `None` when absent or invalid (invalid files are logged).
pub async fn read_upgrade_info_now(layout: &Layout, disable_recase: bool) -> Option<UpgradeInfo> {
    let path = layout.data_upgrade_info();
    for _ in 0..10 {
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(_) => return None,
        };
        match UpgradeInfo::parse(&bytes, disable_recase) {
            Ok(info) => return Some(info),
            Err(UpgradeInfoError::Incomplete) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => {
                tracing::error!("{}: {e}", path.display());
                return None;
            }
        }
    }
    None
}
