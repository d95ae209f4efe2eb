//! Reading a small file from a place someone else can write to (the node's `data/`, an upgrade
//! folder, the config file, `manual.json`): never blocks, never reads without bound.
//!
//! [`read_untrusted_file`] opens the path with `O_NONBLOCK` (so a FIFO put there cannot block
//! the open, and nothing waits for a writer), checks the type of what it opened *from the open
//! descriptor* (no window between a check and the open), refuses anything that is not a regular
//! file (FIFO, character or block device such as a link to `/dev/zero`, socket, folder) with an
//! error naming the path and what it is, and reads at most `max_bytes + 1` bytes, so a file that
//! is larger or still growing is refused without being read past the cap.
//!
//! Symlinks are followed on purpose: operators link config files and data folders onto other
//! disks, and a link to a regular file is as good as the file. What the link finally names must
//! still be a regular file, so `upgrade-info.json -> /dev/zero` is refused like a device.
//!
//! [`read_node_written_file`] is the same read for a file the *node* writes (its
//! `data/upgrade-info.json`), which is never a link: it opens with `O_NOFOLLOW`, so a link put at
//! the file itself (to `/etc/shadow`, read by a supervisor running as root) is refused naming the
//! path instead of being read through. Folders above it (a linked `data/`) are still followed.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedFileError {
    /// What the path names (after following links, unless refused) is a folder, FIFO, device,
    /// socket or other non-regular file; nothing was read.
    #[error("{path} is {what}, not a regular file; refusing to read it")]
    NotRegular {
        /// The path as given.
        path: PathBuf,
        /// What it is, with its article: `"a folder"`, `"a FIFO (named pipe)"`, `"a socket"`.
        what: &'static str,
    },
    /// [`read_node_written_file`] found a symbolic link (dangling or not) at the path itself.
    #[error("{path} is a symbolic link, refusing to read it")]
    Symlink {
        /// The path as given.
        path: PathBuf,
    },
    /// The file holds more than the cap; at most one byte past it was read.
    #[error("{path} is larger than {limit} bytes; refusing to read further")]
    TooLarge {
        /// The path as given.
        path: PathBuf,
        /// The cap, `max_bytes`, in bytes.
        limit: u64,
    },
    /// Opening, inspecting or reading the file failed (a missing file is `Ok(None)` instead).
    #[error("{path}: {source}")]
    Io {
        /// The path as given.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

impl UntrustedFileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            UntrustedFileError::NotRegular { path, .. }
            | UntrustedFileError::Symlink { path }
            | UntrustedFileError::TooLarge { path, .. }
            | UntrustedFileError::Io { path, .. } => path,
        }
    }
}

/// Reads `path` if it is a regular file of at most `max_bytes` bytes (see the module docs).
/// `Ok(None)` when nothing is there.
pub fn read_untrusted_file(
    path: &Path,
    max_bytes: u64,
) -> Result<Option<Vec<u8>>, UntrustedFileError> {
    read(path, max_bytes, Links::Follow)
}

/// Reads `path` like [`read_untrusted_file`], but refuses a symbolic link at its last component
/// ([`UntrustedFileError::Symlink`], also for a dangling one). For files the node writes itself
/// as regular files (`data/upgrade-info.json`): a link there was put by someone else, and
/// following it would let them have switchyard read (and `show-upgrade-info` print) any file
/// it can open. Config files keep [`read_untrusted_file`], since operators link those.
pub fn read_node_written_file(
    path: &Path,
    max_bytes: u64,
) -> Result<Option<Vec<u8>>, UntrustedFileError> {
    read(path, max_bytes, Links::Refuse)
}

/// Whether a symlink at the last component of the path is followed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Links {
    Follow,
    Refuse,
}

fn read(path: &Path, max_bytes: u64, links: Links) -> Result<Option<Vec<u8>>, UntrustedFileError> {
    let io = |source| UntrustedFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut flags = nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY;
    if links == Links::Refuse {
        flags |= nix::libc::O_NOFOLLOW;
    }
    let file = match OpenOptions::new().read(true).custom_flags(flags).open(path) {
        Ok(f) => f,
        // O_NOFOLLOW on a link gives ELOOP; so does a loop of links in the folders above, which
        // is told apart by looking at the last component itself.
        Err(e)
            if links == Links::Refuse
                && e.raw_os_error() == Some(nix::libc::ELOOP)
                && std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) =>
        {
            return Err(UntrustedFileError::Symlink {
                path: path.to_path_buf(),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A UNIX socket cannot be opened at all (ENXIO): say what it is.
        Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) => {
            return Err(UntrustedFileError::NotRegular {
                path: path.to_path_buf(),
                what: kind_of(path, links),
            })
        }
        Err(e) => return Err(io(e)),
    };
    let meta = file.metadata().map_err(io)?;
    if !meta.file_type().is_file() {
        return Err(UntrustedFileError::NotRegular {
            path: path.to_path_buf(),
            what: describe(&meta.file_type()),
        });
    }
    read_capped(file, max_bytes)
        .map_err(io)?
        .ok_or_else(|| UntrustedFileError::TooLarge {
            path: path.to_path_buf(),
            limit: max_bytes,
        })
        .map(Some)
}

/// Reads at most `max_bytes + 1` bytes; `None` when there were more than `max_bytes`.
fn read_capped(file: File, max_bytes: u64) -> io::Result<Option<Vec<u8>>> {
    let mut out = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut out)?;
    Ok((out.len() as u64 <= max_bytes).then_some(out))
}

fn kind_of(path: &Path, links: Links) -> &'static str {
    match links {
        Links::Follow => std::fs::metadata(path),
        Links::Refuse => std::fs::symlink_metadata(path),
    }
    .map(|m| describe(&m.file_type()))
    .unwrap_or("not a regular file")
}

fn describe(t: &std::fs::FileType) -> &'static str {
    if t.is_dir() {
        "a folder"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else if t.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn regular_files_and_links_to_them_are_read_and_absence_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f.json");
        std::fs::write(&f, b"{}").unwrap();
        assert_eq!(read_untrusted_file(&f, 10).unwrap().unwrap(), b"{}");
        let link = dir.path().join("link.json");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_eq!(read_untrusted_file(&link, 10).unwrap().unwrap(), b"{}");
        assert!(read_untrusted_file(&dir.path().join("nope"), 10)
            .unwrap()
            .is_none());
        // Exactly at the cap is fine; one byte more is not.
        assert_eq!(read_untrusted_file(&f, 2).unwrap().unwrap(), b"{}");
        let e = read_untrusted_file(&f, 1).unwrap_err();
        assert!(
            matches!(e, UntrustedFileError::TooLarge { limit: 1, .. }),
            "{e}"
        );
        assert!(e.to_string().contains("f.json"), "{e}");
    }

    #[test]
    fn a_fifo_is_refused_at_once_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("upgrade-info.json");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let started = Instant::now();
        let e = read_untrusted_file(&fifo, 1024).unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(
            matches!(e, UntrustedFileError::NotRegular { what, .. } if what.contains("FIFO")),
            "{e}"
        );
        assert!(e.to_string().contains("upgrade-info.json"), "{e}");
    }

    #[test]
    fn a_link_to_an_endless_device_is_refused_without_reading() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("upgrade-info.json");
        std::os::unix::fs::symlink("/dev/zero", &link).unwrap();
        let e = read_untrusted_file(&link, 4 << 20).unwrap_err();
        assert!(
            matches!(
                e,
                UntrustedFileError::NotRegular {
                    what: "a character device",
                    ..
                }
            ),
            "{e}"
        );
        let e = read_untrusted_file(dir.path(), 10).unwrap_err();
        assert!(
            matches!(
                e,
                UntrustedFileError::NotRegular {
                    what: "a folder",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_socket_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("manual.json");
        let _l = std::os::unix::net::UnixListener::bind(&sock).unwrap();
        let e = read_untrusted_file(&sock, 10).unwrap_err();
        assert!(
            matches!(
                e,
                UntrustedFileError::NotRegular {
                    what: "a socket",
                    ..
                }
            ),
            "{e}"
        );
    }

    /// The node's own `data/upgrade-info.json` linked to another file (`/etc/shadow` under a
    /// root switchyard) used to be read and printed: the no-follow read refuses any link at the
    /// last component, naming it, while a linked folder above it is still followed.
    #[test]
    fn the_node_written_read_refuses_a_link_at_the_file_itself() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("secret");
        std::fs::write(&secret, b"root:x:0").unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let info = data.join("upgrade-info.json");
        std::os::unix::fs::symlink(&secret, &info).unwrap();
        let e = read_node_written_file(&info, 1024).unwrap_err();
        assert!(matches!(e, UntrustedFileError::Symlink { .. }), "{e}");
        let msg = e.to_string();
        assert!(
            msg.contains("is a symbolic link, refusing to read it")
                && msg.contains("upgrade-info.json"),
            "{msg}"
        );
        assert!(!msg.contains("root:x"), "{msg}");
        // A dangling link is refused too, not taken for an absent file.
        std::fs::remove_file(&secret).unwrap();
        let e = read_node_written_file(&info, 1024).unwrap_err();
        assert!(matches!(e, UntrustedFileError::Symlink { .. }), "{e}");
        // A regular file is read; a linked data folder above it is followed.
        std::fs::remove_file(&info).unwrap();
        std::fs::write(&info, b"{}").unwrap();
        assert_eq!(read_node_written_file(&info, 10).unwrap().unwrap(), b"{}");
        let linked = dir.path().join("data-link");
        std::os::unix::fs::symlink(&data, &linked).unwrap();
        let via = linked.join("upgrade-info.json");
        assert_eq!(read_node_written_file(&via, 10).unwrap().unwrap(), b"{}");
        assert!(read_node_written_file(&data.join("nope"), 10)
            .unwrap()
            .is_none());
        // Devices and FIFOs stay refused as by the following read.
        let fifo = data.join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o644)).unwrap();
        let e = read_node_written_file(&fifo, 10).unwrap_err();
        assert!(matches!(e, UntrustedFileError::NotRegular { .. }), "{e}");
        // The config reader still follows links, as operators use them.
        std::os::unix::fs::symlink(&info, data.join("cfg.toml")).unwrap();
        assert_eq!(
            read_untrusted_file(&data.join("cfg.toml"), 10)
                .unwrap()
                .unwrap(),
            b"{}"
        );
    }

    #[test]
    fn the_cap_bounds_the_read_itself() {
        // /proc/self/... files report size 0 but can be long: the cap holds whatever the size says.
        let e = read_untrusted_file(Path::new("/proc/self/maps"), 8).unwrap_err();
        assert!(
            matches!(e, UntrustedFileError::TooLarge { limit: 8, .. }),
            "{e}"
        );
    }
}
