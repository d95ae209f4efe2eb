//! What a backup will really cost on its target filesystem, checked before anything is written.
//!
//! Linked table files cost nothing; everything copied costs the blocks it occupies on its own
//! disk (`st_blocks`: a sparse file's holes are kept by the copy, so a 2 GiB file holding 2 MiB of
//! data costs 2 MiB), rounded up to whole blocks of the target, and every folder one block. To
//! that comes a margin — 5% of what the copied files occupy, at least
//! [`MARGIN_MIN_BYTES`] — so that the node, which starts writing again right after the swap, is
//! not left on a full disk. A reflink would cost nothing either, but whether the filesystem
//! clones is only known by trying, so clonable files are counted as copied: the estimate errs on
//! the safe side.
//!
//! [`estimate`] walks the data folder (one `readdir` per folder, one `lstat` per entry, no file
//! opened) and asks `statvfs` once: on a data folder of 250 000 LevelDB tables that is a fraction
//! of a second with a warm dentry cache, cheap enough for `plan` or a metric every minute.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::sys;
use super::tree::{self, Tree};
use super::BackupError;

/// The smallest margin kept free beyond what the backup copies.
pub const MARGIN_MIN_BYTES: u64 = 64 << 20;
/// The margin as a share of the copied bytes, in percent (when larger than the minimum).
pub const MARGIN_PERCENT: u64 = 5;

/// A backup's cost on its target filesystem, and whether it fits there now.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BackupEstimate {
    /// The folder backed up (or restored from).
    pub source: PathBuf,
    /// The existing folder whose filesystem was measured (the backup folder, or its nearest
    /// existing parent when it does not exist yet).
    pub target: PathBuf,
    /// The target is on another filesystem than (part of) the source: tables are copied too.
    pub cross_device: bool,
    /// Table files that will be hard-linked (those on the target's filesystem).
    pub linked_files: u64,
    /// Bytes hard-linked: no space used on the target.
    pub linked_bytes: u64,
    /// Files that will be copied or cloned, table files on another filesystem included.
    pub copied_files: u64,
    /// Bytes copied (file sizes).
    pub copied_bytes: u64,
    /// What the copy allocates (whole blocks, folders included) plus the margin.
    pub needed_bytes: u64,
    /// Bytes kept free beyond the copy: [`margin_for`] of what the copied files occupy (their
    /// allocated blocks: a sparse file's holes cost nothing).
    pub margin_bytes: u64,
    /// Free bytes on the target for an unprivileged writer (`f_bavail`).
    pub available_bytes: u64,
    /// Inodes the copy will use: one per copied file, folder (its root included) and symlink.
    pub needed_inodes: u64,
    /// Free inodes on the target; `None` where the filesystem does not count them.
    pub available_inodes: Option<u64>,
    /// Whether the backup fits now.
    pub fits: bool,
}

/// The margin kept beyond `copied_bytes`.
pub fn margin_for(copied_bytes: u64) -> u64 {
    (copied_bytes / 100)
        .saturating_mul(MARGIN_PERCENT)
        .max(MARGIN_MIN_BYTES)
}

/// What backing up `data_dir` into `backup_root` would cost now, and whether it fits. Reads
/// nothing but directory entries and `statvfs`; writes nothing.
pub fn estimate(data_dir: &Path, backup_root: &Path) -> Result<BackupEstimate, BackupError> {
    let tree = tree::walk(data_dir, &[])?;
    estimate_tree(&tree, backup_root)
}

/// The nearest existing folder at or above `p`.
pub(crate) fn existing_ancestor(p: &Path) -> PathBuf {
    let mut cur = p;
    loop {
        if cur.is_dir() {
            return cur.to_path_buf();
        }
        match cur.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => cur = parent,
            _ => return PathBuf::from("."),
        }
    }
}

pub(crate) fn estimate_tree(tree: &Tree, target: &Path) -> Result<BackupEstimate, BackupError> {
    let measured = existing_ancestor(target);
    if let (Ok(t), Ok(src)) = (
        std::fs::canonicalize(&measured),
        std::fs::canonicalize(&tree.root),
    ) {
        if t.starts_with(&src) {
            return Err(BackupError::InsideSource {
                target: target.to_path_buf(),
                source_dir: tree.root.clone(),
            });
        }
    }
    let read = |source| BackupError::Read {
        path: measured.clone(),
        source,
    };
    let dev = std::fs::metadata(&measured).map_err(read)?.dev();
    let space = sys::fs_space(&measured).map_err(read)?;
    let cost = tree.cost(dev, space.block);
    let margin = margin_for(cost.copied_allocated);
    let needed = cost.allocated_bytes.saturating_add(margin);
    let fits =
        needed <= space.available_bytes && space.available_inodes.is_none_or(|n| cost.inodes <= n);
    Ok(BackupEstimate {
        source: tree.root.clone(),
        target: measured,
        cross_device: tree.root_item.dev != dev || cost.cross_device_tables > 0,
        linked_files: cost.linked_files,
        linked_bytes: cost.linked_bytes,
        copied_files: cost.copied_files,
        copied_bytes: cost.copied_bytes,
        needed_bytes: needed,
        margin_bytes: margin,
        available_bytes: space.available_bytes,
        needed_inodes: cost.inodes,
        available_inodes: space.available_inodes,
        fits,
    })
}

impl BackupEstimate {
    /// `Ok` when it fits; otherwise the error that says how much is needed, where.
    pub fn check(&self) -> Result<(), BackupError> {
        if self.fits {
            return Ok(());
        }
        if self.needed_bytes > self.available_bytes {
            return Err(BackupError::NoSpace {
                folder: self.target.clone(),
                needed: self.needed_bytes,
                copied: self.needed_bytes.saturating_sub(self.margin_bytes),
                margin: self.margin_bytes,
                linked: self.linked_bytes,
                available: self.available_bytes,
            });
        }
        Err(BackupError::NoInodes {
            folder: self.target.clone(),
            needed: self.needed_inodes,
            available: self.available_inodes.unwrap_or(0),
        })
    }
}

/// `1536` → `1.5 KiB`; bytes below 1 KiB are shown as such.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(64 << 20), "64.0 MiB");
        assert_eq!(human_bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn margin_is_five_percent_or_the_minimum() {
        assert_eq!(margin_for(0), MARGIN_MIN_BYTES);
        assert_eq!(margin_for(10 << 30), (10u64 << 30) / 100 * 5);
        assert_eq!(margin_for(u64::MAX), u64::MAX / 100 * 5);
    }

    #[test]
    fn a_backup_folder_inside_the_data_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("sub")).unwrap();
        for inside in [data.clone(), data.join("sub"), data.join("backups/new")] {
            let err = estimate(&data, &inside).unwrap_err().to_string();
            assert!(err.contains("inside"), "{err}");
        }
    }

    #[test]
    fn a_missing_backup_folder_is_measured_at_its_parent() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        let e = estimate(&data, &dir.path().join("not/yet/there")).unwrap();
        assert_eq!(e.target, dir.path());
        assert!(!e.cross_device);
        assert!(e.fits, "{e:?}");
    }
}
