//! Manual upgrades: registered with `add-upgrade --height` or `add-batch-upgrade`, for upgrades
//! that have no on-chain plan.
//!
//! They live in our own state folder (`manual.json`), never in the node's
//! `data/upgrade-info.json`, so the node never mistakes them for a plan and a governance plan
//! never silently overwrites them. The collision rules are in `switchyard_core::schedule`.

use std::io;
use std::path::PathBuf;

use switchyard_core::ManualUpgrade;

use crate::fsutil::write_atomic;
use crate::layout::Layout;

/// Why the manual upgrade list could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ManualError {
    /// Writing `manual.json` failed.
    #[error("{path}: {source}")]
    Io {
        /// The list's file, `manual.json`.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `manual.json` could not be read (any failure, I/O included: not a regular file, over
    /// 4 MiB, unreadable) or is not a valid list of upgrades.
    #[error("{path} is corrupt: {why}")]
    Corrupt {
        /// The list's file, `manual.json`.
        path: PathBuf,
        /// The read error or the JSON parser's error.
        why: String,
    },
}

/// Largest `manual.json` read (a few hundred bytes per upgrade).
const MAX_MANUAL_BYTES: u64 = 4 * 1024 * 1024;

/// Path of the manual upgrade list.
pub fn manual_upgrades_path(layout: &Layout) -> PathBuf {
    layout.state_dir().join("manual.json")
}

/// All registered manual upgrades (applied ones included; the core filters), by height.
pub fn load_manual_upgrades(layout: &Layout) -> Result<Vec<ManualUpgrade>, ManualError> {
    let path = manual_upgrades_path(layout);
    // Bounded and type-checked like every file others could write to.
    let bytes = match crate::read_untrusted_file(&path, MAX_MANUAL_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => {
            return Err(ManualError::Corrupt {
                path,
                why: e.to_string(),
            })
        }
    };
    let mut all: Vec<ManualUpgrade> =
        serde_json::from_slice(&bytes).map_err(|e| ManualError::Corrupt {
            path: path.clone(),
            why: e.to_string(),
        })?;
    all.sort_by_key(|m| m.height);
    Ok(all)
}

/// Replaces the list (callers check collisions first with `schedule::check_manual`).
pub fn save_manual_upgrades(layout: &Layout, all: &[ManualUpgrade]) -> Result<(), ManualError> {
    let path = manual_upgrades_path(layout);
    let mut sorted = all.to_vec();
    sorted.sort_by_key(|m| m.height);
    let bytes = serde_json::to_vec_pretty(&sorted).expect("manual upgrades always serialise");
    write_atomic(&path, &bytes).map_err(|source| ManualError::Io { path, source })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchyard_core::UpgradeName;

    #[test]
    fn saves_sorted_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        assert!(load_manual_upgrades(&l).unwrap().is_empty());
        let m = |s: &str, h| ManualUpgrade {
            name: UpgradeName::parse(s, false).unwrap(),
            height: h,
        };
        save_manual_upgrades(&l, &[m("b", 20), m("a", 10)]).unwrap();
        let got = load_manual_upgrades(&l).unwrap();
        assert_eq!(got, vec![m("a", 10), m("b", 20)]);
    }

    #[test]
    fn corrupt_file_is_reported_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        std::fs::create_dir_all(l.state_dir()).unwrap();
        std::fs::write(
            manual_upgrades_path(&l),
            "[{\"name\":\"../x\",\"height\":1}]",
        )
        .unwrap();
        let err = load_manual_upgrades(&l).unwrap_err().to_string();
        assert!(err.contains("manual.json"), "{err}");
    }
}
