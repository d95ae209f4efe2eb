//! Stall detection while the node runs (sentry supervision): feeds the core's
//! [`StallTracker`] the committed height and peer count on every turn, logs a stall once with
//! its evidence (and its end), publishes the verdict to the status API and `/metrics`, and says
//! when `SWITCHYARD_STALL_ACTION=restart` wants the node restarted. The decision itself — and
//! why a halt at an upgrade height, a halt-height stop or block sync is never a stall — is the
//! core's ([`switchyard_core::StallTracker::verdict`]).

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchyard_core::{
    stall_threshold, Excuse, StallContext, StallReason, StallTracker, StallVerdict,
};
use switchyard_watcher::ChainView;
use tokio::sync::watch;

use crate::config::Config;
use crate::report::{ExcuseName, StallAction, StallReasonName, StallReport, StallState};

pub(super) struct StallWatch {
    tracker: StallTracker,
    view: Option<watch::Receiver<ChainView>>,
    explicit: Option<Duration>,
    min_peers: u32,
    action: StallAction,
    /// The monotonic clock's origin for the tracker's milliseconds.
    epoch: Instant,
    /// When the running node was started (its RPC must answer after this).
    node_started: Option<DateTime<Utc>>,
    /// A stall was logged and has not ended yet (for this node process).
    reported: bool,
    /// The committed height of the last stall logged, until the node moved past it (also
    /// across the restart a stall caused, so the recovery is logged).
    stalled_at: Option<i64>,
}

/// What this turn takes from the watcher's view.
struct Seen {
    updated_at: Option<DateTime<Utc>>,
    last_committed_height: Option<i64>,
    peers: Option<u32>,
    catching_up: bool,
    last_error: Option<String>,
}

/// What the loop knows that bears on the verdict.
pub(super) struct Halts {
    /// The height of the upgrade the node halts at next and has not run yet.
    pub upgrade_height: Option<i64>,
    /// The committed height at which the node's `--halt-height` stops it.
    pub halt_stop_height: Option<i64>,
}

impl StallWatch {
    pub(super) fn new(cfg: &Config, view: Option<watch::Receiver<ChainView>>) -> Self {
        StallWatch {
            tracker: StallTracker::new(),
            view,
            explicit: cfg.stall_after,
            min_peers: cfg.stall_min_peers,
            action: cfg.stall_action,
            epoch: Instant::now(),
            node_started: None,
            reported: false,
            stalled_at: None,
        }
    }

    /// The node (re)started: its old height says nothing any more (a stall of the new process
    /// is logged anew; the end of the old one is logged once the height moves past it).
    pub(super) fn node_started(&mut self) {
        self.tracker.reset();
        self.node_started = Some(Utc::now());
        self.reported = false;
    }

    /// One turn. Returns true when the node is stalled and must be restarted.
    pub(super) fn check(&mut self, committed: Option<i64>, halts: &Halts) -> bool {
        let Some(view) = self.view.as_ref() else {
            return false;
        };
        // The few fields needed, without cloning the whole view (this runs on every turn).
        let v = {
            let v = view.borrow();
            Seen {
                updated_at: v.updated_at,
                last_committed_height: v.last_committed_height,
                peers: v.peers,
                catching_up: v.catching_up,
                last_error: v.last_error.clone(),
            }
        };
        let now = self.epoch.elapsed().as_millis() as u64;
        let answered = match (v.updated_at, self.node_started) {
            (Some(u), Some(s)) => u >= s,
            _ => false,
        };
        let committed = committed.or(v.last_committed_height);
        self.tracker
            .observe(now, answered, committed, v.peers, self.min_peers);
        let threshold = stall_threshold(self.explicit, self.tracker.median_block_time());
        let ctx = StallContext {
            threshold,
            min_peers: self.min_peers,
            catching_up: v.catching_up,
            upgrade_height: halts.upgrade_height,
            halt_stop_height: halts.halt_stop_height,
        };
        let verdict = self.tracker.verdict(now, &ctx);
        let since = self.tracker.height_since();
        crate::live::set_stall(StallReport {
            state: match verdict {
                StallVerdict::Starting => StallState::Starting,
                StallVerdict::Progressing => StallState::Progressing,
                StallVerdict::Excused(_) => StallState::Excused,
                StallVerdict::Stalled(_) => StallState::Stalled,
            },
            reason: match verdict {
                StallVerdict::Stalled(StallReason::NoNewBlocks { .. }) => {
                    Some(StallReasonName::NoNewBlocks)
                }
                StallVerdict::Stalled(StallReason::TooFewPeers { .. }) => {
                    Some(StallReasonName::TooFewPeers)
                }
                _ => None,
            },
            excuse: match verdict {
                StallVerdict::Excused(Excuse::CatchingUp) => Some(ExcuseName::CatchingUp),
                StallVerdict::Excused(Excuse::AtUpgradeHeight(_)) => {
                    Some(ExcuseName::AtUpgradeHeight)
                }
                StallVerdict::Excused(Excuse::AtHaltHeight(_)) => Some(ExcuseName::AtHaltHeight),
                _ => None,
            },
            height: since.map(|(h, _)| h),
            height_unchanged_seconds: since.map(|(_, t)| now.saturating_sub(t) as f64 / 1000.0),
            threshold_seconds: threshold.as_secs_f64(),
            min_peers: self.min_peers,
            action: self.action,
        });
        match verdict {
            StallVerdict::Stalled(reason) => {
                if !self.reported {
                    self.reported = true;
                    self.stalled_at = committed;
                    let evidence = match reason {
                        StallReason::NoNewBlocks { height, for_ms } => format!(
                            "its committed height has stayed at {height} for {:.0}s",
                            for_ms as f64 / 1000.0
                        ),
                        StallReason::TooFewPeers { peers, for_ms } => format!(
                            "it has had {peers} peer(s), fewer than SWITCHYARD_STALL_MIN_PEERS={}, for {:.0}s",
                            self.min_peers,
                            for_ms as f64 / 1000.0
                        ),
                    };
                    tracing::warn!(
                        committed = ?committed, peers = ?v.peers, catching_up = v.catching_up,
                        threshold_s = threshold.as_secs(), rpc_error = ?v.last_error,
                        "the node is stalled: the process is up, but {evidence} (threshold {threshold:?}; not catching up, not at an upgrade or halt height){}",
                        match self.action {
                            StallAction::Restart => "; restarting it (SWITCHYARD_STALL_ACTION=restart)",
                            StallAction::Log => "; set SWITCHYARD_STALL_ACTION=restart to restart it",
                        }
                    );
                }
                self.action == StallAction::Restart
            }
            _ => {
                let moved_past = self
                    .stalled_at
                    .is_some_and(|s| committed.is_some_and(|c| c > s));
                if self.reported || moved_past {
                    self.reported = false;
                    self.stalled_at = None;
                    tracing::info!(committed = ?committed, peers = ?v.peers, "the node is no longer stalled");
                }
                false
            }
        }
    }
}
