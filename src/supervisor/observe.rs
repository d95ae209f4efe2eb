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
        spawn_file_poller(layout.clone(), cfg.poll_interval, cfg.disable_recase, tx);
        Observer { rx }
    }

    pub async fn next(&mut self) -> Option<Observation> {
        self.rx.recv().await
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
