//! Putting a backup back as `data/` (`switchyard restore-backup`).
//!
//! The restore never consumes the backup and never deletes `data/`:
//! 1. refuse while the node runs (its recorded pid is alive, or another process holds a lock on
//!    one of its databases) or a swap is half done; the caller holds the supervisor's run lock;
//! 2. check that the binary matching the backup exists (from the backup's record, or named by
//!    the operator for a backup without one) and that the restored tree fits on the disk;
//! 3. record the restore in `cosmovisor/switchyard/restore.json`;
//! 4. build the restored tree beside `data/` as a hidden `.data-restore.partial`, as a backup is
//!    built (tables hard-linked from the backup, which stays intact: neither side ever changes a
//!    table in place), with the newer of the two `priv_validator_state.json` files (see
//!    [`super::validator_state`]), all fsynced; record its inode in the journal;
//! 5. swap the two folders in one atomic `renameat2(RENAME_EXCHANGE)`: at every instant the name
//!    `data` holds a complete tree, the old one or the restored one;
//! 6. rename the old data (now under the hidden name) to `data-before-restore-<time>`;
//! 7. point `current` at the matching binary, forget the applied records of the upgrades the
//!    restored state is before (so they are applied again when the node reaches them), and
//!    remove the journal.
//!
//! A process killed anywhere leaves the journal, and `switchyard run` refuses to start the node
//! while it exists. The next `restore-backup` finishes the restore when the folders were already
//! exchanged (the name `data` holds the recorded inode), and otherwise drops the partial tree,
//! leaving `data/` as it was. When `data` is a symlink to another disk, the folder it points at is
//! the one replaced, beside itself on that disk.

use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use switchyard_core::{Current, UpgradeInfo, UpgradeName};

use super::manifest::{self, MANIFEST_FILE};
use super::meta::{read_meta, BackupMeta, META_FILE};
use super::snapshot::{self, SnapshotStats};
use super::validator_state::{self, Choice};
use super::{space, sys, tree, BackupError};
use crate::journal::{now_rfc3339, Journal, JournalError};
use crate::layout::{Layout, LayoutError};
use crate::pidfile;

/// Fault points [`restore`] and [`recover`] report to their `fault` hook, in order.
pub const FAULT_POINTS: &[&str] = &[
    "restore-mid-copy",
    "restore-before-exchange",
    "restore-after-exchange",
    "restore-after-aside",
    "restore-after-current",
];

/// Why a restore, or the recovery of an interrupted one, failed or was refused.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Walking the backup, measuring the space or building the restored tree failed, or the
    /// space check refused.
    #[error(transparent)]
    Backup(#[from] BackupError),
    /// The swap journal or the applied records could not be read or written, or `restore.json`
    /// is corrupt.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// The binary `current` is to point at is missing or not executable, or `current` could not
    /// be set.
    #[error(transparent)]
    Layout(#[from] LayoutError),
    /// A file operation failed: the restore journal, `data/`, `priv_validator_state.json`, an
    /// fsync or a rename.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder acted on.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// An interrupted restore is recorded: [`restore`] refuses until [`recover`] has finished or
    /// rolled it back.
    #[error("an interrupted restore of {backup} is recorded in {path}; run `switchyard restore-backup` again to finish it (or roll it back) first")]
    Pending {
        /// The restore journal, `restore.json`.
        path: PathBuf,
        /// The backup that restore was putting back.
        backup: PathBuf,
    },
    /// The node switchyard started (recorded in `node.pid`) is still alive.
    #[error("the node is running (pid {pid}, {binary}); stop it and switchyard first")]
    NodeRunning {
        /// Its pid.
        pid: i32,
        /// The binary it was started from.
        binary: PathBuf,
    },
    /// Another process holds the `LOCK` of a database in `data/` (a node started by hand).
    #[error("{path} is locked by {who}: a node is running on this data; stop it first")]
    DatabaseInUse {
        /// The `LOCK` file.
        path: PathBuf,
        /// Who holds it, e.g. `pid 1234 (fcntl lock)` or `another process (flock)`.
        who: String,
    },
    /// The swap journal exists: an upgrade swap is half done.
    #[error("a swap is in progress ({path}); start switchyard to finish it, then restore")]
    SwapPending {
        /// The swap journal, `swap.json`.
        path: PathBuf,
    },
    /// The path named is not a folder, or is a hidden `.partial` folder of work in progress.
    #[error("{0} is not a backup folder")]
    NotABackup(PathBuf),
    /// The folder holds no switchyard record (or one that cannot be read), and is neither one
    /// of cosmovisor's backups (`data-backup-<date>`) nor data a restore set aside
    /// (`data-before-restore-<time>`) holding a node's data, named with `--current`.
    #[error("{path} is not a backup of this node: {why}. Only a folder switchyard backed up for this home (see `switchyard restore-backup --list`) is restored, or with --current one of cosmovisor's `data-backup-<date>` folders or the `data-before-restore-<time>` a restore set aside")]
    NoRecord {
        /// The folder named.
        path: PathBuf,
        /// What is missing: the record, or why it cannot be read.
        why: String,
    },
    /// The backup's files do not match the list made when it was taken (a file written in
    /// place through a hard link, removed, added or replaced): restoring it would give the node
    /// a database that is not the one backed up.
    #[error("{path} no longer matches what was backed up ({why}); it is not restored and data/ is untouched. A table file changed in place in data/ after the backup (cp over it, rsync --inplace) changes the backup's hard-linked copy too; restore another backup")]
    Damaged {
        /// The backup folder.
        path: PathBuf,
        /// What differs.
        why: String,
    },
    /// The backup's record names another node home.
    #[error("{path} is a backup of the node in {home}, not of this one")]
    ForeignBackup {
        /// The backup folder.
        path: PathBuf,
        /// The home its record names.
        home: PathBuf,
    },
    /// The backup has no readable record and no binary was named, so what `current` should
    /// point at is unknown.
    #[error("{path} has no switchyard record ({why}), so which binary runs it is unknown: name it with --current genesis or --current <upgrade>")]
    NeedCurrent {
        /// The backup folder.
        path: PathBuf,
        /// Why there is no record: it is missing, or the error reading it.
        why: String,
    },
    /// The hidden folder the restored tree is built in already exists, but no restore is
    /// recorded.
    #[error("{path} exists but no restore is recorded; it is not switchyard's to remove: move it away first")]
    StrayPartial {
        /// That folder, `.<data folder's name>-restore.partial` beside the data folder.
        path: PathBuf,
    },
    /// `data/`, or what its symlink points at, exists but is not a folder.
    #[error("{path} is not a folder")]
    DataNotAFolder {
        /// The path that is not a folder.
        path: PathBuf,
    },
    /// The filesystem holding the data cannot `renameat2(RENAME_EXCHANGE)`; found by a probe
    /// with two empty folders before anything is written (or by the exchange itself).
    #[error("the filesystem of {dir} cannot swap two folders atomically (renameat2 RENAME_EXCHANGE: {source}); switchyard does not restore there, since a crash between two plain renames would leave the home without data/")]
    NoExchange {
        /// The folder holding the data, where the exchange was tried.
        dir: PathBuf,
        /// The error `renameat2` returned.
        #[source]
        source: io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The journal of a restore in progress (`cosmovisor/switchyard/restore.json`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RestoreRecord {
    /// The backup being restored.
    pub backup: PathBuf,
    /// The folder replaced: `$DAEMON_HOME/data`, or where that symlink points.
    pub data: PathBuf,
    /// Where the restored tree is built, beside `data`.
    pub building: PathBuf,
    /// Where the replaced data goes.
    pub aside: PathBuf,
    /// What `current` is set to.
    pub current: Current,
    /// Applied records at or above this height are forgotten.
    pub forget_from_height: Option<i64>,
    /// (device, inode) of the built tree, recorded just before the exchange.
    pub built: Option<(u64, u64)>,
    /// Which `priv_validator_state.json` the built tree got; `None` until it is built.
    pub validator_state: Option<Choice>,
    /// How the built tree's files were made; all zero until it is built.
    #[serde(default)]
    pub stats: SnapshotStats,
    /// When the restore started (RFC 3339, UTC).
    pub started_at: String,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// The backup folder restored; it is left as it was.
    pub backup: PathBuf,
    /// The folder that now holds the restored data.
    pub data: PathBuf,
    /// Where the data it replaced is kept (`None` when there was no `data/`).
    pub set_aside: Option<PathBuf>,
    /// What `current` now points at.
    pub current: Current,
    /// Applied upgrades forgotten, to be applied again when the node reaches them.
    pub forgotten: Vec<UpgradeName>,
    /// Which `priv_validator_state.json` the restored data got.
    pub validator_state: Option<Choice>,
    /// How the restored tree's files were made.
    pub stats: SnapshotStats,
}

/// What [`recover`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// No restore was interrupted.
    Nothing,
    /// One was interrupted before the folders were exchanged: its partial tree was removed and
    /// `data/` is as it was.
    RolledBack {
        /// The backup that restore was putting back.
        backup: PathBuf,
    },
    /// One was interrupted after the exchange, and is now finished.
    Finished(Restored),
}

/// What to restore.
#[derive(Debug, Clone)]
pub struct RestoreRequest<'a> {
    /// The node home whose `data/` is replaced and whose `current` is set.
    pub layout: &'a Layout,
    /// The backup folder.
    pub backup: &'a Path,
    /// The binary `current` must point at; `None`: the one the backup's record names.
    pub current: Option<Current>,
}

fn journal_path(layout: &Layout) -> PathBuf {
    layout.state_dir().join("restore.json")
}

/// The restore in progress, if one was interrupted.
pub fn pending(layout: &Layout) -> Result<Option<RestoreRecord>, RestoreError> {
    let path = journal_path(layout);
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            RestoreError::Journal(JournalError::Corrupt {
                path,
                why: e.to_string(),
            })
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(RestoreError::Io { path, source }),
    }
}

fn write_record(layout: &Layout, rec: &RestoreRecord) -> Result<(), RestoreError> {
    let path = journal_path(layout);
    let bytes = serde_json::to_vec_pretty(rec).expect("restore records always serialise");
    crate::fsutil::write_atomic(&path, &bytes).map_err(io_err(&path))
}

fn clear_record(layout: &Layout) -> Result<(), RestoreError> {
    let path = journal_path(layout);
    match fs::remove_file(&path) {
        Ok(()) => crate::fsutil::sync_dir(&layout.state_dir()).map_err(io_err(&path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_err(&path)(e)),
    }
}

/// Refuses while the node runs on this home: the node switchyard recorded (`node.pid`) is
/// alive, or another process holds the `LOCK` of one of the databases in `data/` (a node
/// started by hand). The supervisor's own run lock is the caller's to hold.
pub fn check_stopped(layout: &Layout) -> Result<(), RestoreError> {
    if let Some(rec) = pidfile::load_node_record(layout) {
        if pidfile::is_same_process_alive(&rec) {
            return Err(RestoreError::NodeRunning {
                pid: rec.pid,
                binary: rec.binary,
            });
        }
    }
    let data = layout.data_dir();
    let mut dirs = vec![data.clone()];
    for depth in 0..2 {
        let mut next = Vec::new();
        for d in &dirs {
            let Ok(rd) = fs::read_dir(d) else { continue };
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    next.push(e.path());
                }
            }
        }
        for d in &next {
            let lock = d.join("LOCK");
            if lock.is_file() {
                if let Some(who) = sys::lock_holder(&lock).map_err(io_err(&lock))? {
                    return Err(RestoreError::DatabaseInUse { path: lock, who });
                }
            }
        }
        if depth == 0 {
            dirs = next;
        }
    }
    Ok(())
}

fn inode_of(p: &Path) -> Option<(u64, u64)> {
    fs::symlink_metadata(p).ok().map(|m| (m.dev(), m.ino()))
}

/// The folder the restore replaces: `data/`, or where it points when it is a symlink.
fn real_data_dir(layout: &Layout) -> Result<(PathBuf, bool), RestoreError> {
    let data = layout.data_dir();
    match fs::symlink_metadata(&data) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok((data, false)),
        Err(e) => Err(io_err(&data)(e)),
        Ok(m) if m.file_type().is_symlink() => {
            let real = fs::canonicalize(&data).map_err(io_err(&data))?;
            if !real.is_dir() {
                return Err(RestoreError::DataNotAFolder { path: real });
            }
            Ok((real, true))
        }
        Ok(m) if m.is_dir() => Ok((data, true)),
        Ok(_) => Err(RestoreError::DataNotAFolder { path: data }),
    }
}

/// The upgrade a backup without a record stands at, from the node's own `upgrade-info.json`
/// inside it (the node writes it at the halt, before any backup is taken).
fn upgrade_info_of(backup: &Path) -> Option<(UpgradeName, i64)> {
    let bytes = fs::read(backup.join("upgrade-info.json")).ok()?;
    UpgradeInfo::parse(&bytes, true)
        .ok()
        .map(|i| (i.name, i.height))
}

/// Whether `dir` is a node's data without a switchyard record that may still be restored (with
/// `--current`): one of cosmovisor's backups, named `data-backup-<Y>-<M>-<D>` (its `2006-1-2`
/// layout), or the data a restore set aside, `<data>-before-restore-<time>[.N]` — and in both
/// cases holding a node's data (a database folder or the validator state).
pub(crate) fn restorable_without_record(dir: &Path) -> bool {
    let Some(name) = dir.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let digits = |s: &str, min: usize, max: usize| {
        (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let cosmovisor = name.strip_prefix(super::NAME_PREFIX).is_some_and(|date| {
        let parts: Vec<&str> = date.split('-').collect();
        parts.len() == 3
            && digits(parts[0], 4, 4)
            && digits(parts[1], 1, 2)
            && digits(parts[2], 1, 2)
    });
    let set_aside = name.rsplit_once("-before-restore-").is_some_and(|(_, t)| {
        let (stamp, n) = t.split_once('.').unwrap_or((t, "0"));
        let b = stamp.as_bytes();
        b.len() == 16
            && digits(&stamp[..8], 8, 8)
            && b[8] == b'T'
            && digits(&stamp[9..15], 6, 6)
            && b[15] == b'Z'
            && digits(n, 1, 9)
    });
    let named = cosmovisor || set_aside;
    let holds_data = || {
        dir.join(validator_state::FILE).is_file()
            || fs::read_dir(dir).is_ok_and(|rd| {
                rd.flatten().any(|e| {
                    e.file_name().to_string_lossy().ends_with(".db")
                        && e.file_type().is_ok_and(|t| t.is_dir())
                })
            })
    };
    named && holds_data()
}

/// Refuses a backup whose files no longer match the list made when it was taken (see
/// [`super::manifest`]); one taken before that list existed must still hold as many files as
/// its record counted.
fn check_intact(
    backup: &Path,
    tree: &tree::Tree,
    meta: Option<&BackupMeta>,
) -> Result<(), RestoreError> {
    let damaged = |why: String| RestoreError::Damaged {
        path: backup.to_path_buf(),
        why,
    };
    match manifest::verify(tree)? {
        Some(Ok(())) => Ok(()),
        Some(Err(m)) => Err(damaged(m.to_string())),
        None => {
            let Some(m) = meta else { return Ok(()) };
            let s = &m.stats;
            let recorded = s.linked_files + s.copied_files + s.cloned_files;
            let found = manifest::count_files(tree);
            if found != recorded {
                return Err(damaged(format!(
                    "it holds {found} files and its record counts {recorded}"
                )));
            }
            Ok(())
        }
    }
}

/// Checks that `dir`'s filesystem can exchange two folders, with two empty ones.
fn probe_exchange(dir: &Path) -> Result<(), RestoreError> {
    let a = dir.join(format!(".restore-probe-a-{}", std::process::id()));
    let b = dir.join(format!(".restore-probe-b-{}", std::process::id()));
    let _ = fs::remove_dir(&a);
    let _ = fs::remove_dir(&b);
    fs::create_dir(&a).map_err(io_err(&a))?;
    let result = fs::create_dir(&b).map_err(io_err(&b)).and_then(|()| {
        sys::exchange(&a, &b).map_err(|source| RestoreError::NoExchange {
            dir: dir.to_path_buf(),
            source,
        })
    });
    let _ = fs::remove_dir(&a);
    let _ = fs::remove_dir(&b);
    result
}

/// Restores `req.backup` as `data/` (see the module docs). `fault` is called at each of
/// [`FAULT_POINTS`]; pass `&|_| {}` outside the crash tests.
pub fn restore(
    req: &RestoreRequest<'_>,
    fault: &(dyn Fn(&str) + Sync),
) -> Result<Restored, RestoreError> {
    let layout = req.layout;
    refuse_while_busy(layout)?;
    let meta = read_backup_record(req)?;
    let current = choose_current(req, meta.as_ref())?;
    Layout::check_executable(&layout.binary_of(&current))?;
    let forget_from_height = forget_from(req.backup, meta.as_ref(), &current);

    let places = find_places(layout)?;
    let tree = check_backup_fits(req.backup, meta.as_ref(), &places)?;
    let current_state = read_current_state(&places)?;

    let mut rec = start_record(layout, req.backup, &places, current, forget_from_height)?;
    if let Err(e) = build_restored_tree(&mut rec, &tree, current_state.as_deref(), fault) {
        // Nothing was exchanged: drop what was built, and the record.
        return roll_back(layout, &places.building, e);
    }
    write_record(layout, &rec)?;
    fault("restore-before-exchange");
    if let Err(e) = swap_in(&places) {
        return roll_back(layout, &places.building, e);
    }
    crate::fsutil::sync_dir(&places.parent).map_err(io_err(&places.parent))?;
    fault("restore-after-exchange");
    finish(layout, &rec, fault)
}

/// Refuses while a restore or a swap is half done, or the node runs.
fn refuse_while_busy(layout: &Layout) -> Result<(), RestoreError> {
    if let Some(rec) = pending(layout)? {
        return Err(RestoreError::Pending {
            path: journal_path(layout),
            backup: rec.backup,
        });
    }
    check_stopped(layout)?;
    if Journal::new(layout).pending_swap()?.is_some() {
        return Err(RestoreError::SwapPending {
            path: layout.state_dir().join("swap.json"),
        });
    }
    Ok(())
}

/// Refuses a path that is not a backup of this node; returns its record, if it has one.
fn read_backup_record(req: &RestoreRequest<'_>) -> Result<Option<BackupMeta>, RestoreError> {
    let backup = req.backup;
    let is_partial = backup
        .file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".partial"));
    if !backup.is_dir() || is_partial {
        return Err(RestoreError::NotABackup(backup.to_path_buf()));
    }
    match read_meta(backup) {
        Ok(Some(m)) if !m.is_of_home(&req.layout.home) => Err(RestoreError::ForeignBackup {
            path: backup.to_path_buf(),
            home: m.home,
        }),
        Ok(Some(m)) => Ok(Some(m)),
        Ok(None) if restorable_without_record(backup) && req.current.is_some() => Ok(None),
        Ok(None) => {
            let why = if restorable_without_record(backup) {
                format!("it has no {META_FILE} (cosmovisor's backup, or data a restore set aside), so which binary runs it is unknown: name it with --current genesis or --current <upgrade>")
            } else {
                format!("it has no {META_FILE}")
            };
            Err(RestoreError::NoRecord {
                path: backup.to_path_buf(),
                why,
            })
        }
        Err(e) => Err(RestoreError::NoRecord {
            path: backup.to_path_buf(),
            why: e.to_string(),
        }),
    }
}

/// What `current` is to point at: the binary asked for, else the one the backup's record names.
fn choose_current(
    req: &RestoreRequest<'_>,
    meta: Option<&BackupMeta>,
) -> Result<Current, RestoreError> {
    match (&req.current, meta) {
        (Some(c), Some(m)) => {
            if *c != m.from {
                tracing::warn!(
                    "{} was taken while `current` pointed at {}; pointing it at {} as asked",
                    req.backup.display(),
                    m.from,
                    c
                );
            }
            Ok(c.clone())
        }
        (Some(c), None) => Ok(c.clone()),
        (None, Some(m)) => Ok(m.from.clone()),
        (None, None) => Err(RestoreError::NeedCurrent {
            path: req.backup.to_path_buf(),
            why: format!("no {META_FILE}: cosmovisor's, or an older switchyard's"),
        }),
    }
}

/// The height from which applied records are forgotten, when the data's upgrade is known.
fn forget_from(backup: &Path, meta: Option<&BackupMeta>, current: &Current) -> Option<i64> {
    // The upgrade the data stands at: the one recorded, else the one the node's own
    // upgrade-info.json names. Unless `current` is that upgrade's binary (the data is after
    // it), it and everything applied later are undone.
    let at = match meta {
        Some(m) => Some((m.upgrade.clone(), m.upgrade_height)),
        None => upgrade_info_of(backup),
    };
    at.map(|(name, h)| if current.is_upgrade(&name) { h + 1 } else { h })
}

/// Where a restore works: the folder it replaces and the names beside it.
struct Places {
    /// The folder replaced: `data/`, or where that symlink points.
    data: PathBuf,
    /// Whether `data` exists.
    data_exists: bool,
    /// The folder holding `data`.
    parent: PathBuf,
    /// The hidden folder the restored tree is built in.
    building: PathBuf,
    /// Where the replaced data goes, a name not yet taken.
    aside: PathBuf,
}

/// Finds the folder to replace and free names beside it; refuses a stray building folder.
fn find_places(layout: &Layout) -> Result<Places, RestoreError> {
    let (data, data_exists) = real_data_dir(layout)?;
    let parent = data
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("/"));
    let base = data
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "data".into());
    let building = parent.join(format!(".{base}-restore.partial"));
    if fs::symlink_metadata(&building).is_ok() {
        return Err(RestoreError::StrayPartial { path: building });
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut aside = parent.join(format!("{base}-before-restore-{stamp}"));
    let mut i = 1;
    while fs::symlink_metadata(&aside).is_ok() {
        aside = parent.join(format!("{base}-before-restore-{stamp}.{i}"));
        i += 1;
    }
    Ok(Places {
        data,
        data_exists,
        parent,
        building,
        aside,
    })
}

/// Walks the backup; refuses it if damaged or too big, or if the data cannot be exchanged.
fn check_backup_fits(
    backup: &Path,
    meta: Option<&BackupMeta>,
    places: &Places,
) -> Result<tree::Tree, RestoreError> {
    let tree = tree::walk(backup, &[META_FILE, MANIFEST_FILE])?;
    check_intact(backup, &tree, meta)?;
    let est = space::estimate_tree(&tree, &places.parent)?;
    est.check()?;
    if est.cross_device {
        tracing::warn!(
            "{} is on another filesystem than {}: nothing can be hard-linked, so the restore is a full copy ({})",
            backup.display(),
            places.parent.display(),
            super::human_bytes(est.copied_bytes)
        );
    }
    if places.data_exists {
        probe_exchange(&places.parent)?;
    }
    Ok(tree)
}

/// The replaced data's `priv_validator_state.json`, if there is data and it has one.
fn read_current_state(places: &Places) -> Result<Option<Vec<u8>>, RestoreError> {
    if places.data_exists {
        let data = &places.data;
        validator_state::read(data).map_err(io_err(&data.join(validator_state::FILE)))
    } else {
        Ok(None)
    }
}

/// Records the restore in the journal, before anything is written beside the data.
fn start_record(
    layout: &Layout,
    backup: &Path,
    places: &Places,
    current: Current,
    forget_from_height: Option<i64>,
) -> Result<RestoreRecord, RestoreError> {
    let rec = RestoreRecord {
        backup: backup.to_path_buf(),
        data: places.data.clone(),
        building: places.building.clone(),
        aside: places.aside.clone(),
        current,
        forget_from_height,
        built: None,
        validator_state: None,
        stats: SnapshotStats::default(),
        started_at: now_rfc3339(),
    };
    write_record(layout, &rec)?;
    Ok(rec)
}

/// Builds the restored tree from the backup with the newer validator state; notes it in `rec`.
fn build_restored_tree(
    rec: &mut RestoreRecord,
    tree: &tree::Tree,
    current_state: Option<&[u8]>,
    fault: &(dyn Fn(&str) + Sync),
) -> Result<(), RestoreError> {
    fs::create_dir(&rec.building).map_err(io_err(&rec.building))?;
    rec.stats = snapshot::materialize(
        tree,
        &rec.building,
        &|| fault("restore-mid-copy"),
        &std::sync::atomic::AtomicBool::new(false),
    )?
    .stats;
    let backup_state = validator_state::read(&rec.backup)
        .map_err(io_err(&rec.backup.join(validator_state::FILE)))?;
    let choice = validator_state::choose(current_state, backup_state.as_deref());
    if matches!(choice, Choice::Current | Choice::CurrentUnreadable) {
        keep_current_state(&rec.data, &rec.building, current_state.unwrap_or_default())?;
    }
    if choice == Choice::CurrentUnreadable {
        tracing::warn!(
            "{} cannot be read; it is kept as it is rather than going back to the backup's older one (the node will not start until it is fixed)",
            rec.data.join(validator_state::FILE).display()
        );
    }
    rec.validator_state = Some(choice);
    rec.built = inode_of(&rec.building);
    Ok(())
}

/// Puts the built tree under the data's name: exchanged with the old data, or renamed there.
fn swap_in(places: &Places) -> Result<(), RestoreError> {
    if places.data_exists {
        sys::exchange(&places.data, &places.building).map_err(|source| RestoreError::NoExchange {
            dir: places.parent.clone(),
            source,
        })
    } else {
        sys::rename_noreplace(&places.building, &places.data).map_err(io_err(&places.data))
    }
}

/// After a failure before the exchange: drops the built tree and the journal, then fails.
fn roll_back(layout: &Layout, building: &Path, e: RestoreError) -> Result<Restored, RestoreError> {
    let _ = fs::remove_dir_all(building);
    clear_record(layout)?;
    Err(e)
}

/// Copies the replaced data's `priv_validator_state.json` (bytes, mode, owner) into the tree
/// being built.
fn keep_current_state(data: &Path, building: &Path, bytes: &[u8]) -> Result<(), RestoreError> {
    let from = data.join(validator_state::FILE);
    let to = building.join(validator_state::FILE);
    let m = fs::metadata(&from).map_err(io_err(&from))?;
    crate::fsutil::write_atomic_with_mode(&to, bytes, Some(m.permissions().mode() & 0o7777))
        .map_err(io_err(&to))?;
    if nix::unistd::geteuid().is_root() {
        std::os::unix::fs::chown(&to, Some(m.uid()), Some(m.gid())).map_err(io_err(&to))?;
    }
    Ok(())
}

/// The steps after the exchange; each one can be run again.
fn finish(
    layout: &Layout,
    rec: &RestoreRecord,
    fault: &(dyn Fn(&str) + Sync),
) -> Result<Restored, RestoreError> {
    let parent = rec.data.parent().unwrap_or(Path::new("/"));
    let mut set_aside = None;
    if fs::symlink_metadata(&rec.building).is_ok() {
        // After the exchange the hidden name holds the data that was replaced.
        sys::rename_noreplace(&rec.building, &rec.aside).map_err(io_err(&rec.aside))?;
        crate::fsutil::sync_dir(parent).map_err(io_err(parent))?;
        set_aside = Some(rec.aside.clone());
        fault("restore-after-aside");
    } else if rec.aside.exists() {
        set_aside = Some(rec.aside.clone());
    }
    layout.set_current(&rec.current)?;
    fault("restore-after-current");
    let forgotten = match rec.forget_from_height {
        Some(h) => Journal::new(layout)
            .forget_applied_from(h)?
            .into_iter()
            .map(|r| r.name)
            .collect(),
        None => Vec::new(),
    };
    clear_record(layout)?;
    Ok(Restored {
        backup: rec.backup.clone(),
        data: rec.data.clone(),
        set_aside,
        current: rec.current.clone(),
        forgotten,
        validator_state: rec.validator_state.clone(),
        stats: rec.stats,
    })
}

/// Finishes or rolls back a restore that was interrupted (see the module docs).
pub fn recover(layout: &Layout, fault: &(dyn Fn(&str) + Sync)) -> Result<Recovered, RestoreError> {
    let Some(rec) = pending(layout)? else {
        return Ok(Recovered::Nothing);
    };
    let exchanged = rec.built.is_some() && inode_of(&rec.data) == rec.built;
    if exchanged {
        tracing::warn!(
            "finishing the interrupted restore of {} (data/ already holds it)",
            rec.backup.display()
        );
        return finish(layout, &rec, fault).map(Recovered::Finished);
    }
    tracing::warn!(
        "rolling back the interrupted restore of {}: data/ was not replaced",
        rec.backup.display()
    );
    if fs::symlink_metadata(&rec.building).is_ok() {
        fs::remove_dir_all(&rec.building).map_err(io_err(&rec.building))?;
    }
    clear_record(layout)?;
    Ok(Recovered::RolledBack { backup: rec.backup })
}
