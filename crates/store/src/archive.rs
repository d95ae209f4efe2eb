//! Safe unpacking of release archives (`.tar.gz`/`.tgz`, `.tar`, `.zip`).
//!
//! The archive comes from a URL in a governance proposal, so every entry is hostile until shown
//! otherwise. [`unpack`] writes entries itself (it does not use the tar/zip crates' extractors)
//! and refuses, with the entry's name in the error:
//! - paths that are absolute or contain `..`;
//! - writing through anything that is not a real folder (a symlink made by an earlier entry);
//! - symlinks whose target is absolute or resolves, through the links already unpacked, to
//!   anywhere outside the target folder (checked after all entries are out, so order can't help);
//! - hard links to anything but a regular file unpacked earlier;
//! - device files, FIFOs, sockets and sparse/unknown entry kinds;
//! - more than `max_bytes` of unpacked data (counted as written, not as claimed by headers, so a
//!   decompression bomb stops at the cap) or more than `max_entries` entries;
//! - the same path twice, as extraction sees it (`bin/x` and `./bin/x` are one path; names are
//!   case-sensitive). For zip this is checked on the central directory's own records before
//!   anything is written, because the zip crate keeps only one entry per exact name: a zip with
//!   two `bin/simd` entries would otherwise be installed from one of them, silently.
//!
//! Modes are reduced to `0o755`/`0o644` (no setuid/setgid). [`find_binary`] then locates the
//! daemon at `bin/<DAEMON_NAME>` or `<DAEMON_NAME>` at the root, as cosmovisor accepts.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// The archive formats we unpack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum ArchiveKind {
    #[serde(rename = "tar.gz")]
    TarGz,
    #[serde(rename = "tar")]
    Tar,
    #[serde(rename = "zip")]
    Zip,
}

impl ArchiveKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ArchiveKind::TarGz => "tar.gz",
            ArchiveKind::Tar => "tar",
            ArchiveKind::Zip => "zip",
        }
    }

    fn from_name(s: &str) -> Option<Self> {
        match s {
            "tar.gz" | "tgz" => Some(ArchiveKind::TarGz),
            "tar" => Some(ArchiveKind::Tar),
            "zip" => Some(ArchiveKind::Zip),
            _ => None,
        }
    }
}

/// Caps on what one archive may unpack to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnpackLimits {
    /// Total bytes of file content written.
    pub max_bytes: u64,
    /// Number of entries (files, folders, links).
    pub max_entries: u64,
}

impl Default for UnpackLimits {
    fn default() -> Self {
        UnpackLimits {
            max_bytes: 4 << 30,
            max_entries: 100_000,
        }
    }
}

/// What was unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct UnpackStats {
    pub entries: u64,
    pub bytes: u64,
}

/// Why a release archive could not be unpacked, or held no daemon binary.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading the archive, or making a folder, file or link under the target folder, failed.
    #[error("{path}: {source}")]
    Io {
        /// The archive, or the path being written under the target folder.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The archive could not be decoded as its kind (bad gzip, tar or zip data, a truncated
    /// entry, a cut-short zip central directory).
    #[error("{archive}: not a readable {kind} archive: {detail}")]
    Corrupt {
        /// The downloaded archive file.
        archive: PathBuf,
        /// The kind it was read as: `"tar.gz"`, `"tar"` or `"zip"`.
        kind: &'static str,
        /// The decoder's error, prefixed with the entry name when one entry was being read.
        detail: String,
    },
    /// An entry's path is absolute, contains `..` or a NUL byte, passes through a symlink or
    /// file made by an earlier entry, or is a link the unpacker will not make.
    #[error("archive entry {entry:?} refused: {reason}")]
    UnsafePath {
        /// The entry's name as stored in the archive.
        entry: String,
        /// Which rule it broke, in words.
        reason: &'static str,
    },
    /// A symlink entry's target is absolute or resolves, through the links unpacked, to outside
    /// the target folder.
    #[error("archive entry {entry:?} is a symlink to {target:?}, which points outside the unpacked folder")]
    EscapingLink {
        /// The symlink entry's name as stored in the archive.
        entry: String,
        /// The link's target as stored in the archive.
        target: String,
    },
    /// An entry is a device file, FIFO, socket, sparse file or of a kind we don't know.
    #[error("archive entry {entry:?} is a {what}; only files, folders and links are unpacked")]
    Special {
        /// The entry's name as stored in the archive.
        entry: String,
        /// What kind of entry it is, e.g. `"FIFO"` or `"block device"`.
        what: &'static str,
    },
    /// The entries' content written so far went over the byte cap.
    #[error("archive unpacks to more than {limit} bytes (decompression bomb?); refused")]
    TooLarge {
        /// The cap, in bytes of unpacked file content.
        limit: u64,
    },
    /// The archive holds more entries than the cap.
    #[error("archive has more than {limit} entries; refused")]
    TooManyEntries {
        /// The cap, in entries (files, folders and links).
        limit: u64,
    },
    /// Two entries unpack to the same path, or one lands where an earlier entry of another kind
    /// already is.
    #[error("archive entry {entry:?} appears twice or clashes with another entry")]
    Duplicate {
        /// The later entry's name; for a zip whose central directory has more records than the
        /// zip crate kept, a count instead (`"N entries share a name"`).
        entry: String,
    },
    /// The URL names an archive format we don't unpack (e.g. `.tar.xz`, `archive=rar`); holds
    /// the format as named.
    #[error("archive type {0:?} is not supported (use .tar.gz, .tgz, .tar or .zip)")]
    Unsupported(String),
    /// The unpacked archive has no regular file at `bin/<daemon>` or `<daemon>`.
    #[error("the archive holds neither bin/{daemon} nor {daemon} at its root (found: {found})")]
    NoBinary {
        /// The daemon's file name (`DAEMON_NAME`).
        daemon: String,
        /// Up to 20 names found at the root and in `bin/`, comma-separated, or `"nothing"`.
        found: String,
    },
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> ArchiveError + '_ {
    move |source| ArchiveError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The archive kind a URL names, go-getter style: an `archive=` query parameter wins
/// (`archive=false` means "not an archive"), else the path's suffix. `Ok(None)`: a plain binary.
pub(crate) fn kind_from_url(url: &str) -> Result<Option<ArchiveKind>, ArchiveError> {
    let no_fragment = url.split('#').next().unwrap_or("");
    let (path, query) = no_fragment.split_once('?').unwrap_or((no_fragment, ""));
    for pair in query.split('&') {
        if let Some(v) = pair.strip_prefix("archive=") {
            let v = v.to_ascii_lowercase();
            if v == "false" {
                return Ok(None);
            }
            return ArchiveKind::from_name(&v)
                .map(Some)
                .ok_or(ArchiveError::Unsupported(v));
        }
    }
    let path = path.to_ascii_lowercase();
    let file = path.rsplit('/').next().unwrap_or("");
    for (suffix, kind) in [
        (".tar.gz", ArchiveKind::TarGz),
        (".tgz", ArchiveKind::TarGz),
        (".tar", ArchiveKind::Tar),
        (".zip", ArchiveKind::Zip),
    ] {
        if file.ends_with(suffix) {
            return Ok(Some(kind));
        }
    }
    for suffix in [
        ".tar.bz2", ".tbz2", ".tar.xz", ".txz", ".tar.zst", ".bz2", ".xz", ".zst",
    ] {
        if file.ends_with(suffix) {
            return Err(ArchiveError::Unsupported(
                suffix.trim_start_matches('.').to_string(),
            ));
        }
    }
    Ok(None)
}

/// Recognises a gzip or zip file by its first bytes (for URLs that don't say what they serve).
pub(crate) fn sniff(path: &Path) -> Result<Option<ArchiveKind>, ArchiveError> {
    let mut head = [0u8; 4];
    let mut f = File::open(path).map_err(io_at(path))?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..]).map_err(io_at(path))? {
            0 => break,
            k => n += k,
        }
    }
    Ok(match &head[..n] {
        [0x1f, 0x8b, ..] => Some(ArchiveKind::TarGz),
        [b'P', b'K', 3, 4] => Some(ArchiveKind::Zip),
        _ => None,
    })
}

/// Unpacks `archive` into `dest` (an empty folder), refusing anything unsafe (see module docs).
/// On error `dest` may hold part of the archive; the caller discards it.
pub(crate) fn unpack(
    archive: &Path,
    kind: ArchiveKind,
    dest: &Path,
    limits: &UnpackLimits,
) -> Result<UnpackStats, ArchiveError> {
    fs::create_dir_all(dest).map_err(io_at(dest))?;
    let mut w = Writer {
        dest,
        limits: *limits,
        stats: UnpackStats::default(),
        links: Vec::new(),
    };
    match kind {
        ArchiveKind::TarGz => {
            let f = File::open(archive).map_err(io_at(archive))?;
            let gz = flate2::read::MultiGzDecoder::new(BufReader::new(f));
            unpack_tar(tar::Archive::new(gz), archive, kind, &mut w)?;
        }
        ArchiveKind::Tar => {
            let f = File::open(archive).map_err(io_at(archive))?;
            unpack_tar(tar::Archive::new(BufReader::new(f)), archive, kind, &mut w)?;
        }
        ArchiveKind::Zip => unpack_zip(archive, &mut w)?,
    }
    w.check_links()?;
    Ok(w.stats)
}

fn corrupt(archive: &Path, kind: ArchiveKind, detail: impl ToString) -> ArchiveError {
    ArchiveError::Corrupt {
        archive: archive.to_path_buf(),
        kind: kind.as_str(),
        detail: detail.to_string(),
    }
}

fn unpack_tar<R: Read>(
    mut ar: tar::Archive<R>,
    archive: &Path,
    kind: ArchiveKind,
    w: &mut Writer<'_>,
) -> Result<UnpackStats, ArchiveError> {
    use tar::EntryType as T;
    let entries = ar.entries().map_err(|e| corrupt(archive, kind, e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| corrupt(archive, kind, e))?;
        let raw = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw).into_owned();
        let ty = entry.header().entry_type();
        match ty {
            T::XGlobalHeader | T::XHeader | T::GNULongName | T::GNULongLink => continue,
            _ => {}
        }
        w.count_entry()?;
        let Some(rel) = safe_rel(&raw, &name)? else {
            continue; // the archive's root folder itself
        };
        let mode = entry.header().mode().unwrap_or(0o644);
        match ty {
            T::Regular | T::Continuous => w.file(&rel, &name, mode, &mut entry, archive, kind)?,
            T::Directory => w.dir(&rel)?,
            T::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                w.symlink(&rel, &name, &target)?;
            }
            T::Link => {
                let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                w.hard_link(&rel, &name, &target)?;
            }
            T::Char => return Err(special(name, "character device")),
            T::Block => return Err(special(name, "block device")),
            T::Fifo => return Err(special(name, "FIFO")),
            T::GNUSparse => return Err(special(name, "sparse file")),
            _ => return Err(special(name, "entry of an unknown kind")),
        }
    }
    Ok(w.stats)
}

fn special(entry: String, what: &'static str) -> ArchiveError {
    ArchiveError::Special { entry, what }
}

fn unpack_zip(archive: &Path, w: &mut Writer<'_>) -> Result<(), ArchiveError> {
    const S_IFMT: u32 = 0o170000;
    const S_IFDIR: u32 = 0o040000;
    const S_IFREG: u32 = 0o100000;
    const S_IFLNK: u32 = 0o120000;
    let kind = ArchiveKind::Zip;
    let f = File::open(archive).map_err(io_at(archive))?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f)).map_err(|e| corrupt(archive, kind, e))?;
    if zip.len() as u64 > w.limits.max_entries {
        return Err(ArchiveError::TooManyEntries {
            limit: w.limits.max_entries,
        });
    }
    refuse_duplicate_zip_names(archive, zip.central_directory_start(), zip.len(), w.limits)?;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| corrupt(archive, kind, e))?;
        let raw = file.name_raw().to_vec();
        let name = String::from_utf8_lossy(&raw).into_owned();
        w.count_entry()?;
        let Some(rel) = safe_rel(&raw, &name)? else {
            continue;
        };
        let mode = file.unix_mode();
        let fmt = mode.map(|m| m & S_IFMT).unwrap_or(0);
        if file.is_dir() || fmt == S_IFDIR {
            w.dir(&rel)?;
        } else if fmt == S_IFLNK {
            let mut target = Vec::new();
            (&mut file)
                .take(4097)
                .read_to_end(&mut target)
                .map_err(|e| corrupt(archive, kind, format!("{name}: {e}")))?;
            if target.len() > 4096 {
                return Err(ArchiveError::UnsafePath {
                    entry: name,
                    reason: "symlink target is longer than 4096 bytes",
                });
            }
            w.symlink(&rel, &name, &target)?;
        } else if fmt == 0 || fmt == S_IFREG {
            w.file(&rel, &name, mode.unwrap_or(0o644), &mut file, archive, kind)?;
        } else {
            let what = match fmt {
                0o020000 => "character device",
                0o060000 => "block device",
                0o010000 => "FIFO",
                0o140000 => "socket",
                _ => "entry of an unknown kind",
            };
            return Err(special(name, what));
        }
    }
    Ok(())
}

/// Reads the names in the zip's central directory records (at `start`, one after the other, as
/// the format lays them out) and refuses two that extraction would put at the same path, and a
/// directory with more records than the zip crate kept (`kept`): it collapses exact duplicates.
fn refuse_duplicate_zip_names(
    archive: &Path,
    start: u64,
    kept: usize,
    limits: UnpackLimits,
) -> Result<(), ArchiveError> {
    use std::collections::HashMap;
    use std::io::{Seek, SeekFrom};
    const RECORD: [u8; 4] = [b'P', b'K', 1, 2];
    let bad = |detail: String| corrupt(archive, ArchiveKind::Zip, detail);
    let mut f = BufReader::new(File::open(archive).map_err(io_at(archive))?);
    f.seek(SeekFrom::Start(start)).map_err(io_at(archive))?;
    let mut seen: HashMap<PathBuf, String> = HashMap::new();
    let mut records = 0usize;
    loop {
        let mut fixed = [0u8; 46];
        match f.read_exact(&mut fixed) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(io_at(archive)(e)),
        }
        if fixed[..4] != RECORD {
            break;
        }
        records += 1;
        if records as u64 > limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: limits.max_entries,
            });
        }
        let len = |at: usize| u64::from(u16::from_le_bytes([fixed[at], fixed[at + 1]]));
        let (name_len, rest) = (len(28), len(30) + len(32));
        let mut raw = Vec::new();
        (&mut f)
            .take(name_len)
            .read_to_end(&mut raw)
            .map_err(io_at(archive))?;
        if raw.len() as u64 != name_len {
            return Err(bad("the central directory is cut short".into()));
        }
        f.seek_relative(rest as i64).map_err(io_at(archive))?;
        let name = String::from_utf8_lossy(&raw).into_owned();
        let Some(rel) = safe_rel(&raw, &name)? else {
            continue;
        };
        if let Some(first) = seen.insert(rel, name.clone()) {
            // A folder listed twice is harmless (`a/` and `./a/`); anything else is not.
            if !(first.ends_with('/') && name.ends_with('/')) {
                return Err(ArchiveError::Duplicate { entry: name });
            }
        }
    }
    if records > kept {
        return Err(ArchiveError::Duplicate {
            entry: format!("{} entries share a name", records - kept + 1),
        });
    }
    Ok(())
}

/// Turns an entry name into a relative path with only normal components.
/// `Ok(None)` for the root itself (`./`).
fn safe_rel(raw: &[u8], name: &str) -> Result<Option<PathBuf>, ArchiveError> {
    let refuse = |reason| ArchiveError::UnsafePath {
        entry: name.to_string(),
        reason,
    };
    if raw.contains(&0) {
        return Err(refuse("its name contains a NUL byte"));
    }
    if raw.first() == Some(&b'/') || raw.first() == Some(&b'\\') {
        return Err(refuse("its path is absolute"));
    }
    let mut out = PathBuf::new();
    // Backslashes are folder separators in archives made on Windows: treat them as such, so
    // `..\..\x` is caught too.
    for part in raw.split(|&b| b == b'/' || b == b'\\') {
        match part {
            b"" | b"." => {}
            b".." => return Err(refuse("its path contains `..`")),
            p => out.push(OsStr::from_bytes(p)),
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Writes entries under `dest`, enforcing the limits and the no-symlink-traversal rule.
struct Writer<'a> {
    dest: &'a Path,
    limits: UnpackLimits,
    stats: UnpackStats,
    /// Symlinks made, with the entry name, for the final escape check.
    links: Vec<(PathBuf, String, String)>,
}

impl Writer<'_> {
    fn count_entry(&mut self) -> Result<(), ArchiveError> {
        self.stats.entries += 1;
        if self.stats.entries > self.limits.max_entries {
            return Err(ArchiveError::TooManyEntries {
                limit: self.limits.max_entries,
            });
        }
        Ok(())
    }

    /// Makes every folder on the way to `rel` (exclusive), refusing to pass through anything
    /// that is not a real folder.
    fn parents(&self, rel: &Path, name: &str) -> Result<PathBuf, ArchiveError> {
        let mut cur = self.dest.to_path_buf();
        let comps: Vec<Component<'_>> = rel.components().collect();
        for c in &comps[..comps.len().saturating_sub(1)] {
            cur.push(c);
            match fs::symlink_metadata(&cur) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(ArchiveError::UnsafePath {
                        entry: name.to_string(),
                        reason:
                            "a folder on its path is a symlink or a file made by an earlier entry",
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::create_dir(&cur).map_err(io_at(&cur))?
                }
                Err(e) => return Err(io_at(&cur)(e)),
            }
        }
        Ok(self.dest.join(rel))
    }

    fn dir(&mut self, rel: &Path) -> Result<(), ArchiveError> {
        let name = rel.to_string_lossy().into_owned();
        let path = self.parents(rel, &name)?;
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => Ok(()),
            Ok(_) => Err(ArchiveError::Duplicate { entry: name }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path).map_err(io_at(&path))
            }
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    fn file(
        &mut self,
        rel: &Path,
        name: &str,
        mode: u32,
        mut content: impl Read,
        archive: &Path,
        kind: ArchiveKind,
    ) -> Result<(), ArchiveError> {
        let path = self.parents(rel, name)?;
        let perm = if mode & 0o111 != 0 { 0o755 } else { 0o644 };
        // create_new: O_EXCL, which also refuses to follow a symlink at the final component.
        let mut out = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(perm)
            .open(&path)
        {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ArchiveError::Duplicate {
                    entry: name.to_string(),
                })
            }
            Err(e) => return Err(io_at(&path)(e)),
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match content.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(corrupt(archive, kind, format!("{name}: {e}"))),
            };
            self.stats.bytes += n as u64;
            if self.stats.bytes > self.limits.max_bytes {
                return Err(ArchiveError::TooLarge {
                    limit: self.limits.max_bytes,
                });
            }
            out.write_all(&buf[..n]).map_err(io_at(&path))?;
        }
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, name: &str, target: &[u8]) -> Result<(), ArchiveError> {
        let target_str = String::from_utf8_lossy(target).into_owned();
        let escaping = || ArchiveError::EscapingLink {
            entry: name.to_string(),
            target: target_str.clone(),
        };
        if target.is_empty() || target.contains(&0) {
            return Err(ArchiveError::UnsafePath {
                entry: name.to_string(),
                reason: "symlink target is empty or contains a NUL byte",
            });
        }
        if target[0] == b'/' {
            return Err(escaping());
        }
        // Lexical check first (cheap, catches `../../etc`); the physical one runs at the end.
        let mut depth = rel.components().count() as i64 - 1;
        for part in target.split(|&b| b == b'/') {
            match part {
                b"" | b"." => {}
                b".." => depth -= 1,
                _ => depth += 1,
            }
            if depth < 0 {
                return Err(escaping());
            }
        }
        let path = self.parents(rel, name)?;
        match std::os::unix::fs::symlink(OsStr::from_bytes(target), &path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(ArchiveError::Duplicate {
                    entry: name.to_string(),
                })
            }
            Err(e) => return Err(io_at(&path)(e)),
        }
        self.links
            .push((rel.to_path_buf(), name.to_string(), target_str));
        Ok(())
    }

    fn hard_link(&mut self, rel: &Path, name: &str, target: &[u8]) -> Result<(), ArchiveError> {
        let target_name = String::from_utf8_lossy(target).into_owned();
        let Some(target_rel) = safe_rel(target, &target_name)? else {
            return Err(ArchiveError::UnsafePath {
                entry: name.to_string(),
                reason: "hard link to the archive root",
            });
        };
        // The target must be a regular file reached through real folders only.
        let mut cur = self.dest.to_path_buf();
        for c in target_rel.components() {
            cur.push(c);
            let ok = match fs::symlink_metadata(&cur) {
                Ok(m) => m.is_dir() || (m.is_file() && cur.ends_with(&target_rel)),
                Err(_) => false,
            };
            if !ok {
                return Err(ArchiveError::UnsafePath {
                    entry: name.to_string(),
                    reason: "hard link to something that is not a file unpacked earlier",
                });
            }
        }
        if !fs::symlink_metadata(&cur)
            .map(|m| m.is_file())
            .unwrap_or(false)
        {
            return Err(ArchiveError::UnsafePath {
                entry: name.to_string(),
                reason: "hard link to something that is not a file unpacked earlier",
            });
        }
        let path = self.parents(rel, name)?;
        match fs::hard_link(&cur, &path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(ArchiveError::Duplicate {
                entry: name.to_string(),
            }),
            Err(e) => Err(io_at(&path)(e)),
        }
    }

    /// Resolves every symlink through the links actually on disk and refuses any that leaves
    /// `dest` on the way (e.g. `a -> .` then `b -> a/..`).
    fn check_links(&self) -> Result<(), ArchiveError> {
        for (rel, name, target) in &self.links {
            if resolves_outside(self.dest, rel) {
                return Err(ArchiveError::EscapingLink {
                    entry: name.clone(),
                    target: target.clone(),
                });
            }
        }
        Ok(())
    }
}

/// Whether following the symlink at `root/link` ever steps above `root`, following further
/// links inside `root` as the kernel would. Absolute targets and link loops count as outside.
pub(crate) fn resolves_outside(root: &Path, link: &Path) -> bool {
    let mut stack: Vec<OsString> = link
        .parent()
        .map(|p| p.iter().map(OsStr::to_os_string).collect())
        .unwrap_or_default();
    let Ok(first) = fs::read_link(root.join(link)) else {
        return true;
    };
    if first.is_absolute() {
        return true;
    }
    let mut pending: VecDeque<OsString> = first.iter().map(OsStr::to_os_string).collect();
    let mut hops = 0;
    while let Some(part) = pending.pop_front() {
        match part.as_bytes() {
            b"" | b"." => {}
            b".." => {
                if stack.pop().is_none() {
                    return true;
                }
            }
            _ => {
                let here: PathBuf = stack.iter().chain(std::iter::once(&part)).collect();
                match fs::read_link(root.join(&here)) {
                    Ok(next) => {
                        hops += 1;
                        if hops > 40 || next.is_absolute() {
                            return true;
                        }
                        for c in next.iter().rev() {
                            pending.push_front(c.to_os_string());
                        }
                    }
                    Err(_) => stack.push(part),
                }
            }
        }
    }
    false
}

/// Finds the daemon binary in an unpacked archive: `bin/<daemon>` first, then `<daemon>` at the
/// root. Returns its path relative to `dir`. It must be (or link to) a regular file.
pub(crate) fn find_binary(dir: &Path, daemon: &str) -> Result<PathBuf, ArchiveError> {
    for rel in [Path::new("bin").join(daemon), PathBuf::from(daemon)] {
        let p = dir.join(&rel);
        if fs::metadata(&p).map(|m| m.is_file()).unwrap_or(false)
            && fs::symlink_metadata(dir.join(rel.parent().unwrap_or(Path::new(""))))
                .map(|m| m.is_dir())
                .unwrap_or(false)
        {
            return Ok(rel);
        }
    }
    let mut found: Vec<String> = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    if let Ok(rd) = fs::read_dir(dir.join("bin")) {
        found.extend(
            rd.filter_map(|e| e.ok())
                .map(|e| format!("bin/{}", e.file_name().to_string_lossy())),
        );
    }
    found.sort();
    found.truncate(20);
    Err(ArchiveError::NoBinary {
        daemon: daemon.to_string(),
        found: if found.is_empty() {
            "nothing".into()
        } else {
            found.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_from_urls() {
        let k = |u: &str| kind_from_url(u).unwrap();
        assert_eq!(k("https://h/simd-v2-linux-amd64"), None);
        assert_eq!(
            k("https://h/simd.tar.gz?checksum=sha256:00"),
            Some(ArchiveKind::TarGz)
        );
        assert_eq!(k("https://h/SIMD.TGZ"), Some(ArchiveKind::TarGz));
        assert_eq!(k("https://h/s.zip#x"), Some(ArchiveKind::Zip));
        assert_eq!(k("https://h/s.zip?archive=false"), None);
        assert_eq!(k("https://h/dl?id=3&archive=tgz"), Some(ArchiveKind::TarGz));
        assert!(matches!(
            kind_from_url("https://h/s.tar.xz"),
            Err(ArchiveError::Unsupported(_))
        ));
        assert!(matches!(
            kind_from_url("https://h/s?archive=rar"),
            Err(ArchiveError::Unsupported(_))
        ));
    }

    #[test]
    fn safe_rel_refuses_escapes() {
        let ok = |s: &str| safe_rel(s.as_bytes(), s).unwrap();
        assert_eq!(ok("./bin/simd"), Some(PathBuf::from("bin/simd")));
        assert_eq!(ok("./"), None);
        for bad in [
            "/etc/passwd",
            "../x",
            "bin/../../x",
            "a\\..\\..\\x",
            "\\abs",
        ] {
            assert!(safe_rel(bad.as_bytes(), bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn physical_resolution_catches_a_dot_link_then_parent() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir_all(root.join("sub")).unwrap();
        std::os::unix::fs::symlink(".", root.join("a")).unwrap();
        std::os::unix::fs::symlink("a/..", root.join("b")).unwrap();
        std::os::unix::fs::symlink("sub", root.join("c")).unwrap();
        std::os::unix::fs::symlink("c/../sub/x", root.join("d")).unwrap();
        std::os::unix::fs::symlink("loop2", root.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", root.join("loop2")).unwrap();
        assert!(!resolves_outside(&root, Path::new("a")));
        assert!(resolves_outside(&root, Path::new("b")));
        assert!(!resolves_outside(&root, Path::new("c")));
        assert!(!resolves_outside(&root, Path::new("d")));
        assert!(resolves_outside(&root, Path::new("loop1")));
    }

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        use std::io::Write as _;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for (name, body) in entries {
            let o = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
            w.start_file(*name, o).unwrap();
            w.write_all(body).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn unpack_zip_bytes(bytes: &[u8]) -> Result<UnpackStats, ArchiveError> {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.zip");
        fs::write(&a, bytes).unwrap();
        unpack(
            &a,
            ArchiveKind::Zip,
            &dir.path().join("out"),
            &UnpackLimits::default(),
        )
    }

    /// Two entries named exactly `bin/simd` (the zip crate keeps one of them, so the archive was
    /// installed from whichever it kept): refused before anything is written.
    #[test]
    fn zip_with_two_entries_of_the_same_name_is_refused() {
        let mut bytes = zip_of(&[("bin/simd", b"good"), ("bin/sime", b"evil")]);
        // Rename the second entry in its local header and central record: same length, so the
        // archive stays well-formed.
        let (from, to) = (b"bin/sime", b"bin/simd");
        let mut i = 0;
        while i + from.len() <= bytes.len() {
            if &bytes[i..i + from.len()] == from {
                bytes[i..i + from.len()].copy_from_slice(to);
            }
            i += 1;
        }
        let e = unpack_zip_bytes(&bytes).unwrap_err();
        assert!(matches!(e, ArchiveError::Duplicate { .. }), "{e}");
        // The same without the rename unpacks.
        unpack_zip_bytes(&zip_of(&[("bin/simd", b"good"), ("bin/sime", b"x")])).unwrap();
    }

    #[test]
    fn zip_names_that_extract_to_the_same_path_are_refused_case_sensitively() {
        for pair in [
            ["bin/simd", "./bin/simd"],
            ["bin/simd", "bin//simd"],
            ["bin/simd", "bin\\simd"],
        ] {
            let e = unpack_zip_bytes(&zip_of(&[(pair[0], b"a"), (pair[1], b"b")])).unwrap_err();
            assert!(
                matches!(&e, ArchiveError::Duplicate { entry } if entry == pair[1]),
                "{pair:?}: {e}"
            );
        }
        let s = unpack_zip_bytes(&zip_of(&[("bin/simd", b"a"), ("bin/SIMD", b"b")])).unwrap();
        assert_eq!(s.entries, 2);
    }
}
