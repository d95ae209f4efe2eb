//! Where the supervisor's observations come from, merged into one stream.
//!
//! - the node's `data/upgrade-info.json`, through the watcher's [`HaltFileWatcher`]
//!   (filesystem notifications plus polling while a halt may come, a slow poll otherwise;
//!   half-written files are waited out);
//! - the chain, through the watcher's [`ChainWatcher`]: the app's committed height (`/abci_info`,
//!   and NewBlock events from the websocket, which CometBFT sends after a block is committed) and
//!   the scheduled plan.
//!
//! Heights polled from `/status` are deliberately *not* used as committed heights: at a halt
//! CometBFT already stores block H while the app has only committed H-1.
//!
//! Sources that fail (no RPC reachable, say) retry in the background and never disturb the node.

use std::time::Duration;

use switchyard_core::ScheduledPlan;
use switchyard_core::{UpgradeInfo, UpgradeInfoError};
use switchyard_store::Layout;
use switchyard_watcher::{
    read_halt_file_now, BlockSource, ChainView, ChainWatcher, HaltFileError, HaltFileWatcher,
    NewBlock, WatcherOptions,
};
use tokio::sync::{broadcast, mpsc, watch};

use crate::config::Config;

/// One thing the supervisor learned.
#[derive(Debug, Clone)]
pub(super) enum Observation {
    /// data/upgrade-info.json holds this (valid) upgrade.
    HaltFile(UpgradeInfo),
    /// The node committed this height.
    Committed(i64),
    /// The chain's scheduled plan changed (None: no plan).
    Plan(Option<ScheduledPlan>),
    /// The block store's and the app's heights, read together (one per read, even when equal).
    Heights { latest: i64, committed: i64 },
    /// The chain's average block time changed.
    BlockTime(Duration),
}

/// The merged stream of observations.
pub(super) struct Observer {
    file: mpsc::Receiver<Result<UpgradeInfo, HaltFileError>>,
    /// Whether the halt-file watcher watches closely (`switchyard_core::halt_file_may_come`).
    halt_file_closely: watch::Sender<bool>,
    chain: Option<ChainFeed>,
    disable_recase: bool,
    /// Observations computed but not yet handed out.
    pending: std::collections::VecDeque<Observation>,
    last_plan: Option<Option<ScheduledPlan>>,
    last_committed: Option<i64>,
    last_read_seq: Option<u64>,
    last_block_time: Option<Duration>,
}

struct ChainFeed {
    // Kept alive for as long as we observe: dropping it stops the watcher task.
    watcher: ChainWatcher,
    view: watch::Receiver<ChainView>,
    blocks: broadcast::Receiver<NewBlock>,
    /// A websocket NewBlock height received while waiting, not yet turned into an observation.
    pending_block: Option<i64>,
}

impl Observer {
    pub(super) fn spawn(cfg: &Config, layout: &Layout) -> Observer {
        // Closely until the supervisor knows the node cannot halt soon.
        let (halt_file_closely, closely) = watch::channel(true);
        let file = HaltFileWatcher::spawn_attended(
            layout.data_upgrade_info(),
            cfg.poll_interval,
            cfg.disable_recase,
            Some(closely),
        );
        let chain = if cfg.watch_chain {
            match crate::chain_now::endpoints(cfg) {
                Ok(endpoints) => {
                    let opts = WatcherOptions {
                        // The committed height decides manual swaps: refresh it at the poll interval.
                        plan_every: cfg.poll_interval,
                        proposals_every: cfg.proposals_every,
                        idle_refresh: cfg.poll_interval.max(Duration::from_millis(200)),
                        backoff_initial: cfg.poll_interval,
                        backoff_max: Duration::from_secs(10),
                        snapshot: switchyard_watcher::SnapshotOptions {
                            info: crate::upgrade_binary::info_limits(cfg),
                            ..Default::default()
                        },
                        identity: crate::chain_now::node_identity(cfg),
                        identity_home: cfg.home.clone(),
                        ..WatcherOptions::default()
                    };
                    let watcher = ChainWatcher::spawn(endpoints, opts);
                    Some(ChainFeed {
                        view: watcher.view(),
                        blocks: watcher.new_blocks(),
                        pending_block: None,
                        watcher,
                    })
                }
                Err(e) => {
                    tracing::warn!("not watching the chain: {e}");
                    None
                }
            }
        } else {
            None
        };
        Observer {
            file,
            halt_file_closely,
            chain,
            disable_recase: cfg.disable_recase,
            pending: Default::default(),
            last_plan: None,
            last_committed: None,
            last_read_seq: None,
            last_block_time: None,
        }
    }

    /// The chain view, for pre-staging (None when the chain is not watched).
    pub(super) fn chain_view(&self) -> Option<watch::Receiver<ChainView>> {
        self.chain.as_ref().map(|c| c.watcher.view())
    }

    pub(super) async fn next(&mut self) -> Option<Observation> {
        loop {
            if let Some(o) = self.pending.pop_front() {
                return Some(o);
            }
            let chain = self.chain.as_mut();
            tokio::select! {
                f = self.file.recv() => match f {
                    Some(Ok(info)) => return Some(Observation::HaltFile(info)),
                    Some(Err(e)) => tracing::error!("{e}"),
                    None => std::future::pending::<()>().await,
                },
                v = changed(chain) => {
                    if !v { self.chain = None; }
                    self.take_view();
                }
            }
        }
    }

    /// Tells the chain watcher where the next halt is (see `ChainWatcher::attend`), and the
    /// halt-file watcher whether the node may write its file soon
    /// (see `HaltFileWatcher::spawn_attended`).
    pub(super) fn attend(&self, next_halt: Option<i64>, halt_file_may_come: bool) {
        if let Some(feed) = &self.chain {
            feed.watcher.attend(next_halt);
        }
        self.halt_file_closely.send_if_modified(|closely| {
            let changed = *closely != halt_file_may_come;
            *closely = halt_file_may_come;
            changed
        });
    }

    /// An observation already waiting, without waiting for one.
    pub(super) fn try_next(&mut self) -> Option<Observation> {
        while let Ok(f) = self.file.try_recv() {
            if let Ok(info) = f {
                self.pending.push_back(Observation::HaltFile(info));
            }
        }
        self.take_view();
        self.pending.pop_front()
    }

    /// Turns the latest chain view and queued NewBlock events into observations.
    fn take_view(&mut self) {
        let Some(feed) = self.chain.as_mut() else {
            return;
        };
        let mut heights: Vec<i64> = feed.pending_block.take().into_iter().collect();
        loop {
            match feed.blocks.try_recv() {
                Ok(b) if b.source == BlockSource::Websocket => heights.push(b.height),
                Ok(_) => {}
                Err(broadcast::error::TryRecvError::Lagged(_)) => continue,
                Err(_) => break,
            }
        }
        for h in heights {
            self.pending_committed(h);
        }
        let Some(feed) = self.chain.as_mut() else {
            return;
        };
        let view = feed.view.borrow_and_update().clone();
        if let Some(r) = view.heights_read {
            if self.last_read_seq != Some(r.seq) {
                self.last_read_seq = Some(r.seq);
                self.pending.push_back(Observation::Heights {
                    latest: r.latest,
                    committed: r.committed,
                });
            }
        }
        if let Some(c) = view.last_committed_height.filter(|c| *c > 0) {
            self.pending_committed(c);
        }
        if view.average_block_time.is_some() && view.average_block_time != self.last_block_time {
            self.last_block_time = view.average_block_time;
            if let Some(d) = view.average_block_time {
                self.pending.push_back(Observation::BlockTime(d));
            }
        }
        if view.plan_known {
            let plan = match view.scheduled_plan(self.disable_recase) {
                Some(Ok(p)) => Some(p),
                Some(Err(e)) => {
                    tracing::error!("the chain's plan has an unusable name: {e}");
                    None
                }
                None => None,
            };
            if self.last_plan.as_ref() != Some(&plan) {
                self.last_plan = Some(plan.clone());
                self.pending.push_back(Observation::Plan(plan));
            }
        }
    }

    fn pending_committed(&mut self, h: i64) {
        if self.last_committed.is_none_or(|c| h > c) {
            self.last_committed = Some(h);
            self.pending.push_back(Observation::Committed(h));
        }
    }
}

/// Waits for the next change of the view or the next block; false when the watcher is gone.
async fn changed(chain: Option<&mut ChainFeed>) -> bool {
    let Some(feed) = chain else {
        std::future::pending::<()>().await;
        return false;
    };
    tokio::select! {
        r = feed.view.changed() => r.is_ok(),
        r = feed.blocks.recv() => match r {
            Ok(b) => {
                // broadcast has no peek: keep the height for take_view.
                if b.source == BlockSource::Websocket {
                    feed.pending_block = Some(b.height);
                }
                true
            }
            Err(broadcast::error::RecvError::Lagged(_)) => true,
            Err(broadcast::error::RecvError::Closed) => false,
        },
    }
}

/// Reads data/upgrade-info.json, giving a half-written file up to a second to complete.
/// `None` when absent, still incomplete, or invalid (invalid files are logged).
pub(super) async fn read_upgrade_info_now(
    layout: &Layout,
    disable_recase: bool,
) -> Option<UpgradeInfo> {
    let path = layout.data_upgrade_info();
    match read_halt_file_now(&path, disable_recase, Duration::from_secs(1)).await {
        Ok(info) => info,
        Err(HaltFileError::Invalid {
            source: UpgradeInfoError::Incomplete,
            ..
        }) => None,
        Err(e) => {
            tracing::error!("{e}");
            None
        }
    }
}
