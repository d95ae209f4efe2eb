//! One supervisor per node home, and no node left behind by a previous one: the run lock, and
//! stopping the orphaned node a killed switchyard left running.

use std::time::{Duration, Instant};

use anyhow::bail;
use switchyard_store::Layout;

/// Takes the home's run lock, so two supervisors never drive one node (the second would take
/// the first one's node for an orphan and stop it).
pub fn lock_home(layout: &Layout) -> anyhow::Result<switchyard_store::RunLock> {
    match switchyard_store::lock_run(layout) {
        Ok(lock) => Ok(lock),
        Err(switchyard_store::RunLockError::Held { path, holder }) => bail!(
            "another switchyard{} is already supervising the node in {} (it holds {}); stop it first",
            holder.map(|p| format!(" (pid {p})")).unwrap_or_default(),
            layout.home.display(),
            path.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// A node started by a previous switchyard that was killed may still be shutting down (it got
/// SIGTERM through its parent-death signal). Starting a second node on the same data would fail
/// or worse, so wait for it — it is recognised by PID *and* start time, so no other process is
/// ever touched — and kill it only if it outlives the shutdown grace.
pub async fn stop_orphaned_node(layout: &Layout, grace: Duration) {
    let Some(rec) = switchyard_store::load_node_record(layout) else {
        return;
    };
    if !switchyard_store::is_same_process_alive(&rec) {
        switchyard_store::clear_node_record(layout);
        return;
    }
    tracing::warn!(pid = rec.pid, binary = %rec.binary.display(), "the node started by a previous switchyard is still running; stopping it first");
    let pid = nix::unistd::Pid::from_raw(rec.pid);
    let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while switchyard_store::is_same_process_alive(&rec) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if switchyard_store::is_same_process_alive(&rec) {
        tracing::warn!(
            pid = rec.pid,
            "it did not stop within the shutdown grace; sending SIGKILL"
        );
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
        while switchyard_store::is_same_process_alive(&rec) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    switchyard_store::clear_node_record(layout);
}
