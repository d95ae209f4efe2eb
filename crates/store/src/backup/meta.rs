//! Backup names and the record switchyard writes inside each of its backups.
//!
//! A switchyard backup is a folder `data-backup-<UTC YYYYMMDDTHHMMSSZ>-<upgrade>` in the backup
//! folder (`DAEMON_DATA_BACKUP_DIR`, else `DAEMON_HOME`), holding the snapshot of `data/` and
//! [`META_FILE`], which says which home it belongs to, which binary `current` pointed at (the
//! one that matches this data), the upgrade about to be applied and its height, and when it was
//! taken. The record is written before the folder gets its final name, so every complete backup
//! has one. The name sorts by time; the record is what makes it ours: retention only ever
//! removes folders that carry a record naming this home.
//!
//! cosmovisor's backups (`data-backup-<Y>-<M>-<D>`, as do switchyard's before this record
//! existed) are listed too, without a record: they can be restored by naming the binary that
//! matches them, and are never removed.
//!
//! Work in progress is a hidden `.<name>.partial` folder, locked (`flock`) by the process
//! working in it; an unlocked one is what a killed process left, and is removed.

use std::fs;
use std::path::{Path, PathBuf};

use switchyard_core::{Current, UpgradeName};

use super::snapshot::SnapshotStats;
use super::BackupError;

/// The record's file name inside a backup (removed again when the backup is restored).
pub const META_FILE: &str = "switchyard-backup.json";
/// Every backup name, cosmovisor's and ours, starts with this.
pub const NAME_PREFIX: &str = "data-backup-";
const FORMAT: u32 = 1;
/// At most this many bytes of the upgrade name go into the folder name (the record has it all).
const NAME_UPGRADE_MAX: usize = 64;

/// What switchyard records inside each backup it takes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BackupMeta {
    /// The version of this record's layout; 1 so far.
    pub format: u32,
    /// `DAEMON_HOME` of the node whose data this is.
    pub home: PathBuf,
    /// `DAEMON_NAME`: the binary's file name under each `bin/` folder.
    pub daemon_name: String,
    /// Where `current` pointed when the backup was taken: the binary that runs this data.
    pub from: Current,
    /// The upgrade that was about to be applied.
    pub upgrade: UpgradeName,
    /// That upgrade's height: the data is the node's state after block `upgrade_height - 1`.
    pub upgrade_height: i64,
    /// When the backup was taken (RFC 3339, UTC).
    pub taken_at: String,
    /// The swap journal's `started_at` of the swap that took it (a swap resumed after a crash
    /// reuses its own backup rather than taking a second one).
    #[serde(default)]
    pub swap_started_at: Option<String>,
    /// The backup folder was on another filesystem: everything was copied.
    pub cross_device: bool,
    /// How the snapshot's files were made: linked, cloned or copied.
    pub stats: SnapshotStats,
    /// The version of switchyard that took the backup.
    pub switchyard_version: String,
    /// How many files (symlinks included) the backup holds, as listed in its
    /// [`super::MANIFEST_FILE`]; `None` in records from before that list existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// One more than the highest sequence of this home's backups already in the folder when it
    /// was taken: the order retention and "the newest" go by, whatever the clock said (0 in
    /// records from before it existed).
    #[serde(default)]
    pub sequence: u64,
}

impl BackupMeta {
    pub(crate) fn new(
        home: &Path,
        daemon_name: &str,
        from: Current,
        upgrade: UpgradeName,
        upgrade_height: i64,
        swap_started_at: Option<String>,
    ) -> Self {
        BackupMeta {
            format: FORMAT,
            home: home.to_path_buf(),
            daemon_name: daemon_name.to_string(),
            from,
            upgrade,
            upgrade_height,
            taken_at: crate::journal::now_rfc3339(),
            swap_started_at,
            cross_device: false,
            stats: SnapshotStats::default(),
            switchyard_version: env!("CARGO_PKG_VERSION").to_string(),
            files: None,
            sequence: 0,
        }
    }

    /// Whether this backup belongs to the node home `home`.
    pub fn is_of_home(&self, home: &Path) -> bool {
        same_path(&self.home, home)
    }
}

/// Whether two paths name the same folder (as written, or once symlinks are resolved).
pub(crate) fn same_path(a: &Path, b: &Path) -> bool {
    a == b
        || matches!(
            (fs::canonicalize(a), fs::canonicalize(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// One backup found in a backup folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupEntry {
    /// The folder name (what `restore-backup NAME` takes).
    pub name: String,
    /// The folder's full path: the backup folder joined with `name`.
    pub path: PathBuf,
    /// switchyard's record; `None` for cosmovisor's backups (and switchyard's older ones).
    pub meta: Option<BackupMeta>,
    /// Why the record could not be read, when it could not (the backup is then treated as
    /// someone else's: never removed, restorable only by naming its binary).
    pub problem: Option<String>,
}

/// The folder name for a backup taken at `stamp` (`YYYYMMDDTHHMMSSZ`) for `upgrade`.
pub(crate) fn backup_name(stamp: &str, upgrade: &UpgradeName) -> String {
    let mut u = upgrade.as_str();
    if u.len() > NAME_UPGRADE_MAX {
        let mut end = NAME_UPGRADE_MAX;
        while !u.is_char_boundary(end) {
            end -= 1;
        }
        u = &u[..end];
    }
    format!("{NAME_PREFIX}{stamp}-{u}")
}

/// The hidden name of work in progress on `name`.
pub(crate) fn partial_name(name: &str) -> String {
    format!(".{name}.partial")
}

/// Whether a folder name is hidden work in progress of ours.
pub(crate) fn is_partial_name(name: &str) -> bool {
    name.starts_with(&format!(".{NAME_PREFIX}")) && name.ends_with(".partial")
}

/// The time stamp at the start of one of our names, if it has one.
pub(crate) fn name_stamp(name: &str) -> Option<&str> {
    let s = name.strip_prefix(NAME_PREFIX)?.get(..16)?;
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    (digits(0..8) && b[8] == b'T' && digits(9..15) && b[15] == b'Z').then_some(s)
}

/// Reads the record inside `backup`, if it has one.
pub fn read_meta(backup: &Path) -> Result<Option<BackupMeta>, BackupError> {
    let path = backup.join(META_FILE);
    match fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| BackupError::CorruptMeta {
                    path,
                    why: e.to_string(),
                })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(BackupError::Read { path, source }),
    }
}

pub(crate) fn write_meta(backup: &Path, meta: &BackupMeta) -> Result<(), BackupError> {
    let path = backup.join(META_FILE);
    let bytes = serde_json::to_vec_pretty(meta).expect("backup records always serialise");
    crate::fsutil::write_atomic(&path, &bytes).map_err(|source| BackupError::Write { path, source })
}

/// Every backup in `backup_root` — switchyard's and cosmovisor's — oldest first (ours by the
/// time in their name, others by modification time). A missing folder has none. A backup whose
/// record cannot be read is listed without it, with the reason in `problem`.
pub fn list(backup_root: &Path) -> Result<Vec<BackupEntry>, BackupError> {
    let rd = match fs::read_dir(backup_root) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BackupError::Read {
                path: backup_root.to_path_buf(),
                source,
            })
        }
    };
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|source| BackupError::Read {
            path: backup_root.to_path_buf(),
            source,
        })?;
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        if !name.starts_with(NAME_PREFIX) || !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let path = entry.path();
        let (meta, problem) = match read_meta(&path) {
            Ok(m) => (m, None),
            Err(e) => (None, Some(e.to_string())),
        };
        let key = match (&meta, name_stamp(&name)) {
            (Some(_), Some(stamp)) => stamp.to_string(),
            _ => {
                let mtime = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .map(chrono::DateTime::<chrono::Utc>::from)
                    .unwrap_or_default();
                mtime.format("%Y%m%dT%H%M%SZ").to_string()
            }
        };
        out.push((
            key,
            BackupEntry {
                name,
                path,
                meta,
                problem,
            },
        ));
    }
    out.sort_by(|a, b| (&a.0, &a.1.name).cmp(&(&b.0, &b.1.name)));
    Ok(out.into_iter().map(|(_, e)| e).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> UpgradeName {
        UpgradeName::parse(s, false).unwrap()
    }

    #[test]
    fn names_sort_by_time_and_are_told_apart() {
        let a = backup_name("20261122T140502Z", &n("v2"));
        assert_eq!(a, "data-backup-20261122T140502Z-v2");
        assert_eq!(name_stamp(&a), Some("20261122T140502Z"));
        assert_eq!(name_stamp("data-backup-2026-11-22"), None);
        assert_eq!(name_stamp("data-backup-2026-1-2"), None);
        assert!(is_partial_name(&partial_name(&a)));
        assert!(!is_partial_name("data-backup-x.partial"));
        let long = n(&"x".repeat(200));
        assert!(backup_name("20261122T140502Z", &long).len() <= 12 + 17 + 64);
    }

    #[test]
    fn list_finds_ours_and_cosmovisors_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in [
            "data-backup-20261122T140502Z-v3",
            "data-backup-20251122T140502Z-v2",
            "data-backup-2024-1-5",
            "data",
            ".data-backup-20261122T150000Z-v4.partial",
        ] {
            fs::create_dir_all(root.join(name)).unwrap();
        }
        for (name, up) in [
            ("data-backup-20261122T140502Z-v3", "v3"),
            ("data-backup-20251122T140502Z-v2", "v2"),
        ] {
            let m = BackupMeta::new(root, "simd", Current::Genesis, n(up), 10, None);
            write_meta(&root.join(name), &m).unwrap();
        }
        // cosmovisor's backup is older than both by its modification time
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1 << 30);
        File::open(root.join("data-backup-2024-1-5"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        let names: Vec<_> = list(root).unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(
            names,
            [
                "data-backup-2024-1-5",
                "data-backup-20251122T140502Z-v2",
                "data-backup-20261122T140502Z-v3"
            ]
        );
        assert!(list(&root.join("missing")).unwrap().is_empty());
    }

    #[test]
    fn a_corrupt_record_is_reported_and_the_backup_treated_as_foreign() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path().join("data-backup-20261122T140502Z-v3");
        fs::create_dir_all(&b).unwrap();
        fs::write(b.join(META_FILE), "{nope").unwrap();
        let all = list(dir.path()).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].meta, None);
        let why = all[0].problem.clone().unwrap();
        assert!(why.contains(META_FILE), "{why}");
    }

    use std::fs::File;
}
