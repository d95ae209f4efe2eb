//! Stall detection while the node runs (sentry supervision): feeds the core's
//! [`StallTracker`] the committed height, whether a fresh answer of the node's RPC gave it, and
//! the peer count on every turn; logs a stall (or a silent RPC) once with its evidence, and its
//! end; publishes the verdict to the status API and `/metrics`; and says when
//! `SWITCHYARD_STALL_ACTION=restart` (or, for a silent RPC, `SWITCHYARD_SILENT_RPC_ACTION=restart`)
//! wants the node restarted. At each start of the node it reads the operator's own halt height
//! and halt time (the `start` flags, else the node's `config/app.toml`). The decision itself —
//! and why a halt at an upgrade height, a halt-height or halt-time stop, block sync or a silent
//! RPC is never a stall — is the core's ([`switchyard_core::StallTracker::verdict`]).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use switchyard_core::{
    halt_stop_commit, operator_halt_time, stall_threshold, AppHalt, Excuse, HaltFlag, HeightHeard,
    StallContext, StallReason, StallTracker, StallVerdict,
};
use switchyard_watcher::ChainView;
use tokio::sync::watch;

use crate::config::Config;
use crate::report::{
    ExcuseName, RestartReason, StallAction, StallReasonName, StallReport, StallState,
};

pub(super) struct StallWatch {
    tracker: StallTracker,
    view: Option<watch::Receiver<ChainView>>,
    explicit: Option<Duration>,
    min_peers: u32,
    action: StallAction,
    silent_rpc_action: StallAction,
    /// `$DAEMON_HOME`, for `config/app.toml`.
    home: PathBuf,
    /// The operator's halt settings in app.toml, as read at the node's last start.
    app_halt: AppHalt,
    /// The sequence number of the watcher's heights read last fed to the tracker.
    last_read: Option<u64>,
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
    heights_read: Option<switchyard_watcher::HeightsRead>,
}

/// What the loop knows that bears on the verdict.
pub(super) struct Halts<'a> {
    /// The height of the upgrade the node halts at next and has not run yet.
    pub upgrade_height: Option<i64>,
    /// The halt height switchyard armed the running node with, if any.
    pub armed: Option<HaltFlag>,
    /// The operator's node arguments (their own `--halt-height` / `--halt-time`).
    pub node_args: &'a [String],
}

impl StallWatch {
    pub(super) fn new(
        cfg: &Config,
        layout: &switchyard_store::Layout,
        view: Option<watch::Receiver<ChainView>>,
    ) -> Self {
        StallWatch {
            tracker: StallTracker::new(),
            view,
            explicit: cfg.stall_after,
            min_peers: cfg.stall_min_peers,
            action: cfg.stall_action,
            silent_rpc_action: cfg.silent_rpc_action,
            home: layout.home.clone(),
            app_halt: AppHalt::default(),
            last_read: None,
            epoch: Instant::now(),
            node_started: None,
            reported: false,
            stalled_at: None,
        }
    }

    /// The node (re)started: its old height says nothing any more (a stall of the new process
    /// is logged anew; the end of the old one is logged once the height moves past it).
    /// The node reads its app.toml at its start, so its halt settings are read again here.
    pub(super) fn node_started(&mut self) {
        self.tracker.reset();
        self.node_started = Some(Utc::now());
        self.reported = false;
        self.last_read = None;
        self.app_halt = match switchyard_watcher::app_halt(&self.home) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(
                    "{e}; its halt-height and halt-time are not known to stall detection"
                );
                AppHalt::default()
            }
        };
    }

    /// One turn. Returns why the node must be restarted, when it must.
    pub(super) fn check(
        &mut self,
        committed: Option<i64>,
        halts: &Halts<'_>,
    ) -> Option<RestartReason> {
        let view = self.view.as_ref()?;
        // The few fields needed, without cloning the whole view (this runs on every turn).
        let v = {
            let v = view.borrow();
            Seen {
                updated_at: v.updated_at,
                last_committed_height: v.last_committed_height,
                peers: v.peers,
                catching_up: v.catching_up,
                last_error: v.last_error.clone(),
                heights_read: v.heights_read,
            }
        };
        let now = self.epoch.elapsed().as_millis() as u64;
        // Answered since the node started; a fresh answer is a new read of its heights.
        let heard = match (v.updated_at, self.node_started) {
            (Some(u), Some(s)) if u >= s => match v.heights_read {
                Some(r) if self.last_read != Some(r.seq) => {
                    self.last_read = Some(r.seq);
                    HeightHeard::Fresh(r.committed)
                }
                _ => HeightHeard::Earlier,
            },
            _ => HeightHeard::NotYet,
        };
        let committed = committed.or(v.last_committed_height);
        self.tracker
            .observe(now, heard, committed, v.peers, self.min_peers);
        let threshold = stall_threshold(self.explicit, self.tracker.median_block_time());
        let ctx = StallContext {
            threshold,
            min_peers: self.min_peers,
            catching_up: v.catching_up,
            upgrade_height: halts.upgrade_height,
            halt_stop_height: halt_stop_commit(halts.armed, halts.node_args, &self.app_halt),
            halt_time: operator_halt_time(halts.node_args, &self.app_halt),
            now_unix: Utc::now().timestamp(),
        };
        let verdict = self.tracker.verdict(now, &ctx);
        let since = self.tracker.height_since();
        crate::live::set_stall(StallReport {
            state: match verdict {
                StallVerdict::Starting => StallState::Starting,
                StallVerdict::Progressing => StallState::Progressing,
                StallVerdict::Excused(_) => StallState::Excused,
                StallVerdict::Stalled(_) => StallState::Stalled,
                StallVerdict::Unanswered { .. } => StallState::Unanswered,
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
                StallVerdict::Excused(Excuse::AtHaltTime(_)) => Some(ExcuseName::AtHaltTime),
                _ => None,
            },
            height: since.map(|(h, _)| h),
            height_unchanged_seconds: since.map(|(_, t)| now.saturating_sub(t) as f64 / 1000.0),
            threshold_seconds: threshold.as_secs_f64(),
            min_peers: self.min_peers,
            action: self.action,
            silent_rpc_action: self.silent_rpc_action,
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
                (self.action == StallAction::Restart).then_some(RestartReason::Stall)
            }
            StallVerdict::Unanswered { height, for_ms } => {
                if !self.reported {
                    self.reported = true;
                    self.stalled_at = committed;
                    tracing::warn!(
                        committed = ?committed, rpc_error = ?v.last_error, threshold_s = threshold.as_secs(),
                        "the node's RPC has given no fresh answer for {:.0}s (last committed height heard: {height}): whether the node moves is not known, so this is not called a stall{}",
                        for_ms as f64 / 1000.0,
                        match self.silent_rpc_action {
                            StallAction::Restart => "; restarting it (SWITCHYARD_SILENT_RPC_ACTION=restart)",
                            StallAction::Log => "; set SWITCHYARD_SILENT_RPC_ACTION=restart to restart it for that",
                        }
                    );
                }
                (self.silent_rpc_action == StallAction::Restart).then_some(RestartReason::SilentRpc)
            }
            _ => {
                let moved_past = self
                    .stalled_at
                    .is_some_and(|s| committed.is_some_and(|c| c > s));
                if self.reported || moved_past {
                    self.reported = false;
                    self.stalled_at = None;
                    tracing::info!(committed = ?committed, peers = ?v.peers, "the node is no longer stalled (or silent)");
                }
                None
            }
        }
    }
}
