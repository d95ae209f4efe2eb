//! Making a walked [`Tree`] again under a new folder: table files cloned (`FICLONE`) where the
//! filesystem can and hard-linked where it cannot, everything else cloned where it can and
//! copied where it cannot, symlinks recreated. A clone is as cheap as a link and is a file of
//! its own, so on XFS or btrfs a backup shares no inode with `data/` (see
//! [`super::manifest`] for what protects a linked one).
//!
//! Permissions are kept; so are owners when we run as root (an operator running a restore with
//! `sudo` must not leave the node's own files owned by root). Every copied file and every folder
//! is on disk before this returns, so the caller's final rename publishes a tree that survives a
//! power loss: by one `syncfs` of the target filesystem once the whole tree is made, not an
//! `fsync` per file (on a data folder of 12 000 small files, a journal commit each was most of
//! the time, and slower than `cp -a`; see `bench/small_files.md`). The node is stopped while a
//! backup or a restore runs, so little else is waiting to be written there. Files are made by a
//! few threads at once, since the work waits on the disk.
//! A hard link whose filesystem refuses it (another device below the source, a link
//! limit, a filesystem without links) falls back to a copy, said once in the log.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::sys;
use super::tree::{Item, Kind, Tree};
use super::BackupError;

/// How the files of a snapshot were made. Folders and symlinks are not counted; bytes are file
/// sizes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SnapshotStats {
    /// Table files hard-linked from the source: no new space used.
    pub linked_files: u64,
    /// Bytes of the hard-linked files.
    pub linked_bytes: u64,
    /// Files cloned with `FICLONE` (table files that could not be linked included): they share
    /// blocks with the source until either is changed.
    pub cloned_files: u64,
    /// Bytes of the cloned files.
    pub cloned_bytes: u64,
    /// Files copied byte for byte, where the filesystem could not clone them.
    pub copied_files: u64,
    /// Bytes of the copied files.
    pub copied_bytes: u64,
}

/// Whether a hard-link error only means "cannot link here" (copy instead).
fn link_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EXDEV | libc::EPERM | libc::EMLINK | libc::EOPNOTSUPP)
    )
}

/// Files are linked and copied by this many threads: the work is waiting on the disk (cold
/// inodes to read, copies to write and fsync), and concurrent fsyncs share journal commits.
const WORKERS: usize = 4;

struct Maker<'a> {
    tree: &'a Tree,
    dest: &'a Path,
    dest_dev: u64,
    as_root: bool,
    /// Per source device: whether FICLONE may still work from it.
    clone_ok: Mutex<BTreeMap<u64, bool>>,
    link_fallback_said: AtomicBool,
}

impl SnapshotStats {
    fn add(&mut self, o: &SnapshotStats) {
        self.linked_files += o.linked_files;
        self.linked_bytes += o.linked_bytes;
        self.cloned_files += o.cloned_files;
        self.cloned_bytes += o.cloned_bytes;
        self.copied_files += o.copied_files;
        self.copied_bytes += o.copied_bytes;
    }
}

/// What [`materialize`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Made {
    /// How the files were made.
    pub stats: SnapshotStats,
    /// How many flushes to disk it waited for (`fsync` or `syncfs` calls).
    pub flushes: u64,
}

/// Materialises `tree` inside `dest`, an existing empty folder: the folders first, then the
/// files and symlinks (by [`WORKERS`] threads), then the folders' modes, then one `syncfs`.
/// `midway` is called once, when half of the files are being made (the crash-safety tests kill
/// the process there).
pub(crate) fn materialize(
    tree: &Tree,
    dest: &Path,
    midway: &(dyn Fn() + Sync),
    cancel: &AtomicBool,
) -> Result<Made, BackupError> {
    let dest_dev = fs::metadata(dest)
        .map_err(|source| BackupError::Write {
            path: dest.to_path_buf(),
            source,
        })?
        .dev();
    let m = Maker {
        tree,
        dest,
        dest_dev,
        as_root: nix::unistd::geteuid().is_root(),
        clone_ok: Mutex::new(BTreeMap::new()),
        link_fallback_said: AtomicBool::new(false),
    };
    let (dirs, files): (Vec<&Item>, Vec<&Item>) =
        tree.items.iter().partition(|i| i.kind == Kind::Dir);
    for d in &dirs {
        let path = dest.join(&d.rel);
        fs::create_dir(&path).map_err(|source| BackupError::Copy {
            from: tree.root.join(&d.rel),
            to: path.clone(),
            source,
        })?;
    }
    if files.is_empty() {
        midway();
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let half = files.len() / 2;
    let results: Vec<Result<SnapshotStats, BackupError>> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..WORKERS.min(files.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut stats = SnapshotStats::default();
                    while !failed.load(Ordering::Relaxed) && !cancel.load(Ordering::Relaxed) {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = files.get(i) else { break };
                        if i == half {
                            midway();
                        }
                        if let Err(e) = m.make(item, &mut stats) {
                            failed.store(true, Ordering::Relaxed);
                            return Err(e);
                        }
                    }
                    Ok(stats)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut stats = SnapshotStats::default();
    for r in results {
        stats.add(&r?);
    }
    if cancel.load(Ordering::SeqCst) {
        return Err(BackupError::Cancelled);
    }
    // Folder modes last (a read-only folder must still be filled), deepest first.
    for d in dirs
        .iter()
        .rev()
        .copied()
        .chain(std::iter::once(&tree.root_item))
    {
        let path = dest.join(&d.rel);
        let w = |source| BackupError::Write {
            path: path.clone(),
            source,
        };
        if m.as_root {
            std::os::unix::fs::chown(&path, Some(d.uid), Some(d.gid)).map_err(w)?;
        }
        fs::set_permissions(&path, fs::Permissions::from_mode(d.mode)).map_err(w)?;
    }
    sys::syncfs(dest).map_err(|source| BackupError::Write {
        path: dest.to_path_buf(),
        source,
    })?;
    Ok(Made { stats, flushes: 1 })
}

impl Maker<'_> {
    /// Makes one file or symlink (folders exist already).
    fn make(&self, item: &Item, stats: &mut SnapshotStats) -> Result<(), BackupError> {
        let src = self.tree.root.join(&item.rel);
        let dst = self.dest.join(&item.rel);
        let err = |source| BackupError::Copy {
            from: src.clone(),
            to: dst.clone(),
            source,
        };
        match &item.kind {
            Kind::Dir => {}
            Kind::Symlink(target) => {
                std::os::unix::fs::symlink(target, &dst).map_err(err)?;
                if self.as_root {
                    std::os::unix::fs::lchown(&dst, Some(item.uid), Some(item.gid)).map_err(err)?;
                }
            }
            Kind::Table if item.dev == self.dest_dev => {
                if self.may_clone(item.dev)
                    && self.clone_table(item, &src, &dst, stats).map_err(err)?
                {
                    return Ok(());
                }
                self.link(item, &src, &dst, stats)?
            }
            Kind::Table | Kind::File => self.copy(item, &src, &dst, stats).map_err(err)?,
        }
        Ok(())
    }

    fn may_clone(&self, dev: u64) -> bool {
        *self
            .clone_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&dev)
            .unwrap_or(&true)
    }

    fn no_clone(&self, dev: u64) {
        self.clone_ok
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(dev, false);
    }

    /// A table on a filesystem that can clone (XFS, btrfs) is cloned rather than linked: it
    /// costs as little, and the backup's copy is then its own inode, which nothing written to
    /// `data/` afterwards can change. `Ok(false)`: this filesystem cannot; nothing was made.
    fn clone_table(
        &self,
        item: &Item,
        src: &Path,
        dst: &Path,
        stats: &mut SnapshotStats,
    ) -> io::Result<bool> {
        let from = File::open(src)?;
        let to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)?;
        match sys::ficlone(&to, &from) {
            Ok(()) => {}
            Err(e) => {
                drop(to);
                fs::remove_file(dst)?;
                if sys::clone_unsupported(&e) {
                    self.no_clone(item.dev);
                    return Ok(false);
                }
                return Err(e);
            }
        }
        if self.as_root {
            std::os::unix::fs::fchown(&to, Some(item.uid), Some(item.gid))?;
        }
        to.set_permissions(fs::Permissions::from_mode(item.mode))?;
        stats.cloned_files += 1;
        stats.cloned_bytes += item.len;
        Ok(true)
    }

    /// Hard-links a table file, or copies it where the filesystem refuses the link.
    fn link(
        &self,
        item: &Item,
        src: &Path,
        dst: &Path,
        stats: &mut SnapshotStats,
    ) -> Result<(), BackupError> {
        let err = |source| BackupError::Copy {
            from: src.to_path_buf(),
            to: dst.to_path_buf(),
            source,
        };
        match fs::hard_link(src, dst) {
            Ok(()) => {
                stats.linked_files += 1;
                stats.linked_bytes += item.len;
            }
            Err(e) if link_unsupported(&e) => {
                if !self.link_fallback_said.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "cannot hard-link {} into {} ({e}); copying such files instead",
                        src.display(),
                        self.dest.display()
                    );
                }
                self.copy(item, src, dst, stats).map_err(err)?;
            }
            Err(e) => return Err(err(e)),
        }
        Ok(())
    }

    /// Clones `src` to `dst` where the filesystem can, copies it otherwise; then sets its mode
    /// (and owner, as root). [`materialize`] flushes it to disk with the rest.
    fn copy(
        &self,
        item: &Item,
        src: &Path,
        dst: &Path,
        stats: &mut SnapshotStats,
    ) -> io::Result<()> {
        let from = File::open(src)?;
        let to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(dst)?;
        let mut cloned = false;
        if self.may_clone(item.dev) {
            match sys::ficlone(&to, &from) {
                Ok(()) => cloned = true,
                Err(e) if sys::clone_unsupported(&e) => self.no_clone(item.dev),
                Err(e) => return Err(e),
            }
        }
        if !cloned {
            // copy_file_range, so the data stays in the kernel; a sparse file's holes are kept.
            sys::copy_sparse(&from, &to, item.len, item.allocated)?;
        }
        if self.as_root {
            std::os::unix::fs::fchown(&to, Some(item.uid), Some(item.gid))?;
        }
        to.set_permissions(fs::Permissions::from_mode(item.mode))?;
        if cloned {
            stats.cloned_files += 1;
            stats.cloned_bytes += item.len;
        } else {
            stats.copied_files += 1;
            stats.copied_bytes += item.len;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::testutil::{bytes, picture};
    use crate::backup::tree;

    #[test]
    fn many_small_files_are_flushed_to_disk_once_not_once_each() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        for i in 0..600 {
            let p = data.join(format!("wasm/{}/{i:05}.bin", i % 7));
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(&p, bytes(i, 1 + (i as usize * 37) % 5000)).unwrap();
        }
        let tree = tree::walk(&data, &[]).unwrap();
        let dest = dir.path().join("copy");
        fs::create_dir(&dest).unwrap();
        let made = materialize(&tree, &dest, &|| {}, &AtomicBool::new(false)).unwrap();
        assert_eq!(made.stats.copied_files + made.stats.cloned_files, 600);
        assert_eq!(made.flushes, 1, "one syncfs for the whole tree");
        assert_eq!(picture(&dest), picture(&data));
    }
}
