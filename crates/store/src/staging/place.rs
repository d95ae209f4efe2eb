//! Moving a finished, verified tree into `upgrades/<name>/` so that a crash leaves either no
//! binary or a complete one.
//!
//! - No `upgrades/<name>/` yet: one `rename(2)` of the whole tree. All or nothing.
//! - `upgrades/<name>/` exists without a binary (an `upgrade-info.json`, an empty `bin/`, or the
//!   part of an earlier attempt that a crash interrupted): the binary is taken out of the tree,
//!   everything else is moved in entry by entry (entries already there are kept, never
//!   replaced), and the binary goes last, with `link(2)` so it can never replace a file that
//!   appeared meanwhile. The binary's presence is therefore the "complete" mark; a retry after a
//!   crash finds the folder without it and simply fills in what is missing.
//!
//! Before any of that, [`sync_tree`] fsyncs every file and folder of the tree.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use crate::fsutil::sync_dir;

/// fsyncs every regular file and folder under `root` (symlinks are not followed).
pub(crate) fn sync_tree(root: &Path) -> io::Result<()> {
    for entry in fs::read_dir(root)? {
        let entry = entry?;
        let ty = entry.file_type()?;
        if ty.is_dir() {
            sync_tree(&entry.path())?;
        } else if ty.is_file() {
            File::open(entry.path())?.sync_all()?;
        }
    }
    sync_dir(root)
}

/// Moves `tree` into `dst`; `binary` is the binary's path relative to `tree` (`bin/<DAEMON>`).
/// `spare` is a path on the same filesystem where the binary can wait during a merge.
/// Returns the entries that were kept because `dst` already had them.
pub(crate) fn place(
    tree: &Path,
    dst: &Path,
    binary: &Path,
    spare: &Path,
) -> io::Result<Vec<PathBuf>> {
    let parent = dst.parent().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "upgrade folder has no parent")
    })?;
    fs::create_dir_all(parent)?;
    match fs::symlink_metadata(dst) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::rename(tree, dst) {
            Ok(()) => {
                sync_dir(parent)?;
                return Ok(Vec::new());
            }
            // Someone made a non-empty folder meanwhile: merge into it instead.
            Err(e)
                if e.raw_os_error() == Some(nix::libc::ENOTEMPTY)
                    || e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        },
        Ok(m) if !m.is_dir() => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a folder", dst.display()),
            ))
        }
        Ok(_) => {}
        Err(e) => return Err(e),
    }
    // Merge: binary aside, the rest in, the binary last.
    fs::rename(tree.join(binary), spare)?;
    let mut kept = Vec::new();
    merge(tree, dst, &mut kept)?;
    let final_path = dst.join(binary);
    let bin_dir = final_path.parent().unwrap_or(dst);
    match fs::symlink_metadata(bin_dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} exists and is not a folder", bin_dir.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::create_dir_all(bin_dir)?,
        Err(e) => return Err(e),
    }
    let spare_meta = fs::symlink_metadata(spare)?;
    if spare_meta.file_type().is_symlink() {
        // A link cannot be hard-linked portably; a rename onto a path we just saw missing is
        // the best available and the window is tiny.
        if fs::symlink_metadata(&final_path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!(
                    "{} appeared while staging; left alone",
                    final_path.display()
                ),
            ));
        }
        fs::rename(spare, &final_path)?;
    } else {
        fs::hard_link(spare, &final_path)?;
        fs::remove_file(spare)?;
    }
    sync_dir(bin_dir)?;
    sync_dir(dst)?;
    sync_dir(parent)?;
    Ok(kept)
}

fn merge(src: &Path, dst: &Path, kept: &mut Vec<PathBuf>) -> io::Result<()> {
    let mut entries: Vec<_> = fs::read_dir(src)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let from = entry.path();
        let to = dst.join(entry.file_name());
        match fs::symlink_metadata(&to) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => fs::rename(&from, &to)?,
            Ok(m) if m.is_dir() && entry.file_type()?.is_dir() => merge(&from, &to, kept)?,
            Ok(_) => kept.push(to),
            Err(e) => return Err(e),
        }
    }
    sync_dir(dst)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) {
        fs::create_dir_all(root.join("bin")).unwrap();
        fs::create_dir_all(root.join("lib")).unwrap();
        fs::write(root.join("bin/simd"), b"new binary").unwrap();
        fs::write(root.join("lib/libwasmvm.so"), b"lib").unwrap();
        fs::write(root.join("upgrade-info.json"), b"ours").unwrap();
    }

    #[test]
    fn whole_tree_is_renamed_when_nothing_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        tree(&t);
        sync_tree(&t).unwrap();
        let dst = dir.path().join("upgrades/v2");
        let kept = place(&t, &dst, Path::new("bin/simd"), &dir.path().join("spare")).unwrap();
        assert!(kept.is_empty());
        assert_eq!(fs::read(dst.join("bin/simd")).unwrap(), b"new binary");
        assert!(!t.exists());
    }

    #[test]
    fn existing_folder_is_filled_in_without_replacing_anything() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        tree(&t);
        let dst = dir.path().join("upgrades/v2");
        fs::create_dir_all(dst.join("bin")).unwrap();
        fs::write(dst.join("upgrade-info.json"), b"operator's").unwrap();
        let kept = place(&t, &dst, Path::new("bin/simd"), &dir.path().join("spare")).unwrap();
        assert_eq!(kept, vec![dst.join("upgrade-info.json")]);
        assert_eq!(
            fs::read(dst.join("upgrade-info.json")).unwrap(),
            b"operator's"
        );
        assert_eq!(fs::read(dst.join("bin/simd")).unwrap(), b"new binary");
        assert_eq!(fs::read(dst.join("lib/libwasmvm.so")).unwrap(), b"lib");
    }

    #[test]
    fn a_binary_that_appeared_meanwhile_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let t = dir.path().join("t");
        tree(&t);
        let dst = dir.path().join("upgrades/v2");
        fs::create_dir_all(dst.join("bin")).unwrap();
        fs::write(dst.join("bin/simd"), b"operator's binary").unwrap();
        let err = place(&t, &dst, Path::new("bin/simd"), &dir.path().join("spare")).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(
            fs::read(dst.join("bin/simd")).unwrap(),
            b"operator's binary"
        );
    }
}
