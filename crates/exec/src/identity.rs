//! Which process a PID names, for good: the pair (PID, kernel start time).
//!
//! A PID alone is reused by the kernel once its process is reaped; the start time (field 22 of
//! `/proc/<pid>/stat`, clock ticks since boot) tells a later process with the same PID apart. Every
//! signal switchyard sends to a process it no longer holds as its own child (an orphaned node
//! found through `node.pid`, the node seen from the guard process) goes through
//! [`ProcessIdentity::signal`], which checks both first. `/proc` is read with the `procfs` crate.

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use procfs::process::{ProcState, Process};

/// One process, named by PID and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    pub pid: i32,
    /// Kernel start time (clock ticks since boot).
    pub start_time: u64,
}

impl ProcessIdentity {
    /// The identity of the process that has `pid` now (None: no such process).
    pub fn of(pid: i32) -> Option<ProcessIdentity> {
        let stat = Process::new(pid).ok()?.stat().ok()?;
        Some(ProcessIdentity {
            pid,
            start_time: stat.starttime,
        })
    }

    /// Whether this very process still runs: same PID, same start time, and not a zombie.
    pub fn is_alive(&self) -> bool {
        let Some(stat) = Process::new(self.pid).ok().and_then(|p| p.stat().ok()) else {
            return false;
        };
        if stat.starttime != self.start_time {
            return false;
        }
        !matches!(stat.state(), Ok(ProcState::Zombie | ProcState::Dead))
    }

    /// Sends `sig` if this process is still alive (never to a process that reused the PID).
    /// Returns whether it was sent.
    pub fn signal(&self, sig: Signal) -> bool {
        self.is_alive() && nix::sys::signal::kill(Pid::from_raw(self.pid), sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_a_live_process_and_not_a_reused_pid() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let me = ProcessIdentity::of(child.id() as i32).unwrap();
        assert!(me.is_alive());
        let other = ProcessIdentity {
            start_time: me.start_time + 1,
            ..me
        };
        assert!(!other.is_alive());
        assert!(!other.signal(Signal::SIGKILL), "not ours: never signalled");
        assert!(me.is_alive(), "the real one was left alone");
        assert!(me.signal(Signal::SIGKILL));
        // Killed but not yet reaped: a zombie is not alive.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while me.is_alive() {
            assert!(std::time::Instant::now() < deadline, "still alive");
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        child.wait().unwrap();
        assert!(!me.is_alive());
        assert_eq!(ProcessIdentity::of(i32::MAX), None);
    }
}
