//! The supervisor's live state, shared with the status API and `/metrics`.
//!
//! One process-wide [`Live`] is set up by `run` ([`init`]). The supervision loop tells it what
//! happens at a few points (node started / exited, a restart and why, each swap step, the stall
//! verdict) through the free functions here, which do nothing when `run` did not set it up. Each
//! update takes a short lock on plain data or sets an atomic metric: the loop never waits on the
//! HTTP server, and nothing here does I/O on the swap's path (the last swap is saved to disk once
//! the new node is already starting, or when a swap failed).
//!
//! The last swap is kept in `cosmovisor/switchyard/last_swap.json`, so a swap that failed is still
//! visible after switchyard exits and is started again.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use chrono::Utc;

use crate::config::{Config, Source};
use crate::metrics::{reason, BinaryLabels, Metrics, OutcomeLabels};
use crate::report::{
    ArmedHaltReport, ChainReport, Counts, CrashReason, NodeReport, NodeState, PlanReport,
    ReadyReport, RestartReason, SelfReport, Setting, SettingSource, StallReport, StallState,
    StatusReport, SwapOutcome, SwapReport, SwapSource, SwapStepName, SwapStepReport,
};

/// The shared state.
pub(crate) struct Live {
    state: Mutex<LiveState>,
    pub metrics: Metrics,
    me: SelfReport,
    settings: Vec<Setting>,
    config_file: Option<String>,
    last_swap_path: PathBuf,
    watched: bool,
    /// (path, size, mtime) -> sha256 of the current binary, computed on demand.
    sha_cache: Mutex<Option<(PathBuf, u64, std::time::SystemTime, String)>>,
}

struct LiveState {
    node: NodeReport,
    swap: Option<SwapInFlight>,
    last_swap: Option<SwapReport>,
    restarts: Counts<RestartReason>,
    crashes: Counts<CrashReason>,
    stall: StallReport,
    armed: Option<ArmedHaltReport>,
    plan: Option<PlanReport>,
    chain: ChainReport,
    /// The committed height and when switchyard saw it change.
    height_seen: Option<(i64, Instant)>,
}

struct SwapInFlight {
    report: SwapReport,
    began: Instant,
    step: Option<(SwapStepName, Instant)>,
    /// Saved to disk already (a swap that ended without starting a node).
    saved: bool,
}

static LIVE: OnceLock<Live> = OnceLock::new();

/// Sets up the shared state for `run` (once per process) and returns it.
pub(crate) fn init(cfg: &Config, layout: &switchyard_store::Layout) -> &'static Live {
    LIVE.get_or_init(|| Live::new(cfg, layout))
}

/// The shared state, when `run` set it up.
pub(crate) fn get() -> Option<&'static Live> {
    LIVE.get()
}

fn with(f: impl FnOnce(&Live)) {
    if let Some(l) = get() {
        f(l)
    }
}

impl Live {
    fn new(cfg: &Config, layout: &switchyard_store::Layout) -> Live {
        let last_swap_path = layout.state_dir().join("last_swap.json");
        let last_swap = match std::fs::read(&last_swap_path) {
            Ok(bytes) => match serde_json::from_slice::<SwapReport>(&bytes) {
                Ok(r) => Some(r),
                Err(e) => {
                    tracing::warn!(
                        "{} is not a swap report ({e}); the last swap is not shown",
                        last_swap_path.display()
                    );
                    None
                }
            },
            Err(_) => None,
        };
        let metrics = Metrics::new();
        if let Some(s) = &last_swap {
            set_swap_metrics(&metrics, s);
        }
        Live {
            state: Mutex::new(LiveState {
                node: NodeReport {
                    state: NodeState::Starting,
                    pid: None,
                    started_at: None,
                    binary: None,
                    binary_sha256: None,
                    upgrade: None,
                    app_version: None,
                    args: Vec::new(),
                },
                swap: None,
                last_swap,
                restarts: Counts::default(),
                crashes: Counts::default(),
                stall: StallReport {
                    state: StallState::NotWatched,
                    reason: None,
                    excuse: None,
                    height: None,
                    height_unchanged_seconds: None,
                    threshold_seconds: cfg
                        .stall_after
                        .unwrap_or(switchyard_core::MIN_STALL_AFTER)
                        .as_secs_f64(),
                    min_peers: cfg.stall_min_peers,
                    action: cfg.stall_action,
                    silent_rpc_action: cfg.silent_rpc_action,
                },
                armed: None,
                plan: None,
                chain: ChainReport {
                    watched: cfg.watch_chain,
                    chain_id: None,
                    latest_height: None,
                    committed_height: None,
                    last_block_time: None,
                    seconds_since_last_block: None,
                    catching_up: false,
                    peers: None,
                    block_time_seconds: None,
                    rpc_ok: false,
                    last_error: None,
                },
                height_seen: None,
            }),
            metrics,
            me: SelfReport {
                version: env!("CARGO_PKG_VERSION").to_string(),
                pid: std::process::id(),
                started_at: Utc::now(),
                home: layout.home.display().to_string(),
                daemon_name: cfg.daemon_name.clone().unwrap_or_default(),
            },
            settings: cfg
                .entries
                .iter()
                .map(|e| Setting {
                    key: e.key.to_string(),
                    value: e.value.clone(),
                    source: match e.source {
                        Source::Env => SettingSource::Env,
                        Source::File => SettingSource::File,
                        Source::Default => SettingSource::Default,
                    },
                })
                .collect(),
            config_file: cfg.file.as_ref().map(|p| p.display().to_string()),
            last_swap_path,
            watched: cfg.watch_chain,
            sha_cache: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LiveState> {
        // A panic while holding the lock cannot leave plain data half-updated in a way that
        // matters more than losing the status: carry on with what is there.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The whole status document (`binary_sha256` is filled in by the caller, off this lock).
    pub(crate) fn status(&self) -> StatusReport {
        let s = self.lock();
        let mut chain = s.chain.clone();
        chain.seconds_since_last_block = s.height_seen.map(|(_, t)| t.elapsed().as_secs_f64());
        StatusReport {
            switchyard: self.me.clone(),
            node: s.node.clone(),
            ready: ready_report(&s.node, &chain, &s.stall, self.watched),
            chain,
            plan: s.plan.clone(),
            armed_halt: s.armed.clone(),
            last_swap: s
                .swap
                .as_ref()
                .map(|f| f.report.clone())
                .or_else(|| s.last_swap.clone()),
            restarts: s.restarts.clone(),
            crashes: s.crashes.clone(),
            stall: s.stall.clone(),
            settings: self.settings.clone(),
            config_file: self.config_file.clone(),
        }
    }

    /// What `/readyz` answers.
    pub(crate) fn ready(&self) -> ReadyReport {
        let s = self.lock();
        let r = ready_report(&s.node, &s.chain, &s.stall, self.watched);
        self.metrics.node_ready.set(i64::from(r.ready));
        r
    }

    /// Updates the gauges derived from the state just before a scrape, so a scrape says what
    /// `/status` says at that instant: whether a node process runs, whether a swap is under way,
    /// how long the height has stood still, readiness.
    pub(crate) fn before_scrape(&self) {
        let s = self.lock();
        self.metrics.node_up.set(i64::from(s.node.pid.is_some()));
        self.metrics
            .swap_in_progress
            .set(i64::from(s.swap.is_some()));
        if let Some((_, t)) = s.height_seen {
            self.metrics
                .seconds_since_last_block
                .set(t.elapsed().as_secs_f64());
        }
        let r = ready_report(&s.node, &s.chain, &s.stall, self.watched);
        self.metrics.node_ready.set(i64::from(r.ready));
    }

    /// The cached sha256 of `path`, if it is still the same file.
    pub(crate) fn cached_sha256(&self, path: &std::path::Path) -> Option<String> {
        let meta = std::fs::metadata(path).ok()?;
        let cache = self.sha_cache.lock().unwrap_or_else(|p| p.into_inner());
        match &*cache {
            Some((p, len, mtime, sum))
                if p == path && *len == meta.len() && meta.modified().ok() == Some(*mtime) =>
            {
                Some(sum.clone())
            }
            _ => None,
        }
    }

    pub(crate) fn cache_sha256(&self, path: PathBuf, sum: String) {
        if let Ok(meta) = std::fs::metadata(&path) {
            if let Ok(mtime) = meta.modified() {
                *self.sha_cache.lock().unwrap_or_else(|p| p.into_inner()) =
                    Some((path, meta.len(), mtime, sum));
            }
        }
    }

    /// A new upgrade report (from the status refresher).
    pub(crate) fn set_plan(&self, plan: PlanReport) {
        self.metrics.set_upgrades(&plan);
        self.lock().plan = Some(plan);
    }

    /// The manual upgrade the running node is armed for (for the report's `halt`).
    pub(crate) fn armed(&self) -> Option<ArmedHaltReport> {
        self.lock().armed.clone()
    }

    /// What the chain watcher sees now.
    pub(crate) fn set_chain(&self, v: &switchyard_watcher::ChainView) {
        let m = &self.metrics;
        if let Some(h) = v.last_committed_height {
            m.node_committed_height.set(h);
        }
        if let Some(h) = v.latest_height {
            m.node_latest_height.set(h);
        }
        m.node_catching_up.set(i64::from(v.catching_up));
        m.node_peers.set(v.peers.map_or(-1, i64::from));
        let rpc_ok = v.last_error.is_none() && v.updated_at.is_some();
        m.rpc_up.set(i64::from(rpc_ok));
        let mut s = self.lock();
        if let Some(h) = v.last_committed_height {
            if s.height_seen.is_none_or(|(old, _)| old != h) {
                s.height_seen = Some((h, Instant::now()));
            }
        }
        if s.node.app_version != v.app_version {
            s.node.app_version = v.app_version.clone();
            let upgrade = s.node.upgrade.clone().unwrap_or_default();
            set_binary_info(m, &upgrade, v.app_version.as_deref());
        }
        s.chain = ChainReport {
            watched: true,
            chain_id: v.chain_id.clone(),
            latest_height: v.latest_height,
            committed_height: v.last_committed_height,
            last_block_time: v.latest_block_time,
            seconds_since_last_block: None,
            catching_up: v.catching_up,
            peers: v.peers,
            block_time_seconds: v.average_block_time.map(|d| d.as_secs_f64()),
            rpc_ok,
            last_error: v.last_error.clone(),
        };
    }
}

fn set_binary_info(m: &Metrics, upgrade: &str, version: Option<&str>) {
    m.node_binary_info.clear();
    m.node_binary_info
        .get_or_create(&BinaryLabels {
            upgrade: upgrade.to_string(),
            version: version.unwrap_or_default().to_string(),
        })
        .set(1);
}

fn set_swap_metrics(m: &Metrics, s: &SwapReport) {
    m.last_swap_timestamp_seconds
        .set(s.started_at.timestamp_millis() as f64 / 1000.0);
    match s.outcome {
        SwapOutcome::Ok => m.last_swap_success.set(1),
        SwapOutcome::Failed => m.last_swap_success.set(0),
        SwapOutcome::InProgress => 0,
    };
    if let Some(d) = s.downtime_seconds {
        m.last_swap_downtime_seconds.set(d);
    }
    let steps: Vec<_> = s.steps.iter().map(|st| (st.step, st.seconds)).collect();
    m.set_swap_steps(&steps);
}

/// `/readyz`: the node runs, serves RPC, is not catching up and not stalled.
pub(crate) fn ready_report(
    node: &NodeReport,
    chain: &ChainReport,
    stall: &StallReport,
    watched: bool,
) -> ReadyReport {
    let mut reasons = Vec::new();
    if node.state != NodeState::Running {
        reasons.push(format!(
            "the node is not running ({})",
            match node.state {
                NodeState::Starting => "starting",
                NodeState::Running => "running",
                NodeState::Swapping => "swapping binaries",
                NodeState::Restarting => "restarting",
                NodeState::Exited => "exited",
            }
        ));
    }
    if !watched {
        reasons.push("the chain is not watched (SWITCHYARD_WATCH_CHAIN=false), so whether the node serves RPC is not known".into());
    } else if !chain.rpc_ok {
        reasons.push(match &chain.last_error {
            Some(e) => format!("the node's RPC does not answer: {e}"),
            None => "the node's RPC has not answered yet".into(),
        });
    }
    if chain.catching_up {
        reasons.push("the node is catching up".into());
    }
    if stall.state == StallState::Stalled {
        reasons.push(format!(
            "the node is stalled ({})",
            match stall.reason {
                Some(crate::report::StallReasonName::TooFewPeers) => "too few peers",
                _ => "no new block",
            }
        ));
    }
    ReadyReport {
        ready: reasons.is_empty(),
        reasons,
    }
}

/// The node process was started (armed to halt for `armed`, if any).
pub(crate) fn node_started(
    pid: i32,
    binary: &std::path::Path,
    args: &[String],
    upgrade: String,
    armed: Option<ArmedHaltReport>,
) {
    with(|l| {
        let saved = {
            let mut s = l.lock();
            s.armed = armed;
            s.node.state = NodeState::Running;
            s.node.pid = Some(pid);
            s.node.started_at = Some(Utc::now());
            s.node.binary = Some(binary.display().to_string());
            s.node.args = args.to_vec();
            if s.node.upgrade.as_deref() != Some(upgrade.as_str()) {
                set_binary_info(&l.metrics, &upgrade, s.node.app_version.as_deref());
                s.node.upgrade = Some(upgrade);
            }
            // The swap's downtime ends here.
            s.swap.take().map(|mut f| {
                close_step(&mut f);
                f.report.downtime_seconds = Some(f.began.elapsed().as_secs_f64());
                f.report.finished_at = Some(Utc::now());
                f.report.outcome = SwapOutcome::Ok;
                s.last_swap = Some(f.report.clone());
                f.report
            })
        };
        if let Some(r) = saved {
            set_swap_metrics(&l.metrics, &r);
            l.save_swap(&r);
        }
    })
}

/// The node process ended (any way).
pub(crate) fn node_exited() {
    with(|l| {
        let mut s = l.lock();
        s.node.pid = None;
        s.node.state = NodeState::Restarting;
    })
}

/// The node crashed with this exit code.
pub(crate) fn crashed(code: i32) {
    // Shell convention: 128 + N is death by signal N.
    let r = if code > 128 {
        CrashReason::Signal
    } else {
        CrashReason::ExitCode
    };
    with(|l| {
        l.metrics
            .node_crashes
            .get_or_create(&reason(r.as_str()))
            .inc();
        l.lock().crashes.add(r);
    })
}

/// switchyard decided to start the node again, for `why`.
pub(crate) fn restarting(why: RestartReason) {
    with(|l| {
        l.metrics
            .node_restarts
            .get_or_create(&reason(why.as_str()))
            .inc();
        let mut s = l.lock();
        s.restarts.add(why);
        if s.node.state == NodeState::Running {
            s.node.state = NodeState::Restarting;
        }
    })
}

/// Supervision is ending.
pub(crate) fn exiting() {
    with(|l| {
        let pending = {
            let mut s = l.lock();
            s.node.state = NodeState::Exited;
            s.node.pid = None;
            s.swap
                .as_mut()
                .filter(|f| !f.saved && f.report.outcome != SwapOutcome::InProgress)
                .map(|f| {
                    f.saved = true;
                    f.report.clone()
                })
        };
        if let Some(r) = pending {
            l.save_swap(&r);
        }
    })
}

/// The old node stopped during a swap: no node process runs until the new one starts (the
/// state stays "swapping").
pub(crate) fn swap_node_stopped() {
    with(|l| l.lock().node.pid = None)
}

/// A swap begins (the old node is about to be stopped, or a journal is being resumed).
pub(crate) fn swap_begin(upgrade: &str, height: i64, source: switchyard_core::UpgradeKind) {
    with(|l| {
        let now = Instant::now();
        let report = SwapReport {
            upgrade: upgrade.to_string(),
            height,
            source: match source {
                switchyard_core::UpgradeKind::Plan => SwapSource::Plan,
                switchyard_core::UpgradeKind::Manual => SwapSource::Manual,
            },
            started_at: Utc::now(),
            finished_at: None,
            outcome: SwapOutcome::InProgress,
            error: None,
            downtime_seconds: None,
            steps: Vec::new(),
        };
        l.metrics
            .last_swap_timestamp_seconds
            .set(report.started_at.timestamp_millis() as f64 / 1000.0);
        let mut s = l.lock();
        s.node.state = NodeState::Swapping;
        s.swap = Some(SwapInFlight {
            report,
            began: now,
            step: Some((SwapStepName::Stop, now)),
            saved: false,
        });
    })
}

/// The swap moves on to `step`.
pub(crate) fn swap_step(step: SwapStepName) {
    with(|l| {
        let mut s = l.lock();
        if let Some(f) = s.swap.as_mut() {
            close_step(f);
            f.step = Some((step, Instant::now()));
        }
    })
}

/// The swap ended: switched (`Ok`; the new node's start closes its downtime) or failed.
pub(crate) fn swap_end(result: Result<(), String>) {
    with(|l| {
        let failed = {
            let mut s = l.lock();
            let Some(f) = s.swap.as_mut() else { return };
            close_step(f);
            match result {
                Ok(()) => {
                    f.report.outcome = SwapOutcome::Ok;
                    f.step = Some((SwapStepName::Start, Instant::now()));
                    l.metrics
                        .swaps
                        .get_or_create(&OutcomeLabels {
                            outcome: "ok".into(),
                        })
                        .inc();
                    None
                }
                Err(e) => {
                    f.report.outcome = SwapOutcome::Failed;
                    f.report.error = Some(e);
                    f.report.finished_at = Some(Utc::now());
                    let r = f.report.clone();
                    s.swap = None;
                    s.last_swap = Some(r.clone());
                    Some(r)
                }
            }
        };
        if let Some(r) = failed {
            l.metrics
                .swaps
                .get_or_create(&OutcomeLabels {
                    outcome: "failed".into(),
                })
                .inc();
            set_swap_metrics(&l.metrics, &r);
            l.save_swap(&r);
        }
    })
}

fn close_step(f: &mut SwapInFlight) {
    if let Some((step, t)) = f.step.take() {
        f.report.steps.push(SwapStepReport {
            step,
            seconds: t.elapsed().as_secs_f64(),
        });
    }
}

impl Live {
    fn save_swap(&self, r: &SwapReport) {
        let result = serde_json::to_vec_pretty(r)
            .map_err(std::io::Error::other)
            .and_then(|bytes| switchyard_store::write_atomic(&self.last_swap_path, &bytes));
        if let Err(e) = result {
            tracing::warn!(
                "cannot save the last swap to {}: {e}",
                self.last_swap_path.display()
            );
        }
    }
}

/// The stall verdict of this turn.
pub(crate) fn set_stall(report: StallReport) {
    with(|l| {
        let m = &l.metrics;
        m.node_stalled
            .set(i64::from(report.state == StallState::Stalled));
        m.height_unchanged_seconds
            .set(report.height_unchanged_seconds.unwrap_or(0.0));
        m.stall_threshold_seconds.set(report.threshold_seconds);
        l.lock().stall = report;
    })
}

/// Bytes of an upgrade binary downloaded.
pub(crate) fn downloaded(bytes: u64) {
    with(|l| {
        l.metrics.download_bytes.inc_by(bytes);
    })
}

/// A failed attempt to stage an upgrade binary.
pub(crate) fn download_failed() {
    with(|l| {
        l.metrics.download_failures.inc();
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::StallAction;

    fn node(state: NodeState) -> NodeReport {
        NodeReport {
            state,
            pid: Some(1),
            started_at: None,
            binary: None,
            binary_sha256: None,
            upgrade: None,
            app_version: None,
            args: vec![],
        }
    }

    fn chain(rpc_ok: bool, catching_up: bool) -> ChainReport {
        ChainReport {
            watched: true,
            chain_id: None,
            latest_height: None,
            committed_height: None,
            last_block_time: None,
            seconds_since_last_block: None,
            catching_up,
            peers: None,
            block_time_seconds: None,
            rpc_ok,
            last_error: (!rpc_ok).then(|| "connection refused".to_string()),
        }
    }

    fn stall(state: StallState) -> StallReport {
        StallReport {
            state,
            reason: None,
            excuse: None,
            height: None,
            height_unchanged_seconds: None,
            threshold_seconds: 60.0,
            min_peers: 1,
            action: StallAction::Log,
            silent_rpc_action: StallAction::Log,
        }
    }

    #[test]
    fn ready_needs_a_running_node_answering_not_syncing_not_stalled() {
        let ok = ready_report(
            &node(NodeState::Running),
            &chain(true, false),
            &stall(StallState::Progressing),
            true,
        );
        assert!(ok.ready && ok.reasons.is_empty());
        for (n, c, st, w, why) in [
            (
                NodeState::Swapping,
                chain(true, false),
                StallState::Progressing,
                true,
                "swapping",
            ),
            (
                NodeState::Running,
                chain(false, false),
                StallState::Progressing,
                true,
                "connection refused",
            ),
            (
                NodeState::Running,
                chain(true, true),
                StallState::Excused,
                true,
                "catching up",
            ),
            (
                NodeState::Running,
                chain(true, false),
                StallState::Stalled,
                true,
                "stalled",
            ),
            (
                NodeState::Running,
                chain(true, false),
                StallState::NotWatched,
                false,
                "not watched",
            ),
        ] {
            let r = ready_report(&node(n), &c, &stall(st), w);
            assert!(!r.ready, "{why}");
            assert!(r.reasons.join("; ").contains(why), "{r:?}");
        }
    }
}
