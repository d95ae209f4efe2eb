//! What the `pre-upgrade` probe found on an upgrade's binary, tied to that very file.
//!
//! The probe (`switchyard_exec::probe_preupgrade`, judged by `switchyard_core::judge_preupgrade`)
//! runs before the halt; its verdict is kept in `cosmovisor/switchyard/preupgrade/<name>.json`
//! with the binary's [`FileStamp`] (device, inode, size, mtime and ctime). The verdict counts
//! only while the binary at `upgrades/<name>/bin/` still has that stamp: a binary replaced or
//! written after the probe, even with the same size and its mtime put back (the ctime moves), is
//! judged unknown and its `pre-upgrade` runs at the halt.

use std::io;
use std::path::{Path, PathBuf};

use switchyard_core::{PreUpgradeCommand, UpgradeName};

use crate::fsutil::{read_capped, write_atomic, STATE_FILE_MAX_BYTES};
use crate::layout::Layout;
use crate::staging_record::FileStamp;

/// Most bytes of the probe's output kept in the record (for people reading it).
pub(crate) const PROBE_OUTPUT_KEPT: usize = 1024;

/// Why a `pre-upgrade` probe record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PreUpgradeRecordError {
    /// Reading or writing the record failed; reading also fails on something that is not a
    /// regular file or is over [`STATE_FILE_MAX_BYTES`].
    #[error("{path}: {source}")]
    Io {
        /// The record file, `preupgrade/<name>.json`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The record is not the JSON we write (unknown fields included).
    #[error("{path} is corrupt: {why} (remove it; switchyard will probe the binary again)")]
    Corrupt {
        /// The record file, `preupgrade/<name>.json`.
        path: PathBuf,
        /// The JSON parser's error.
        why: String,
    },
}

/// One probe's verdict on one binary file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreUpgradeProbeRecord {
    /// The verdict: whether the binary has a `pre-upgrade` command.
    pub command: PreUpgradeCommand,
    /// The binary that was asked.
    pub binary: PathBuf,
    /// Its stamp when it was asked.
    pub stamp: FileStamp,
    /// RFC 3339.
    pub probed_at: String,
    /// What `pre-upgrade --help` printed (the start of it).
    pub output: String,
}

impl PreUpgradeProbeRecord {
    /// A record for `binary`, asked while it had `stamp` (taken before the probe ran); `None`
    /// when the file is no longer that one (replaced while it was being asked).
    pub fn new(
        binary: &Path,
        stamp: FileStamp,
        command: PreUpgradeCommand,
        output: &str,
    ) -> Option<PreUpgradeProbeRecord> {
        if FileStamp::of(binary).ok() != Some(stamp) {
            return None;
        }
        let mut end = output.len().min(PROBE_OUTPUT_KEPT);
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        Some(PreUpgradeProbeRecord {
            command,
            binary: binary.to_path_buf(),
            stamp,
            probed_at: crate::journal::now_rfc3339(),
            output: output[..end].to_string(),
        })
    }
}

/// Where the record of `name` lives.
pub fn preupgrade_record_path(layout: &Layout, name: &UpgradeName) -> PathBuf {
    layout
        .state_dir()
        .join("preupgrade")
        .join(format!("{}.json", name.as_str()))
}

/// Writes the record of `name` atomically.
pub fn save_preupgrade_probe(
    layout: &Layout,
    name: &UpgradeName,
    record: &PreUpgradeProbeRecord,
) -> Result<(), PreUpgradeRecordError> {
    let path = preupgrade_record_path(layout, name);
    let mut bytes = serde_json::to_vec_pretty(record).expect("probe records always serialise");
    bytes.push(b'\n');
    write_atomic(&path, &bytes).map_err(|source| PreUpgradeRecordError::Io { path, source })
}

/// The record of `name` if it is about the binary at `upgrades/<name>/bin/` as that file is
/// now; `Ok(None)` when there is no record, no binary, or the binary changed since.
pub fn current_preupgrade_probe(
    layout: &Layout,
    name: &UpgradeName,
) -> Result<Option<PreUpgradeProbeRecord>, PreUpgradeRecordError> {
    let path = preupgrade_record_path(layout, name);
    let bytes = match read_capped(&path, STATE_FILE_MAX_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PreUpgradeRecordError::Io { path, source }),
    };
    let record: PreUpgradeProbeRecord =
        serde_json::from_slice(&bytes).map_err(|e| PreUpgradeRecordError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
    let bin = layout.upgrade_binary(name);
    let same_file = record.binary == bin && FileStamp::of(&bin).ok() == Some(record.stamp);
    Ok(same_file.then_some(record))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_counts_only_for_the_file_it_was_made_on() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        let name = UpgradeName::parse("v2", false).unwrap();
        let bin = l.upgrade_binary(&name);
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::write(&bin, b"#!/bin/sh\nexit 1\n").unwrap();
        assert_eq!(current_preupgrade_probe(&l, &name).unwrap(), None);

        let stamp = FileStamp::of(&bin).unwrap();
        let rec = PreUpgradeProbeRecord::new(&bin, stamp, PreUpgradeCommand::Absent, "").unwrap();
        save_preupgrade_probe(&l, &name, &rec).unwrap();
        assert_eq!(current_preupgrade_probe(&l, &name).unwrap(), Some(rec));

        // Rewritten in place with the same size and the old mtime put back: the ctime moved.
        let before = std::fs::metadata(&bin).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&bin, b"#!/bin/sh\nexit 0\n").unwrap();
        let f = std::fs::File::options().write(true).open(&bin).unwrap();
        f.set_modified(before).unwrap();
        assert_eq!(current_preupgrade_probe(&l, &name).unwrap(), None);
        // ... and a verdict asked of the file before that is not made into a record.
        assert_eq!(
            PreUpgradeProbeRecord::new(&bin, stamp, PreUpgradeCommand::Absent, ""),
            None
        );

        std::fs::write(preupgrade_record_path(&l, &name), b"{").unwrap();
        let err = current_preupgrade_probe(&l, &name).unwrap_err().to_string();
        assert!(err.contains("v2.json is corrupt"), "{err}");
    }

    #[test]
    fn long_output_is_cut_on_a_character_boundary() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("simd");
        std::fs::write(&bin, b"x").unwrap();
        let out = "é".repeat(PROBE_OUTPUT_KEPT);
        let stamp = FileStamp::of(&bin).unwrap();
        let rec =
            PreUpgradeProbeRecord::new(&bin, stamp, PreUpgradeCommand::Present, &out).unwrap();
        assert!(rec.output.len() <= PROBE_OUTPUT_KEPT && rec.output.len() >= PROBE_OUTPUT_KEPT - 1);
    }
}
