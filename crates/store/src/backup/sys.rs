//! The few Linux calls the backups need that std does not offer: cloning a file (`FICLONE`),
//! exchanging two folders atomically (`renameat2(RENAME_EXCHANGE)`), a rename that never
//! replaces (`RENAME_NOREPLACE`), free space (`statvfs`) and advisory locks held by other
//! processes. Every `unsafe` block of the backup code is here.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;

/// Makes `dst` share `src`'s blocks (a reflink). Fails with `EOPNOTSUPP`, `EXDEV`, `EINVAL` or
/// `ENOTTY` where the filesystem (or the pair of filesystems) cannot; see [`clone_unsupported`].
pub(crate) fn ficlone(dst: &File, src: &File) -> io::Result<()> {
    // SAFETY: FICLONE takes the source descriptor as its integer argument; both descriptors are
    // open files owned by the caller for the duration of the call, and nothing is read back.
    let r = unsafe { libc::ioctl(dst.as_raw_fd(), libc::FICLONE, src.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Whether a [`ficlone`] error only means "this filesystem cannot clone here" (copy instead).
pub(crate) fn clone_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EXDEV | libc::EINVAL | libc::ENOTTY | libc::ENOSYS)
    )
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} contains a NUL byte", p.display()),
        )
    })
}

fn renameat2(from: &Path, to: &Path, flags: libc::c_uint) -> io::Result<()> {
    let (from, to) = (cpath(from)?, cpath(to)?);
    // SAFETY: both paths are NUL-terminated strings that outlive the call; AT_FDCWD makes them
    // relative to the working directory exactly like rename(2).
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            flags,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Atomically swaps the names `a` and `b` (both must exist, on one filesystem).
pub(crate) fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    renameat2(a, b, libc::RENAME_EXCHANGE)
}

/// Renames `from` to `to`, failing with `EEXIST` rather than replacing anything at `to`.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    renameat2(from, to, libc::RENAME_NOREPLACE)
}

/// Free space and inodes of the filesystem holding `path`, as an unprivileged writer sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FsSpace {
    /// The allocation unit (`f_frsize`).
    pub block: u64,
    /// Bytes available to us (`f_bavail` × `f_frsize`), not counting root's reserve.
    pub available_bytes: u64,
    /// Inodes available (`f_favail`); `None` where the filesystem does not count them.
    pub available_inodes: Option<u64>,
}

pub(crate) fn fs_space(path: &Path) -> io::Result<FsSpace> {
    let s = nix::sys::statvfs::statvfs(path).map_err(io::Error::from)?;
    let block = (s.fragment_size() as u64).max(1);
    let files = s.files() as u64;
    Ok(FsSpace {
        block,
        available_bytes: (s.blocks_available() as u64).saturating_mul(block),
        available_inodes: (files > 0).then_some(s.files_available() as u64),
    })
}

/// Who holds a lock on `path` (a database's `LOCK` file), if anyone else does: LevelDB takes a
/// `flock`, PebbleDB and RocksDB take a POSIX record lock (`fcntl`), so both are asked. Returns
/// a description such as "pid 1234 (fcntl lock)".
pub(crate) fn lock_holder(path: &Path) -> io::Result<Option<String>> {
    let file = File::open(path)?;
    let mut fl = libc::flock {
        l_type: libc::F_WRLCK as libc::c_short,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        l_pid: 0,
    };
    // SAFETY: F_GETLK only fills in `fl`, a valid flock struct we own, for an open descriptor.
    let r = unsafe { libc::fcntl(file.as_raw_fd(), libc::F_GETLK, &mut fl) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    if fl.l_type != libc::F_UNLCK as libc::c_short {
        return Ok(Some(format!("pid {} (fcntl lock)", fl.l_pid)));
    }
    match nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusiveNonblock) {
        Ok(lock) => {
            // We got it, so nobody else holds it; let go at once.
            drop(lock);
            Ok(None)
        }
        Err((_, nix::errno::Errno::EWOULDBLOCK)) => Ok(Some("another process (flock)".into())),
        Err((_, e)) => Err(io::Error::from(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_swaps_two_folders_and_noreplace_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        std::fs::write(a.join("x"), "from a").unwrap();
        exchange(&a, &b).unwrap();
        assert_eq!(std::fs::read_to_string(b.join("x")).unwrap(), "from a");
        assert!(!a.join("x").exists());
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        rename_noreplace(&a, &dir.path().join("c")).unwrap();
        assert!(dir.path().join("c").is_dir());
    }

    #[test]
    fn a_flock_held_elsewhere_is_seen() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("LOCK");
        std::fs::write(&p, "").unwrap();
        assert_eq!(lock_holder(&p).unwrap(), None);
        // flock locks belong to the open file description, so one opened here conflicts with
        // the probe's own open, as another process's would.
        let held = nix::fcntl::Flock::lock(
            File::open(&p).unwrap(),
            nix::fcntl::FlockArg::LockExclusiveNonblock,
        )
        .unwrap();
        assert!(lock_holder(&p).unwrap().unwrap().contains("flock"));
        drop(held);
        assert_eq!(lock_holder(&p).unwrap(), None);
    }
}
