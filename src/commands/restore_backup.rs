//! `switchyard restore-backup [NAME] [--current genesis|UPGRADE] [--list]`: put a backup back as
//! `data/`, keep the data it replaces aside, and point `current` at the binary that matches it
//! (the disk work and its crash safety are in `switchyard_store::backup::restore`).
//!
//! It takes the supervisor's run lock for its whole duration, so it refuses while a switchyard
//! supervises this home and no switchyard can start meanwhile; the store refuses while the node
//! itself runs. A restore that was interrupted is finished (or rolled back) first.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use switchyard_core::{Current, UpgradeName};
use switchyard_store::backup::{
    self, human_bytes, BackupEntry, Recovered, RestoreRequest, Restored,
    ValidatorStateChoice as Choice,
};
use switchyard_store::Layout;

use crate::cli::RestoreBackupArgs;
use crate::config::Config;

pub(super) fn run(cfg: &Config, args: &RestoreBackupArgs) -> anyhow::Result<i32> {
    let layout = cfg.layout()?;
    let root = cfg
        .backup_dir()
        .context("DAEMON_HOME is not set, so there is no backup folder")?;
    if args.list {
        print_list(&root, &layout)?;
        return Ok(0);
    }
    crate::test_faults::check_point(cfg, "restore", backup::RESTORE_FAULT_POINTS)?;
    let current = args
        .current
        .as_deref()
        .map(|s| parse_current(s, cfg.disable_recase))
        .transpose()?;
    let _lock = lock_home(&layout)?;
    let fault = crate::test_faults::hook(cfg);
    match backup::recover_restore(&layout, &fault)? {
        Recovered::Nothing => {}
        Recovered::RolledBack { backup } => println!(
            "an interrupted restore of {} was rolled back: data/ had not been replaced",
            backup.display()
        ),
        Recovered::Finished(r) => {
            println!("finished the interrupted restore:");
            report(&layout, &r);
            if args.name.is_some() {
                println!(
                    "(nothing else restored now; run the command again to restore another backup)"
                );
            }
            return Ok(0);
        }
    }
    let backup = match &args.name {
        Some(name) => resolve(&root, name),
        None => newest_of_home(&root, &layout)?,
    };
    let r = backup::restore(
        &RestoreRequest {
            layout: &layout,
            backup: &backup,
            current,
        },
        &fault,
    )?;
    report(&layout, &r);
    Ok(0)
}

fn parse_current(s: &str, disable_recase: bool) -> anyhow::Result<Current> {
    if s == "genesis" {
        return Ok(Current::Genesis);
    }
    let name = UpgradeName::parse(s, disable_recase)
        .with_context(|| format!("--current {s:?}: expected `genesis` or an upgrade name"))?;
    Ok(Current::Upgrade(name))
}

/// A backup named on the command line: a path when it has a `/`, else a folder in `root`.
fn resolve(root: &Path, name: &str) -> PathBuf {
    if name.contains('/') {
        PathBuf::from(name)
    } else {
        root.join(name)
    }
}

fn newest_of_home(root: &Path, layout: &Layout) -> anyhow::Result<PathBuf> {
    let all = backup::list(root)?;
    // The newest by the records' sequence: a backup stamped by a wrong clock is not "newest".
    match backup::of_home(root, &layout.home)?.last() {
        Some(e) => Ok(e.path.clone()),
        None if all.is_empty() => bail!("there is no backup in {}", root.display()),
        None => bail!(
            "there is no switchyard backup of this node in {}; name one (see `switchyard restore-backup --list`) and the binary that runs it with --current",
            root.display()
        ),
    }
}

fn report(layout: &Layout, r: &Restored) {
    println!("restored {} as {}", r.backup.display(), r.data.display());
    match &r.set_aside {
        Some(p) => println!("the data it replaced is kept in {}", p.display()),
        None => println!("there was no data/ to keep aside"),
    }
    println!(
        "`current` points at {} ({})",
        r.current,
        layout.binary_of(&r.current).display()
    );
    let s = &r.stats;
    println!(
        "{} table files ({}) hard-linked from the backup, {} files ({}) copied, {} ({}) cloned",
        s.linked_files,
        human_bytes(s.linked_bytes),
        s.copied_files,
        human_bytes(s.copied_bytes),
        s.cloned_files,
        human_bytes(s.cloned_bytes)
    );
    let pvs = match &r.validator_state {
        Some(Choice::Current) => Some("kept the one from the data set aside (it is as far along as the backup's, or further)"),
        Some(Choice::BackupIsNewer) => Some("the backup's is further along than the one set aside, so it was used"),
        Some(Choice::Backup) => Some("the backup's (the data set aside had none)"),
        Some(Choice::CurrentUnreadable) => Some("the one from the data set aside cannot be read and was kept as it is: fix it before starting the node"),
        Some(Choice::None) | None => None,
    };
    if let Some(pvs) = pvs {
        println!("priv_validator_state.json: {pvs}");
    }
    if !r.forgotten.is_empty() {
        let names: Vec<_> = r.forgotten.iter().map(|n| n.as_str()).collect();
        println!(
            "no longer recorded as applied: {} (switchyard applies them again when the node reaches their height)",
            names.join(", ")
        );
    }
}

fn print_list(root: &Path, layout: &Layout) -> anyhow::Result<()> {
    let all = backup::list(root)?;
    if all.is_empty() {
        println!("no backups in {}", root.display());
        return Ok(());
    }
    println!(
        "{:<44} {:<24} {:<20} {:<16} {:>10} {:>10}",
        "NAME", "TAKEN", "RUNS ON", "BEFORE", "LINKED", "COPIED"
    );
    for BackupEntry {
        name,
        meta,
        problem,
        ..
    } in &all
    {
        match meta {
            Some(m) => {
                let whose = if m.is_of_home(&layout.home) {
                    String::new()
                } else {
                    format!("  (of the node in {})", m.home.display())
                };
                println!(
                    "{:<44} {:<24} {:<20} {:<16} {:>10} {:>10}{whose}",
                    name,
                    m.taken_at,
                    m.from.to_string(),
                    format!("{} at {}", m.upgrade, m.upgrade_height),
                    human_bytes(m.stats.linked_bytes),
                    human_bytes(m.stats.copied_bytes + m.stats.cloned_bytes),
                )
            }
            None => {
                println!(
                "{name:<44} no switchyard record ({}): only cosmovisor's data-backup-<date> folders are restored without one, with --current genesis|UPGRADE",
                problem.as_deref().unwrap_or("cosmovisor's, or an older switchyard's")
            )
            }
        }
    }
    Ok(())
}

/// The supervisor's run lock (`cosmovisor/switchyard/run.lock`, the same file and `flock` as
/// `switchyard run` takes), held until the restore is over.
fn lock_home(layout: &Layout) -> anyhow::Result<switchyard_store::RunLock> {
    match switchyard_store::lock_run(layout) {
        Ok(lock) => Ok(lock),
        Err(switchyard_store::RunLockError::Held { path, holder }) => bail!(
            "a switchyard{} is supervising the node in {} (it holds {}); stop it before restoring a backup",
            holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            layout.home.display(),
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}
