//! A record of the node process switchyard started (`node.pid` in our state folder): its PID,
//! its kernel start time and its binary. The pair (PID, start time) names one process for good,
//! so a later switchyard can recognise *its own* orphaned node — and only that one — even if the
//! PID has since been reused by something else. The identity check itself (read from `/proc`) is
//! [`switchyard_exec::ProcessIdentity`]'s.

use std::io;
use std::path::PathBuf;

use switchyard_exec::ProcessIdentity;

use crate::fsutil::write_atomic;
use crate::layout::Layout;

/// The node process switchyard started, as saved in `node.pid`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NodeRecord {
    /// The node's process ID.
    pub pid: i32,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks since boot).
    pub start_time: u64,
    /// The binary it was started from (the one `current` resolved to), for log lines.
    pub binary: PathBuf,
}

fn path(layout: &Layout) -> PathBuf {
    layout.state_dir().join("node.pid")
}

/// Writes `rec` to `node.pid` atomically, replacing any earlier record.
pub fn save_node_record(layout: &Layout, rec: &NodeRecord) -> io::Result<()> {
    write_atomic(
        &path(layout),
        &serde_json::to_vec(rec).expect("record serialises"),
    )
}

/// The record, if any; an unreadable record is treated as none (it can only point at a process
/// we would refuse to touch anyway).
pub fn load_node_record(layout: &Layout) -> Option<NodeRecord> {
    // Read as any file in our folder is: a FIFO or an endless file there is no record.
    let bytes = crate::read_untrusted_file(&path(layout), 64 * 1024).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Removes `node.pid`; a missing file, or one that cannot be removed, is ignored.
pub fn clear_node_record(layout: &Layout) {
    let _ = std::fs::remove_file(path(layout));
}

/// The kernel start time of `pid` (see [`switchyard_exec::ProcessIdentity`]).
pub fn process_start_time(pid: i32) -> Option<u64> {
    ProcessIdentity::of(pid).map(|p| p.start_time)
}

/// Whether the recorded process is still alive and is the same process (not a reused PID, not a
/// zombie).
pub fn is_same_process_alive(rec: &NodeRecord) -> bool {
    rec.identity().is_alive()
}

impl NodeRecord {
    /// The process this record names.
    pub fn identity(&self) -> ProcessIdentity {
        ProcessIdentity {
            pid: self.pid,
            start_time: self.start_time,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_live_process_and_not_a_reused_pid() {
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = process_start_time(pid).unwrap();
        let rec = NodeRecord {
            pid,
            start_time: start,
            binary: "sleep".into(),
        };
        assert!(is_same_process_alive(&rec));
        let other = NodeRecord {
            start_time: start + 1,
            ..rec.clone()
        };
        assert!(!is_same_process_alive(&other));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!is_same_process_alive(&rec));
    }

    #[test]
    fn round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::new(dir.path(), "simd");
        assert_eq!(load_node_record(&l), None);
        let rec = NodeRecord {
            pid: 42,
            start_time: 7,
            binary: "/x".into(),
        };
        save_node_record(&l, &rec).unwrap();
        assert_eq!(load_node_record(&l), Some(rec));
        clear_node_record(&l);
        assert_eq!(load_node_record(&l), None);
    }
}
