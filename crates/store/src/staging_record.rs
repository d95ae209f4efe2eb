//! Records of binaries switchyard staged ahead of an upgrade.
//!
//! One JSON file per upgrade, `$DAEMON_HOME/cosmovisor/switchyard/staged/<name>.json`, written
//! atomically. It says where the binary came from (URL, expected and actual digest, size), what
//! was installed (the binary's own sha256, so it can be checked again before it is run), and how
//! the preflight went (`<bin> version` output, or the loader's message).
//!
//! A record is written *before* the binary is moved into `upgrades/<name>/` (with preflight
//! [`PreflightStatus::Pending`]) and rewritten after the preflight. So a binary that is present
//! together with a record whose `binary_sha256` matches was staged by us; a binary without a
//! record was placed by the operator; a record without a binary is a leftover from a crash and is
//! simply overwritten by the next attempt.

use std::io;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use switchyard_core::UpgradeName;
use switchyard_core::{BinaryOrigin, BinarySource, ChecksumAlgo};

use crate::checksum::hash_file;
use crate::fsutil::write_atomic;
use crate::Layout;

/// How the `<bin> version` check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PreflightStatus {
    /// Not run yet (the install finished, the preflight did not).
    Pending,
    /// `<bin> version` started and exited 0.
    Ok,
    /// It could not start, exited non-zero, or timed out; `message` says why.
    Failed,
    /// Not run on purpose: the download had no checksum, and nothing unverified is executed.
    Skipped,
}

/// The result of running the staged binary once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PreflightRecord {
    /// Whether it passed, failed, was skipped or has not run yet.
    pub status: PreflightStatus,
    /// What `<bin> version` printed (stdout, then stderr), trimmed and capped.
    pub output: String,
    /// Why it failed, with the OS or dynamic loader's own words; `None` when it passed.
    pub message: Option<String>,
    /// When `<bin> version` was started; `None` when it has not run (pending or skipped).
    pub ran_at: Option<DateTime<Utc>>,
}

impl PreflightRecord {
    /// The record of a preflight that has not run yet: [`PreflightStatus::Pending`], no output.
    pub fn pending() -> Self {
        PreflightRecord {
            status: PreflightStatus::Pending,
            output: String::new(),
            message: None,
            ran_at: None,
        }
    }
}

/// Everything we know about one staged binary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StagingRecord {
    /// The upgrade name (the folder under `upgrades/`).
    pub name: String,
    /// The platform key whose entry was used, when the caller knew it (`linux/amd64`, `any`).
    pub platform: Option<String>,
    /// The URL as the plan gave it.
    pub url: String,
    /// The checksum the plan asked for (`sha256:<hex>`), if any.
    pub expected_checksum: Option<String>,
    /// The digest of the downloaded file, in the plan's algorithm (sha256 when it gave none).
    pub digest: String,
    /// Bytes downloaded.
    pub size: u64,
    /// `tar.gz` or `zip` when the download was an archive.
    pub archive: Option<String>,
    /// Where the binary was installed.
    pub binary_path: PathBuf,
    /// sha256 of the installed binary itself (equal to `digest` for a plain sha256 download).
    pub binary_sha256: String,
    /// Size of the installed binary itself, in bytes.
    pub binary_size: u64,
    /// When the record was first written, just before the binary was moved into place.
    pub staged_at: DateTime<Utc>,
    /// How the preflight went.
    pub preflight: PreflightRecord,
    /// The installed binary's inode, size and change times when it was last hashed and found
    /// equal to `binary_sha256`. While they are the same, the file has not been written since
    /// (any write or replacement changes its ctime, which no unprivileged process can set), so
    /// [`verify_installed_binary`] need not hash it again at the halt.
    #[serde(default)]
    pub binary_stamp: Option<FileStamp>,
    /// Where the source came from (plan info, proposal, chain registry, `add-upgrade --url`);
    /// `None` in records written before this was kept, or when the caller did not say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<BinaryOrigin>,
}

/// What identifies one state of a file without reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    /// The device of the filesystem holding the file (`st_dev`).
    pub dev: u64,
    /// The file's inode number (`st_ino`).
    pub ino: u64,
    /// The file's size, in bytes.
    pub size: u64,
    /// Last modification time, in ns since the Unix epoch (`st_mtime`); can be set by the owner.
    pub mtime_ns: i128,
    /// Last status change time, in ns since the Unix epoch (`st_ctime`); moves on any write or
    /// metadata change, and cannot be set back.
    pub ctime_ns: i128,
}

impl FileStamp {
    /// The stamp of `path` now (following symlinks, as running it would).
    pub fn of(path: &Path) -> io::Result<FileStamp> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path)?;
        let ns = |s: i64, n: i64| i128::from(s) * 1_000_000_000 + i128::from(n);
        Ok(FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime_ns: ns(m.mtime(), m.mtime_nsec()),
            ctime_ns: ns(m.ctime(), m.ctime_nsec()),
        })
    }
}

/// Why a staging record could not be read or written, or its binary failed the check.
#[derive(Debug, thiserror::Error)]
pub enum StagingRecordError {
    /// Reading, writing, listing or removing records, or reading the installed binary to hash
    /// or stamp it, failed.
    #[error("{path}: {source}")]
    Io {
        /// The record file, the `staged/` folder, or the installed binary.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A record file is not the JSON of a [`StagingRecord`].
    #[error("{path}: not a staged-binary record: {source}")]
    Corrupt {
        /// The record file.
        path: PathBuf,
        /// The JSON error.
        #[source]
        source: serde_json::Error,
    },
    /// The installed binary's sha256 is no longer the one recorded when it was staged.
    #[error("{path} was staged with sha256 {expected} but now hashes to {actual}; it was changed after staging")]
    BinaryChanged {
        /// The installed binary.
        path: PathBuf,
        /// The sha256 in the record ([`StagingRecord::binary_sha256`]), hex.
        expected: String,
        /// The sha256 of the file now, lowercase hex.
        actual: String,
    },
}

impl StagingRecord {
    /// Whether this record was staged from `source`: the same checksum when `source` has one,
    /// else the same URL.
    pub fn matches(&self, source: &BinarySource) -> bool {
        self.source().matches(source)
    }

    /// Where it came from, for core's rules ([`switchyard_core::staged_against_plan`]).
    pub fn source(&self) -> switchyard_core::StagedFrom<'_> {
        switchyard_core::StagedFrom {
            url: &self.url,
            expected_checksum: self.expected_checksum.as_deref(),
            digest: &self.digest,
        }
    }

    /// Whether the binary this record describes is on disk (a record without it is a leftover of
    /// an interrupted staging and means nothing).
    pub fn is_installed(&self) -> bool {
        self.binary_path.is_file()
    }
}

/// Hashes the installed binary and, when it is the staged one and was not touched while it was
/// read, records its stamp so the check at the halt is a `stat`. Off the critical path: staging
/// calls it after the preflight, long before the upgrade.
pub(crate) fn stamp_installed_binary(record: &mut StagingRecord) -> Result<(), StagingRecordError> {
    let path = record.binary_path.clone();
    let stamp = || {
        FileStamp::of(&path).map_err(|source| StagingRecordError::Io {
            path: path.clone(),
            source,
        })
    };
    let before = stamp()?;
    record.binary_stamp = None;
    hash_installed_binary(record)?;
    let after = stamp()?;
    record.binary_stamp = (before == after).then_some(before);
    Ok(())
}

/// The folder holding the records.
pub(crate) fn records_dir(layout: &Layout) -> PathBuf {
    layout.state_dir().join("staged")
}

/// Where the record of `name` lives.
pub(crate) fn record_path(layout: &Layout, name: &UpgradeName) -> PathBuf {
    records_dir(layout).join(format!("{}.json", name.as_str()))
}

/// Reads the record of `name`; `Ok(None)` when there is none.
pub fn load_staging_record(
    layout: &Layout,
    name: &UpgradeName,
) -> Result<Option<StagingRecord>, StagingRecordError> {
    read_record(&record_path(layout, name))
}

/// Most bytes of a staging record read (its preflight output is capped at 4 KiB).
const MAX_RECORD_BYTES: u64 = 1 << 20;

/// Reads a record as every file others could put in our folder is read: regular files only,
/// opened without blocking, at most [`MAX_RECORD_BYTES`].
fn read_record(path: &Path) -> Result<Option<StagingRecord>, StagingRecordError> {
    let bytes = match crate::read_untrusted_file(path, MAX_RECORD_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(StagingRecordError::Io {
                path: path.to_path_buf(),
                source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|source| StagingRecordError::Corrupt {
            path: path.to_path_buf(),
            source,
        })
}

/// Writes the record of `name` atomically.
pub fn save_staging_record(
    layout: &Layout,
    name: &UpgradeName,
    record: &StagingRecord,
) -> Result<(), StagingRecordError> {
    let path = record_path(layout, name);
    let mut bytes =
        serde_json::to_vec_pretty(record).map_err(|source| StagingRecordError::Corrupt {
            path: path.clone(),
            source,
        })?;
    bytes.push(b'\n');
    write_atomic(&path, &bytes).map_err(|source| StagingRecordError::Io { path, source })
}

/// Removes the record of `name` (no error when there is none).
pub fn remove_staging_record(
    layout: &Layout,
    name: &UpgradeName,
) -> Result<(), StagingRecordError> {
    let path = record_path(layout, name);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(StagingRecordError::Io { path, source }),
    }
}

/// Every record on disk, sorted by name. Unreadable files are returned as errors beside the rest.
pub fn list_staging_records(
    layout: &Layout,
) -> Result<Vec<Result<StagingRecord, StagingRecordError>>, StagingRecordError> {
    let dir = records_dir(layout);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(StagingRecordError::Io { path: dir, source }),
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    paths.sort();
    Ok(paths
        .iter()
        .filter_map(|p| read_record(p).transpose())
        .collect())
}

/// Checks the installed binary is still the one that was staged: unchanged since it was last
/// hashed ([`StagingRecord::binary_stamp`]), else hashed again. Call this before running a
/// staged binary that has been sitting on disk.
pub fn verify_installed_binary(record: &StagingRecord) -> Result<(), StagingRecordError> {
    let path = &record.binary_path;
    if record.binary_stamp.is_some() && FileStamp::of(path).ok() == record.binary_stamp {
        return Ok(());
    }
    hash_installed_binary(record)
}

/// Hashes the installed binary and compares it with the record, whatever its stamp says.
fn hash_installed_binary(record: &StagingRecord) -> Result<(), StagingRecordError> {
    let path = &record.binary_path;
    let (sum, _) =
        hash_file(path, ChecksumAlgo::Sha256).map_err(|source| StagingRecordError::Io {
            path: path.clone(),
            source,
        })?;
    if sum.hex.eq_ignore_ascii_case(&record.binary_sha256) {
        Ok(())
    } else {
        Err(StagingRecordError::BinaryChanged {
            path: path.clone(),
            expected: record.binary_sha256.clone(),
            actual: sum.hex,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(layout: &Layout, name: &UpgradeName) -> StagingRecord {
        StagingRecord {
            name: name.to_string(),
            platform: Some("linux/amd64".into()),
            url: "https://example.org/simd".into(),
            expected_checksum: Some(format!("sha256:{}", "a".repeat(64))),
            digest: format!("sha256:{}", "a".repeat(64)),
            size: 10,
            archive: None,
            binary_path: layout.upgrade_binary(name),
            binary_sha256: "a".repeat(64),
            binary_size: 10,
            staged_at: Utc::now(),
            preflight: PreflightRecord::pending(),
            binary_stamp: None,
            origin: None,
        }
    }

    #[test]
    fn save_load_list_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        let v2 = UpgradeName::parse("v2", false).unwrap();
        assert_eq!(load_staging_record(&layout, &v2).unwrap(), None);
        let rec = sample(&layout, &v2);
        save_staging_record(&layout, &v2, &rec).unwrap();
        assert_eq!(
            load_staging_record(&layout, &v2).unwrap(),
            Some(rec.clone())
        );
        let text = std::fs::read_to_string(record_path(&layout, &v2)).unwrap();
        assert!(text.contains("\"staged_at\""), "{text}");
        let all = list_staging_records(&layout).unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].as_ref().unwrap(), &rec);
        remove_staging_record(&layout, &v2).unwrap();
        assert_eq!(load_staging_record(&layout, &v2).unwrap(), None);
    }

    #[test]
    fn corrupt_record_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path(), "simd");
        let v2 = UpgradeName::parse("v2", false).unwrap();
        let p = record_path(&layout, &v2);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "{half").unwrap();
        let err = load_staging_record(&layout, &v2).unwrap_err().to_string();
        assert!(err.contains("v2.json"), "{err}");
    }

    /// A record of `v2` whose binary ("hello") is installed under `home`, hashed as recorded.
    fn installed_sample(home: &Path) -> StagingRecord {
        let layout = Layout::new(home, "simd");
        let v2 = UpgradeName::parse("v2", false).unwrap();
        let mut rec = sample(&layout, &v2);
        std::fs::create_dir_all(rec.binary_path.parent().unwrap()).unwrap();
        std::fs::write(&rec.binary_path, b"hello").unwrap();
        rec.binary_sha256 = hash_file(&rec.binary_path, ChecksumAlgo::Sha256)
            .unwrap()
            .0
            .hex;
        rec
    }

    #[test]
    fn verify_installed_notices_a_changed_binary() {
        let dir = tempfile::tempdir().unwrap();
        let rec = installed_sample(dir.path());
        verify_installed_binary(&rec).unwrap();
        std::fs::write(&rec.binary_path, b"hellO").unwrap();
        let err = verify_installed_binary(&rec).unwrap_err().to_string();
        assert!(err.contains(&rec.binary_sha256), "{err}");
    }

    #[test]
    fn a_stamped_binary_is_checked_by_stat_and_any_write_is_still_caught() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = installed_sample(dir.path());
        stamp_installed_binary(&mut rec).unwrap();
        assert!(rec.binary_stamp.is_some());
        verify_installed_binary(&rec).unwrap();

        // Same size, and its modification time put back as it was: the ctime still moved, so
        // the stamp no longer matches and the hash finds the change.
        let mtime = std::fs::metadata(&rec.binary_path)
            .unwrap()
            .modified()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&rec.binary_path, b"hellO").unwrap();
        std::fs::File::options()
            .write(true)
            .open(&rec.binary_path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        assert_ne!(FileStamp::of(&rec.binary_path).ok(), rec.binary_stamp);
        let err = verify_installed_binary(&rec).unwrap_err().to_string();
        assert!(err.contains(&rec.binary_sha256), "{err}");

        // A binary that does not hash as recorded gets no stamp.
        let mut wrong = rec.clone();
        assert!(stamp_installed_binary(&mut wrong).is_err());
        assert_eq!(wrong.binary_stamp, None);
    }
}
