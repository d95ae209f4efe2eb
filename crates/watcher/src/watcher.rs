//! The long-running chain watcher the supervisor consumes.
//!
//! [`ChainWatcher::spawn`] starts a task that follows new blocks ([`crate::blocks::BlockFeed`]),
//! refreshes the scheduled plan and the app's committed height on every block (at most once per
//! [`WatcherOptions::plan_every`]) near a halt the supervisor names ([`ChainWatcher::attend`]) or
//! when the websocket is down, and every [`WatcherOptions::quiet_every`] otherwise, and re-reads governance proposals every
//! [`WatcherOptions::proposals_every`] and as soon as the block feed announces a transaction that
//! put a proposal into its voting period, and the node's health (peer count from `/net_info`,
//! `catching_up` from `/status`) every [`WatcherOptions::peers_every`]. The result is published as a [`ChainView`] on a
//! `tokio::sync::watch` channel; changes worth knowing are logged and sent as
//! [`WatchEvent`]s. Failures are recorded in [`ChainView::last_error`] and retried with
//! exponential backoff; the node is never touched. A panic inside the loop is logged, shown in
//! [`ChainView::last_error`], and the loop is started again (`respawn`).

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use switchyard_core::Backoff;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::block_times::BlockTimes;
use crate::blocks::{BlockFeed, BlockFeedOptions, BlockSource, NewBlock};
use crate::endpoints::Endpoints;
use crate::error::WatchError;
use crate::events::{diff, log, EventMemory, WatchEvent};
use crate::identity::NodeIdentity;
use crate::plan_binaries::resolve_info;
use crate::query::ChainClient;
use crate::respawn::respawn_on_panic;
use crate::rpc::Limits;
use crate::snapshot::{snapshot, SnapshotOptions};
use crate::view::{upcoming, ChainView, HeightsRead, PlanWithBinaries};

/// Tuning of the watcher.
#[derive(Debug, Clone)]
pub struct WatcherOptions {
    /// Timeout and size cap on every RPC and gRPC exchange.
    pub limits: Limits,
    /// Tuning of the NewBlock feed (websocket and `/status` polling).
    pub feed: BlockFeedOptions,
    /// What a full refresh reads, and the bounds on fetching plan info URLs.
    pub snapshot: SnapshotOptions,
    /// Least time between two plan refreshes (one per block otherwise).
    pub plan_every: Duration,
    /// Time between two reads of governance proposals.
    pub proposals_every: Duration,
    /// Least time between two reads of the node's health (`/net_info` peers, `/status`
    /// catching up).
    pub peers_every: Duration,
    /// Refresh at least this often even when no block arrives.
    pub idle_refresh: Duration,
    /// Least time between two light refreshes while the websocket feeds blocks and no halt is
    /// near ([`ChainWatcher::attend`]): the blocks themselves carry the committed height then.
    pub quiet_every: Duration,
    /// A halt this many blocks away or nearer is "near": heights and plan are read every block.
    pub near_blocks: i64,
    /// First wait after a failed connect or refresh, doubled on each failure in a row; also
    /// the wait before restarting the loop after a panic.
    pub backoff_initial: Duration,
    /// Longest wait between retries.
    pub backoff_max: Duration,
    /// Blocks in the average-block-time window.
    pub block_window: usize,
    /// "Approaching" is announced when the plan is this many blocks away.
    pub approach_thresholds: Vec<i64>,
    /// The supervised node (from its home): answers from another node are refused.
    pub identity: NodeIdentity,
    /// The node's home, read again for `config/node_key.json` while `identity` has no node id: a
    /// node creates its key on its first start (CometBFT's LoadOrGenNodeKey), and from then on
    /// answers are held against it.
    pub identity_home: Option<PathBuf>,
}

impl Default for WatcherOptions {
    fn default() -> Self {
        WatcherOptions {
            limits: Limits::default(),
            feed: BlockFeedOptions::default(),
            snapshot: SnapshotOptions::default(),
            plan_every: Duration::from_secs(1),
            proposals_every: Duration::from_secs(60),
            peers_every: Duration::from_secs(5),
            idle_refresh: Duration::from_secs(10),
            quiet_every: Duration::from_secs(5),
            near_blocks: switchyard_core::NEAR_HALT_BLOCKS,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            block_window: 100,
            approach_thresholds: vec![100, 10],
            identity: NodeIdentity::default(),
            identity_home: None,
        }
    }
}

/// A running watcher. Dropping it stops the background task.
#[derive(Debug)]
pub struct ChainWatcher {
    view: watch::Receiver<ChainView>,
    attention: watch::Sender<Option<i64>>,
    blocks: broadcast::Sender<NewBlock>,
    events: broadcast::Sender<WatchEvent>,
    task: JoinHandle<()>,
}

impl Drop for ChainWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChainWatcher {
    /// Starts watching. Must be called inside a tokio runtime.
    pub fn spawn(endpoints: Endpoints, opts: WatcherOptions) -> ChainWatcher {
        let (view_tx, view) = watch::channel(ChainView::default());
        let (attention, attention_rx) = watch::channel(None);
        let blocks = broadcast::channel(256).0;
        let events = broadcast::channel(64).0;
        let delay = opts.backoff_initial;
        let (b, e, v) = (blocks.clone(), events.clone(), view_tx.clone());
        let task = tokio::spawn(respawn_on_panic(
            "chain watcher",
            delay,
            move || {
                run(
                    endpoints.clone(),
                    opts.clone(),
                    v.clone(),
                    b.clone(),
                    e.clone(),
                    attention_rx.clone(),
                )
            },
            move |msg| {
                view_tx.send_modify(|v| {
                    v.last_error = Some(format!("the chain watcher panicked ({msg}); restarted"))
                })
            },
        ));
        ChainWatcher {
            view,
            attention,
            blocks,
            events,
            task,
        }
    }

    /// The height of the next halt the supervisor knows of (a plan, the node's upgrade-info.json,
    /// a manual upgrade), or none. Within [`WatcherOptions::near_blocks`] of it the node's heights
    /// and the plan are read on every block; away from it, while the websocket feeds blocks, only
    /// every [`WatcherOptions::quiet_every`].
    pub fn attend(&self, next_halt: Option<i64>) {
        self.attention.send_if_modified(|h| {
            let changed = *h != next_halt;
            *h = next_halt;
            changed
        });
    }

    /// The latest view; `changed().await` wakes on every update.
    pub fn view(&self) -> watch::Receiver<ChainView> {
        self.view.clone()
    }

    /// Every new block from now on (height and time).
    pub fn new_blocks(&self) -> broadcast::Receiver<NewBlock> {
        self.blocks.subscribe()
    }

    /// Plan scheduled / changed / cancelled / applied / approaching, proposals entering voting.
    pub fn events(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }
}

struct Loop {
    opts: WatcherOptions,
    view_tx: watch::Sender<ChainView>,
    events: broadcast::Sender<WatchEvent>,
    mem: EventMemory,
    window: BlockTimes,
    last_logged_error: Option<String>,
    last_peers: Option<Instant>,
}

impl Loop {
    fn publish(&mut self, new: ChainView) {
        let old = self.view_tx.borrow().clone();
        let mut new = new;
        new.upcoming = upcoming(
            new.plan.as_ref(),
            &new.proposals,
            new.latest_height.unwrap_or(0),
            new.average_block_time,
        );
        for e in diff(&old, &new, &self.opts.approach_thresholds, &mut self.mem) {
            log(&e);
            let _ = self.events.send(e);
        }
        if old != new {
            self.view_tx.send_replace(new);
        }
    }

    /// Whether the node's key appeared since the identity was read (see
    /// [`WatcherOptions::identity_home`]); it is then part of the identity. A key file that
    /// cannot be read yet (being written) is looked at again on the next turn.
    fn learned_node_key(&mut self) -> bool {
        let (None, Some(home)) = (&self.opts.identity.node_id, &self.opts.identity_home) else {
            return false;
        };
        match crate::identity::node_id_of(&home.join("config/node_key.json")) {
            Ok(Some(id)) => {
                tracing::info!(
                    "config/node_key.json appeared: answers are held against node {id} from now on"
                );
                self.opts.identity.node_id = Some(id);
                true
            }
            Ok(None) => false,
            Err(e) => {
                tracing::debug!("node key not readable yet: {e}");
                false
            }
        }
    }

    fn fail(&mut self, e: &WatchError) {
        let msg = e.to_string();
        if self.last_logged_error.as_deref() != Some(msg.as_str()) {
            if matches!(e, WatchError::ForeignNode { .. }) {
                tracing::error!("chain watcher: {msg}");
            } else {
                tracing::warn!("chain watcher: {msg} (retrying)");
            }
            self.last_logged_error = Some(msg.clone());
        }
        let mut v = self.view_tx.borrow().clone();
        v.last_error = Some(msg);
        self.view_tx.send_replace(v);
    }

    fn succeeded(&mut self) {
        if self.last_logged_error.take().is_some() {
            tracing::info!("chain watcher: the node answers again");
        }
    }

    /// Full refresh: status, app info, plan, proposals.
    async fn full(&mut self, client: &ChainClient) -> Result<(), WatchError> {
        let s = snapshot(client, self.opts.snapshot).await?;
        self.window.push(s.height, s.block_time);
        let mut v = self.view_tx.borrow().clone();
        v.chain_id = Some(s.chain_id);
        v.latest_height = Some(v.latest_height.unwrap_or(0).max(s.height));
        v.latest_block_time = Some(s.block_time);
        v.last_committed_height = s.app.as_ref().map(|a| a.last_block_height);
        if let Some(a) = &s.app {
            v.heights_read = Some(next_read(&v, s.height, a.last_block_height));
        }
        v.app_version = s.app.and_then(|a| a.version);
        v.catching_up = s.catching_up;
        v.average_block_time = self.window.average().or(s.average_block_time);
        v.transport = Some(s.transport);
        v.plan_known = true;
        v.plan = s.plan;
        if s.gov.is_some() {
            v.proposals = s.proposals;
        }
        v.last_error = None;
        v.updated_at = Some(Utc::now());
        self.publish(v);
        Ok(())
    }

    /// Light refresh: the block store's and the app's heights, and the plan (binaries
    /// re-resolved only when the plan changed).
    ///
    /// `/status` is read every time, also where the websocket feeds new heights: at a halt the
    /// block store holds a block the app never committed, and no NewBlock event says so.
    async fn light(&mut self, client: &ChainClient) -> Result<(), WatchError> {
        let s = client.status().await?;
        let app = client.abci_info().await?;
        let spec = client.current_plan().await?;
        let mut v = self.view_tx.borrow().clone();
        if client.rpc().is_none() {
            // Without an RPC address there is no block feed: block times come from here.
            self.window.push(s.latest_block_height, s.latest_block_time);
            v.latest_block_time = Some(s.latest_block_time);
            v.average_block_time = self.window.average().or(v.average_block_time);
        }
        v.latest_height = Some(v.latest_height.unwrap_or(0).max(s.latest_block_height));
        v.catching_up = s.catching_up;
        v.heights_read = Some(next_read(&v, s.latest_block_height, app.last_block_height));
        v.last_committed_height = Some(app.last_block_height);
        v.app_version = app.version;
        v.plan = match spec {
            None => None,
            Some(spec) => match v.plan.take() {
                Some(old) if old.spec == spec => Some(old),
                _ => Some(PlanWithBinaries {
                    binaries: resolve_info(&spec.info, self.opts.snapshot.info).await,
                    spec,
                }),
            },
        };
        v.plan_known = true;
        v.last_error = None;
        v.updated_at = Some(Utc::now());
        self.publish(v);
        Ok(())
    }

    /// The node's health, at most once per `peers_every`: its peer count (a node that refuses
    /// `/net_info`, or a gRPC-only watch, leaves it unknown; that is not an error of the watch)
    /// and whether it is catching up (blocks come from the feed, so `/status` is not read on
    /// every block).
    async fn health(&mut self, client: &ChainClient) {
        let now = Instant::now();
        if self
            .last_peers
            .is_some_and(|t| now - t < self.opts.peers_every)
        {
            return;
        }
        let Some(rpc) = client.rpc() else { return };
        self.last_peers = Some(now);
        let peers = match rpc.net_info().await {
            Ok(n) => Some(n.peers),
            Err(e) => {
                tracing::debug!("peer count: {e}");
                None
            }
        };
        let catching_up = rpc.status().await.ok().map(|s| s.catching_up);
        let mut v = self.view_tx.borrow().clone();
        let catching_up = catching_up.unwrap_or(v.catching_up);
        if v.peers != peers || v.catching_up != catching_up {
            v.peers = peers;
            v.catching_up = catching_up;
            self.publish(v);
        }
    }

    fn on_block(&mut self, b: NewBlock) {
        self.window.push(b.height, b.time);
        let mut v = self.view_tx.borrow().clone();
        if v.latest_height.is_some_and(|h| h >= b.height) {
            return;
        }
        v.latest_height = Some(b.height);
        if b.source == BlockSource::Websocket {
            // CometBFT announces a block only after the app committed it.
            v.last_committed_height = v.last_committed_height.max(Some(b.height));
        }
        v.latest_block_time = Some(b.time);
        if let Some(avg) = self.window.average() {
            v.average_block_time = Some(avg);
        }
        self.publish(v);
    }
}

/// How often the light refresh runs now: every block (at most every `plan_every`) near a halt or
/// without the websocket; every `quiet_every` otherwise, since the websocket's blocks carry the
/// committed height and a plan is also seen on the next full refresh.
fn light_every(
    l: &Loop,
    feed: &Option<watch::Receiver<crate::blocks::FeedState>>,
    attention: &watch::Receiver<Option<i64>>,
) -> Duration {
    let websocket = feed
        .as_ref()
        .is_some_and(|f| f.borrow().websocket_connected);
    let latest = l.view_tx.borrow().latest_height.unwrap_or(0);
    let near = attention
        .borrow()
        .is_some_and(|h| latest >= h - l.opts.near_blocks);
    if websocket && !near {
        l.opts.quiet_every.max(l.opts.plan_every)
    } else {
        l.opts.plan_every
    }
}

/// Resolves when the block feed announces one more proposal entering its voting period (true);
/// never once the feed stopped announcing (its receiver is then dropped, false).
async fn voting_started(votes: &mut Option<watch::Receiver<u64>>) -> bool {
    match votes {
        Some(rx) => {
            if rx.changed().await.is_ok() {
                true
            } else {
                *votes = None;
                false
            }
        }
        None => std::future::pending().await,
    }
}

fn next_read(v: &ChainView, latest: i64, committed: i64) -> HeightsRead {
    HeightsRead {
        latest,
        committed,
        seq: v.heights_read.map_or(0, |r| r.seq.wrapping_add(1)),
    }
}

async fn run(
    endpoints: Endpoints,
    opts: WatcherOptions,
    view_tx: watch::Sender<ChainView>,
    blocks_out: broadcast::Sender<NewBlock>,
    events: broadcast::Sender<WatchEvent>,
    attention: watch::Receiver<Option<i64>>,
) {
    let mut l = Loop {
        window: BlockTimes::new(opts.block_window),
        opts,
        view_tx,
        events,
        mem: EventMemory::default(),
        last_logged_error: None,
        last_peers: None,
    };
    let mut backoff = Backoff::new(l.opts.backoff_initial, l.opts.backoff_max);
    loop {
        let client = match ChainClient::connect(&endpoints, l.opts.limits).await {
            Ok(c) => c.with_identity(l.opts.identity.clone()),
            Err(e) => {
                l.fail(&e);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        };
        if let Err(e) = client.verify_identity().await {
            l.fail(&e);
            tokio::time::sleep(backoff.next_delay()).await;
            continue;
        }
        let feed = client
            .rpc()
            .map(|rpc| BlockFeed::spawn(rpc.clone(), l.opts.feed));
        let mut feed_rx = feed.as_ref().map(BlockFeed::subscribe);
        let mut votes = feed.as_ref().map(BlockFeed::voting_started);
        let feed_state = feed.as_ref().map(BlockFeed::state);
        let mut last_full: Option<Instant> = None;
        let mut last_light: Option<Instant> = None;
        // A proposal entered its voting period since the last read of proposals.
        let mut voting_news = false;
        let mut failures = 0u32;
        loop {
            if l.learned_node_key() {
                break; // connect again: every route is verified against the key first
            }
            let now = Instant::now();
            let scheduled = last_full.is_none_or(|t| now - t >= l.opts.proposals_every);
            let early = voting_news && last_full.is_none_or(|t| now - t >= l.opts.plan_every);
            let result = if scheduled || early {
                let r = l.full(&client).await;
                if r.is_ok() {
                    last_full = Some(now);
                    last_light = Some(now);
                    voting_news = false;
                }
                r
            } else if last_light.is_none_or(|t| now - t >= light_every(&l, &feed_state, &attention))
            {
                let r = l.light(&client).await;
                if r.is_ok() {
                    last_light = Some(now);
                }
                r
            } else {
                Ok(())
            };
            match result {
                Ok(()) => {
                    l.health(&client).await;
                    l.succeeded();
                    backoff.reset();
                    failures = 0;
                }
                Err(e) => {
                    l.fail(&e);
                    failures += 1;
                    tokio::time::sleep(backoff.next_delay()).await;
                    // A persistently failing client (e.g. gRPC went away) is rebuilt.
                    if failures >= 3 {
                        break;
                    }
                    continue;
                }
            }
            // Wait for a block, or the idle refresh (in quiet mode the blocks are the refresh).
            let quiet = light_every(&l, &feed_state, &attention) > l.opts.plan_every;
            let idle_for = if quiet {
                l.opts.quiet_every.max(l.opts.idle_refresh)
            } else {
                l.opts.idle_refresh
            };
            // Never past the next scheduled read of proposals.
            let until_full = last_full.map_or(idle_for, |t| {
                l.opts.proposals_every.saturating_sub(Instant::now() - t)
            });
            let idle = tokio::time::sleep(idle_for.min(until_full));
            tokio::pin!(idle);
            match feed_rx.as_mut() {
                Some(rx) => tokio::select! {
                    b = rx.recv() => match b {
                        Ok(b) => {
                            l.on_block(b);
                            let _ = blocks_out.send(b);
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => break,
                    },
                    news = voting_started(&mut votes) => {
                        if news {
                            tracing::debug!("a proposal entered its voting period: reading proposals now");
                            voting_news = true;
                        }
                    },
                    _ = &mut idle => { last_light = None; }
                },
                None => {
                    idle.await;
                    last_light = None;
                }
            }
        }
        drop(feed);
    }
}
