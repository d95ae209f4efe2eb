//! The swap journal and the record of applied upgrades.
//!
//! A swap is several steps (stop, backup, pre-upgrade, switch `current`, record). Before each
//! step the journal file is rewritten atomically with the step about to run, so that if
//! switchyard is killed at any instant the next start knows exactly where the swap stood and
//! finishes it instead of forgetting it. `current` itself only changes by an atomic rename, so it
//! always points at a complete binary.
//!
//! Files (in `$DAEMON_HOME/cosmovisor/switchyard/`):
//! - `swap.json`: the swap in progress, absent when none is;
//! - `applied.json`: every upgrade applied, with height and time.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use switchyard_core::{Current, UpgradeKind, UpgradeName};

use crate::fsutil::write_atomic;
use crate::layout::Layout;

/// The steps of a swap, in order.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum SwapStep {
    /// The old node is being stopped.
    Stopping,
    /// The node is stopped; the new binary is being made ready (checked, or downloaded from the
    /// plan's info when nothing was staged).
    Fetching,
    /// The binary is ready; the data backup is being taken.
    BackingUp,
    /// Pre-upgrade hooks are running.
    PreUpgrade,
    /// `current` is being switched to the new binary.
    Switching,
    /// `current` points at the new binary; the applied record is being written. Not written any
    /// more (resuming from `Switching` gives the same result); a journal left by an earlier
    /// switchyard may still say it.
    Recording,
}

/// The names of the points where the crash-safety tests make switchyard kill itself during a
/// swap (`SWITCHYARD_TEST_FAULT`, honoured only by test builds), in the order a swap reaches
/// them.
pub const SWAP_FAULT_POINTS: &[&str] = &[
    "after-journal",
    "after-stop",
    "after-fetch",
    "backup-mid-copy",
    "backup-before-rename",
    "after-backup",
    "after-preupgrade",
    "after-switch",
    "after-record",
];

/// A swap in progress.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SwapRecord {
    /// The upgrade being applied.
    pub name: UpgradeName,
    /// The upgrade's height (the plan's, or the one given to `add-upgrade --height`).
    pub height: i64,
    /// Whether it is an on-chain plan or a manual upgrade (`source` in the file).
    #[serde(rename = "source")]
    pub kind: UpgradeKind,
    /// The plan's `info` string, written to `upgrades/<name>/upgrade-info.json` and used to
    /// download the binary when none was staged; empty for manual upgrades (and in journals
    /// that predate the field).
    #[serde(default)]
    pub info: String,
    /// What `current` pointed at when the swap began: the binary being replaced.
    pub from: Current,
    /// The step about to run, or running, when the record was written.
    pub step: SwapStep,
    /// When the swap began, RFC 3339 (UTC).
    pub started_at: String,
}

/// One applied upgrade.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AppliedRecord {
    /// The upgrade that was applied.
    pub name: UpgradeName,
    /// The upgrade's height.
    pub height: i64,
    /// Whether it was an on-chain plan or a manual upgrade (`source` in the file).
    #[serde(rename = "source")]
    pub kind: UpgradeKind,
    /// When `current` was switched to it, RFC 3339 (UTC).
    pub applied_at: String,
}

/// Why a journal file could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading or writing `swap.json` or `applied.json`, or syncing their folder, failed.
    #[error("{path}: {source}")]
    Io {
        /// The file, or the state folder when syncing it failed.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// A journal file is not the JSON we write.
    #[error("{path} is corrupt ({why}); inspect it, then remove it to continue")]
    Corrupt {
        /// The file that does not parse.
        path: PathBuf,
        /// The JSON parser's error.
        why: String,
    },
}

/// Reads and writes the journal files of one node home.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// The journal of `layout`'s home, in its state folder. Touches nothing on disk.
    pub fn new(layout: &Layout) -> Self {
        Journal {
            dir: layout.state_dir(),
        }
    }

    fn swap_path(&self) -> PathBuf {
        self.dir.join("swap.json")
    }

    /// The file of the applied list (`applied.json`).
    pub fn applied_path(&self) -> PathBuf {
        self.dir.join("applied.json")
    }

    /// The swap in progress, if any.
    pub fn pending_swap(&self) -> Result<Option<SwapRecord>, JournalError> {
        read_json(&self.swap_path())
    }

    /// Records that `rec.step` is about to run.
    pub fn write_step(&self, rec: &SwapRecord) -> Result<(), JournalError> {
        write_json(&self.swap_path(), rec)
    }

    /// Marks the swap finished (removes `swap.json`).
    pub fn finish_swap(&self) -> Result<(), JournalError> {
        let path = self.swap_path();
        match std::fs::remove_file(&path) {
            Ok(()) => crate::fsutil::sync_dir(&self.dir).map_err(|source| JournalError::Io {
                path: self.dir.clone(),
                source,
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(JournalError::Io { path, source }),
        }
    }

    /// Every applied upgrade, oldest first.
    pub fn applied(&self) -> Result<Vec<AppliedRecord>, JournalError> {
        Ok(read_json(&self.applied_path())?.unwrap_or_default())
    }

    /// Applied upgrades as name → height.
    pub fn applied_map(&self) -> Result<BTreeMap<UpgradeName, i64>, JournalError> {
        Ok(self
            .applied()?
            .into_iter()
            .map(|r| (r.name, r.height))
            .collect())
    }

    /// Adds `rec` to the applied list (idempotent: a name is recorded once).
    pub fn record_applied(&self, rec: AppliedRecord) -> Result<(), JournalError> {
        let mut all = self.applied()?;
        if all.iter().any(|r| r.name == rec.name) {
            return Ok(());
        }
        all.push(rec);
        write_json(&self.applied_path(), &all)
    }

    /// Removes the records of upgrades applied at `height` or above, and returns them: a
    /// restored backup of the state before `height` has undone them, so they are to be applied
    /// again when the node gets there.
    pub fn forget_applied_from(&self, height: i64) -> Result<Vec<AppliedRecord>, JournalError> {
        let (gone, kept): (Vec<_>, Vec<_>) = self
            .applied()?
            .into_iter()
            .partition(|r| r.height >= height);
        if !gone.is_empty() {
            write_json(&self.applied_path(), &kept)?;
        }
        Ok(gone)
    }
}

/// Most bytes of a journal file read (an `applied.json` of a thousand upgrades is ~100 KiB).
const MAX_JOURNAL_BYTES: u64 = 4 << 20;

/// Reads a journal file as every file others could put in our folder is read: regular files
/// only, opened without blocking (a FIFO there is an error, not a hang), at most
/// [`MAX_JOURNAL_BYTES`].
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, JournalError> {
    let bytes = match crate::read_untrusted_file(path, MAX_JOURNAL_BYTES) {
        Ok(Some(b)) => b,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                why: e.to_string(),
            })
        }
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| JournalError::Corrupt {
            path: path.to_path_buf(),
            why: e.to_string(),
        })
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), JournalError> {
    let bytes = serde_json::to_vec_pretty(value).expect("journal records always serialise");
    write_atomic(path, &bytes).map_err(|source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Now, as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FIFO (or anything but a regular file) where the journal should be is an error that
    /// names it, at once: a start never hangs on it.
    #[test]
    fn a_fifo_in_place_of_the_journal_is_an_error_not_a_hang() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(&Layout::new(dir.path(), "simd"));
        std::fs::create_dir_all(j.swap_path().parent().unwrap()).unwrap();
        nix::unistd::mkfifo(&j.swap_path(), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let e = j.pending_swap().unwrap_err().to_string();
        assert!(
            e.contains("swap.json") && e.contains("not a regular file"),
            "{e}"
        );
    }

    /// The backup's own fault points are swap fault points too: one list names every point a
    /// swap can be killed at, and the backup's list is part of it.
    #[test]
    fn the_swap_fault_points_hold_the_backups_own_in_order() {
        let at = |p: &str| SWAP_FAULT_POINTS.iter().position(|q| *q == p);
        for p in crate::backup::FAULT_POINTS {
            assert!(at(p).is_some(), "{p} is missing from SWAP_FAULT_POINTS");
            assert!(
                at(p) > at("after-fetch") && at(p) < at("after-backup"),
                "{p}"
            );
        }
    }

    fn n(s: &str) -> UpgradeName {
        UpgradeName::parse(s, false).unwrap()
    }

    #[test]
    fn swap_steps_round_trip_and_finish() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(&Layout::new(dir.path(), "simd"));
        assert_eq!(j.pending_swap().unwrap(), None);
        let rec = SwapRecord {
            name: n("v2"),
            height: 10,
            kind: UpgradeKind::Plan,
            info: String::new(),
            from: Current::Genesis,
            step: SwapStep::BackingUp,
            started_at: now_rfc3339(),
        };
        j.write_step(&rec).unwrap();
        assert_eq!(j.pending_swap().unwrap(), Some(rec));
        j.finish_swap().unwrap();
        assert_eq!(j.pending_swap().unwrap(), None);
        j.finish_swap().unwrap();
    }

    #[test]
    fn applied_is_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(&Layout::new(dir.path(), "simd"));
        let rec = AppliedRecord {
            name: n("v2"),
            height: 10,
            kind: UpgradeKind::Manual,
            applied_at: now_rfc3339(),
        };
        j.record_applied(rec.clone()).unwrap();
        j.record_applied(rec).unwrap();
        assert_eq!(j.applied().unwrap().len(), 1);
        assert_eq!(j.applied_map().unwrap()[&n("v2")], 10);
    }

    #[test]
    fn forgetting_applied_upgrades_from_a_height() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::new(&Layout::new(dir.path(), "simd"));
        for (name, height) in [("v2", 10), ("v3", 20), ("v4", 30)] {
            j.record_applied(AppliedRecord {
                name: n(name),
                height,
                kind: switchyard_core::UpgradeKind::Plan,
                applied_at: now_rfc3339(),
            })
            .unwrap();
        }
        let gone: Vec<_> = j
            .forget_applied_from(20)
            .unwrap()
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert_eq!(gone, [n("v3"), n("v4")]);
        assert_eq!(
            j.applied_map().unwrap().into_keys().collect::<Vec<_>>(),
            [n("v2")]
        );
        assert!(j.forget_applied_from(20).unwrap().is_empty());
    }

    #[test]
    fn corrupt_journal_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        std::fs::create_dir_all(l.state_dir()).unwrap();
        std::fs::write(l.state_dir().join("swap.json"), "{garbage").unwrap();
        let err = Journal::new(&l).pending_swap().unwrap_err().to_string();
        assert!(err.contains("swap.json"), "{err}");
    }
}
