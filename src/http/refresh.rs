//! Keeps the status API fresh from the chain watcher's view, on the listener's thread (so none of
//! this touches the supervision loop):
//! - [`follow_chain`] copies every change of the view into the chain's gauges and `/status` at
//!   once (heights, peers, RPC state): a scrape never lags the watcher;
//! - [`Refresher`] rebuilds the upgrade report (the same one `switchyard plan` makes, from the
//!   view and the store) on a change of the view, at most once a second, and every few seconds
//!   besides (staging happens on disk, not in the view).

use std::time::Duration;

use switchyard_core::{this_platform, BackupFact};
use switchyard_store::Layout;
use switchyard_watcher::ChainView;
use tokio::sync::watch;

use crate::config::Config;
use crate::live::Live;
use crate::report::upgrades::{backup_outlook, draft, ChainFacts};
use crate::report::UpgradeSource;

/// Least time between two rebuilds.
const MIN_EVERY: Duration = Duration::from_secs(1);
/// Rebuild at least this often.
const MAX_EVERY: Duration = Duration::from_secs(5);
/// How often the backup's size is estimated again (a walk of `data/`: cheap, but not per block).
const BACKUP_EVERY: Duration = Duration::from_secs(60);

pub(super) struct Refresher {
    layout: Layout,
    disable_recase: bool,
    skip_backup: bool,
    backup_root: Option<std::path::PathBuf>,
}

impl Refresher {
    pub(super) fn new(cfg: &Config, layout: Layout) -> Self {
        Refresher {
            layout,
            disable_recase: cfg.disable_recase,
            skip_backup: cfg.unsafe_skip_backup,
            backup_root: cfg.backup_dir(),
        }
    }

    pub(super) async fn run(self, live: &'static Live, mut view: watch::Receiver<ChainView>) {
        let platform = this_platform();
        let mut backup: Option<(std::time::Instant, (BackupFact, Option<String>))> = None;
        loop {
            if backup
                .as_ref()
                .is_none_or(|(at, _)| at.elapsed() >= BACKUP_EVERY)
            {
                let (skip, data, root) = (
                    self.skip_backup,
                    self.layout.data_dir(),
                    self.backup_root.clone(),
                );
                let outlook = tokio::task::spawn_blocking(move || {
                    backup_outlook(skip, Some(&data), root.as_deref())
                })
                .await
                .unwrap_or((BackupFact::Unknown, None));
                backup = Some((std::time::Instant::now(), outlook));
            }
            let (backup_fact, backup_problem) = backup
                .as_ref()
                .map(|(_, o)| o.clone())
                .unwrap_or((BackupFact::Unknown, None));
            let v = view.borrow_and_update().clone();
            if let Some(chain) = ChainFacts::from_view(&v) {
                let mut d = draft(
                    &chain,
                    Some(&self.layout),
                    self.disable_recase,
                    &platform,
                    backup_fact,
                    crate::chain_registry::latest().as_deref(),
                );
                // How the armed manual upgrade halts is the supervisor's knowledge.
                if let Some(armed) = live.armed() {
                    for r in d.rows.iter_mut().filter(|r| {
                        r.row.source == UpgradeSource::Manual && r.row.name == armed.upgrade
                    }) {
                        r.row.halt = Some(armed.halt.clone());
                    }
                }
                let mut plan = d.finish();
                plan.problems.extend(backup_problem);
                live.set_plan(plan);
            }
            tokio::time::sleep(MIN_EVERY).await;
            tokio::select! {
                r = view.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(MAX_EVERY - MIN_EVERY) => {}
            }
        }
    }
}

/// Copies the watcher's view into `live` now and on each of its changes, until the watcher ends.
pub(super) async fn follow_chain(live: &Live, mut view: watch::Receiver<ChainView>) {
    loop {
        // Read in place (no clone of the view on every block); the lock taken inside is short.
        live.set_chain(&view.borrow_and_update());
        if view.changed().await.is_err() {
            return;
        }
    }
}
