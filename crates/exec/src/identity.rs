//! Which process a PID names, for good: the pair (PID, kernel start time).
//!
//! A PID alone is reused by the kernel once its process is reaped; the start time (field 22 of
//! `/proc/<pid>/stat`, clock ticks since boot) tells a later process with the same PID apart. Every
//! signal switchyard sends to a process it no longer holds as its own child (an orphaned node
//! found through `node.pid`, the node seen from the guard process) goes through
//! [`ProcessIdentity::signal`], which checks both first. `/proc` is read with the `procfs` crate.

use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use procfs::process::{ProcState, Process};

/// How long a process that got SIGKILL is waited for before it is given up on (one stuck in
/// uninterruptible sleep on a dead disk can outlive it).
pub const KILL_WAIT: Duration = Duration::from_secs(5);

/// How [`ProcessIdentity::stop`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    /// It was already gone, or exited within the grace after SIGTERM.
    Exited,
    /// It outlived the grace and died of SIGKILL.
    Killed,
    /// It outlived SIGKILL by [`KILL_WAIT`]: still there.
    Stuck,
}

/// One process, named by PID and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessIdentity {
    /// The process ID.
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

    /// Stops a process that is not our child: SIGTERM, up to `grace` for it to exit, then
    /// SIGKILL and up to [`KILL_WAIT`] more. Every wait is bounded; no signal reaches a process
    /// that reused the PID.
    pub async fn stop(&self, grace: Duration) -> Stopped {
        self.signal(Signal::SIGTERM);
        if self.gone_within(grace).await {
            return Stopped::Exited;
        }
        self.signal(Signal::SIGKILL);
        if self.gone_within(KILL_WAIT).await {
            Stopped::Killed
        } else {
            Stopped::Stuck
        }
    }

    async fn gone_within(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.is_alive() {
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A process that is not our child (a grandchild, orphaned to init), so only its identity
    /// can stop it. `script` runs once it is set up enough to `touch "$READY"`.
    fn orphan(script: &str) -> ProcessIdentity {
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("ready");
        let out = std::process::Command::new("sh")
            .args(["-c", &format!("({script}) >/dev/null 2>&1 & echo $!")])
            .env("READY", &ready)
            .output()
            .unwrap();
        let pid: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !ready.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "{script}: never ready"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        ProcessIdentity::of(pid).unwrap()
    }

    #[tokio::test]
    async fn stop_ends_a_process_on_sigterm_and_kills_one_that_ignores_it() {
        let p = orphan("touch \"$READY\"; exec sleep 30");
        assert_eq!(p.stop(Duration::from_secs(5)).await, Stopped::Exited);
        assert!(!p.is_alive());
        let p = orphan("trap '' TERM; touch \"$READY\"; while :; do sleep 1; done");
        let started = std::time::Instant::now();
        assert_eq!(p.stop(Duration::from_millis(300)).await, Stopped::Killed);
        assert!(!p.is_alive());
        assert!(started.elapsed() < Duration::from_secs(5));
        // Gone already: nothing to do, nothing signalled.
        assert_eq!(p.stop(Duration::from_secs(5)).await, Stopped::Exited);
    }

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
