//! Short-lived helper processes: the pre-upgrade hooks and the SDK version probe.
//!
//! Each helper runs in a process group of its own, with stdin from `/dev/null` and its stdout and
//! stderr on pipes read by us, never inheriting our log stream or the node's. Either its output is
//! logged line by line ([`Output::Log`], with the upgrade's name on every line) or captured, up to
//! [`CAPTURE_LIMIT`] bytes a stream ([`Output::Capture`]).
//!
//! A helper that outlives its time limit is killed *with its whole group* (a hook script's own
//! children too), and so is one whose future is dropped, which is how a stop signal cancels it:
//! the group is signalled only while its leader is not yet reaped, so the group ID cannot have been
//! reused by anything else. After the leader exits, output still arriving from children it left
//! behind is read for a short moment and then no longer waited for.
//!
//! systemd's notification variables (`NOTIFY_SOCKET`, `WATCHDOG_*`) are ours, not the helper's:
//! they are removed from its environment.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::Signal;
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Most bytes kept of one captured stream.
pub(crate) const CAPTURE_LIMIT: usize = 64 * 1024;
/// Longest logged line; longer ones are split.
const LINE_LIMIT: usize = 4096;
/// How long output left behind by the helper's children is still read after it exited.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(500);

/// Environment variables that belong to switchyard's service manager, not to its children.
pub(crate) const PRIVATE_ENV: &[&str] = &["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// What to do with a helper's output.
#[derive(Debug, Clone, Copy)]
pub enum Output<'a> {
    /// Log every line at info level, tagged with the upgrade and the hook's name.
    Log {
        /// The upgrade's name, logged as the `upgrade` field of every line.
        upgrade: &'a str,
        /// The hook's name (e.g. `pre-upgrade`), written before the stream's name on every line.
        hook: &'a str,
    },
    /// Keep it (bounded) for the caller.
    Capture,
}

/// How a helper ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ran {
    /// Exited by itself with this exit code.
    Exited(i32),
    /// Killed by a signal (its description).
    Signalled(String),
    /// Still running at the time limit; it was killed with its group.
    TimedOut,
}

/// A finished helper.
#[derive(Debug)]
pub struct Finished {
    /// How it ended.
    pub ran: Ran,
    /// Captured stdout, at most 64 KiB (empty with [`Output::Log`]).
    pub stdout: Vec<u8>,
    /// Captured stderr, at most 64 KiB (empty with [`Output::Log`]).
    pub stderr: Vec<u8>,
}

/// Kills the helper's process group when dropped, unless disarmed (its leader was reaped).
struct GroupKill {
    pgid: Option<i32>,
}

impl GroupKill {
    fn kill_now(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            let _ = nix::sys::signal::killpg(Pid::from_raw(pgid), Signal::SIGKILL);
        }
    }
}

impl Drop for GroupKill {
    fn drop(&mut self) {
        self.kill_now();
    }
}

/// One output stream being read.
struct Stream<R> {
    reader: Option<R>,
    name: &'static str,
    /// Bytes of an unfinished line.
    partial: Vec<u8>,
    captured: Vec<u8>,
}

impl<R: AsyncRead + Unpin> Stream<R> {
    fn new(reader: Option<R>, name: &'static str) -> Self {
        Stream {
            reader,
            name,
            partial: Vec::new(),
            captured: Vec::new(),
        }
    }

    fn open(&self) -> bool {
        self.reader.is_some()
    }

    /// Reads the next chunk into `buf`; 0 at end of stream or on a read error, which closes the
    /// stream (the caller's [`Stream::finish`] then flushes the last line).
    async fn read_some(&mut self, buf: &mut [u8]) -> usize {
        let Some(r) = self.reader.as_mut() else {
            return 0;
        };
        match r.read(buf).await {
            Ok(0) | Err(_) => {
                self.reader = None;
                0
            }
            Ok(n) => n,
        }
    }

    fn take(&mut self, bytes: &[u8], out: Output<'_>) {
        match out {
            Output::Capture => {
                let room = CAPTURE_LIMIT.saturating_sub(self.captured.len());
                self.captured
                    .extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            Output::Log { .. } => {
                for b in bytes {
                    if *b == b'\n' {
                        self.emit(out);
                    } else {
                        self.partial.push(*b);
                        if self.partial.len() >= LINE_LIMIT {
                            self.emit(out);
                        }
                    }
                }
            }
        }
    }

    fn emit(&mut self, out: Output<'_>) {
        if let Output::Log { upgrade, hook } = out {
            let line = String::from_utf8_lossy(&self.partial);
            let line = line.trim_end_matches('\r');
            tracing::info!(upgrade = %upgrade, "{hook} {}: {line}", self.name);
        }
        self.partial.clear();
    }

    fn finish(&mut self, out: Output<'_>) {
        if !self.partial.is_empty() {
            self.emit(out);
        }
        self.reader = None;
    }
}

/// Runs `program args` (in `cwd` when given) until it exits or `timeout` passes.
/// An error means it could not be started at all.
pub async fn run(
    program: &Path,
    args: &[String],
    cwd: Option<&Path>,
    out: Output<'_>,
    timeout: Duration,
) -> io::Result<Finished> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    for k in PRIVATE_ENV {
        cmd.env_remove(k);
    }
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn()?;
    let mut group = GroupKill {
        pgid: child.id().map(|p| p as i32),
    };
    let mut so = Stream::new(child.stdout.take(), "stdout");
    let mut se = Stream::new(child.stderr.take(), "stderr");
    let (mut b1, mut b2) = (vec![0u8; 8192], vec![0u8; 8192]);
    let limit = tokio::time::sleep(timeout);
    tokio::pin!(limit);
    let mut exited: Option<std::process::ExitStatus> = None;
    let drain = tokio::time::sleep(Duration::MAX);
    tokio::pin!(drain);
    loop {
        if exited.is_some() && !so.open() && !se.open() {
            break;
        }
        tokio::select! {
            n = so.read_some(&mut b1), if so.open() => {
                if n == 0 { so.finish(out) } else { so.take(&b1[..n], out) }
            }
            n = se.read_some(&mut b2), if se.open() => {
                if n == 0 { se.finish(out) } else { se.take(&b2[..n], out) }
            }
            status = child.wait(), if exited.is_none() => {
                // Reaped: from now on its group ID may be reused; never signal it again.
                group.pgid = None;
                exited = Some(status?);
                drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_AFTER_EXIT);
            }
            _ = &mut limit, if exited.is_none() => {
                group.kill_now();
                let _ = child.wait().await;
                so.finish(out);
                se.finish(out);
                return Ok(Finished { ran: Ran::TimedOut, stdout: so.captured, stderr: se.captured });
            }
            _ = &mut drain, if exited.is_some() => {
                so.finish(out);
                se.finish(out);
            }
        }
    }
    let status = exited.expect("loop ends only after the exit");
    let ran = match (status.code(), status.signal()) {
        (Some(c), _) => Ran::Exited(c),
        (None, Some(s)) => Ran::Signalled(match Signal::try_from(s) {
            Ok(sig) => format!("killed by {sig}"),
            Err(_) => format!("killed by signal {s}"),
        }),
        (None, None) => Ran::Signalled(status.to_string()),
    };
    Ok(Finished {
        ran,
        stdout: so.captured,
        stderr: se.captured,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let p = dir.join("helper");
        std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        p
    }

    fn alive(pid: i32) -> bool {
        crate::ProcessIdentity::of(pid).is_some_and(|p| p.is_alive())
    }

    #[tokio::test]
    async fn captures_output_and_exit_code_in_the_given_folder() {
        let d = tempfile::tempdir().unwrap();
        let bin = script(d.path(), "pwd; echo oops >&2; exit 3");
        let f = run(
            &bin,
            &[],
            Some(d.path()),
            Output::Capture,
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        assert_eq!(f.ran, Ran::Exited(3));
        let pwd = String::from_utf8(f.stdout).unwrap();
        assert_eq!(
            Path::new(pwd.trim()).canonicalize().unwrap(),
            d.path().canonicalize().unwrap()
        );
        assert_eq!(f.stderr, b"oops\n");
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("bg.pid");
        // The helper leaves a child behind that holds its output pipes.
        let bin = script(
            d.path(),
            &format!("sleep 600 & echo $! > {}; wait", pidfile.display()),
        );
        let f = run(&bin, &[], None, Output::Capture, Duration::from_millis(500))
            .await
            .unwrap();
        assert_eq!(f.ran, Ran::TimedOut);
        wait_child_gone(&pidfile).await;
    }

    /// Waits (up to 10 s) for the helper's background child, whose pid is in `pidfile`, to be
    /// gone: killed with the helper's process group.
    async fn wait_child_gone(pidfile: &std::path::Path) {
        let bg: i32 = std::fs::read_to_string(pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while alive(bg) {
            assert!(
                std::time::Instant::now() < deadline,
                "the helper's child survived"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn dropping_the_run_kills_the_group() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("bg.pid");
        let bin = script(
            d.path(),
            &format!("sleep 600 & echo $! > {}; wait", pidfile.display()),
        );
        let mut fut = Box::pin(run(
            &bin,
            &[],
            None,
            Output::Capture,
            Duration::from_secs(600),
        ));
        // Let it start and write its child's pid, then cancel it.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !std::fs::read_to_string(&pidfile).is_ok_and(|s| s.ends_with('\n')) {
            assert!(std::time::Instant::now() < deadline, "never started");
            tokio::select! {
                _ = &mut fut => panic!("finished on its own"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        drop(fut);
        wait_child_gone(&pidfile).await;
    }

    #[tokio::test]
    async fn a_child_left_behind_does_not_hold_up_the_exit() {
        let d = tempfile::tempdir().unwrap();
        let pidfile = d.path().join("bg.pid");
        let bin = script(
            d.path(),
            &format!("sleep 600 & echo $! > {}; exit 0", pidfile.display()),
        );
        let started = std::time::Instant::now();
        let f = run(&bin, &[], None, Output::Capture, Duration::from_secs(600))
            .await
            .unwrap();
        assert_eq!(f.ran, Ran::Exited(0));
        assert!(started.elapsed() < Duration::from_secs(60));
        // Left alone: once the leader is reaped its group is no longer ours to signal.
        let bg: i32 = std::fs::read_to_string(&pidfile)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert!(alive(bg));
        let _ = nix::sys::signal::kill(Pid::from_raw(bg), Signal::SIGKILL);
    }

    #[tokio::test]
    async fn long_and_unfinished_lines_are_bounded() {
        let d = tempfile::tempdir().unwrap();
        let bin = script(d.path(), "head -c 200000 /dev/zero | tr '\\0' x");
        let f = run(&bin, &[], None, Output::Capture, Duration::from_secs(20))
            .await
            .unwrap();
        assert_eq!(f.stdout.len(), CAPTURE_LIMIT);
        let f = run(
            &bin,
            &[],
            None,
            Output::Log {
                upgrade: "v2",
                hook: "test",
            },
            Duration::from_secs(20),
        )
        .await
        .unwrap();
        assert_eq!(f.ran, Ran::Exited(0));
        assert!(f.stdout.is_empty());
    }

    #[tokio::test]
    async fn the_service_managers_variables_are_not_passed_on() {
        let d = tempfile::tempdir().unwrap();
        let bin = script(d.path(), "echo \"[${NOTIFY_SOCKET:-}${WATCHDOG_USEC:-}]\"");
        // Set for this process only while the helper is spawned.
        std::env::set_var("NOTIFY_SOCKET", "/run/x");
        let f = run(&bin, &[], None, Output::Capture, Duration::from_secs(20))
            .await
            .unwrap();
        std::env::remove_var("NOTIFY_SOCKET");
        assert_eq!(f.stdout, b"[]\n");
    }
}
