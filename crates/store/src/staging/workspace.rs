//! Staging workspaces: per-attempt temporary folders and per-upgrade locks.
//!
//! Everything is downloaded and unpacked in a work area on the filesystem (and mount) of the
//! destination, so the final move is a `rename(2)` there ([`work_area`]): normally
//! `$DAEMON_HOME/cosmovisor/switchyard/staging/`; when `upgrades/` (or `upgrades/<name>/`) is
//! another mount, a symlink to a bigger disk, or a bind mount, a rename from there would fail
//! with EXDEV, so the work area is `.switchyard-staging/` inside the destination's real folder
//! (`upgrades/` when `upgrades/<name>/` does not exist yet, else `upgrades/<name>/` itself).
//! Which one applies is found by trying: an empty folder is renamed from the state area into the
//! destination folder and removed again. A destination that cannot be written is an error naming
//! it ([`WorkAreaError`]). Each attempt gets its
//! own folder `<name>.<pid>.<nanos>/` guarded by an flock on the sibling `<...>.lock` file, taken
//! *before* the folder is made. A folder whose lock can be taken belongs to an attempt that
//! died (crash, kill, power loss) and is removed by [`clean_leftovers`], which every stage call
//! runs first; folders of attempts still running (in this or another process) are left alone.
//!
//! [`lock_upgrade`] serialises stage calls for one upgrade name across processes (`run` and
//! `prepare` at the same time), through `staging/<name>.upgrade-lock`.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::fcntl::{Flock, FlockArg};

const LOCK_EXT: &str = "lock";
/// The work area's name inside a destination on another filesystem.
pub(crate) const FOREIGN_AREA: &str = ".switchyard-staging";
const UPGRADE_LOCK_EXT: &str = "upgrade-lock";

/// A file-name-safe key for an upgrade name: the name itself, or for long names a prefix plus a
/// hash, so `<key>.<pid>.<nanos>.lock` stays under the 255-byte limit of a path component.
fn key(name: &str) -> String {
    if name.len() <= 96 {
        return name.to_string();
    }
    let mut end = 80;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    let mut h = crate::checksum::Hasher::new(switchyard_core::ChecksumAlgo::Sha256);
    h.update(name.as_bytes());
    format!("{}-{}", &name[..end], &h.finish().hex[..16])
}

fn open_lock(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
}

fn flock(file: File, arg: FlockArg) -> io::Result<Flock<File>> {
    Flock::lock(file, arg).map_err(|(_, errno)| io::Error::from(errno))
}

/// Holds the lock of one upgrade name until dropped.
pub(crate) struct UpgradeLock {
    _lock: Flock<File>,
}

/// Waits for (blocking) and takes the lock of `name`. Call from a blocking context.
pub(crate) fn lock_upgrade(staging: &Path, name: &str) -> io::Result<UpgradeLock> {
    fs::create_dir_all(staging)?;
    let file = open_lock(&staging.join(format!("{}.{UPGRADE_LOCK_EXT}", key(name))))?;
    Ok(UpgradeLock {
        _lock: flock(file, FlockArg::LockExclusive)?,
    })
}

/// One attempt's temporary folder; removed when dropped.
pub(crate) struct Workspace {
    pub(crate) dir: PathBuf,
    lock_path: PathBuf,
    _lock: Flock<File>,
}

impl Workspace {
    pub(crate) fn new(staging: &Path, name: &str) -> io::Result<Workspace> {
        fs::create_dir_all(staging)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let id = format!("{}.{}.{nanos}", key(name), std::process::id());
        let lock_path = staging.join(format!("{id}.{LOCK_EXT}"));
        let lock = flock(open_lock(&lock_path)?, FlockArg::LockExclusiveNonblock)?;
        let dir = staging.join(id);
        fs::create_dir(&dir)?;
        Ok(Workspace {
            dir,
            lock_path,
            _lock: lock,
        })
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
        if let Some(area) = self.dir.parent() {
            remove_foreign_area(area);
        }
    }
}

/// A folder on the way to the destination cannot be written.
#[derive(Debug)]
pub(crate) struct WorkAreaError {
    pub(crate) folder: PathBuf,
    pub(crate) source: io::Error,
}

/// Where an attempt for destination `dst` works (see the module docs): `staging` itself when a
/// folder renames from there into `dst`'s folder, else `.switchyard-staging` in that folder's
/// real path. `upgrades` is `dst`'s parent, made if missing.
pub(crate) fn work_area(
    staging: &Path,
    upgrades: &Path,
    dst: &Path,
) -> Result<PathBuf, WorkAreaError> {
    let err = |folder: &Path| {
        let folder = folder.to_path_buf();
        move |source| WorkAreaError { folder, source }
    };
    fs::create_dir_all(staging).map_err(err(staging))?;
    fs::create_dir_all(upgrades).map_err(err(upgrades))?;
    let anchor = if fs::metadata(dst).map(|m| m.is_dir()).unwrap_or(false) {
        dst
    } else {
        upgrades
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let probe_name = format!(".switchyard-probe.{}.{nanos}", std::process::id());
    let probe = staging.join(&probe_name);
    fs::create_dir(&probe).map_err(err(staging))?;
    let landed = anchor.join(&probe_name);
    match fs::rename(&probe, &landed) {
        Ok(()) => {
            fs::remove_dir(&landed).map_err(err(anchor))?;
            Ok(staging.to_path_buf())
        }
        Err(e) if e.raw_os_error() == Some(nix::libc::EXDEV) => {
            let _ = fs::remove_dir(&probe);
            let real = fs::canonicalize(anchor).map_err(err(anchor))?;
            let area = real.join(FOREIGN_AREA);
            fs::create_dir_all(&area).map_err(err(&real))?;
            Ok(area)
        }
        Err(e) => {
            let _ = fs::remove_dir(&probe);
            Err(err(anchor)(e))
        }
    }
}

/// Removes the work area made in a foreign destination, once it is empty (best effort).
pub(crate) fn remove_foreign_area(area: &Path) {
    if area.file_name().is_some_and(|n| n == FOREIGN_AREA) {
        let _ = fs::remove_dir(area);
    }
}

/// Removes the folders of attempts that died. Returns what was removed.
pub(crate) fn clean_leftovers(staging: &Path) -> io::Result<Vec<PathBuf>> {
    let mut removed = Vec::new();
    let entries = match fs::read_dir(staging) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(removed),
        Err(e) => return Err(e),
    };
    for entry in entries.filter_map(Result::ok) {
        let path = entry.path();
        let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
        if is_dir
            && entry
                .file_name()
                .to_string_lossy()
                .starts_with(".switchyard-probe.")
        {
            // A probe of a process that died between making and moving it.
            if fs::remove_dir(&path).is_ok() {
                removed.push(path);
            }
            continue;
        }
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let (dir, lock_path) = if is_dir {
            let mut lock = path.clone().into_os_string();
            lock.push(format!(".{LOCK_EXT}"));
            (path.clone(), PathBuf::from(lock))
        } else if ext == LOCK_EXT {
            (path.with_extension(""), path.clone())
        } else {
            continue;
        };
        // Taking the lock proves its owner is gone; a missing lock file means the folder was
        // orphaned during an earlier clean-up (the lock is always made before the folder).
        let holder = match File::open(&lock_path) {
            Ok(f) => match flock(f, FlockArg::LockExclusiveNonblock) {
                Ok(l) => Some(l),
                Err(_) => continue, // still in use
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(_) => continue,
        };
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
            removed.push(dir);
        }
        let _ = fs::remove_file(&lock_path);
        drop(holder);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_workspaces_survive_clean_up_and_dead_ones_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let staging = dir.path().join("staging");
        let live = Workspace::new(&staging, "v2").unwrap();
        fs::write(live.dir.join("download"), b"partial").unwrap();
        // A dead attempt: its folder and lock file exist, but nobody holds the lock.
        let dead = staging.join("v3.1.2");
        fs::create_dir_all(dead.join("tree/bin")).unwrap();
        fs::write(staging.join("v3.1.2.lock"), b"").unwrap();
        // An orphan folder without a lock file.
        fs::create_dir_all(staging.join("v4.1.2")).unwrap();
        let removed = clean_leftovers(&staging).unwrap();
        assert_eq!(removed.len(), 2, "{removed:?}");
        assert!(live.dir.join("download").exists());
        assert!(!dead.exists());
        let live_dir = live.dir.clone();
        drop(live);
        assert!(!live_dir.exists());
    }

    #[test]
    fn long_names_make_short_file_names() {
        let long = "é".repeat(127);
        let k = key(&long);
        assert!(k.len() < 120 && k.starts_with("éé"), "{k}");
        assert_ne!(key(&format!("{long}a")), key(&format!("{long}b")));
        let dir = tempfile::tempdir().unwrap();
        let ws = Workspace::new(dir.path(), &long).unwrap();
        assert!(ws.dir.exists());
    }

    #[test]
    fn upgrade_lock_excludes_a_second_holder() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock_upgrade(dir.path(), "v2").unwrap();
        let second = flock(
            open_lock(&dir.path().join("v2.upgrade-lock")).unwrap(),
            FlockArg::LockExclusiveNonblock,
        );
        assert!(second.is_err());
        drop(first);
        lock_upgrade(dir.path(), "v2").unwrap();
    }
}
