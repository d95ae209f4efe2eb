//! Keeps the status API's upgrade report and the readiness gauges fresh: on every change of the
//! chain watcher's view (at most once a second) and every few seconds besides (staging happens
//! on disk, not in the view), the same report `switchyard plan` makes is built from the view and
//! the store. Runs on the listener's thread, so none of this touches the supervision loop.

use std::time::Duration;

use switchyard_core::this_platform;
use switchyard_store::Layout;
use switchyard_watcher::ChainView;
use tokio::sync::watch;

use crate::config::Config;
use crate::live::Live;
use crate::report::upgrades::{backup_fact, draft, ChainFacts};
use crate::report::UpgradeSource;

/// Least time between two rebuilds.
const MIN_EVERY: Duration = Duration::from_secs(1);
/// Rebuild at least this often.
const MAX_EVERY: Duration = Duration::from_secs(5);

pub struct Refresher {
    layout: Layout,
    disable_recase: bool,
    skip_backup: bool,
}

impl Refresher {
    pub fn new(cfg: &Config, layout: Layout) -> Self {
        Refresher {
            layout,
            disable_recase: cfg.disable_recase,
            skip_backup: cfg.unsafe_skip_backup,
        }
    }

    pub async fn run(self, live: &'static Live, mut view: watch::Receiver<ChainView>) {
        let platform = this_platform();
        loop {
            let v = view.borrow_and_update().clone();
            live.set_chain(&v);
            if let Some(chain) = ChainFacts::from_view(&v) {
                let mut d = draft(
                    &chain,
                    Some(&self.layout),
                    self.disable_recase,
                    &platform,
                    backup_fact(self.skip_backup),
                );
                // How the armed manual upgrade halts is the supervisor's knowledge.
                if let Some(armed) = live.armed() {
                    for r in d.rows.iter_mut().filter(|r| {
                        r.row.source == UpgradeSource::Manual && r.row.name == armed.upgrade
                    }) {
                        r.row.halt = Some(armed.halt.clone());
                    }
                }
                live.set_plan(d.finish());
            }
            tokio::time::sleep(MIN_EVERY).await;
            tokio::select! {
                r = view.changed() => if r.is_err() { return },
                _ = tokio::time::sleep(MAX_EVERY - MIN_EVERY) => {}
            }
        }
    }
}
