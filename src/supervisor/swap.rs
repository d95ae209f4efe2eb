//! The halt-and-swap sequence, and finishing a swap that was interrupted — one path for both.
//!
//! Order: stop the old node; wait `DAEMON_RESTART_DELAY` (cosmovisor waits right after the old
//! binary stops, whether or not the node is restarted); make sure the new binary is ready
//! (staged, or downloaded now from the plan's info as a last resort, and still the one that was
//! verified); back up `data/` (unless `UNSAFE_SKIP_BACKUP`); run the custom pre-upgrade script
//! and the new binary's `pre-upgrade` (not run when the probe before the halt found this very
//! file has none); only then switch `current` atomically and record the upgrade as applied.
//! Before each step that changes something the journal records the step about to run, so a
//! switchyard killed at any instant resumes from there on its next start ([`recover`]), through
//! the same steps a fresh swap takes (see [`resume_from`] for the steps that leave it as it
//! was). If a step before the switch fails, `current` stays on the old binary and the error says
//! why.
//!
//! A stop signal during a swap cuts the step in progress short (a hook is killed with its
//! children), stops the node if it still runs, and ends switchyard with the journal left as it
//! was: the next start finishes the swap exactly as after a crash ([`SwapError::Stopped`]).
//!
//! Test builds (debug assertions, or the `test-faults` feature) honour
//! `SWITCHYARD_TEST_FAULT=<point>`: switchyard SIGKILLs itself at that point, which is how the
//! crash-safety tests kill it "at each step". Release builds have no such code.

use std::path::PathBuf;

use switchyard_core::{binary_step, BinaryStep, Current, SwapTarget, UpgradeInfo};
use switchyard_exec::{
    run_binary_preupgrade, run_custom_preupgrade, NodeProcess, PreUpgradeError, PreUpgradeOutcome,
    StopOutcome,
};
use switchyard_store::{now_rfc3339, AppliedRecord, Journal, Layout, SwapRecord, SwapStep};

use crate::config::Config;
use crate::live;
use crate::report::SwapStepName;

#[derive(Debug, thiserror::Error)]
pub(super) enum SwapError {
    #[error(
        "no binary for upgrade {name}: looked for {path}. Place it with `switchyard add-upgrade {name} <binary>`{hint}"
    )]
    MissingBinary {
        name: String,
        path: PathBuf,
        hint: &'static str,
    },
    #[error("upgrade {name} aborted before switching binaries; `current` still points at {current}: {source}")]
    PreUpgrade {
        name: String,
        current: Current,
        #[source]
        source: PreUpgradeError,
    },
    #[error("the binary staged for upgrade {name} does not match what the chain decided: {why}. Remove {path} (and its record) or place the right binary with `switchyard add-upgrade --force`")]
    StagedMismatch {
        name: String,
        path: PathBuf,
        why: String,
    },
    #[error("upgrade {name} cannot go ahead: {path} does not start on this host ({message}). The node stays stopped before block {height}, `current` on {current}; fix the host or place a binary that starts (`switchyard add-upgrade {name} <binary> --force`): switchyard checks it again every {every_s} s and swaps as soon as it starts")]
    Unstartable {
        name: String,
        path: PathBuf,
        message: String,
        height: i64,
        current: Current,
        every_s: u64,
    },
    #[error("{signal} arrived during upgrade {name}: stopped there; the swap journal keeps where it was and the next start finishes the upgrade")]
    Stopped {
        name: String,
        signal: nix::sys::signal::Signal,
    },
    #[error(transparent)]
    Journal(#[from] switchyard_store::JournalError),
    #[error(transparent)]
    Layout(#[from] switchyard_store::LayoutError),
    #[error(transparent)]
    Backup(#[from] switchyard_store::backup::BackupError),
    #[error(transparent)]
    Exec(#[from] switchyard_exec::ExecError),
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

use crate::shutdown::Shutdown;
use crate::test_faults::fault;

/// Runs the whole swap for `target`, stopping `node` first if it still runs. `wait` is the
/// `DAEMON_RESTART_DELAY` wait, which a stop signal may cut short (then the swap is left in the
/// journal for the next start to finish). A stop signal at any other step ends it too (see the
/// module docs). Its steps and outcome are told to the status API ([`crate::live`]).
pub(super) async fn perform(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    shutdown: &Shutdown,
    target: &SwapTarget,
    mut node: Option<&mut NodeProcess>,
    wait: impl std::future::Future<Output = bool>,
) -> Result<SwapEnd, SwapError> {
    let _busy = crate::notify::busy(None);
    crate::notify::status(format!(
        "swapping binaries for upgrade {} at height {}",
        target.name, target.height
    ));
    live::swap_begin(target.name.as_str(), target.height, target.kind);
    let steps = perform_steps(
        cfg,
        layout,
        journal,
        shutdown,
        target,
        node.as_deref_mut(),
        wait,
    );
    let r = match shutdown.unless(steps).await {
        Ok(done) => done,
        Err(signal) => {
            if let Some(node) = node {
                node.stop(cfg.shutdown_grace).await?;
            }
            Err(SwapError::Stopped {
                name: target.name.to_string(),
                signal,
            })
        }
    };
    match &r {
        Ok(SwapEnd::Done) => live::swap_end(Ok(())),
        // Interrupted or stopped: the journal finishes it on the next start.
        Ok(SwapEnd::Interrupted) | Err(SwapError::Stopped { .. }) => {}
        Err(e) => live::swap_end(Err(e.to_string())),
    }
    r
}

async fn perform_steps(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    shutdown: &Shutdown,
    target: &SwapTarget,
    node: Option<&mut NodeProcess>,
    wait: impl std::future::Future<Output = bool>,
) -> Result<SwapEnd, SwapError> {
    let rec = SwapRecord {
        name: target.name.clone(),
        height: target.height,
        kind: target.kind,
        info: target.info.clone(),
        from: layout.current()?,
        step: SwapStep::Stopping,
        started_at: now_rfc3339(),
    };
    journal.write_step(&rec)?;
    fault(cfg, "after-journal");
    if let Some(node) = node {
        match node.stop(cfg.shutdown_grace).await? {
            StopOutcome::Exited(s) => tracing::info!("old node stopped ({s})"),
            StopOutcome::Killed(_) => tracing::warn!("old node had to be killed with SIGKILL"),
        }
        live::swap_node_stopped();
    }
    fault(cfg, "after-stop");
    if !cfg.restart_delay.is_zero() {
        live::swap_step(SwapStepName::RestartDelay);
        tracing::info!(
            "waiting DAEMON_RESTART_DELAY={:?} before switching binaries",
            cfg.restart_delay
        );
        if !wait.await {
            tracing::info!(
                "stopping during DAEMON_RESTART_DELAY; the next start finishes the swap"
            );
            return Ok(SwapEnd::Interrupted);
        }
    }
    resume_from(cfg, layout, journal, shutdown, rec).await?;
    Ok(SwapEnd::Done)
}

/// How a swap ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SwapEnd {
    /// Applied.
    Done,
    /// A stop signal came during the restart delay; the journal keeps the swap for the next start.
    Interrupted,
}

/// Finishes a swap that a previous switchyard was killed in the middle of, through the same
/// steps a fresh swap takes from there; a stop signal ends it early, the journal kept.
pub(super) async fn recover(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    shutdown: &Shutdown,
) -> Result<(), SwapError> {
    let _busy = crate::notify::busy(None);
    match shutdown
        .unless(recover_steps(cfg, layout, journal, shutdown))
        .await
    {
        Ok(done) => done,
        Err(signal) => Err(SwapError::Stopped {
            name: journal
                .pending_swap()
                .ok()
                .flatten()
                .map(|r| r.name.to_string())
                .unwrap_or_default(),
            signal,
        }),
    }
}

async fn recover_steps(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    shutdown: &Shutdown,
) -> Result<(), SwapError> {
    let Some(rec) = journal.pending_swap()? else {
        return Ok(());
    };
    tracing::warn!(
        upgrade = %rec.name, height = rec.height, step = ?rec.step,
        "a previous switchyard stopped in the middle of a swap; finishing it"
    );
    // A swap interrupted while stopping the node: the old node died with us (parent-death
    // signal, and the orphan check before this), so it goes on from making the binary ready.
    live::swap_begin(rec.name.as_str(), rec.height, rec.kind);
    let r = resume_from(cfg, layout, journal, shutdown, rec).await;
    live::swap_end(r.as_ref().map(|_| ()).map_err(|e| e.to_string()));
    r
}

/// Carries a swap on from `rec.step` (the step about to run) to the end.
///
/// The journal is written before a step only when that step changes something (a download, a
/// backup, a pre-upgrade hook), and once more before the switch when any of them ran, so none
/// is done twice. A step with nothing to do (the binary already staged, `UNSAFE_SKIP_BACKUP`, a
/// binary known to have no `pre-upgrade`) leaves the journal where it was: resuming from there
/// after a crash only repeats checks and writes that give the same result (the switch of
/// `current` and the applied record are idempotent). That keeps the halt-to-start path of a
/// pre-staged swap down to the writes that matter.
async fn resume_from(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    shutdown: &Shutdown,
    mut rec: SwapRecord,
) -> Result<(), SwapError> {
    // Whether a step that must not be repeated ran since the journal was last written.
    let mut did_work = false;
    if rec.step <= SwapStep::Fetching {
        live::swap_step(SwapStepName::Fetch);
        let step = binary_step_now(cfg, layout, &rec);
        if step == BinaryStep::DownloadNow {
            rec.step = SwapStep::Fetching;
            journal.write_step(&rec)?;
            did_work = true;
        }
        let ready = match ensure_binary(cfg, layout, &rec, step).await {
            Ok(()) => binary_starts(cfg, layout, &rec.name, rec.height).await,
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            // Nothing has changed yet; forget the swap so a restart decides afresh.
            journal.finish_swap()?;
            return Err(e);
        }
        fault(cfg, "after-fetch");
    }
    if rec.step <= SwapStep::BackingUp {
        live::swap_step(SwapStepName::Backup);
        match (cfg.unsafe_skip_backup, cfg.backup_dir()) {
            (true, _) => tracing::info!("UNSAFE_SKIP_BACKUP is set: no data backup"),
            (false, None) => {}
            (false, Some(root)) => {
                rec.step = SwapStep::BackingUp;
                journal.write_step(&rec)?;
                did_work = true;
                backup(cfg, layout, shutdown, &rec, root).await?;
            }
        }
        fault(cfg, "after-backup");
    }
    if rec.step <= SwapStep::PreUpgrade {
        live::swap_step(SwapStepName::PreUpgrade);
        let hooks = PreUpgradeHooks::for_swap(cfg, layout, &rec);
        if hooks.any() {
            rec.step = SwapStep::PreUpgrade;
            journal.write_step(&rec)?;
            did_work = true;
        }
        if let Err(source) = hooks.run(cfg, layout, &rec).await {
            journal.finish_swap()?;
            return Err(SwapError::PreUpgrade {
                name: rec.name.to_string(),
                current: layout.current()?,
                source,
            });
        }
        fault(cfg, "after-preupgrade");
    }
    if rec.step <= SwapStep::Switching {
        live::swap_step(SwapStepName::Switch);
        if did_work {
            rec.step = SwapStep::Switching;
            journal.write_step(&rec)?;
        }
        let info_path = layout.upgrade_dir(&rec.name).join("upgrade-info.json");
        let info = UpgradeInfo {
            name: rec.name.clone(),
            height: rec.height,
            info: rec.info.clone(),
        };
        switchyard_store::write_atomic(&info_path, info.to_json().as_bytes()).map_err(
            |source| SwapError::Io {
                path: info_path,
                source,
            },
        )?;
        layout.set_current(&Current::Upgrade(rec.name.clone()))?;
        tracing::info!(
            upgrade = %rec.name,
            "`current` now points at {}",
            layout.upgrade_dir(&rec.name).display()
        );
        fault(cfg, "after-switch");
    }
    live::swap_step(SwapStepName::Record);
    journal.record_applied(AppliedRecord {
        name: rec.name.clone(),
        height: rec.height,
        kind: rec.kind,
        applied_at: now_rfc3339(),
    })?;
    fault(cfg, "after-record");
    journal.finish_swap()?;
    tracing::info!(upgrade = %rec.name, height = rec.height, "upgrade {} applied", rec.name);
    prune_backups(cfg, layout, &rec.started_at);
    Ok(())
}

/// How often a swap held back by a binary that does not start is tried again.
pub(super) const UNSTARTABLE_RECHECK: std::time::Duration = std::time::Duration::from_secs(10);

/// A binary we staged whose preflight failed (it does not start on this host: a missing shared
/// library, another CPU) is run once more now, since the host may have been fixed; if it still
/// fails, the swap does not go ahead: no pre-upgrade, no switch, and the new binary is never
/// started as the node. Binaries the operator placed have no record and are trusted as placed.
pub(super) async fn binary_starts(
    cfg: &Config,
    layout: &Layout,
    name: &switchyard_core::UpgradeName,
    height: i64,
) -> Result<(), SwapError> {
    use switchyard_store::{PreflightStatus, StageError};
    let Ok(Some(staged)) = switchyard_store::load_staging_record(layout, name) else {
        return Ok(());
    };
    if staged.preflight.status != PreflightStatus::Failed {
        return Ok(());
    }
    let opts = crate::upgrade_binary::stage_options(cfg, false);
    match switchyard_store::rerun_preflight(layout, name, staged, &opts).await {
        Ok(_) => {
            tracing::info!(upgrade = %name, "the staged binary starts on this host now");
            Ok(())
        }
        Err(StageError::Preflight { record, message }) => Err(SwapError::Unstartable {
            name: name.to_string(),
            path: record.binary_path,
            message,
            height,
            current: layout.current()?,
            every_s: UNSTARTABLE_RECHECK.as_secs(),
        }),
        Err(e) => Err(SwapError::StagedMismatch {
            name: name.to_string(),
            path: layout.upgrade_binary(name),
            why: e.to_string(),
        }),
    }
}

/// What making the new binary ready takes now: nothing (it is in place), a download from the
/// plan's info, or it is missing (the core's rule, `switchyard_core::binary_step`).
fn binary_step_now(cfg: &Config, layout: &Layout, rec: &SwapRecord) -> BinaryStep {
    // Placed with or without execute bits: `ensure_binary` adds them, as cosmovisor does.
    let in_place = layout.has_upgrade_binary(&rec.name);
    let has_source = !rec.info.is_empty() || crate::chain_registry::configured(cfg).is_some();
    binary_step(in_place, cfg.allow_download_binaries, has_source)
}

/// The chain registry's binary for `rec`'s upgrade on this platform: from `run`'s latest read of
/// `SWITCHYARD_CHAIN_REGISTRY` (read now when there is none yet), checked against the chain id in
/// the home's genesis. `Err` says why there is none.
async fn registry_binary(
    cfg: &Config,
    rec: &SwapRecord,
) -> Result<switchyard_core::BinarySource, String> {
    let state = match crate::chain_registry::latest() {
        Some(state) => state,
        None => std::sync::Arc::new(
            crate::chain_registry::read_once(cfg)
                .await
                .ok_or("no chain registry is configured")?,
        ),
    };
    let home = cfg.home.as_deref().ok_or("DAEMON_HOME is not set")?;
    crate::chain_registry::binary_for_home(&state, home, rec.name.as_str(), Some(rec.height))
        .map(|(source, _)| source)
}

/// The last-resort download: from the plan's info, else (the info lists no binary for this
/// platform) from the chain registry, as pre-staging would have.
async fn download_at_halt(
    cfg: &Config,
    layout: &Layout,
    rec: &SwapRecord,
) -> Result<switchyard_store::StageOutcome, String> {
    use crate::upgrade_binary::StageFromInfoError;
    use switchyard_store::StageError;
    let opts = crate::upgrade_binary::stage_options(cfg, false);
    let from_info = if rec.info.is_empty() {
        Err(StageFromInfoError::NoBinaries)
    } else {
        crate::upgrade_binary::stage_from_info(layout, &rec.name, &rec.info, &opts).await
    };
    let info_lists_none = matches!(
        from_info,
        Err(StageFromInfoError::NoBinaries
            | StageFromInfoError::Stage(StageError::NoBinaryForPlatform { .. }))
    );
    let why = match from_info {
        Err(why) if info_lists_none && crate::chain_registry::configured(cfg).is_some() => why,
        other => return other.map_err(|e| e.to_string()),
    };
    let source = registry_binary(cfg, rec)
        .await
        .map_err(|e| format!("{why}, and the chain registry gives none: {e}"))?;
    tracing::warn!(upgrade = %rec.name, "{why}: downloading {} from the chain registry", source.url);
    let opts = switchyard_store::StageOptions {
        origin: Some(switchyard_core::BinaryOrigin::Registry),
        ..opts
    };
    switchyard_store::stage_from_source(layout, &rec.name, &source, &opts)
        .await
        .map_err(|e| e.to_string())
}

/// Makes sure the new binary is in place and is the one that was verified: downloads it from the
/// plan's info when nothing was staged and downloads are allowed (the last resort, at the halt).
async fn ensure_binary(
    cfg: &Config,
    layout: &Layout,
    rec: &SwapRecord,
    step: BinaryStep,
) -> Result<(), SwapError> {
    let new_bin = layout.upgrade_binary(&rec.name);
    let in_place = || Layout::check_executable(&new_bin).is_ok();
    if step == BinaryStep::DownloadNow {
        // Pre-staging should have done this long ago; downloading at the halt is the fallback.
        tracing::warn!(upgrade = %rec.name, "no staged binary at the halt: downloading it now (this is downtime)");
        match download_at_halt(cfg, layout, rec).await {
            Ok(outcome) => {
                if let switchyard_store::StageOutcome::Staged(r) = &outcome {
                    live::downloaded(r.size);
                }
                tracing::info!(upgrade = %rec.name, "downloaded and verified at the halt")
            }
            Err(e) => {
                live::download_failed();
                tracing::error!(upgrade = %rec.name, "download at the halt failed: {e}")
            }
        }
    }
    crate::upgrade_binary::add_execute_bits(layout, &rec.name)?;
    if !in_place() {
        return Err(SwapError::MissingBinary {
            name: rec.name.to_string(),
            path: new_bin,
            hint: match step {
                BinaryStep::DownloadNow => {
                    " (downloading it from the plan's info or the chain registry did not work; see above)"
                }
                BinaryStep::Missing {
                    download_allowed: false,
                } => " or set DAEMON_ALLOW_DOWNLOAD_BINARIES=true",
                _ => " (this upgrade has no plan info to download it from)",
            },
        });
    }
    check_staged(layout, rec)
}

/// A binary we pre-staged must still be the one we verified, and must come from the plan that
/// halted the node (a proposal of the same name with another binary may have been the one to
/// pass). Binaries the operator placed have no record and are trusted as placed.
fn check_staged(layout: &Layout, rec: &SwapRecord) -> Result<(), SwapError> {
    let mismatch = |why: String| SwapError::StagedMismatch {
        name: rec.name.to_string(),
        path: layout.upgrade_binary(&rec.name),
        why,
    };
    let Some(staged) = switchyard_store::load_staging_record(layout, &rec.name)
        .map_err(|e| mismatch(e.to_string()))?
    else {
        return Ok(());
    };
    if !staged.is_installed() {
        return Ok(());
    }
    switchyard_store::verify_installed_binary(&staged).map_err(|e| mismatch(e.to_string()))?;
    switchyard_core::staged_against_plan(
        staged.source(),
        &rec.info,
        &switchyard_core::this_platform(),
    )
    .map_err(|e| mismatch(e.to_string()))
}

/// Takes the backup of `data/` into `root` (a snapshot: see `switchyard_store::backup`). It
/// refuses, before writing anything, when it would not fit. The copy runs on a blocking thread
/// the shutdown waits for: when this future is dropped (a stop signal cuts the swap short), the
/// copy is told to stop at its next file and removes its partial folder before the process
/// exits, so a stop never leaves half a backup behind.
async fn backup(
    cfg: &Config,
    layout: &Layout,
    shutdown: &Shutdown,
    rec: &SwapRecord,
    root: PathBuf,
) -> Result<(), SwapError> {
    use switchyard_store::backup::{self, human_bytes, BackupRequest};
    tracing::info!(
        "backing up {} into {}",
        layout.data_dir().display(),
        root.display()
    );
    let started = std::time::Instant::now();
    let hook = crate::test_faults::hook(cfg);
    let (task_layout, rec) = (layout.clone(), rec.clone());
    let cancel = StopOnDrop::default();
    let flag = cancel.0.clone();
    let b = shutdown
        .spawn_blocking(move || {
            backup::take_unless(
                &BackupRequest {
                    layout: &task_layout,
                    backup_root: &root,
                    from: &rec.from,
                    upgrade: &rec.name,
                    upgrade_height: rec.height,
                    swap_started_at: Some(&rec.started_at),
                },
                &hook,
                &flag,
            )
        })
        .await
        .map_err(|e| SwapError::Io {
            path: layout.data_dir(),
            source: std::io::Error::other(format!("the backup task failed: {e}")),
        })??;
    let s = &b.meta.stats;
    if b.reused {
        tracing::info!(
            "using the backup {} this swap took before it was interrupted",
            b.path.display()
        );
    } else {
        tracing::info!(
            "backup written to {} in {:?}: {} table files ({}) hard-linked, {} files ({}) copied, {} ({}) cloned",
            b.path.display(),
            started.elapsed(),
            s.linked_files,
            human_bytes(s.linked_bytes),
            s.copied_files,
            human_bytes(s.copied_bytes),
            s.cloned_files,
            human_bytes(s.cloned_bytes),
        );
    }
    Ok(())
}

/// `SWITCHYARD_BACKUP_KEEP`: after a successful swap, removes this home's oldest switchyard
/// backups beyond the newest N, in the background (removing a large backup takes a while, and
/// the new node should not wait for it). The backup this swap (started at `swap_started_at`)
/// took is never removed. A failure is only logged.
fn prune_backups(cfg: &Config, layout: &Layout, swap_started_at: &str) {
    let (Some(keep), Some(root)) = (cfg.backup_keep, cfg.backup_dir()) else {
        return;
    };
    if cfg.unsafe_skip_backup {
        return;
    }
    let home = layout.home.clone();
    let started = swap_started_at.to_string();
    tokio::task::spawn_blocking(move || {
        match switchyard_store::backup::prune(&root, &home, keep, Some(&started)) {
            Ok(removed) => {
                for p in removed {
                    tracing::info!(
                        "removed the old backup {} (SWITCHYARD_BACKUP_KEEP={keep})",
                        p.display()
                    );
                }
            }
            Err(e) => tracing::warn!("removing old backups in {}: {e}", root.display()),
        }
    });
}

/// The pre-upgrade hooks a swap runs: the custom script, if configured, and the new binary's
/// `pre-upgrade`, unless the probe before the halt found that this very file has none
/// ([`switchyard_core::preupgrade_needed`]; see `probe_ahead`).
struct PreUpgradeHooks {
    script: Option<PathBuf>,
    binary: Option<PathBuf>,
    /// When the binary was found to have no `pre-upgrade` (it is then not run).
    absent_since: Option<String>,
}

impl PreUpgradeHooks {
    fn for_swap(cfg: &Config, layout: &Layout, rec: &SwapRecord) -> PreUpgradeHooks {
        let probed =
            switchyard_store::current_preupgrade_probe(layout, &rec.name).unwrap_or_else(|e| {
                tracing::warn!("{e}");
                None
            });
        let needed = switchyard_core::preupgrade_needed(probed.as_ref().map(|p| p.command));
        PreUpgradeHooks {
            script: cfg.custom_preupgrade_path(),
            binary: needed.then(|| layout.upgrade_binary(&rec.name)),
            absent_since: probed.filter(|_| !needed).map(|p| p.probed_at),
        }
    }

    fn any(&self) -> bool {
        self.script.is_some() || self.binary.is_some()
    }

    async fn run(
        &self,
        cfg: &Config,
        layout: &Layout,
        rec: &SwapRecord,
    ) -> Result<(), PreUpgradeError> {
        if let Some(script) = &self.script {
            tracing::info!(
                "running custom pre-upgrade {} {} {}",
                script.display(),
                rec.name,
                rec.height
            );
            run_custom_preupgrade(
                script,
                &layout.home,
                rec.name.as_str(),
                rec.height,
                cfg.preupgrade_timeout,
            )
            .await?;
        }
        let Some(bin) = &self.binary else {
            tracing::info!(
                upgrade = %rec.name,
                "the new binary has no pre-upgrade command (asked before the halt, at {}, and it is the same file); not running it",
                self.absent_since.as_deref().unwrap_or("?")
            );
            return Ok(());
        };
        match run_binary_preupgrade(
            bin,
            rec.name.as_str(),
            cfg.preupgrade_max_retries,
            cfg.preupgrade_timeout,
        )
        .await?
        {
            PreUpgradeOutcome::Done { attempts } => tracing::info!(attempts, "pre-upgrade done"),
            PreUpgradeOutcome::NotImplemented => {
                tracing::info!("the new binary has no pre-upgrade command (exit 1); continuing")
            }
        }
        Ok(())
    }
}

/// Sets its flag when dropped: tells work on another thread that its caller is gone.
#[derive(Default)]
struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}
