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

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum UntrustedFileError {
    #[error("{path} is {what}, not a regular file; refusing to read it")]
    NotRegular { path: PathBuf, what: &'static str },
    #[error("{path} is larger than {limit} bytes; refusing to read further")]
    TooLarge { path: PathBuf, limit: u64 },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl UntrustedFileError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            UntrustedFileError::NotRegular { path, .. }
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
    let io = |source| UntrustedFileError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        // A UNIX socket cannot be opened at all (ENXIO): say what it is.
        Err(e) if e.raw_os_error() == Some(nix::libc::ENXIO) => {
            return Err(UntrustedFileError::NotRegular {
                path: path.to_path_buf(),
                what: kind_of(path),
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

fn kind_of(path: &Path) -> &'static str {
    std::fs::metadata(path)
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
