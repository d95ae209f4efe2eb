//! The node process.
//!
//! The node inherits switchyard's stdin, stdout, stderr and working directory: its output reaches
//! the operator byte for byte with no copying through us. On Linux the child is given a
//! parent-death signal (SIGTERM), so if switchyard itself is killed — even with SIGKILL — the node
//! is told to shut down rather than left running unsupervised. Because that signal fires when the
//! *thread* that forked exits, spawn from a long-lived thread (switchyard spawns from its main
//! thread).
//!
//! That signal is a SIGTERM, which a node may ignore; [`NodeProcess::guard`] adds a guard process
//! (see `guard`) that SIGKILLs the node if it is still there a shutdown grace after switchyard
//! died. systemd's notification variables are switchyard's and are not passed to the node.
//!
//! Signals are only sent while the child has not been reaped, so a recycled PID is never hit.

use std::io;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;

/// Why the node, or its guard, could not be started or waited for.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// A process could not be started: the node binary ([`NodeProcess::spawn`]), or the guard
    /// ([`NodeProcess::guard`]), also when the node it should watch is already gone.
    #[error("cannot start {binary}: {source}")]
    Spawn {
        /// The program that did not start: the node binary, or switchyard's own for the guard.
        binary: PathBuf,
        /// The operating system's error (`NotFound` made up by us when the node is gone).
        #[source]
        source: io::Error,
    },
    /// Waiting for the node's exit status failed.
    #[error("waiting for {binary} (pid {pid}): {source}")]
    Wait {
        /// The node binary.
        binary: PathBuf,
        /// The node's PID.
        pid: i32,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// How a stop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopOutcome {
    /// The node exited within the grace period.
    Exited(ExitStatus),
    /// The node did not exit in time and was killed with SIGKILL.
    Killed(ExitStatus),
}

/// A running node.
#[derive(Debug)]
pub struct NodeProcess {
    child: tokio::process::Child,
    binary: PathBuf,
    pid: i32,
    exited: Option<ExitStatus>,
    /// The guard process, while the node runs.
    guard: Option<crate::guard::Guard>,
}

impl NodeProcess {
    /// Starts `binary` with `args`, inheriting stdio and working directory.
    pub fn spawn(binary: &Path, args: &[String]) -> Result<NodeProcess, ExecError> {
        let mut cmd = tokio::process::Command::new(binary);
        cmd.args(args)
            .stdin(std::process::Stdio::inherit())
            .stdout(std::process::Stdio::inherit())
            .stderr(std::process::Stdio::inherit());
        for k in crate::helper::PRIVATE_ENV {
            cmd.env_remove(k);
        }
        let parent = std::process::id() as i32;
        // SAFETY: the closure runs in the forked child before exec and only makes two
        // async-signal-safe system calls (prctl, getppid) and, at worst, _exit.
        unsafe {
            cmd.pre_exec(move || {
                #[cfg(target_os = "linux")]
                nix::sys::prctl::set_pdeathsig(Signal::SIGTERM).map_err(io::Error::from)?;
                // The parent may have died between fork and prctl: then nobody supervises us.
                if nix::unistd::getppid().as_raw() != parent {
                    nix::libc::_exit(1);
                }
                Ok(())
            });
        }
        let child = cmd.spawn().map_err(|source| ExecError::Spawn {
            binary: binary.to_path_buf(),
            source,
        })?;
        let pid = child.id().map(|p| p as i32).unwrap_or(-1);
        Ok(NodeProcess {
            child,
            binary: binary.to_path_buf(),
            pid,
            exited: None,
            guard: None,
        })
    }

    /// Starts the guard process (`exe`: switchyard's own binary, run with
    /// [`crate::GUARD_ARG`]) that SIGKILLs the node if it outlives switchyard by `grace`.
    pub fn guard(&mut self, exe: &Path, grace: Duration) -> Result<(), ExecError> {
        let spawn_err = |source| ExecError::Spawn {
            binary: exe.to_path_buf(),
            source,
        };
        let me = crate::ProcessIdentity::of(self.pid).ok_or_else(|| {
            spawn_err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the node (pid {}) is already gone", self.pid),
            ))
        })?;
        self.guard = Some(crate::guard::spawn(exe, me, grace).map_err(spawn_err)?);
        Ok(())
    }

    /// The node's PID, given by the kernel at spawn (still returned after it was reaped).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// The binary the node was started from, as passed to [`NodeProcess::spawn`].
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// Sends `sig` if the node is still ours (not yet reaped). Returns whether it was sent.
    pub fn signal(&mut self, sig: Signal) -> bool {
        if self.exited.is_some() {
            return false;
        }
        if let Ok(Some(status)) = self.child.try_wait() {
            self.reaped(status);
            return false;
        }
        match self.child.id() {
            Some(pid) => nix::sys::signal::kill(Pid::from_raw(pid as i32), sig).is_ok(),
            None => false,
        }
    }

    /// Waits for the node to exit.
    pub async fn wait(&mut self) -> Result<ExitStatus, ExecError> {
        if let Some(s) = self.exited {
            return Ok(s);
        }
        let status = self.child.wait().await.map_err(|source| ExecError::Wait {
            binary: self.binary.clone(),
            pid: self.pid,
            source,
        })?;
        self.reaped(status);
        Ok(status)
    }

    fn reaped(&mut self, status: ExitStatus) {
        self.exited = Some(status);
        // Closing our end of its pipe lets the guard see the node is gone and exit.
        self.guard = None;
    }

    /// Stops the node: SIGTERM, up to `grace` to exit, then SIGKILL. A zero grace kills at once
    /// (cosmovisor's meaning of `DAEMON_SHUTDOWN_GRACE=0`).
    pub async fn stop(&mut self, grace: Duration) -> Result<StopOutcome, ExecError> {
        if let Some(s) = self.exited {
            return Ok(StopOutcome::Exited(s));
        }
        if !grace.is_zero() && self.signal(Signal::SIGTERM) {
            if let Ok(status) = tokio::time::timeout(grace, self.wait()).await {
                return status.map(StopOutcome::Exited);
            }
            tracing::warn!(
                pid = self.pid,
                "node did not exit within the shutdown grace of {:?}; sending SIGKILL",
                grace
            );
        }
        if let Some(s) = self.exited {
            return Ok(StopOutcome::Exited(s));
        }
        let _ = self.child.start_kill();
        let status = self.wait().await?;
        Ok(StopOutcome::Killed(status))
    }
}

/// The shell-style exit code for a status: the code, or 128 + signal number.
pub fn exit_code(status: ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("node");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    #[tokio::test]
    async fn passes_arguments_and_reports_exit_code() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("args");
        let bin = script(
            dir.path(),
            &format!("echo \"$@\" > {}; exit 7", out.display()),
        );
        let mut p =
            NodeProcess::spawn(&bin, &["start".into(), "--home".into(), "/x y".into()]).unwrap();
        let status = p.wait().await.unwrap();
        assert_eq!(exit_code(status), 7);
        assert_eq!(std::fs::read_to_string(out).unwrap(), "start --home /x y\n");
        // Reaped: no signal can reach a recycled pid.
        assert!(!p.signal(Signal::SIGTERM));
    }

    #[tokio::test]
    async fn graceful_stop_then_kill() {
        let dir = tempfile::tempdir().unwrap();
        let polite = script(
            dir.path(),
            "trap 'exit 0' TERM; while true; do sleep 0.05; done",
        );
        let mut p = NodeProcess::spawn(&polite, &[]).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(matches!(
            p.stop(Duration::from_secs(5)).await.unwrap(),
            StopOutcome::Exited(_)
        ));

        let stubborn = script(dir.path(), "trap '' TERM; while true; do sleep 0.05; done");
        let mut p = NodeProcess::spawn(&stubborn, &[]).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let out = p.stop(Duration::from_millis(300)).await.unwrap();
        assert!(
            matches!(out, StopOutcome::Killed(s) if exit_code(s) == 128 + 9),
            "{out:?}"
        );
    }

    #[tokio::test]
    async fn missing_binary_names_the_path() {
        let err = NodeProcess::spawn(Path::new("/nonexistent/simd"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("/nonexistent/simd"), "{err}");
    }
}
