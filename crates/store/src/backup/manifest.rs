//! The list of every file a backup holds, written beside its record when it is taken, and the
//! check a restore makes against it before touching `data/`.
//!
//! A backup's table files are hard links to the node's own: the same inode under two names. The
//! node never writes a table in place, but an operator can — `cp other.ldb data/x.db/000003.ldb`
//! or `rsync --inplace` rewrite the inode itself, and with it the backup's "copy". Nothing can
//! stop that on a filesystem without reflinks, so it is detected: for every file the list holds
//! its inode, length and modification time (to the nanosecond) as they were in the finished
//! backup. A write in place changes the modification time (and usually the length); a file
//! replaced under the same name changes the inode; a file removed is missing; a file added is
//! not on the list. [`verify`] reports all of them, and the restore refuses.
//!
//! Unlinking the node's name for a table (compaction) changes only the link count and the
//! change time, which are not recorded, so an untouched backup always verifies. A backup taken
//! before this list existed is checked by its file count alone (its record's statistics).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::tree::{Item, Kind, Tree};
use super::BackupError;

/// The list's file name inside a backup (left out of a restored tree).
pub const MANIFEST_FILE: &str = "switchyard-backup-files.json";
const FORMAT: u32 = 1;

/// What is recorded of one file or symlink of a backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct Entry {
    /// Path relative to the backup folder.
    pub path: PathBuf,
    /// The inode number.
    pub ino: u64,
    /// The length in bytes (a symlink's: its target's length).
    pub len: u64,
    /// The modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
    /// The file is a symlink (its target is not followed).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub symlink: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Manifest {
    format: u32,
    files: Vec<Entry>,
}

fn entry_of(item: &Item) -> Option<Entry> {
    let symlink = match item.kind {
        Kind::Dir => return None,
        Kind::Symlink(_) => true,
        Kind::File | Kind::Table => false,
    };
    Some(Entry {
        path: item.rel.clone(),
        ino: item.ino,
        len: item.len,
        mtime: item.mtime,
        symlink,
    })
}

/// Walks the finished backup `dir` (its record and this list left out) and writes the list.
/// Returns the number of files and symlinks listed.
pub(crate) fn write(dir: &Path) -> Result<u64, BackupError> {
    let tree = super::tree::walk(dir, &[super::META_FILE, MANIFEST_FILE])?;
    let files: Vec<Entry> = tree.items.iter().filter_map(entry_of).collect();
    let n = files.len() as u64;
    let path = dir.join(MANIFEST_FILE);
    let bytes = serde_json::to_vec(&Manifest {
        format: FORMAT,
        files,
    })
    .expect("a file list always serialises");
    crate::fsutil::write_atomic(&path, &bytes)
        .map_err(|source| BackupError::Write { path, source })?;
    Ok(n)
}

/// Why a backup does not match its list: what differs, for the first few files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mismatch {
    /// How many files differ in all (missing, added, or changed).
    pub count: usize,
    /// The first few, each as "`path`: what differs".
    pub first: Vec<String>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} file(s) differ: {}",
            self.count,
            self.first.join("; ")
        )?;
        if self.count > self.first.len() {
            write!(f, "; and {} more", self.count - self.first.len())?;
        }
        Ok(())
    }
}

const SHOWN: usize = 5;

/// Checks the walked backup `tree` (its record and list left out) against the list in the
/// backup. `Ok(None)`: the backup has no list (taken before it existed).
pub(crate) fn verify(tree: &Tree) -> Result<Option<Result<(), Mismatch>>, BackupError> {
    let path = tree.root.join(MANIFEST_FILE);
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(BackupError::Read { path, source }),
    };
    let m: Manifest = serde_json::from_slice(&bytes).map_err(|e| BackupError::CorruptMeta {
        path: path.clone(),
        why: e.to_string(),
    })?;
    Ok(Some(compare(&m.files, tree)))
}

fn compare(listed: &[Entry], tree: &Tree) -> Result<(), Mismatch> {
    let mut found: BTreeMap<&Path, Entry> = tree
        .items
        .iter()
        .filter_map(|i| entry_of(i).map(|e| (i.rel.as_path(), e)))
        .collect();
    let mut problems = Vec::new();
    for want in listed {
        let Some(got) = found.remove(want.path.as_path()) else {
            problems.push(format!("{}: missing", want.path.display()));
            continue;
        };
        let mut what = Vec::new();
        if got.symlink != want.symlink {
            what.push("no longer the same kind of file".to_string());
        } else if got.ino != want.ino {
            what.push("replaced by another file (another inode)".to_string());
        }
        if got.len != want.len {
            what.push(format!("{} bytes, {} when backed up", got.len, want.len));
        }
        if got.mtime != want.mtime {
            what.push("modified since it was backed up".to_string());
        }
        if !what.is_empty() {
            problems.push(format!("{}: {}", want.path.display(), what.join(", ")));
        }
    }
    for extra in found.keys() {
        problems.push(format!("{}: not in the backup's list", extra.display()));
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(Mismatch {
        count: problems.len(),
        first: problems.into_iter().take(SHOWN).collect(),
    })
}

/// The number of regular files in `tree`, for a backup without a list (its record's
/// statistics count those, not folders or symlinks).
pub(crate) fn count_files(tree: &Tree) -> u64 {
    tree.items
        .iter()
        .filter(|i| matches!(i.kind, Kind::File | Kind::Table))
        .count() as u64
}
