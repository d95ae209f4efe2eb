//! Entry points for the fuzz targets in `fuzz/`: the archive unpacker, which is private, on a
//! file the target wrote. switchyard itself does not call this; it is public only so the
//! unpacker can be fuzzed through one deliberate door. It must return (any result), never panic,
//! and never write outside `dest`.

use std::path::Path;

use crate::archive::{self, ArchiveError, ArchiveKind, UnpackLimits};

/// Unpacks `archive` as `kind` (`"tar.gz"`, `"tar"` or `"zip"`) into the empty folder `dest`
/// under the given caps, then looks for `bin/<daemon>` as staging does.
pub fn unpack(
    archive: &Path,
    kind: &str,
    dest: &Path,
    max_bytes: u64,
    max_entries: u64,
    daemon: &str,
) -> Result<(), ArchiveError> {
    let kind = match kind {
        "tar.gz" => ArchiveKind::TarGz,
        "tar" => ArchiveKind::Tar,
        "zip" => ArchiveKind::Zip,
        other => return Err(ArchiveError::Unsupported(other.to_string())),
    };
    let limits = UnpackLimits {
        max_bytes,
        max_entries,
    };
    archive::unpack(archive, kind, dest, &limits)?;
    archive::find_binary(dest, daemon)?;
    Ok(())
}

/// The archive kind a download URL names (`archive=` parameter or suffix).
pub fn kind_from_url(url: &str) -> Result<Option<&'static str>, ArchiveError> {
    Ok(archive::kind_from_url(url)?.map(ArchiveKind::as_str))
}
