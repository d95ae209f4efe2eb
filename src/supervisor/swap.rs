//! The halt-and-swap sequence, and finishing a swap that was interrupted.
//!
//! Order (issue #2): stop the old node; back up `data/` (unless `UNSAFE_SKIP_BACKUP`); run the
//! custom pre-upgrade script and the new binary's `pre-upgrade`; only then switch `current`
//! atomically and record the upgrade as applied. Before each step the journal records the step
//! about to run, so a switchyard killed at any instant resumes from there on its next start
//! ([`recover`]). If a pre-upgrade step aborts, `current` stays on the old binary and the error
//! says why.
//!
//! Test-only fault points (`SWITCHYARD_TEST_FAULT=<point>`) make switchyard SIGKILL itself at
//! a named point, which is how the crash-safety tests kill it "at each step".

use std::path::PathBuf;

use switchyard_core::decide::SwapTarget;
use switchyard_core::{Current, UpgradeInfo};
use switchyard_exec::child::{NodeProcess, StopOutcome};
use switchyard_exec::preupgrade::{self, PreUpgradeError, PreUpgradeOutcome};
use switchyard_store::journal::{now_rfc3339, AppliedRecord, Journal, SwapRecord, SwapStep};
use switchyard_store::Layout;

use crate::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum SwapError {
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
    #[error(transparent)]
    Journal(#[from] switchyard_store::journal::JournalError),
    #[error(transparent)]
    Layout(#[from] switchyard_store::layout::LayoutError),
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

/// Fault points, in the order the swap reaches them (the backup's own two come between
/// `after-stop` and `after-backup`).
pub const FAULT_POINTS: &[&str] = &[
    "after-journal",
    "after-stop",
    "backup-mid-copy",
    "backup-before-rename",
    "after-backup",
    "after-preupgrade",
    "after-switch",
    "after-record",
];

fn fault(cfg: &Config, point: &str) {
    fault_at(cfg.test_fault.as_deref(), point)
}

fn fault_at(test_fault: Option<&str>, point: &str) {
    if test_fault == Some(point) {
        tracing::warn!("SWITCHYARD_TEST_FAULT={point}: killing switchyard here");
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
        // SIGKILL cannot be caught; if it somehow did not land, do not go on.
        std::process::abort();
    }
}

/// Runs the whole swap for `target`, stopping `node` first if it still runs.
pub async fn perform(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    target: &SwapTarget,
    node: Option<&mut NodeProcess>,
) -> Result<(), SwapError> {
    let new_bin = layout.upgrade_binary(&target.name);
    let from = layout.current()?;
    let mut rec = SwapRecord {
        name: target.name.clone(),
        height: target.height,
        source: target.source,
        info: target.info.clone(),
        from,
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
    }
    fault(cfg, "after-stop");
    if Layout::check_executable(&new_bin).is_err()
        && cfg.allow_download_binaries
        && !target.info.is_empty()
    {
        // Pre-staging should have done this long ago; downloading at the halt is the fallback.
        tracing::warn!(upgrade = %target.name, "no staged binary at the halt: downloading it now (this is downtime)");
        match crate::staging::stage_from_info(
            layout,
            &target.name,
            &target.info,
            &crate::staging::stage_options(cfg, false),
        )
        .await
        {
            Ok(_) => tracing::info!(upgrade = %target.name, "downloaded and verified at the halt"),
            Err(e) => tracing::error!(upgrade = %target.name, "download at the halt failed: {e}"),
        }
    }
    if Layout::check_executable(&new_bin).is_err() {
        // Nothing has changed yet; forget the swap so a restart decides afresh.
        journal.finish_swap()?;
        return Err(SwapError::MissingBinary {
            name: target.name.to_string(),
            path: new_bin,
            hint: if cfg.allow_download_binaries {
                " (downloading it from the plan's info did not work; see above)"
            } else {
                " or set DAEMON_ALLOW_DOWNLOAD_BINARIES=true"
            },
        });
    }
    if let Err(e) = check_staged(layout, target) {
        journal.finish_swap()?;
        return Err(e);
    }
    rec.step = SwapStep::BackingUp;
    resume_from(cfg, layout, journal, rec).await
}

/// A binary we pre-staged must still be the one we verified, and must come from the plan that
/// halted the node (a proposal of the same name with another binary may have been the one to
/// pass). Binaries the operator placed have no record and are trusted as placed.
fn check_staged(layout: &Layout, target: &SwapTarget) -> Result<(), SwapError> {
    use switchyard_core::binaries::{parse_info, this_platform, PlanInfo};
    use switchyard_store::staged;
    let mismatch = |why: String| SwapError::StagedMismatch {
        name: target.name.to_string(),
        path: layout.upgrade_binary(&target.name),
        why,
    };
    let Some(rec) = staged::load(layout, &target.name).map_err(|e| mismatch(e.to_string()))? else {
        return Ok(());
    };
    if !rec.is_installed() {
        return Ok(());
    }
    staged::verify_installed(&rec).map_err(|e| mismatch(e.to_string()))?;
    if let PlanInfo::Binaries(b) = parse_info(&target.info) {
        if let Some(src) = b.for_platform(&this_platform()) {
            if !rec.matches(src) {
                return Err(mismatch(format!(
                    "it was staged from {} ({}), but the plan lists {} ({})",
                    rec.url,
                    rec.digest,
                    src.url,
                    src.checksum
                        .as_ref()
                        .map(|c| c.to_string())
                        .unwrap_or_else(|| "no checksum".into())
                )));
            }
        }
    }
    Ok(())
}

/// Carries a swap on from `rec.step` (the step about to run) to the end.
async fn resume_from(
    cfg: &Config,
    layout: &Layout,
    journal: &Journal,
    mut rec: SwapRecord,
) -> Result<(), SwapError> {
    if rec.step <= SwapStep::BackingUp {
        rec.step = SwapStep::BackingUp;
        journal.write_step(&rec)?;
        backup(cfg, layout, &rec).await?;
        fault(cfg, "after-backup");
    }
    if rec.step <= SwapStep::PreUpgrade {
        rec.step = SwapStep::PreUpgrade;
        journal.write_step(&rec)?;
        if let Err(source) = run_preupgrade(cfg, layout, &rec).await {
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
        rec.step = SwapStep::Switching;
        journal.write_step(&rec)?;
        let info_path = layout.upgrade_dir(&rec.name).join("upgrade-info.json");
        let info = UpgradeInfo {
            name: rec.name.clone(),
            height: rec.height,
            info: rec.info.clone(),
        };
        switchyard_store::fsutil::write_atomic(&info_path, info.to_json().as_bytes()).map_err(
            |source| SwapError::Io {
                path: info_path,
                source,
            },
        )?;
        layout.set_current(&Current::Upgrade(rec.name.clone()))?;
        tracing::info!(upgrade = %rec.name, "`current` now points at upgrades/{}", rec.name);
        fault(cfg, "after-switch");
    }
    rec.step = SwapStep::Recording;
    journal.write_step(&rec)?;
    journal.record_applied(AppliedRecord {
        name: rec.name.clone(),
        height: rec.height,
        source: rec.source,
        applied_at: now_rfc3339(),
    })?;
    fault(cfg, "after-record");
    journal.finish_swap()?;
    tracing::info!(upgrade = %rec.name, height = rec.height, "upgrade {} applied", rec.name);
    prune_backups(cfg, layout);
    Ok(())
}

/// Takes the backup of `data/` (a snapshot: see `switchyard_store::backup`), unless
/// `UNSAFE_SKIP_BACKUP`. It refuses, before writing anything, when it would not fit.
async fn backup(cfg: &Config, layout: &Layout, rec: &SwapRecord) -> Result<(), SwapError> {
    use switchyard_store::backup::{self, human_bytes, BackupRequest};
    if cfg.unsafe_skip_backup {
        tracing::info!("UNSAFE_SKIP_BACKUP is set: no data backup");
        return Ok(());
    }
    let Some(root) = cfg.backup_dir() else {
        return Ok(());
    };
    tracing::info!(
        "backing up {} into {}",
        layout.data_dir().display(),
        root.display()
    );
    let started = std::time::Instant::now();
    let (layout, rec, test_fault) = (layout.clone(), rec.clone(), cfg.test_fault.clone());
    let b = tokio::task::spawn_blocking(move || {
        backup::take(
            &BackupRequest {
                layout: &layout,
                backup_root: &root,
                from: &rec.from,
                upgrade: &rec.name,
                upgrade_height: rec.height,
                swap_started_at: Some(&rec.started_at),
            },
            &|point| fault_at(test_fault.as_deref(), point),
        )
    })
    .await
    .expect("backup task does not panic")?;
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
/// the new node should not wait for it). A failure is only logged.
fn prune_backups(cfg: &Config, layout: &Layout) {
    let (Some(keep), Some(root)) = (cfg.backup_keep, cfg.backup_dir()) else {
        return;
    };
    if cfg.unsafe_skip_backup {
        return;
    }
    let home = layout.home.clone();
    tokio::task::spawn_blocking(move || {
        match switchyard_store::backup::prune(&root, &home, keep) {
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

async fn run_preupgrade(
    cfg: &Config,
    layout: &Layout,
    rec: &SwapRecord,
) -> Result<(), PreUpgradeError> {
    if let Some(script) = cfg.custom_preupgrade_path() {
        tracing::info!(
            "running custom pre-upgrade {} {} {}",
            script.display(),
            rec.name,
            rec.height
        );
        preupgrade::run_custom(
            &script,
            rec.name.as_str(),
            rec.height,
            cfg.preupgrade_timeout,
        )
        .await?;
    }
    let bin = layout.upgrade_binary(&rec.name);
    match preupgrade::run_binary(&bin, cfg.preupgrade_max_retries, cfg.preupgrade_timeout).await? {
        PreUpgradeOutcome::Done { attempts } => tracing::info!(attempts, "pre-upgrade done"),
        PreUpgradeOutcome::NotImplemented => {
            tracing::info!("the new binary has no pre-upgrade command (exit 1); continuing")
        }
    }
    Ok(())
}

/// Finishes a swap that a previous switchyard was killed in the middle of.
pub async fn recover(cfg: &Config, layout: &Layout, journal: &Journal) -> Result<(), SwapError> {
    let Some(rec) = journal.pending_swap()? else {
        return Ok(());
    };
    tracing::warn!(
        upgrade = %rec.name, height = rec.height, step = ?rec.step,
        "a previous switchyard stopped in the middle of a swap; finishing it"
    );
    let mut rec = rec;
    if rec.step == SwapStep::Stopping {
        // The old node died with us (parent-death signal); make sure the binary exists before
        // going on, exactly as a fresh swap would.
        let new_bin = layout.upgrade_binary(&rec.name);
        if Layout::check_executable(&new_bin).is_err() {
            journal.finish_swap()?;
            return Err(SwapError::MissingBinary {
                name: rec.name.to_string(),
                path: new_bin,
                hint: "",
            });
        }
        rec.step = SwapStep::BackingUp;
    }
    resume_from(cfg, layout, journal, rec).await
}
