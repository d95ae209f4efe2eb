//! The few Linux calls the backups need that std does not offer: cloning a file (`FICLONE`),
//! a rename that never replaces (`renameat2(RENAME_NOREPLACE)`) and free space (`statvfs`).
//! Every `unsafe` block of the backup code is here.

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rename_noreplace_refuses_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        let e = rename_noreplace(&a, &b).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
        rename_noreplace(&a, &dir.path().join("c")).unwrap();
        assert!(dir.path().join("c").is_dir());
    }
}
