//! Small filesystem helpers shared by the store: durable writes and directory fsync.

use std::fs::{self, File};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// fsyncs a directory so that renames and creations inside it survive a power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename, fsync of the
/// folder. A reader sees the old content or the new, never a half-written file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    write_atomic_with_mode(path, bytes, None)
}

/// [`write_atomic`], with the file's permission bits set to `mode` before it appears under its
/// name (so an executable is never visible without its executable bit). A failed write leaves
/// no temporary file behind.
pub fn write_atomic_with_mode(path: &Path, bytes: &[u8], mode: Option<u32>) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent folder", path.display()),
        )
    })?;
    fs::create_dir_all(dir)?;
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        if let Some(mode) = mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result?;
    sync_dir(dir)
}

/// The most switchyard reads of one of its own state files.
pub const STATE_FILE_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a regular file of at most `max` bytes. A FIFO, device or socket at `path` is refused
/// without blocking, and a file longer than `max` is refused after reading at most `max + 1`
/// bytes: [`crate::read_untrusted_file`], with a missing file as `NotFound`.
pub fn read_capped(path: &Path, max: u64) -> io::Result<Vec<u8>> {
    use crate::UntrustedFileError as E;
    match crate::read_untrusted_file(path, max) {
        Ok(Some(bytes)) => Ok(bytes),
        Ok(None) => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} does not exist", path.display()),
        )),
        Err(E::Io { source, .. }) => Err(source),
        Err(e) => Err(io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
    }
}
