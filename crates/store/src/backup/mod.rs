//! The backup of `data/` taken before an upgrade (unless `UNSAFE_SKIP_BACKUP`), its retention,
//! and putting one back.
//!
//! A backup is a **snapshot, not a copy**. The node's databases (LevelDB, PebbleDB, RocksDB) are
//! made of table files that are never changed once written, only deleted; those are hard-linked
//! into the backup, and only the files that may change in place (logs, manifests, the validator
//! state...) are copied, or cloned where the filesystem can (`FICLONE` on XFS or btrfs). On a
//! data folder of hundreds of GB that is seconds instead of an hour, and almost no space on the
//! day it is taken. [`tree`] says which file is which; [`snapshot`] makes the copy. When the
//! backup folder is on another filesystem nothing can be linked, and the backup is a full copy
//! (said in the log).
//!
//! A linked backup keeps the tables the node later compacts away alive, so over weeks of
//! compaction it grows towards the size of a full copy: that is what [`prune`] (the
//! `SWITCHYARD_BACKUP_KEEP` retention) is for.
//!
//! [`take`] first works out what the backup will really cost on the target filesystem and
//! refuses, before writing anything, when that and a margin are not free ([`space`]). It builds
//! the snapshot under a hidden, locked `.<name>.partial` folder, writes the list of its files
//! ([`manifest`]: what a restore checks it against) and its record ([`meta::BackupMeta`])
//! inside, flushes it to disk, and only then renames it to its final name: a process
//! killed at any instant leaves either no backup or a complete one, and never touches `data/`
//! (which is only ever read). A backup that fails is removed. Partial folders left by a killed
//! process are removed by the next backup.
//!
//! [`restore`] puts a backup back as `data/`: see there. It only restores a backup of this home
//! that still matches its list.
//!
//! [`prune`] orders a home's backups by the sequence number in their records (the clock can be
//! wrong) and never removes the one the finishing swap took ([`switchyard_core::backups_to_remove`]).

mod manifest;
mod meta;
mod restore;
mod snapshot;
mod space;
mod sys;
mod tree;
mod validator_state;

use std::fs::{self, File};
use std::io;
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use switchyard_core::{backups_to_remove, BackupOrder, Current, UpgradeName};

use crate::layout::Layout;

pub use manifest::MANIFEST_FILE;
pub use meta::{list, read_meta, BackupEntry, BackupMeta, META_FILE, NAME_PREFIX};
pub use restore::{
    check_stopped, pending as pending_restore, recover as recover_restore, restore, Recovered,
    RestoreError, RestoreRecord, RestoreRequest, Restored, FAULT_POINTS as RESTORE_FAULT_POINTS,
};
pub use snapshot::SnapshotStats;
pub use space::{
    estimate, human_bytes, margin_for, BackupEstimate, MARGIN_MIN_BYTES, MARGIN_PERCENT,
};
pub use validator_state::Choice as ValidatorStateChoice;

/// Fault points [`take`] reports to its `fault` hook (the crash-safety tests kill the process
/// there): half of the files made, and the complete backup just before its final rename.
pub const FAULT_POINTS: &[&str] = &["backup-mid-copy", "backup-before-rename"];

/// Why taking, measuring, listing or pruning backups failed (also how building a restored tree
/// fails, inside [`RestoreError::Backup`]).
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The caller asked the backup to stop (switchyard is shutting down); its partial copy was
    /// removed.
    #[error("the backup was stopped before it was complete (switchyard is stopping); its partial copy was removed")]
    Cancelled,
    /// A file or folder could not be read: `lstat`, `readdir` or `readlink` during the walk, a
    /// record, the backup folder's listing, or `statvfs` of the target.
    #[error("reading {path}: {source}")]
    Read {
        /// What was being read.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A file or folder could not be written: the backup folder, a record, a folder's mode,
    /// owner or fsync, or a rename or removal while pruning.
    #[error("writing {path}: {source}")]
    Write {
        /// What was being written.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An entry could not be made in the new tree (hard link, clone, copy, symlink, folder), or
    /// the finished backup could not be renamed to its final name.
    #[error("backing up {from} to {to}: {source}")]
    Copy {
        /// The source path.
        from: PathBuf,
        /// The path being made.
        to: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The folder to walk (the data folder, or a backup being restored) exists but is not a
    /// folder.
    #[error("{0} is not a folder")]
    NotAFolder(PathBuf),
    /// The tree holds a socket, fifo or device, which a snapshot cannot reproduce; found by the
    /// walk, before anything is written.
    #[error("{path} is {what}, which cannot be backed up; move it out of the data folder")]
    SpecialFile {
        /// The special file.
        path: PathBuf,
        /// `"a socket"`, `"a fifo"` or `"a device"`.
        what: &'static str,
    },
    /// The target filesystem has fewer free bytes than the copy allocates plus the margin; found
    /// before anything is written.
    #[error(
        "not enough space for the backup in {folder}: it needs {} ({} to copy plus a {} margin; the {} of table files are hard-linked and cost nothing) and {} is free. Nothing was written. Free space there, or point DAEMON_DATA_BACKUP_DIR at a folder with room",
        human_bytes(*.needed), human_bytes(*.copied), human_bytes(*.margin), human_bytes(*.linked), human_bytes(*.available)
    )]
    NoSpace {
        /// The folder whose filesystem was measured (the target, or its nearest existing parent).
        folder: PathBuf,
        /// Bytes needed: what the copy allocates in whole blocks, folders included, plus `margin`.
        needed: u64,
        /// Bytes the copy allocates on the target: the copied files' blocks (a sparse file's
        /// holes excluded) and the folders.
        copied: u64,
        /// Bytes kept free beyond the copy ([`margin_for`]).
        margin: u64,
        /// Bytes of table files that are hard-linked and cost nothing.
        linked: u64,
        /// Free bytes for an unprivileged writer (`f_bavail`).
        available: u64,
    },
    /// The target filesystem has fewer free inodes than the backup needs (the bytes fit); found
    /// before anything is written.
    #[error(
        "not enough free inodes for the backup in {folder}: it needs {needed} and {available} are free. Nothing was written"
    )]
    NoInodes {
        /// The folder whose filesystem was measured (the target, or its nearest existing parent).
        folder: PathBuf,
        /// Inodes needed: one per copied file, folder and symlink.
        needed: u64,
        /// Free inodes (`f_favail`).
        available: u64,
    },
    /// The target folder is inside the folder being backed up (or restored from), so the
    /// snapshot would contain itself.
    #[error("the backup folder {target} is inside {source_dir}, so a backup would contain itself; choose a DAEMON_DATA_BACKUP_DIR outside it")]
    InsideSource {
        /// The target folder, as given.
        target: PathBuf,
        /// The folder being walked.
        source_dir: PathBuf,
    },
    /// A backup's [`META_FILE`] exists but does not parse as a [`BackupMeta`].
    #[error("the backup record {path} is corrupt ({why})")]
    CorruptMeta {
        /// The record file.
        path: PathBuf,
        /// The JSON parse error.
        why: String,
    },
}

/// What to back up, and what to record about it.
#[derive(Debug, Clone)]
pub struct BackupRequest<'a> {
    /// The node home: its `data/` is backed up.
    pub layout: &'a Layout,
    /// Where backups go (`DAEMON_DATA_BACKUP_DIR`, else `DAEMON_HOME`); made if missing.
    pub backup_root: &'a Path,
    /// Where `current` points now (the binary that runs this data).
    pub from: &'a Current,
    /// The upgrade about to be applied.
    pub upgrade: &'a UpgradeName,
    /// That upgrade's height (from the swap journal), recorded as [`BackupMeta::upgrade_height`].
    pub upgrade_height: i64,
    /// The swap journal's `started_at`: a complete backup that this same swap already took
    /// (before a crash) is returned instead of taking a second one.
    pub swap_started_at: Option<&'a str>,
}

/// A backup that exists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backup {
    /// The backup folder, under its final name in the backup root.
    pub path: PathBuf,
    /// Its record: the one just written, or the one read back when `reused`.
    pub meta: BackupMeta,
    /// It was taken earlier by the same swap, not now.
    pub reused: bool,
}

fn write_err(path: &Path) -> impl FnOnce(io::Error) -> BackupError + '_ {
    move |source| BackupError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Takes a backup of `req.layout`'s `data/` into `req.backup_root` (see the module docs).
/// `fault` is called at each of [`FAULT_POINTS`]; pass `&|_| {}` outside the crash tests.
pub fn take(req: &BackupRequest<'_>, fault: &(dyn Fn(&str) + Sync)) -> Result<Backup, BackupError> {
    take_unless(req, fault, &AtomicBool::new(false))
}

/// [`take`], stopped once `cancel` is set: between two files, and before the final rename. A
/// stopped backup removes its partial copy and returns [`BackupError::Cancelled`]; one past its
/// rename is complete and is returned.
pub fn take_unless(
    req: &BackupRequest<'_>,
    fault: &(dyn Fn(&str) + Sync),
    cancel: &AtomicBool,
) -> Result<Backup, BackupError> {
    let root = req.backup_root;
    fs::create_dir_all(root).map_err(write_err(root))?;
    remove_stale_partials(root);
    if let Some(started) = req.swap_started_at {
        let earlier = list(root)?.into_iter().rev().find_map(|e| {
            let m = e.meta?;
            (m.is_of_home(&req.layout.home)
                && m.swap_started_at.as_deref() == Some(started)
                && &m.upgrade == req.upgrade)
                .then_some((e.path, m))
        });
        if let Some((path, meta)) = earlier {
            return Ok(Backup {
                path,
                meta,
                reused: true,
            });
        }
    }
    let tree = tree::walk(&req.layout.data_dir(), &[])?;
    let est = space::estimate_tree(&tree, root)?;
    est.check()?;
    if est.cross_device {
        tracing::warn!(
            "{} is on another filesystem than {}: nothing can be hard-linked, so this backup is a full copy ({})",
            root.display(),
            tree.root.display(),
            human_bytes(est.copied_bytes)
        );
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let base = meta::backup_name(&stamp, req.upgrade);
    let mut name = base.clone();
    let mut i = 1;
    while root.join(&name).exists() || root.join(meta::partial_name(&name)).exists() {
        name = format!("{base}.{i}");
        i += 1;
    }
    let dest = root.join(&name);
    let partial = root.join(meta::partial_name(&name));
    fs::create_dir(&partial).map_err(write_err(&partial))?;
    let lock = lock_dir(&partial);
    let made = (|| {
        let stats =
            snapshot::materialize(&tree, &partial, &|| fault("backup-mid-copy"), cancel)?.stats;
        let mut m = BackupMeta::new(
            &req.layout.home,
            &req.layout.daemon_name,
            req.from.clone(),
            req.upgrade.clone(),
            req.upgrade_height,
            req.swap_started_at.map(str::to_string),
        );
        m.cross_device = est.cross_device;
        m.stats = stats;
        m.files = Some(manifest::write(&partial)?);
        m.sequence = next_sequence(root, &req.layout.home)?;
        meta::write_meta(&partial, &m)?;
        fault("backup-before-rename");
        if cancel.load(Ordering::SeqCst) {
            return Err(BackupError::Cancelled);
        }
        sys::rename_noreplace(&partial, &dest).map_err(|source| BackupError::Copy {
            from: partial.clone(),
            to: dest.clone(),
            source,
        })?;
        crate::fsutil::sync_dir(root).map_err(write_err(root))?;
        Ok(m)
    })();
    drop(lock);
    match made {
        Ok(meta) => Ok(Backup {
            path: dest,
            meta,
            reused: false,
        }),
        Err(e) => {
            // Never leave a failed backup's partial copy on what may be a full disk.
            if partial.exists() {
                if let Err(rm) = fs::remove_dir_all(&partial) {
                    tracing::warn!("removing the failed backup {}: {rm}", partial.display());
                }
            }
            Err(e)
        }
    }
}

/// An exclusive `flock` on a folder, held by whoever works in it; `None` when someone else
/// holds it (or the filesystem cannot lock folders).
fn lock_dir(dir: &Path) -> Option<nix::fcntl::Flock<File>> {
    let f = File::open(dir).ok()?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).ok()
}

/// Removes the `.<name>.partial` folders of ours that no live process holds.
fn remove_stale_partials(root: &Path) {
    let Ok(rd) = fs::read_dir(root) else { return };
    for entry in rd.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !meta::is_partial_name(&name) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        if let Some(_lock) = lock_dir(&path) {
            match fs::remove_dir_all(&path) {
                Ok(()) => {
                    tracing::info!("removed {} left by an interrupted backup", path.display())
                }
                Err(e) => tracing::warn!("removing {}: {e}", path.display()),
            }
        }
    }
}

/// This home's switchyard backups in `backup_root`, oldest first by their records' sequence
/// (then the time in their names): see [`switchyard_core::backups_to_remove`].
pub fn of_home(backup_root: &Path, home: &Path) -> Result<Vec<BackupEntry>, BackupError> {
    Ok(ordered_of_home(backup_root, home)?
        .into_iter()
        .map(|(_, e)| e)
        .collect())
}

fn ordered_of_home(
    backup_root: &Path,
    home: &Path,
) -> Result<Vec<(BackupOrder, BackupEntry)>, BackupError> {
    let mut ours: Vec<(BackupOrder, BackupEntry)> = list(backup_root)?
        .into_iter()
        .filter_map(|e| {
            let m = e.meta.as_ref()?;
            let order = m.is_of_home(home).then(|| order_of(m, &e.name))?;
            Some((order, e))
        })
        .collect();
    ours.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(ours)
}

fn order_of(m: &BackupMeta, name: &str) -> BackupOrder {
    BackupOrder {
        sequence: m.sequence,
        name: match meta::name_stamp(name) {
            Some(stamp) => format!("{stamp} {name}"),
            None => name.to_string(),
        },
    }
}

/// The sequence number of the next backup of `home` in `root`.
fn next_sequence(root: &Path, home: &Path) -> Result<u64, BackupError> {
    Ok(of_home(root, home)?
        .iter()
        .filter_map(|e| e.meta.as_ref().map(|m| m.sequence))
        .max()
        .unwrap_or(0)
        + 1)
}

/// Removes this home's oldest switchyard backups in `backup_root` beyond the newest `keep`
/// (`SWITCHYARD_BACKUP_KEEP`), never the one the swap that started at `taken_by_swap` (the
/// swap journal's `started_at`) took, whatever its place in the order. Only folders whose record names `home` are counted or touched:
/// cosmovisor's backups, another node's, and anything unreadable are left alone. They are
/// ordered by their records' sequence, not only by the time in their names, so a backup stamped
/// by a wrong clock does not outlive newer ones. Each one is first renamed to a hidden partial
/// name, so a crash mid-removal never leaves a half-deleted folder that looks like a backup.
/// Returns what was removed, oldest first.
pub fn prune(
    backup_root: &Path,
    home: &Path,
    keep: NonZeroUsize,
    taken_by_swap: Option<&str>,
) -> Result<Vec<PathBuf>, BackupError> {
    let (orders, ours): (Vec<BackupOrder>, Vec<BackupEntry>) =
        ordered_of_home(backup_root, home)?.into_iter().unzip();
    let protect = taken_by_swap.and_then(|started| {
        ours.iter().rposition(|e| {
            e.meta
                .as_ref()
                .is_some_and(|m| m.swap_started_at.as_deref() == Some(started))
        })
    });
    let doomed = backups_to_remove(&orders, keep.get(), protect);
    let mut removed = Vec::new();
    for e in doomed.into_iter().map(|i| &ours[i]) {
        let Some(lock) = lock_dir(&e.path) else {
            tracing::warn!("{} is in use; not removing it", e.path.display());
            continue;
        };
        let hidden = backup_root.join(meta::partial_name(&e.name));
        sys::rename_noreplace(&e.path, &hidden).map_err(write_err(&e.path))?;
        crate::fsutil::sync_dir(backup_root).map_err(write_err(backup_root))?;
        fs::remove_dir_all(&hidden).map_err(write_err(&hidden))?;
        drop(lock);
        removed.push(e.path.clone());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) mod testutil;
