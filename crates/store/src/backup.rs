//! The data backup taken before an upgrade (unless `UNSAFE_SKIP_BACKUP`).
//!
//! Like cosmovisor, `data/` is copied to `<DAEMON_DATA_BACKUP_DIR>/data-backup-<date>`. The copy
//! is made under a temporary name and renamed when complete, so a crash mid-copy never leaves
//! something that looks like a finished backup. `std::fs::copy` uses `copy_file_range`, which
//! reflinks on filesystems that support it. A backup that fails part-way is removed, so it
//! leaves neither a finished-looking folder nor its partial copy.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("backing up {from} to {to}: {source}")]
    Copy {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0} has a special file (socket, device or fifo) that cannot be backed up")]
    SpecialFile(PathBuf),
}

/// Copies `data_dir` into a new folder under `backup_root`; returns the folder made.
/// An existing backup of the same name gets a numeric suffix rather than being overwritten.
pub fn backup_data(
    data_dir: &Path,
    backup_root: &Path,
    date: &str,
) -> Result<PathBuf, BackupError> {
    let err = |from: &Path, to: &Path| {
        let (from, to) = (from.to_path_buf(), to.to_path_buf());
        move |source| BackupError::Copy { from, to, source }
    };
    fs::create_dir_all(backup_root).map_err(err(data_dir, backup_root))?;
    let mut dest = backup_root.join(format!("data-backup-{date}"));
    let mut i = 1;
    while dest.exists() {
        dest = backup_root.join(format!("data-backup-{date}.{i}"));
        i += 1;
    }
    let tmp = backup_root.join(format!(
        ".{}.partial",
        dest.file_name().unwrap().to_string_lossy()
    ));
    if tmp.exists() {
        fs::remove_dir_all(&tmp).map_err(err(data_dir, &tmp))?;
    }
    // A failed copy (a full disk, an unreadable file) must not leave its partial copy behind on
    // what is often the very disk that just filled up.
    let done =
        copy_tree(data_dir, &tmp).and_then(|()| fs::rename(&tmp, &dest).map_err(err(&tmp, &dest)));
    if let Err(e) = done {
        if let Err(rm) = fs::remove_dir_all(&tmp) {
            tracing::warn!("removing the failed backup {}: {rm}", tmp.display());
        }
        return Err(e);
    }
    crate::fsutil::sync_dir(backup_root).map_err(err(data_dir, backup_root))?;
    Ok(dest)
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), BackupError> {
    let err = |source| BackupError::Copy {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    };
    fs::create_dir_all(to).map_err(err)?;
    for entry in fs::read_dir(from).map_err(|source| BackupError::Copy {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    })? {
        let entry = entry.map_err(|source| BackupError::Copy {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
            source,
        })?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let ft = entry.file_type().map_err(|source| BackupError::Copy {
            from: src.clone(),
            to: dst.clone(),
            source,
        })?;
        let e = |source| BackupError::Copy {
            from: src.clone(),
            to: dst.clone(),
            source,
        };
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).map_err(e)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).map_err(e)?;
            std::os::unix::fs::symlink(target, &dst).map_err(|source| BackupError::Copy {
                from: src.clone(),
                to: dst.clone(),
                source,
            })?;
        } else {
            return Err(BackupError::SpecialFile(src));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_the_tree_and_never_overwrites() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("application.db")).unwrap();
        fs::write(data.join("application.db/000001.log"), b"abc").unwrap();
        fs::write(data.join("priv_validator_state.json"), b"{}").unwrap();
        let root = dir.path().join("backups");
        let first = backup_data(&data, &root, "2026-11-22").unwrap();
        assert_eq!(
            fs::read(first.join("application.db/000001.log")).unwrap(),
            b"abc"
        );
        let second = backup_data(&data, &root, "2026-11-22").unwrap();
        assert_ne!(first, second);
        assert!(second.join("priv_validator_state.json").is_file());
    }

    #[test]
    fn missing_data_dir_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = backup_data(&dir.path().join("nope"), dir.path(), "d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    /// A tmpfs of `size` mounted on a fresh folder, unmounted when dropped. Needs root and
    /// `mount`; a test that needs a small filesystem fails (never skips) without them.
    pub(crate) struct Tmpfs {
        pub dir: tempfile::TempDir,
    }

    impl Tmpfs {
        pub(crate) fn mount(size: &str) -> Tmpfs {
            let dir = tempfile::tempdir().unwrap();
            let out = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
                .arg(dir.path())
                .output()
                .expect("this test needs `mount` (util-linux) to make a small tmpfs");
            assert!(
                out.status.success(),
                "this test needs root to mount a {size} tmpfs on {}: {}",
                dir.path().display(),
                String::from_utf8_lossy(&out.stderr)
            );
            Tmpfs { dir }
        }
        pub(crate) fn path(&self) -> &Path {
            self.dir.path()
        }
    }

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(self.dir.path())
                .status();
        }
    }

    #[test]
    fn a_disk_full_during_the_copy_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        fs::create_dir_all(data.join("application.db")).unwrap();
        fs::write(data.join("application.db/000001.log"), vec![7u8; 3 << 20]).unwrap();
        fs::write(data.join("priv_validator_state.json"), b"{}").unwrap();
        let small = Tmpfs::mount("1m");
        let err = backup_data(&data, small.path(), "2026-11-22").unwrap_err();
        assert!(err.to_string().contains("000001.log"), "{err}");
        let left: Vec<_> = fs::read_dir(small.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "a failed backup left {left:?} behind");
        assert_eq!(
            fs::read(data.join("application.db/000001.log"))
                .unwrap()
                .len(),
            3 << 20
        );
    }
}
