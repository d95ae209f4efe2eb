//! `switchyard run`: the supervision loop.
//!
//! ```text
//!   observations (file watcher, chain watcher, node exit, signals, manual list)
//!        │
//!        ▼
//!   Known snapshot ──► switchyard_core::decide ──► act: start / stop+swap / restart / exit
//! ```
//!
//! Each turn gathers a fresh [`Known`] snapshot from the store and the latest observations,
//! asks the pure core what to do, and carries it out with `switchyard-exec` and
//! `switchyard-store`. The swap sequence itself and crash recovery are in [`swap`]; where the
//! observations come from is in [`observe`]; signal handling is in [`signals`].
//!
//! Everything runs on one thread (a current-thread runtime on the main thread), which the
//! node's parent-death signal needs: it fires when the thread that forked the node exits.

mod background_staging;
mod observe;
mod signals;
mod swap;

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use switchyard_core as decide;
use switchyard_core::{displaced_manual, ScheduledPlan};
use switchyard_core::{ArmedHalt, ExitDecision, ExitKind, Known, RunningDecision, StartDecision};
use switchyard_core::{CrashDecision, CrashPolicy, CrashPolicyConfig};
use switchyard_core::{HaltMethod, SdkVersion};
use switchyard_core::{UpgradeInfo, UpgradeName};
use switchyard_exec::{exit_code, NodeProcess};
use switchyard_store::Journal;
use switchyard_store::Layout;

use crate::config::Config;
use observe::{Observation, Observer};
use signals::{SignalKind, Signals};

/// Runs the node under supervision until it exits cleanly, a signal ends it, or an error stops
/// us. Returns the process exit code.
pub fn run(cfg: &Config, node_args: Vec<String>) -> anyhow::Result<i32> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let mut sup = Supervisor::new(cfg, node_args)?;
        sup.run().await
    })
}

/// The supervisor's state between turns.
struct Supervisor<'a> {
    cfg: &'a Config,
    layout: Layout,
    journal: Journal,
    node_args: Vec<String>,
    crashes: CrashPolicy,
    observer: Observer,
    signals: Signals,
    /// The latest valid content of data/upgrade-info.json.
    halt_file: Option<UpgradeInfo>,
    committed: Option<i64>,
    plan: Option<ScheduledPlan>,
    /// SDK version of the binary we last asked, by binary path.
    sdk_version: Option<(std::path::PathBuf, Option<SdkVersion>)>,
    /// Manual upgrades displaced by a plan, or missed, that we already complained about.
    warned_displaced: Vec<UpgradeName>,
    /// Whether the chain's plan was queried successfully at least once.
    plan_known: bool,
    /// The last error reading our own state files (logged once).
    last_state_error: std::cell::RefCell<Option<String>>,
    /// Held while we supervise: one switchyard per node home.
    _lock: nix::fcntl::Flock<std::fs::File>,
}

/// Why one run of the node ended.
enum NodeEnd {
    /// Swap done (or not needed): start the node again right away.
    Restart,
    /// End supervision with this exit code.
    Exit(i32),
    /// The node crashed with this code.
    Crashed(i32),
}

impl<'a> Supervisor<'a> {
    fn new(cfg: &'a Config, node_args: Vec<String>) -> anyhow::Result<Self> {
        if let Some(point) = &cfg.test_fault {
            if !swap::FAULT_POINTS.contains(&point.as_str()) {
                bail!(
                    "SWITCHYARD_TEST_FAULT={point:?} is not a fault point (one of: {})",
                    swap::FAULT_POINTS.join(", ")
                );
            }
        }
        let layout = cfg.layout()?;
        let lock = lock_home(&layout)?;
        let journal = Journal::new(&layout);
        let signals = Signals::install().context("installing signal handlers")?;
        let observer = Observer::spawn(cfg, &layout);
        if let Some(view) = observer.chain_view() {
            background_staging::spawn(cfg.clone(), layout.clone(), view);
        }
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
            observer,
            signals,
            halt_file: None,
            committed: None,
            plan: None,
            sdk_version: None,
            warned_displaced: Vec::new(),
            plan_known: false,
            last_state_error: Default::default(),
            _lock: lock,
        })
    }

    fn is_start_command(&self) -> bool {
        self.node_args.first().map(String::as_str) == Some("start")
    }

    /// What the core needs, read fresh from disk and the latest observations.
    fn known(&self) -> anyhow::Result<Known> {
        self.known_with(None)
    }

    /// A broken `manual.json` or `applied.json` is reported (once per distinct error) and read
    /// as empty rather than ending supervision: the node keeps running either way. Only not
    /// knowing where `current` points is fatal.
    fn known_with(&self, armed: Option<&ArmedHalt>) -> anyhow::Result<Known> {
        let manual = switchyard_store::load_manual_upgrades(&self.layout).unwrap_or_else(|e| {
            self.report_state_error(e.to_string());
            Vec::new()
        });
        let applied = self.journal.applied_map().unwrap_or_else(|e| {
            self.report_state_error(e.to_string());
            Default::default()
        });
        Ok(Known {
            current: self.layout.current()?,
            applied,
            halt_file: self.halt_file.clone(),
            manual,
            plan: self.plan.clone(),
            plan_known: self.plan_known,
            committed: self.committed,
            sdk_version: self.sdk_version.as_ref().and_then(|(_, v)| *v),
            armed: armed.cloned(),
        })
    }

    fn report_state_error(&self, e: String) {
        let mut last = self.last_state_error.borrow_mut();
        if last.as_deref() != Some(e.as_str()) {
            tracing::error!("{e} (carrying on without it; fix the file)");
            *last = Some(e);
        }
    }

    /// Reads data/upgrade-info.json now (the node may have written it just before exiting).
    async fn refresh_halt_file(&mut self) {
        if let Some(info) =
            observe::read_upgrade_info_now(&self.layout, self.cfg.disable_recase).await
        {
            self.halt_file = Some(info);
        }
    }

    async fn run(&mut self) -> anyhow::Result<i32> {
        self.stop_orphaned_node().await;
        swap::recover(self.cfg, &self.layout, &self.journal).await?;
        loop {
            self.refresh_halt_file().await;
            let known = self.known()?;
            let halt = match decide::on_start(&known) {
                StartDecision::SwapFirst(target) => {
                    tracing::info!(
                        upgrade = %target.name, height = target.height,
                        "the node already halted for this upgrade; switching before starting it"
                    );
                    swap::perform(self.cfg, &self.layout, &self.journal, &target, None).await?;
                    if !self.cfg.restart_after_upgrade {
                        tracing::info!(
                            "DAEMON_RESTART_AFTER_UPGRADE is false; exiting after the upgrade"
                        );
                        return Ok(0);
                    }
                    continue;
                }
                StartDecision::Start { halt } => halt,
            };
            let halt = self.refine_halt(halt).await?;
            // A stop asked for while we were swapping or waiting: do not start a node just to
            // stop it again.
            if let Some(code) = self.sleep_or_signal(Duration::ZERO).await {
                return Ok(code);
            }
            match self.run_node_once(halt).await? {
                NodeEnd::Restart => continue,
                NodeEnd::Exit(code) => return Ok(code),
                NodeEnd::Crashed(code) => {
                    if !self.cfg.restart_on_crash || !self.is_start_command() {
                        return Ok(code);
                    }
                    let now = now_ms();
                    match self.crashes.on_crash(now) {
                        CrashDecision::RestartAfter(delay) => {
                            tracing::warn!(
                                exit_code = code,
                                "node crashed; restarting in {:?}",
                                delay
                            );
                            if let Some(code) = self.sleep_or_signal(delay).await {
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

    /// Asks the current binary for its SDK version when a manual upgrade is armed, so the
    /// halt-height flag matches that version's semantics.
    async fn refine_halt(&mut self, halt: Option<ArmedHalt>) -> anyhow::Result<Option<ArmedHalt>> {
        let Some(mut h) = halt else { return Ok(None) };
        let bin = self.layout.current_binary()?;
        let cached = matches!(&self.sdk_version, Some((p, _)) if *p == bin);
        if !cached {
            let v = match switchyard_exec::sdk_version(&bin, Duration::from_secs(20)).await {
                Ok(v) => Some(v),
                Err(e) => {
                    tracing::warn!("cannot tell the node's Cosmos SDK version: {e}");
                    None
                }
            };
            self.sdk_version = Some((bin, v));
        }
        let sdk = self.sdk_version.as_ref().and_then(|(_, v)| *v);
        h.method = HaltMethod::for_target(h.upgrade.height, sdk);
        match h.method {
            HaltMethod::HaltHeightFlag { flag } => tracing::info!(
                upgrade = %h.upgrade.name, height = h.upgrade.height,
                "manual upgrade armed: starting the node with --halt-height {flag} (SDK {}) so block {} runs on the new binary",
                sdk.map(|v| v.to_string()).unwrap_or_default(), h.upgrade.height
            ),
            HaltMethod::OnNewBlock { stop_after } => tracing::warn!(
                upgrade = %h.upgrade.name, height = h.upgrade.height,
                "manual upgrade armed, but the node's SDK version is unknown: falling back to stopping it when block {stop_after} is committed. \
                 This fallback is racy: the old binary may begin block {} before it is stopped",
                h.upgrade.height
            ),
        }
        Ok(Some(h))
    }

    fn args_with_halt(&self, halt: &Option<ArmedHalt>) -> Vec<String> {
        let mut args = self.node_args.clone();
        if let Some(flag) = halt.as_ref().and_then(|h| h.method.flag()) {
            if self.is_start_command() {
                args.push(format!("--halt-height={flag}"));
            }
        }
        args
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
        tracing::info!(pid = node.pid(), binary = %bin.display(), "started node: {} {}", bin.display(), args.join(" "));
        let started = Instant::now();
        let mut tick =
            tokio::time::interval(self.cfg.poll_interval.max(Duration::from_millis(100)));
        let mut halt = halt;
        loop {
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
                            switchyard_store::clear_node_record(&self.layout);
                            return Ok(NodeEnd::Exit(exit_code(status)));
                        }
                    }
                }
                status = node.wait() => {
                    let status = status?;
                    switchyard_store::clear_node_record(&self.layout);
                    let code = exit_code(status);
                    self.refresh_halt_file().await;
                    self.drain_observations();
                    let known = self.known_with(halt.as_ref())?;
                    let kind = ExitKind::from_code(code);
                    return match decide::on_exit(&known, kind) {
                        ExitDecision::Swap(target) => {
                            tracing::info!(upgrade = %target.name, height = target.height, exit_code = code, "node exited at the upgrade height");
                            swap::perform(self.cfg, &self.layout, &self.journal, &target, None).await?;
                            self.after_swap().await
                        }
                        ExitDecision::Finish => {
                            tracing::info!("node exited cleanly; switchyard exits too");
                            Ok(NodeEnd::Exit(0))
                        }
                        ExitDecision::Crash => {
                            tracing::warn!(exit_code = code, "node exited after {:?}", started.elapsed());
                            Ok(NodeEnd::Crashed(code))
                        }
                    };
                }
                obs = self.observer.next() => {
                    if let Some(obs) = obs {
                        self.apply(obs);
                    }
                    if let Some(end) = self.check_running(&mut node, &mut halt).await? {
                        return Ok(end);
                    }
                }
                _ = tick.tick() => {
                    if let Some(end) = self.check_running(&mut node, &mut halt).await? {
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

    /// A node started by a previous switchyard that was killed may still be shutting down (it
    /// got SIGTERM through its parent-death signal). Starting a second node on the same data
    /// would fail or worse, so wait for it — it is recognised by PID *and* start time, so no
    /// other process is ever touched — and kill it only if it outlives the shutdown grace.
    async fn stop_orphaned_node(&self) {
        let Some(rec) = switchyard_store::load_node_record(&self.layout) else {
            return;
        };
        if !switchyard_store::is_same_process_alive(&rec) {
            switchyard_store::clear_node_record(&self.layout);
            return;
        }
        tracing::warn!(pid = rec.pid, binary = %rec.binary.display(), "the node started by a previous switchyard is still running; stopping it first");
        let pid = nix::unistd::Pid::from_raw(rec.pid);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + self.cfg.shutdown_grace;
        while switchyard_store::is_same_process_alive(&rec) && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if switchyard_store::is_same_process_alive(&rec) {
            tracing::warn!(
                pid = rec.pid,
                "it did not stop within the shutdown grace; sending SIGKILL"
            );
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
            while switchyard_store::is_same_process_alive(&rec) {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        switchyard_store::clear_node_record(&self.layout);
    }

    /// Takes in every observation already waiting (the node's last heights before it exited).
    fn drain_observations(&mut self) {
        while let Some(obs) = self.observer.try_next() {
            self.apply(obs);
        }
    }

    fn apply(&mut self, obs: Observation) {
        match obs {
            Observation::HaltFile(info) => {
                if self.halt_file.as_ref() != Some(&info) {
                    tracing::info!(upgrade = %info.name, height = info.height, "the node wrote upgrade-info.json");
                }
                self.halt_file = Some(info);
            }
            Observation::Committed(h) => {
                self.committed = Some(self.committed.map_or(h, |c| c.max(h)));
            }
            Observation::Plan(plan) => {
                self.plan = plan;
                self.plan_known = true;
            }
        }
    }

    /// The periodic question while the node runs: stop it for a swap? restart it to arm a
    /// newly added manual upgrade?
    async fn check_running(
        &mut self,
        node: &mut NodeProcess,
        running_halt: &mut Option<ArmedHalt>,
    ) -> anyhow::Result<Option<NodeEnd>> {
        let known = self.known_with(running_halt.as_ref())?;
        for m in decide::missed_manual(&known) {
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
        match decide::while_running(&known) {
            RunningDecision::Continue => {}
            RunningDecision::WaitForHeight {
                name,
                height,
                committed,
            } => {
                tracing::debug!(upgrade = %name, height, committed, "upgrade-info.json names a height the node has not reached; waiting");
            }
            RunningDecision::StopAndSwap(target) => {
                tracing::info!(upgrade = %target.name, height = target.height, source = %target.source, "the node reached the upgrade height; stopping it to swap binaries");
                swap::perform(self.cfg, &self.layout, &self.journal, &target, Some(node)).await?;
                return self.after_swap().await.map(Some);
            }
        }
        // The halt the node should run with now differs from the one it was started with (a
        // manual upgrade was added, or a plan displaced one): restart it once with the new flag.
        let desired = match decide::on_start(&known) {
            StartDecision::Start { halt } => halt,
            StartDecision::SwapFirst(_) => None,
        };
        if self.is_start_command()
            && desired.as_ref().map(|h| &h.upgrade) != running_halt.as_ref().map(|h| &h.upgrade)
        {
            let desired = self.refine_halt(desired).await?;
            let old_flag = running_halt.as_ref().and_then(|h| h.method.flag());
            let new_flag = desired.as_ref().and_then(|h| h.method.flag());
            if old_flag != new_flag {
                match &desired {
                    Some(h) => tracing::info!(
                        upgrade = %h.upgrade.name, height = h.upgrade.height,
                        "the manual upgrades changed while the node runs: restarting it once so it halts before block {}",
                        h.upgrade.height
                    ),
                    None => tracing::info!(
                        "no manual upgrade is armed any more: restarting the node once without its --halt-height"
                    ),
                }
                node.stop(self.cfg.shutdown_grace).await?;
                switchyard_store::clear_node_record(&self.layout);
                return Ok(Some(NodeEnd::Restart));
            }
            *running_halt = desired;
        }
        Ok(None)
    }

    async fn after_swap(&mut self) -> anyhow::Result<NodeEnd> {
        self.halt_file = None;
        if !self.cfg.restart_after_upgrade {
            tracing::info!("DAEMON_RESTART_AFTER_UPGRADE is false; exiting after the upgrade");
            return Ok(NodeEnd::Exit(0));
        }
        if !self.cfg.restart_delay.is_zero() {
            tracing::info!(
                "waiting DAEMON_RESTART_DELAY={:?} before starting the new binary",
                self.cfg.restart_delay
            );
            if let Some(code) = self.sleep_or_signal(self.cfg.restart_delay).await {
                return Ok(NodeEnd::Exit(code));
            }
        }
        Ok(NodeEnd::Restart)
    }

    /// Sleeps, unless a stop signal arrives (or already arrived) first; then returns the exit
    /// code to use (0: nothing was running, so the stop is clean).
    async fn sleep_or_signal(&mut self, d: Duration) -> Option<i32> {
        let sleep = tokio::time::sleep(d);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                biased;
                sig = self.signals.next() => {
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
}

/// Takes the home's run lock, so two supervisors never drive one node (the second would take
/// the first one's node for an orphan and stop it).
fn lock_home(layout: &Layout) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    let dir = layout.state_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let path = dir.join("run.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => Ok(lock),
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => bail!(
            "another switchyard is already supervising the node in {} (it holds {}); stop it first",
            layout.home.display(),
            path.display()
        ),
        Err((_, e)) => Err(anyhow::anyhow!("locking {}: {e}", path.display())),
    }
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
