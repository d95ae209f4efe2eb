//! The few Linux calls the backups need that std does not offer: cloning a file (`FICLONE`),
//! copying one without filling its holes (`SEEK_DATA`/`SEEK_HOLE` + `copy_file_range`),
//! flushing a whole filesystem once (`syncfs`), exchanging two folders atomically
//! (`renameat2(RENAME_EXCHANGE)`), a rename that never replaces (`RENAME_NOREPLACE`), free space
//! (`statvfs`) and advisory locks held by other processes. Every `unsafe` block of the backup
//! code is here.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
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

/// Where the next data at or after `off` starts in `f` (`SEEK_DATA`, or `SEEK_HOLE` for the
/// next hole). `Ok(None)`: no data from `off` on (`ENXIO`).
fn seek(f: &File, off: u64, whence: libc::c_int) -> io::Result<Option<u64>> {
    // SAFETY: lseek on a descriptor owned by the caller; only its file offset changes, and the
    // copy below passes explicit offsets, so that offset is never relied on.
    let r = unsafe { libc::lseek(f.as_raw_fd(), off as libc::off_t, whence) };
    if r >= 0 {
        return Ok(Some(r as u64));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENXIO) {
        Ok(None)
    } else {
        Err(e)
    }
}

/// Copies `from[start..end]` to the same offsets in `to`, in the kernel (`copy_file_range`)
/// where it can, else through a buffer.
fn copy_range(from: &File, to: &File, start: u64, end: u64) -> io::Result<()> {
    let mut off = start;
    let mut in_kernel = true;
    let mut buf = Vec::new();
    while off < end {
        let want = (end - off).min(1 << 30) as usize;
        if in_kernel {
            let mut off_in = off as libc::loff_t;
            let mut off_out = off as libc::loff_t;
            // SAFETY: both descriptors are open files owned by the caller; the two offsets are
            // valid loff_t values we own, which the kernel reads and advances.
            let r = unsafe {
                libc::copy_file_range(
                    from.as_raw_fd(),
                    &mut off_in,
                    to.as_raw_fd(),
                    &mut off_out,
                    want,
                    0,
                )
            };
            if r > 0 {
                off += r as u64;
                continue;
            }
            if r == 0 {
                // The source is shorter than it was when walked; what is there is copied.
                return Ok(());
            }
            let e = io::Error::last_os_error();
            match e.raw_os_error() {
                Some(libc::EXDEV | libc::ENOSYS | libc::EINVAL | libc::EOPNOTSUPP) => {
                    in_kernel = false
                }
                Some(libc::EINTR) => {}
                _ => return Err(e),
            }
            continue;
        }
        if buf.is_empty() {
            buf = vec![0u8; 1 << 20];
        }
        let n = want.min(buf.len());
        let got = from.read_at(&mut buf[..n], off)?;
        if got == 0 {
            return Ok(());
        }
        to.write_all_at(&buf[..got], off)?;
        off += got as u64;
    }
    Ok(())
}

/// Copies the `len` bytes of `from` into the empty file `to`, keeping the holes of a sparse
/// file as holes: only the ranges `SEEK_DATA` finds are copied, and the length is set at the
/// end. A file that occupies at least its length (`allocated`, from `st_blocks`) has no holes
/// and is copied in one go; a filesystem that cannot seek for data is copied whole.
pub(crate) fn copy_sparse(from: &File, to: &File, len: u64, allocated: u64) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    if allocated >= len {
        copy_range(from, to, 0, len)?;
        return Ok(());
    }
    let mut off = 0;
    while off < len {
        let data = match seek(from, off, libc::SEEK_DATA) {
            Ok(Some(d)) => d,
            Ok(None) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && off == 0 => {
                copy_range(from, to, 0, len)?;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if data >= len {
            break;
        }
        let hole = seek(from, data, libc::SEEK_HOLE)?.unwrap_or(len).min(len);
        copy_range(from, to, data, hole)?;
        off = hole;
    }
    // The holes at the end, and the length.
    to.set_len(len)
}

/// Writes out everything of the filesystem holding `dir` that is not on disk yet (`syncfs`):
/// one call for a whole tree of new files, where an `fsync` per file would wait for a journal
/// commit each time.
pub(crate) fn syncfs(dir: &Path) -> io::Result<()> {
    let f = File::open(dir)?;
    // SAFETY: syncfs takes an open descriptor, owned here for the duration of the call.
    let r = unsafe { libc::syncfs(f.as_raw_fd()) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
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
    fn a_sparse_copy_keeps_the_holes_and_the_bytes() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let f = File::create(&a).unwrap();
        f.set_len(256 << 20).unwrap();
        f.write_all_at(&[7u8; 1 << 20], 64 << 20).unwrap();
        f.write_all_at(b"tail", (256 << 20) - 4).unwrap();
        f.sync_all().unwrap();
        let m = f.metadata().unwrap();
        let src = File::open(&a).unwrap();
        let dst = File::create(&b).unwrap();
        copy_sparse(&src, &dst, m.len(), m.blocks() * 512).unwrap();
        dst.sync_all().unwrap();
        let mb = std::fs::metadata(&b).unwrap();
        assert_eq!(mb.len(), 256 << 20);
        assert!(
            mb.blocks() * 512 < 8 << 20,
            "the copy allocates {} bytes for 1 MiB of data",
            mb.blocks() * 512
        );
        assert!(std::fs::read(&a).unwrap() == std::fs::read(&b).unwrap());
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
