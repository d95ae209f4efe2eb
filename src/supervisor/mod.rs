//! `switchyard run`: the supervision loop.
//!
//! ```text
//!   observations (file watcher, chain watcher, node exit, signals, manual list)
//!        │
//!        ▼
//!   Known snapshot ──► switchyard_core (on_start / while_running / rearm / height_watch /
//!        │             on_exit) ──► act: start / stop+swap / restart with another halt / exit
//!        ▼
//!   store: journal, applied, learned halt behaviours
//! ```
//!
//! Each turn gathers a fresh [`Known`] snapshot from the store and the latest observations,
//! asks the pure core what to do, and carries it out with `switchyard-exec` and
//! `switchyard-store`. Nothing here decides: the swap sequence and its recovery are in [`swap`];
//! where the observations come from is in [`observe`]; what `--halt-height` does on the current
//! binary is looked up in [`crate::binary_facts`]; signal handling is in [`signals`]; the run lock and
//! the orphan check are in [`home_guard`]; stall detection in [`stall`]; asking upcoming binaries
//! whether they have a `pre-upgrade` command, before the halt, in [`probe_ahead`]. What happens is told
//! to the shared state the status API and `/metrics` read ([`crate::live`]) at a few points: node
//! started / exited, a restart and its reason, the swap's steps, the stall verdict.
//!
//! The loop and its tasks run on a current-thread runtime on the main thread, which the node's
//! parent-death signal needs: it fires when the thread that forked the node exits. Beside it run
//! the status API's thread, the log sink's writer thread, and blocking threads for a backup's
//! copy and for hashing. Every task started here holds the run's one [`Shutdown`]
//! (`crate::shutdown`), which a stop signal triggers and which [`run`] finishes, waiting for the
//! tasks, before it returns.

mod background_staging;
mod home_guard;
mod observe;
mod probe_ahead;
mod signals;
mod stall;
mod state_files;
mod swap;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use switchyard_core::{
    displaced_manual, height_watch, missed_manual, on_exit, on_start, rearm, restarts_after_crash,
    skipped_halt, unsafe_skip_heights, while_running, ArmedHalt, CrashDecision, CrashPolicy,
    CrashPolicyConfig, ExitDecision, ExitKind, HaltBehaviour, HeightHistory, HeightSample,
    HeightWatch, Known, RearmReason, RunningDecision, ScheduledPlan, StartDecision, SwapTarget,
    UpgradeInfo, UpgradeName,
};
use switchyard_exec::{exit_code, NodeProcess};
use switchyard_store::{Journal, Layout};

use crate::binary_facts::BinaryFacts;
use crate::config::Config;
use crate::shutdown::Shutdown;
use observe::{Observation, Observer};
use signals::{SignalKind, Signals};
use swap::SwapEnd;

/// Runs the node under supervision until it exits cleanly, a signal ends it, or an error stops
/// us. Returns the process exit code.
pub(crate) fn run(cfg: &Config, node_args: Vec<String>) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    crate::notify::init();
    let shutdown = Shutdown::new();
    let result = rt.block_on(async move {
        crate::notify::spawn_watchdog(&shutdown);
        // The supervisor (its run lock above all) is held until the tasks have ended, so no
        // second switchyard takes the home while a backup's copy is still cleaning up.
        let (r, held) = match Supervisor::new(cfg, node_args, &shutdown) {
            Ok(mut sup) => (sup.run().await, Some(sup)),
            Err(e) => (Err(e), None),
        };
        let r = match r {
            Err(e) if matches!(e.downcast_ref(), Some(swap::SwapError::Stopped { .. })) => {
                tracing::info!("{e:#}");
                Ok(0)
            }
            other => other,
        };
        crate::live::exiting();
        let limit = cfg.shutdown_grace.max(TASKS_END_MIN);
        if !shutdown.finish(limit).await {
            tracing::warn!(
                "a background task did not end within {limit:?} of the shutdown; exiting without it"
            );
        }
        drop(held);
        r
    });
    crate::notify::stopping();
    // A blocking read that never returns (a FIFO where a file should be) must not keep us from
    // exiting: do not wait for the runtime's blocking threads.
    rt.shutdown_timeout(Duration::from_millis(200));
    result
}

/// The least time the background tasks (pre-staging, probe-ahead, the watchdog, a backup's
/// copy) have to end once the shutdown is triggered (the shutdown grace when that is longer):
/// each ends at its next await or, for a backup, its next file, then removes its partial copy.
const TASKS_END_MIN: Duration = Duration::from_secs(5);

/// How often the running node's time-based questions are asked while no halt is near.
const QUIET_TICK: Duration = Duration::from_secs(1);

/// What the supervisor has seen of the node's heights.
#[derive(Debug, Default)]
struct HeightsSeen {
    /// The highest committed height seen.
    committed: Option<i64>,
    /// When a height was last seen (monotonic ms).
    last_seen_ms: Option<u64>,
    average_block_ms: Option<u64>,
    /// Samples of the running node process.
    samples: HeightHistory,
}

/// The supervisor's state between turns.
struct Supervisor<'a> {
    cfg: &'a Config,
    layout: Layout,
    journal: Journal,
    node_args: Vec<String>,
    skip_heights: BTreeSet<i64>,
    crashes: CrashPolicy,
    observer: Observer,
    signals: Signals,
    /// The run's one shutdown, which every long step runs under.
    shutdown: Shutdown,
    /// The monotonic clock's zero: every time handed to the core is milliseconds since then.
    clock: Instant,
    /// The latest valid content of data/upgrade-info.json.
    halt_file: Option<UpgradeInfo>,
    heights: HeightsSeen,
    plan: Option<ScheduledPlan>,
    /// Whether the chain's plan was queried successfully at least once.
    plan_known: bool,
    /// What `--halt-height` does on the current binary, once looked up.
    facts: Option<BinaryFacts>,
    /// Manual upgrades displaced by a plan, or missed, that we already complained about.
    warned_displaced: Vec<UpgradeName>,
    /// When the last "cannot see this node's height" error was logged.
    /// The next halt is near (`switchyard_core::halt_is_near`): look every poll interval.
    halt_near: bool,
    blind_reported_ms: Option<u64>,
    /// What the running node is (`genesis` or the upgrade's name), for status lines.
    node_label: String,
    /// The last error reading our own state files (logged once).
    last_state_error: std::cell::RefCell<Option<String>>,
    /// `manual.json` and `applied.json` as last read (read again when they change).
    manual_file: std::cell::RefCell<state_files::CachedFile<Vec<switchyard_core::ManualUpgrade>>>,
    applied_file:
        std::cell::RefCell<state_files::CachedFile<std::collections::BTreeMap<UpgradeName, i64>>>,
    stall: stall::StallWatch,
    /// Asks upcoming binaries, before the halt, whether they have a `pre-upgrade` command.
    probe_ahead: probe_ahead::ProbeAhead,
    /// Held while we supervise: one switchyard per node home.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Why one run of the node ended.
enum NodeEnd {
    /// Swap done, or a restart with another halt asked for: start the node again right away.
    Restart,
    /// End supervision with this exit code.
    Exit(i32),
    /// The node crashed with this code.
    Crashed(i32),
    /// The node stalled (or its RPC went silent) and was stopped to be restarted, for this
    /// reason (`SWITCHYARD_STALL_ACTION=restart`, `SWITCHYARD_SILENT_RPC_ACTION=restart`).
    Stalled(crate::report::RestartReason),
}

/// How long one read of data/upgrade-info.json may take before the loop gives up on it.
const HALT_FILE_READ_LIMIT: Duration = Duration::from_secs(3);

/// How often a blind supervisor repeats that it cannot see the node's height.
const BLIND_REPORT_EVERY_MS: u64 = 300_000;

impl<'a> Supervisor<'a> {
    fn new(cfg: &'a Config, node_args: Vec<String>, shutdown: &Shutdown) -> anyhow::Result<Self> {
        crate::test_faults::check_point(cfg, "swap", switchyard_store::SWAP_FAULT_POINTS)?;
        let layout = cfg.layout()?;
        let lock = home_guard::lock_home(&layout)?;
        home_guard::repair_current(&layout)?;
        let journal = Journal::new(&layout);
        let signals = Signals::install(shutdown).context("installing signal handlers")?;
        let observer = Observer::spawn(cfg, &layout);
        let skip_heights = unsafe_skip_heights(&node_args);
        // Read with or without a chain view: the download at a halt falls back on it too.
        let registry = crate::chain_registry::spawn_refresher(cfg, shutdown);
        if let Some(view) = observer.chain_view() {
            background_staging::spawn(
                cfg.clone(),
                layout.clone(),
                view,
                registry,
                skip_heights.clone(),
                shutdown,
            );
        }
        let live = crate::live::init(cfg, &layout);
        if let Some(addr) = cfg.listen {
            crate::http::spawn(addr, live, observer.chain_view(), cfg, &layout)?;
        }
        let stall = stall::StallWatch::new(cfg, &layout, observer.chain_view());
        let probe_ahead = probe_ahead::ProbeAhead::spawn(layout.clone(), shutdown);
        if !skip_heights.is_empty() {
            tracing::info!(
                heights = ?skip_heights,
                "--unsafe-skip-upgrades: on-chain plans at these heights are skipped (no swap, no backup, no pre-upgrade)"
            );
        }
        let manual_path = switchyard_store::manual_upgrades_path(&layout);
        let applied_path = journal.applied_path();
        Ok(Supervisor {
            cfg,
            crashes: CrashPolicy::new(CrashPolicyConfig {
                initial: cfg.restart_backoff_initial,
                max: cfg.restart_backoff_max,
                loop_max: cfg.crash_loop_max,
                window: cfg.crash_loop_window,
            }),
            layout,
            journal,
            node_args,
            skip_heights,
            observer,
            signals,
            shutdown: shutdown.clone(),
            clock: Instant::now(),
            halt_file: None,
            heights: HeightsSeen::default(),
            plan: None,
            plan_known: false,
            facts: None,
            warned_displaced: Vec::new(),
            blind_reported_ms: None,
            halt_near: true,
            node_label: String::new(),
            last_state_error: Default::default(),
            manual_file: state_files::CachedFile::new(manual_path).into(),
            applied_file: state_files::CachedFile::new(applied_path).into(),
            stall,
            probe_ahead,
            _lock: lock,
        })
    }

    /// Milliseconds on the supervisor's monotonic clock (an NTP step cannot move it).
    fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// What the core needs, read fresh from disk and the latest observations. `armed` and
    /// `node_started_ms` describe the running node, if any.
    ///
    /// A broken `manual.json` or `applied.json` is reported (once per distinct error) and read
    /// as empty rather than ending supervision: the node keeps running either way. Only not
    /// knowing where `current` points is fatal.
    fn known(
        &self,
        armed: Option<&ArmedHalt>,
        node_started_ms: Option<u64>,
    ) -> anyhow::Result<Known> {
        let manual = self
            .manual_file
            .borrow_mut()
            .get(|_| switchyard_store::load_manual_upgrades(&self.layout))
            .unwrap_or_else(|e| {
                self.report_state_error(e.to_string());
                Vec::new()
            });
        let applied = self
            .applied_file
            .borrow_mut()
            .get(|_| self.journal.applied_map())
            .unwrap_or_else(|e| {
                self.report_state_error(e.to_string());
                Default::default()
            });
        let current = self.layout.current()?;
        let current_bin = self.layout.binary_of(&current);
        Ok(Known {
            current,
            applied,
            halt_file: self.halt_file.clone(),
            manual,
            plan: self.plan.clone(),
            plan_known: self.plan_known,
            committed: self.heights.committed,
            last_seen_ms: self.heights.last_seen_ms,
            now_ms: self.now_ms(),
            average_block_ms: self.heights.average_block_ms,
            halt_behaviour: self
                .facts
                .as_ref()
                .filter(|f| f.is_for(&current_bin))
                .and_then(|f| f.behaviour),
            armed: armed.cloned(),
            skip_heights: self.skip_heights.clone(),
            samples: self.heights.samples.clone(),
            node_started_ms,
            one_off_command: !switchyard_core::is_start_command(&self.node_args),
            blind_after_ms: u64::try_from(self.cfg.height_timeout.as_millis()).unwrap_or(u64::MAX),
        })
    }

    fn report_state_error(&self, e: String) {
        let mut last = self.last_state_error.borrow_mut();
        if last.as_deref() != Some(e.as_str()) {
            tracing::error!("{e} (carrying on without it; fix the file)");
            *last = Some(e);
        }
    }

    /// Looks up what `--halt-height` does on the current binary, when a manual upgrade needs it
    /// halted and that is not known yet.
    async fn refresh_facts(&mut self, known: &Known) -> anyhow::Result<bool> {
        if switchyard_core::desired_halt(known).is_none() {
            return Ok(false);
        }
        let bin = self.layout.current_binary()?;
        if self.facts.as_ref().is_some_and(|f| f.is_for(&bin)) {
            return Ok(false);
        }
        let _busy = crate::notify::busy(Some(Duration::from_secs(30)));
        let Ok(facts) = self
            .shutdown
            .unless(BinaryFacts::resolve(&self.layout, &bin))
            .await
        else {
            // Stopping: the loop sees the signal before it starts anything.
            return Ok(false);
        };
        self.facts = Some(facts);
        Ok(true)
    }

    /// Remembers what the old binary was shown to do.
    fn learn(&mut self, behaviour: Option<HaltBehaviour>, evidence: String) {
        if let (Some(b), Some(f)) = (behaviour, self.facts.as_mut()) {
            f.learn(&self.layout, b, evidence);
        }
    }

    /// Reads data/upgrade-info.json now (the node may have written it just before exiting). A
    /// read that hangs is given up after a few seconds, and at once for a stop signal.
    async fn refresh_halt_file(&mut self) {
        let read = observe::read_upgrade_info_now(&self.layout, self.cfg.disable_recase);
        match self
            .shutdown
            .unless(tokio::time::timeout(HALT_FILE_READ_LIMIT, read))
            .await
        {
            Ok(Ok(Some(info))) => self.halt_file = Some(info),
            Ok(Ok(None)) | Err(_) => {}
            Ok(Err(_)) => tracing::error!(
                "reading {} took more than {HALT_FILE_READ_LIMIT:?}; going on without it",
                self.layout.data_upgrade_info().display()
            ),
        }
    }

    async fn run(&mut self) -> anyhow::Result<i32> {
        home_guard::stop_orphaned_node(&self.layout, self.cfg.shutdown_grace).await?;
        swap::recover(self.cfg, &self.layout, &self.journal, &self.shutdown).await?;
        loop {
            crate::notify::beat();
            self.refresh_halt_file().await;
            let mut known = self.known(None, None)?;
            if self.refresh_facts(&known).await? {
                known = self.known(None, None)?;
            }
            if let Some(info) = skipped_halt(&known) {
                tracing::warn!(
                    upgrade = %info.name, height = info.height,
                    "the node halted for this upgrade, and --unsafe-skip-upgrades skips its height: starting the old binary again, no swap"
                );
            }
            let halt = match on_start(&known) {
                StartDecision::SwapFirst(target) => {
                    tracing::info!(
                        upgrade = %target.name, height = target.height,
                        "the node already halted for this upgrade; switching before starting it"
                    );
                    match self.swap(&target, None).await? {
                        Some(end) => return Ok(end),
                        None => continue,
                    }
                }
                StartDecision::Start { halt } => halt,
            };
            self.log_armed(&halt);
            // A stop asked for while we were swapping or waiting: do not start a node just to
            // stop it again.
            if let Some(code) = sleep_or_stop(&mut self.signals, Duration::ZERO).await {
                return Ok(code);
            }
            match self.run_node_once(halt).await? {
                NodeEnd::Restart => continue,
                NodeEnd::Exit(code) => return Ok(code),
                NodeEnd::Stalled(why) => match self.crashes.on_crash(self.now_ms()) {
                    // A stall counts against the crash-loop limit like a crash.
                    CrashDecision::RestartAfter(delay) => {
                        tracing::warn!("restarting the stalled node in {delay:?}");
                        crate::live::restarting(why);
                        if let Some(code) = sleep_or_stop(&mut self.signals, delay).await {
                            return Ok(code);
                        }
                    }
                    CrashDecision::GiveUp { crashes, window } => {
                        bail!(
                            "the node crashed or stalled {crashes} times within {window:?}; \
                             giving up instead of restarting it in a loop. Fix the cause, then start switchyard again \
                             (SWITCHYARD_CRASH_LOOP_MAX / SWITCHYARD_CRASH_LOOP_WINDOW tune this)"
                        );
                    }
                },
                NodeEnd::Crashed(code) => {
                    if !restarts_after_crash(self.cfg.restart_on_crash, &self.node_args) {
                        return Ok(code);
                    }
                    match self.crashes.on_crash(self.now_ms()) {
                        CrashDecision::RestartAfter(delay) => {
                            crate::notify::status(format!(
                                "the node crashed (exit code {code}); restarting it in {delay:?}"
                            ));
                            tracing::warn!(
                                exit_code = code,
                                "node crashed; restarting in {:?}",
                                delay
                            );
                            crate::live::restarting(crate::report::RestartReason::Crash);
                            if let Some(code) = sleep_or_stop(&mut self.signals, delay).await {
                                return Ok(code);
                            }
                        }
                        CrashDecision::GiveUp { crashes, window } => {
                            bail!(
                                "the node crashed {crashes} times within {window:?} (last exit code {code}); \
                                 giving up instead of restarting it in a loop. Fix the cause, then start switchyard again \
                                 (SWITCHYARD_CRASH_LOOP_MAX / SWITCHYARD_CRASH_LOOP_WINDOW tune this)"
                            );
                        }
                    }
                }
            }
        }
    }

    fn log_armed(&self, halt: &Option<ArmedHalt>) {
        let Some(h) = halt else { return };
        let how = self
            .facts
            .as_ref()
            .map(BinaryFacts::describe)
            .unwrap_or_default();
        let (name, height, flag) = (&h.upgrade.name, h.upgrade.height, h.halt.flag);
        match h.halt.behaviour {
            Some(b) => tracing::info!(
                upgrade = %name, height,
                "manual upgrade armed: starting the node with --halt-height {flag} ({how}: it {b}) so block {height} runs on the new binary"
            ),
            None => tracing::warn!(
                upgrade = %name, height,
                "manual upgrade armed, but what --halt-height does on this binary is not known ({how}): starting it with --halt-height {flag}, \
                 which no binary lets commit block {height}; if it stops one block early, it is restarted once with --halt-height {height}"
            ),
        }
    }

    fn args_with_halt(&self, halt: &Option<ArmedHalt>) -> Vec<String> {
        let mut args = self.node_args.clone();
        if let Some(h) = halt {
            args.push(format!("--halt-height={}", h.halt.flag));
        }
        args
    }

    /// Swaps to `target` (stopping `node` first if it runs). `Some(code)`: supervision ends.
    async fn swap(
        &mut self,
        target: &SwapTarget,
        node: Option<&mut NodeProcess>,
    ) -> anyhow::Result<Option<i32>> {
        let delay = self.cfg.restart_delay;
        let mut node = node;
        let mut told = false;
        let end = loop {
            let signals = &mut self.signals;
            let r = swap::perform(
                self.cfg,
                &self.layout,
                &self.journal,
                &self.shutdown,
                target,
                node.take(),
                async { sleep_or_stop(signals, delay).await.is_none() },
            )
            .await;
            match r {
                // The new binary does not start here: the node stays stopped (never the old
                // binary past H, never the new one in a crash loop) until it does.
                Err(e @ swap::SwapError::Unstartable { .. }) => {
                    if !told {
                        tracing::error!("{e}");
                        crate::notify::status(format!(
                            "upgrade {} held: its binary does not start on this host",
                            target.name
                        ));
                        told = true;
                    }
                    // One swap attempt is counted and recorded; the rechecks run only the preflight.
                    loop {
                        if let Some(code) =
                            sleep_or_stop(&mut self.signals, swap::UNSTARTABLE_RECHECK).await
                        {
                            return Ok(Some(code));
                        }
                        let check = swap::binary_starts(
                            self.cfg,
                            &self.layout,
                            &target.name,
                            target.height,
                        );
                        if !matches!(check.await, Err(swap::SwapError::Unstartable { .. })) {
                            break;
                        }
                    }
                }
                other => break other?,
            }
        };
        self.halt_file = None;
        self.facts = None;
        if end == SwapEnd::Interrupted {
            return Ok(Some(0));
        }
        if !self.cfg.restart_after_upgrade {
            tracing::info!("DAEMON_RESTART_AFTER_UPGRADE is false; exiting after the upgrade");
            return Ok(Some(0));
        }
        crate::live::restarting(crate::report::RestartReason::Upgrade);
        Ok(None)
    }

    /// `genesis` or the upgrade `current` points at.
    fn current_name(&self) -> String {
        match self.layout.current() {
            Ok(switchyard_core::Current::Genesis) => "genesis".into(),
            Ok(switchyard_core::Current::Upgrade(n)) => n.to_string(),
            Err(_) => String::new(),
        }
    }

    /// The armed halt as the status API shows it.
    fn armed_report(&self, h: &ArmedHalt) -> crate::report::ArmedHaltReport {
        use crate::binary_facts::FactSource;
        use crate::report::KnownFrom;
        let (sdk, known_from) = match self.facts.as_ref().map(|f| &f.source) {
            Some(FactSource::Sdk(v)) => (Some(v.to_string()), KnownFrom::SdkVersion),
            Some(FactSource::Learned(_)) => (None, KnownFrom::Learned),
            _ => (None, KnownFrom::Unknown),
        };
        crate::report::ArmedHaltReport {
            upgrade: h.upgrade.name.to_string(),
            height: h.upgrade.height,
            halt: crate::report::upgrades::halt_report(
                h.upgrade.height,
                h.halt,
                h.halt.behaviour,
                sdk,
                known_from,
            ),
        }
    }

    /// Starts the node and supervises it until it ends or must be swapped.
    async fn run_node_once(&mut self, halt: Option<ArmedHalt>) -> anyhow::Result<NodeEnd> {
        let bin = self.layout.current_binary()?;
        Layout::check_executable(&bin)?;
        let args = self.args_with_halt(&halt);
        let mut node = NodeProcess::spawn(&bin, &args)?;
        if let Some(start_time) = switchyard_store::process_start_time(node.pid()) {
            let rec = switchyard_store::NodeRecord {
                pid: node.pid(),
                start_time,
                binary: bin.clone(),
            };
            if let Err(e) = switchyard_store::save_node_record(&self.layout, &rec) {
                tracing::warn!("cannot record the node's pid: {e}");
            }
        }
        if let Err(e) = node.guard(
            std::path::Path::new("/proc/self/exe"),
            self.cfg.shutdown_grace,
        ) {
            tracing::warn!(
                "no guard process for the node (it may outlive a killed switchyard): {e}"
            );
        }
        tracing::info!(pid = node.pid(), binary = %bin.display(), "started node: {} {}", bin.display(), args.join(" "));
        self.node_label = self
            .layout
            .current()
            .map(|c| c.to_string())
            .unwrap_or_default();
        crate::notify::status(format!("started the node ({})", self.node_label));
        if self.observer.chain_view().is_none() {
            // Nothing will tell us when it answers: it is up as far as we can know.
            crate::notify::ready();
        }
        crate::live::node_started(
            node.pid(),
            &bin,
            &args,
            self.current_name(),
            halt.as_ref().map(|h| self.armed_report(h)),
        );
        self.stall.node_started();
        let started = Instant::now();
        let started_ms = self.now_ms();
        self.heights.samples.clear();
        self.blind_reported_ms = None;
        let close = self.cfg.poll_interval.max(Duration::from_millis(100));
        loop {
            crate::notify::beat();
            // The time-based questions (a stall's threshold, a height not seen) need no more than
            // a second; near a halt, the poll interval.
            let tick = tokio::time::sleep(if self.halt_near {
                close
            } else {
                close.max(QUIET_TICK)
            });
            tokio::select! {
                // Signals first: an operator's stop must never be mistaken for a halt exit.
                biased;
                sig = self.signals.next() => {
                    let Some(sig) = sig else { continue };
                    match sig.kind() {
                        SignalKind::Forward => {
                            tracing::info!("forwarding {sig:?} to the node");
                            node.signal(sig.signal());
                        }
                        SignalKind::Stop => {
                            tracing::info!("received {sig:?}: passing it to the node and waiting for it to stop");
                            node.signal(sig.signal());
                            let status = self.wait_for_operator_stop(&mut node).await?;
                            self.node_gone();
                            return Ok(NodeEnd::Exit(exit_code(status)));
                        }
                    }
                }
                status = node.wait() => {
                    let status = status?;
                    self.node_gone();
                    let code = exit_code(status);
                    self.refresh_halt_file().await;
                    self.drain_observations();
                    let known = self.known(halt.as_ref(), Some(started_ms))?;
                    return match on_exit(&known, ExitKind::from_code(code)) {
                        ExitDecision::Swap { target, learned } => {
                            tracing::info!(upgrade = %target.name, height = target.height, exit_code = code, "node exited at the upgrade height");
                            if let Some(a) = halt.as_ref() {
                                self.learn(learned, format!("it exited ({code}) while started with --halt-height {}", a.halt.flag));
                            }
                            Ok(match self.swap(&target, None).await? {
                                Some(code) => NodeEnd::Exit(code),
                                None => NodeEnd::Restart,
                            })
                        }
                        ExitDecision::Finish => {
                            tracing::info!("node exited cleanly; switchyard exits too");
                            Ok(NodeEnd::Exit(0))
                        }
                        ExitDecision::Crash => {
                            tracing::warn!(exit_code = code, "node exited after {:?}", started.elapsed());
                            crate::live::crashed(code);
                            Ok(NodeEnd::Crashed(code))
                        }
                    };
                }
                obs = self.observer.next() => {
                    if let Some(obs) = obs {
                        self.apply(obs);
                    }
                    // One turn for everything one block brought (heights, plan, block time).
                    self.drain_observations();
                    if let Some(end) = self.check_running(&mut node, &halt, started_ms).await? {
                        return Ok(end);
                    }
                }
                _ = tick => {
                    if let Some(end) = self.check_running(&mut node, &halt, started_ms).await? {
                        return Ok(end);
                    }
                }
            }
        }
    }

    /// After forwarding an operator's stop signal: wait for the node. With
    /// `DAEMON_SHUTDOWN_GRACE=0` that wait has no end of our own (cosmovisor's behaviour; the
    /// service manager has its own stop timeout); otherwise the node is killed after the grace.
    async fn wait_for_operator_stop(
        &self,
        node: &mut NodeProcess,
    ) -> anyhow::Result<std::process::ExitStatus> {
        let grace = self.cfg.shutdown_grace;
        if grace.is_zero() {
            return Ok(node.wait().await?);
        }
        match tokio::time::timeout(grace, node.wait()).await {
            Ok(status) => Ok(status?),
            Err(_) => {
                tracing::warn!(
                    "the node did not stop within DAEMON_SHUTDOWN_GRACE={grace:?}; sending SIGKILL"
                );
                match node.stop(Duration::ZERO).await? {
                    switchyard_exec::StopOutcome::Exited(s)
                    | switchyard_exec::StopOutcome::Killed(s) => Ok(s),
                }
            }
        }
    }

    /// Takes in every observation already waiting (the node's last heights before it exited).
    fn drain_observations(&mut self) {
        while let Some(obs) = self.observer.try_next() {
            self.apply(obs);
        }
    }

    fn apply(&mut self, obs: Observation) {
        let now = self.now_ms();
        match obs {
            Observation::HaltFile(info) => {
                if self.halt_file.as_ref() != Some(&info) {
                    tracing::info!(upgrade = %info.name, height = info.height, "the node wrote upgrade-info.json");
                    crate::notify::status(format!(
                        "the node halted for upgrade {} at height {}",
                        info.name, info.height
                    ));
                }
                self.halt_file = Some(info);
            }
            Observation::Committed(h) => {
                self.heights.committed = Some(self.heights.committed.map_or(h, |c| c.max(h)));
                self.heights.last_seen_ms = Some(now);
                self.node_answered();
            }
            Observation::Heights { latest, committed } => {
                self.heights.committed = Some(
                    self.heights
                        .committed
                        .map_or(committed, |c| c.max(committed)),
                );
                self.heights.last_seen_ms = Some(now);
                self.heights.samples.push(HeightSample {
                    at_ms: now,
                    latest,
                    committed,
                });
                self.node_answered();
            }
            Observation::BlockTime(d) => {
                self.heights.average_block_ms = u64::try_from(d.as_millis()).ok();
            }
            Observation::Plan(plan) => {
                self.plan = plan;
                self.plan_known = true;
            }
        }
    }

    /// The node answered over RPC: it is up, for systemd, at the height seen.
    fn node_answered(&self) {
        crate::notify::ready();
        if self.halt_file.is_none() {
            if let Some(h) = self.heights.committed {
                crate::notify::status(format!("running {} at height {h}", self.node_label));
            }
        }
    }

    /// The periodic questions while the node runs, one step per question core answers: what is
    /// coming (for the watcher, probe-ahead and warnings); stop it for a swap? restart it with
    /// another halt height? has it stalled? can its height be seen at all?
    async fn check_running(
        &mut self,
        node: &mut NodeProcess,
        armed: &Option<ArmedHalt>,
        started_ms: u64,
    ) -> anyhow::Result<Option<NodeEnd>> {
        let known = self.known(armed.as_ref(), Some(started_ms))?;
        self.note_what_is_coming(&known);
        if let Some(end) = self.swap_if_due(&known, armed, node).await? {
            return Ok(Some(end));
        }
        if let Some(end) = self.rearm_if_asked(&known, armed, node).await? {
            return Ok(Some(end));
        }
        if let Some(end) = self.stop_if_stalled(&known, armed, node).await? {
            return Ok(Some(end));
        }
        self.watch_the_height(&known, node).await?;
        Ok(None)
    }

    /// Tells the watcher, probe-ahead and the operator what is coming.
    fn note_what_is_coming(&mut self, known: &Known) {
        self.observer.attend(
            switchyard_core::next_halt_height(known),
            switchyard_core::halt_file_may_come(known),
        );
        self.halt_near = switchyard_core::halt_is_near(known);
        self.warn_about_manual(known);
        let proposals = self.proposed_upgrades();
        self.probe_ahead
            .upcoming(switchyard_core::binaries_to_probe(
                known,
                &proposals,
                self.cfg.prestage_voting,
            ));
    }

    /// The upgrade proposals the chain watcher sees (none without a chain view), for the probe.
    fn proposed_upgrades(&self) -> Vec<switchyard_core::ProposedUpgrade> {
        let Some(view) = self.observer.chain_view() else {
            return Vec::new();
        };
        let view = view.borrow();
        view.upcoming
            .iter()
            .filter(|u| u.source == switchyard_watcher::SeenIn::Proposal)
            .filter_map(|u| {
                Some(switchyard_core::ProposedUpgrade {
                    name: switchyard_core::UpgradeName::parse(&u.name, self.cfg.disable_recase)
                        .ok()?,
                    height: u.height,
                    phase: background_staging::proposal_phase(u.proposal_status),
                })
            })
            .collect()
    }

    /// Core's `while_running`: stops the node and swaps when it reached an upgrade.
    async fn swap_if_due(
        &mut self,
        known: &Known,
        armed: &Option<ArmedHalt>,
        node: &mut NodeProcess,
    ) -> anyhow::Result<Option<NodeEnd>> {
        match while_running(known) {
            RunningDecision::Continue => {}
            RunningDecision::WaitForHeight {
                name,
                height,
                committed,
            } => {
                tracing::debug!(upgrade = %name, height, committed, "upgrade-info.json names a height the node has not reached; waiting");
            }
            RunningDecision::StopAndSwap { target, learned } => {
                tracing::info!(upgrade = %target.name, height = target.height, kind = %target.kind, "the node reached the upgrade height; stopping it to swap binaries");
                if let (Some(a), Some(c)) = (armed, known.committed) {
                    self.learn(
                        learned,
                        format!(
                            "it committed block {c} when started with --halt-height {}",
                            a.halt.flag
                        ),
                    );
                }
                return Ok(Some(match self.swap(&target, Some(node)).await? {
                    Some(code) => NodeEnd::Exit(code),
                    None => NodeEnd::Restart,
                }));
            }
        }
        Ok(None)
    }

    /// Core's `rearm`: restarts the node once with another halt height (or none).
    async fn rearm_if_asked(
        &mut self,
        known: &Known,
        armed: &Option<ArmedHalt>,
        node: &mut NodeProcess,
    ) -> anyhow::Result<Option<NodeEnd>> {
        if let Some(r) = rearm(known) {
            match (&r.halt, r.why) {
                (Some(h), RearmReason::ProbeStoppedBefore) => {
                    // The flag it runs with now; the block it stored is that flag, one short of
                    // being committed (core's `rearm` saw exactly that).
                    let was = armed.as_ref().map_or(h.halt.flag, |a| a.halt.flag);
                    let (stored, committed) = (was, was - 1);
                    tracing::info!(
                        upgrade = %h.upgrade.name, height = h.upgrade.height,
                        "the node stopped with block {stored} stored and {committed} committed: this binary stops before its halt height. Restarting it once with --halt-height {}",
                        h.halt.flag
                    );
                    self.learn(
                        r.learned,
                        format!(
                            "started with --halt-height {was}, it stopped with block {stored} stored and {committed} committed"
                        ),
                    );
                }
                (Some(h), RearmReason::ScheduleChanged) => tracing::info!(
                    upgrade = %h.upgrade.name, height = h.upgrade.height,
                    "the manual upgrades changed while the node runs: restarting it once so it halts before block {}",
                    h.upgrade.height
                ),
                (None, _) => tracing::info!(
                    "no manual upgrade is armed any more: restarting the node once without its --halt-height"
                ),
            }
            self.stop_node(node).await?;
            crate::live::restarting(crate::report::RestartReason::HaltHeightChanged);
            return Ok(Some(NodeEnd::Restart));
        }
        Ok(None)
    }

    /// Core's stall verdict: stops a stalled node for a restart when the operator asked for that.
    async fn stop_if_stalled(
        &mut self,
        known: &Known,
        armed: &Option<ArmedHalt>,
        node: &mut NodeProcess,
    ) -> anyhow::Result<Option<NodeEnd>> {
        let halts = stall::Halts {
            // Not one `current` already runs: its upgrade-info.json stays on disk for good.
            upgrade_height: switchyard_core::pending_upgrade_height(known),
            armed: armed.as_ref().map(|a| a.halt),
            node_args: &self.node_args,
        };
        if let Some(why) = self.stall.check(known.committed, &halts) {
            self.stop_node(node).await?;
            return Ok(Some(NodeEnd::Stalled(why)));
        }
        Ok(None)
    }

    /// Core's `height_watch`: reports a node whose height cannot be seen while a manual upgrade
    /// depends on it, and ends supervision once that upgrade is long overdue.
    async fn watch_the_height(
        &mut self,
        known: &Known,
        node: &mut NodeProcess,
    ) -> anyhow::Result<()> {
        match height_watch(known) {
            HeightWatch::Fine => self.blind_reported_ms = None,
            HeightWatch::Blind {
                height,
                exit_is_the_halt,
            } => {
                tracing::debug!(committed = ?known.committed, last_seen_ms = ?known.last_seen_ms, average_block_ms = ?known.average_block_ms, now_ms = known.now_ms, "the node's height is not seen");
                let now = known.now_ms;
                if self
                    .blind_reported_ms
                    .is_none_or(|t| now.saturating_sub(t) >= BLIND_REPORT_EVERY_MS)
                {
                    // What happens meanwhile, in the operator's terms: the halt flag still holds.
                    let meanwhile = if exit_is_the_halt {
                        "Meanwhile the node's own --halt-height stop is relied on: its binary exits there by itself, and that exit swaps"
                    } else {
                        "Its binary does not exit at its --halt-height (SDK v0.50 and later wait in consensus failure), so only a height seen again can time the swap; it never commits that block on the old binary meanwhile"
                    };
                    tracing::error!(
                        height,
                        "cannot see this node's height: the manual upgrade at {height} cannot be timed. {meanwhile}. \
                         Check that its RPC (or gRPC) answers on the address switchyard uses (SWITCHYARD_RPC_ADDRESS, DAEMON_GRPC_ADDRESS, or the node's config)"
                    );
                    self.blind_reported_ms = Some(now);
                }
            }
            HeightWatch::Overdue { height } => {
                tracing::error!(
                    height,
                    "the manual upgrade at {height} is overdue and this node's height still cannot be seen: stopping the node (it cannot commit block {height}) and ending supervision"
                );
                node.stop(self.cfg.shutdown_grace).await?;
                switchyard_store::clear_node_record(&self.layout);
                bail!(
                    "cannot see this node's height: the manual upgrade at {height} could not be timed, and it was due long ago. \
                     Make its RPC or gRPC reachable, then start switchyard again: it starts the old binary with the same --halt-height, which cannot commit block {height}"
                );
            }
        }
        Ok(())
    }

    /// Stops the running node (SIGTERM, the grace, SIGKILL), then [`Self::node_gone`].
    async fn stop_node(&self, node: &mut NodeProcess) -> anyhow::Result<()> {
        node.stop(self.cfg.shutdown_grace).await?;
        self.node_gone();
        Ok(())
    }

    /// The node process is gone: its pid record is forgotten and the status API told.
    fn node_gone(&self) {
        switchyard_store::clear_node_record(&self.layout);
        crate::live::node_exited();
    }

    /// Complains once about manual upgrades that can no longer run at their height.
    fn warn_about_manual(&mut self, known: &Known) {
        for m in missed_manual(known) {
            if !self.warned_displaced.contains(&m.name) {
                tracing::error!(
                    upgrade = %m.name, height = m.height, committed = known.committed.unwrap_or(0),
                    "the node is already past this manual upgrade's height, so it can no longer run at its height; it will not be applied (remove it or register it again at a later height)"
                );
                self.warned_displaced.push(m.name.clone());
            }
        }
        for m in displaced_manual(&known.manual, known.plan.as_ref()) {
            if !self.warned_displaced.contains(&m.name) && !known.applied.contains_key(&m.name) {
                tracing::error!(
                    upgrade = %m.name, height = m.height,
                    "an on-chain plan is scheduled at the same height as this manual upgrade; the chain's plan wins and the manual upgrade is suspended"
                );
                self.warned_displaced.push(m.name.clone());
            }
        }
    }
}

/// Sleeps, unless a stop signal arrives (or already arrived) first; then returns the exit code
/// to use (0: nothing was running, so the stop is clean).
async fn sleep_or_stop(signals: &mut Signals, d: Duration) -> Option<i32> {
    let _busy = crate::notify::busy(Some(d + Duration::from_secs(1)));
    let sleep = tokio::time::sleep(d);
    tokio::pin!(sleep);
    loop {
        tokio::select! {
            biased;
            sig = signals.next() => {
                if let Some(sig) = sig {
                    if sig.kind() == SignalKind::Stop {
                        tracing::info!("received {sig:?} while the node was down; exiting");
                        return Some(0);
                    }
                }
            }
            _ = &mut sleep => return None,
        }
    }
}
