//! What `--halt-height` was seen to do on a binary, remembered by the binary's sha256.
//!
//! A binary whose SDK version cannot be told is probed the first time it must halt for a manual
//! upgrade (see `switchyard_core::HaltFlag`); what the probe showed is written here, so the next
//! start of the same binary — same bytes, whatever its path — uses the exact flag at once.
//! The file is `cosmovisor/switchyard/halt-behaviours.json`: an object from sha256 (lowercase
//! hex) to `{"behaviour", "learned_at", "binary", "evidence"}`.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use switchyard_core::HaltBehaviour;

use crate::fsutil::write_atomic;
use crate::layout::Layout;

/// Why the learned-halt record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HaltRecordError {
    /// Reading or writing the record file failed; reading also fails on something that is not
    /// a regular file or is over [`STATE_FILE_MAX_BYTES`](crate::STATE_FILE_MAX_BYTES).
    #[error("{path}: {source}")]
    Io {
        /// The record file, `halt-behaviours.json`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The record file is not the JSON we write; [`record_learned_halt`] replaces it.
    #[error("{path} is corrupt: {why} (remove it; switchyard will probe the binary again)")]
    Corrupt {
        /// The record file, `halt-behaviours.json`.
        path: PathBuf,
        /// The JSON parser's error.
        why: String,
    },
}

/// One learned behaviour.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LearnedHalt {
    /// What `--halt-height` was seen to do on this binary.
    pub behaviour: HaltBehaviour,
    /// RFC 3339.
    pub learned_at: String,
    /// Where the binary was when it was learned (for people; the key is the sha256).
    pub binary: PathBuf,
    /// What showed it, in words.
    pub evidence: String,
}

/// Path of the record.
pub fn halt_record_path(layout: &Layout) -> PathBuf {
    layout.state_dir().join("halt-behaviours.json")
}

fn load_all(path: &Path) -> Result<BTreeMap<String, LearnedHalt>, HaltRecordError> {
    let bytes = match crate::fsutil::read_capped(path, crate::fsutil::STATE_FILE_MAX_BYTES) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(source) => {
            return Err(HaltRecordError::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| HaltRecordError::Corrupt {
        path: path.to_path_buf(),
        why: e.to_string(),
    })
}

/// What was learned for the binary with this sha256, if anything.
pub fn load_learned_halt(
    layout: &Layout,
    sha256: &str,
) -> Result<Option<LearnedHalt>, HaltRecordError> {
    Ok(load_all(&halt_record_path(layout))?.remove(&sha256.to_ascii_lowercase()))
}

/// Remembers `learned` for the binary with this sha256 (replacing an earlier entry).
pub fn record_learned_halt(
    layout: &Layout,
    sha256: &str,
    learned: LearnedHalt,
) -> Result<(), HaltRecordError> {
    let path = halt_record_path(layout);
    // A corrupt file is replaced rather than blocking what was just learned.
    let mut all = match load_all(&path) {
        Ok(all) => all,
        Err(HaltRecordError::Corrupt { .. }) => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    all.insert(sha256.to_ascii_lowercase(), learned);
    let bytes = serde_json::to_vec_pretty(&all).expect("halt records always serialise");
    write_atomic(&path, &bytes).map_err(|source| HaltRecordError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_by_sha256_and_survives_a_corrupt_file() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        let sha = "AB".repeat(32);
        assert_eq!(load_learned_halt(&l, &sha).unwrap(), None);
        let rec = LearnedHalt {
            behaviour: HaltBehaviour::StopsBefore,
            learned_at: "2026-12-01T00:00:00Z".into(),
            binary: "/x/simd".into(),
            evidence: "stopped with 98 committed and 99 stored".into(),
        };
        record_learned_halt(&l, &sha, rec.clone()).unwrap();
        assert_eq!(
            load_learned_halt(&l, &sha.to_lowercase()).unwrap(),
            Some(rec.clone())
        );
        std::fs::write(halt_record_path(&l), b"{not json").unwrap();
        let err = load_learned_halt(&l, &sha).unwrap_err().to_string();
        assert!(err.contains("halt-behaviours.json is corrupt"), "{err}");
        record_learned_halt(&l, &sha, rec.clone()).unwrap();
        assert_eq!(load_learned_halt(&l, &sha).unwrap(), Some(rec));
    }
}
