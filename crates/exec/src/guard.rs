//! The node's guard: a tiny second process that makes sure the node does not outlive switchyard.
//!
//! The node gets SIGTERM when switchyard dies (its parent-death signal), but a node that ignores
//! or hangs on SIGTERM would then run unsupervised until the next start finds it. So beside each
//! node switchyard starts a guard — switchyard's own binary again, run as
//! `switchyard-guard <pid> <start time> <grace ms>` (see [`GUARD_ARG`] and [`guard_main`]) — that
//! holds the read end of a pipe whose only write end switchyard keeps. The kernel closes that end
//! when switchyard exits for any reason, SIGKILL included; the guard then sees end-of-file, gives
//! the node the shutdown grace to stop by itself, and SIGKILLs it if it is still there.
//!
//! The node is named by PID *and* start time ([`ProcessIdentity`]), so a PID the kernel has since
//! given to another process is never signalled. When switchyard reaps the node itself it closes
//! the pipe, and the guard, finding the node gone, exits without touching anything. The guard
//! ignores the terminal's and the service manager's stop signals (SIGINT, SIGTERM, SIGHUP,
//! SIGQUIT): switchyard handles those, and the guard must still be there if switchyard dies
//! while handling them.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{signal, SigHandler, Signal};

use crate::identity::ProcessIdentity;

/// The first argument that makes switchyard's binary run as a guard ([`guard_main`]).
pub const GUARD_ARG: &str = "__switchyard-node-guard";

/// A running guard. Dropping it closes our end of the pipe: the guard then checks the node and
/// exits (it is reaped in the background).
#[derive(Debug)]
pub(crate) struct Guard {
    _alive: OwnedFd,
    _child: tokio::process::Child,
}

/// Starts a guard for `node` from the executable `exe` (switchyard's own binary).
pub(crate) fn spawn(exe: &Path, node: ProcessIdentity, grace: Duration) -> std::io::Result<Guard> {
    // Both ends close-on-exec: only the guard's stdin (a dup) survives into the guard, and no
    // other child of ours ever holds the write end.
    let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg0("switchyard-guard")
        .arg(GUARD_ARG)
        .arg(node.pid.to_string())
        .arg(node.start_time.to_string())
        .arg(grace.as_millis().to_string())
        .stdin(Stdio::from(read))
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(false);
    for k in crate::helper::PRIVATE_ENV {
        cmd.env_remove(k);
    }
    let child = cmd.spawn()?;
    Ok(Guard {
        _alive: write,
        _child: child,
    })
}

/// The guard's whole life; `args` are the ones after [`GUARD_ARG`]. Returns the exit code.
pub fn guard_main(args: &[String]) -> i32 {
    for sig in [
        Signal::SIGINT,
        Signal::SIGTERM,
        Signal::SIGHUP,
        Signal::SIGQUIT,
    ] {
        // SAFETY: installs the "ignore" disposition, no handler code runs.
        unsafe {
            let _ = signal(sig, SigHandler::SigIgn);
        }
    }
    let parsed = match args {
        [pid, start, grace] => pid
            .parse()
            .ok()
            .zip(start.parse().ok())
            .zip(grace.parse::<u64>().ok()),
        _ => None,
    };
    let Some(((pid, start_time), grace_ms)) = parsed else {
        let _ = writeln!(
            std::io::stderr(),
            "switchyard-guard: expected <pid> <start time> <grace ms>, got {args:?}"
        );
        return 2;
    };
    // Hold no folder busy while we wait.
    let _ = std::env::set_current_dir("/");
    let node = ProcessIdentity { pid, start_time };
    wait_for_end_of_file();
    if !node.is_alive() {
        return 0;
    }
    let deadline = Instant::now() + Duration::from_millis(grace_ms);
    while node.is_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if node.signal(Signal::SIGKILL) {
        let _ = writeln!(
            std::io::stderr(),
            "switchyard-guard: switchyard is gone and its node (pid {pid}) was still running \
             {grace_ms} ms later (DAEMON_SHUTDOWN_GRACE); killed it with SIGKILL"
        );
    }
    0
}

/// Blocks until switchyard's end of the pipe (our stdin) is closed.
fn wait_for_end_of_file() {
    let mut buf = [0u8; 64];
    let mut stdin = std::io::stdin().lock();
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}
