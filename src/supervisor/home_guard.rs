//! One supervisor per node home, and no node left behind by a previous one: the run lock,
//! stopping the orphaned node a killed switchyard left running, and a `current` link every
//! cosmovisor reads.

use std::time::Duration;

use anyhow::bail;
use switchyard_exec::{Stopped, KILL_WAIT};
use switchyard_store::Layout;

/// Takes the home's run lock, so two supervisors never drive one node (the second would take
/// the first one's node for an orphan and stop it).
pub(super) fn lock_home(layout: &Layout) -> anyhow::Result<switchyard_store::RunLock> {
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
/// or worse, so stop it first through exec's process identity — PID *and* start time, so no other
/// process is ever touched — with SIGKILL only if it outlives the shutdown grace. One that
/// outlives SIGKILL too (stuck in the kernel) is an error: no second node is started beside it.
pub(super) async fn stop_orphaned_node(layout: &Layout, grace: Duration) -> anyhow::Result<()> {
    let Some(rec) = switchyard_store::load_node_record(layout) else {
        return Ok(());
    };
    let node = rec.identity();
    if !node.is_alive() {
        switchyard_store::clear_node_record(layout);
        return Ok(());
    }
    tracing::warn!(pid = rec.pid, binary = %rec.binary.display(), "the node started by a previous switchyard is still running; stopping it first");
    match node.stop(grace).await {
        Stopped::Exited => {}
        Stopped::Killed => tracing::warn!(
            pid = rec.pid,
            "it did not stop within the shutdown grace ({grace:?}); it was sent SIGKILL"
        ),
        Stopped::Stuck => bail!(
            "the node a previous switchyard started (pid {}, {}) outlived SIGKILL by {KILL_WAIT:?}; \
             not starting a second node on the same data. Find out what holds it (its state in /proc/{}/status), then start switchyard again",
            rec.pid,
            rec.binary.display(),
            rec.pid
        ),
    }
    switchyard_store::clear_node_record(layout);
    Ok(())
}

/// Makes `current` a link every cosmovisor reads (see [`switchyard_store::Layout::ensure_current`])
/// and says what changed. Call it only while holding the home's run lock.
pub(crate) fn repair_current(layout: &switchyard_store::Layout) -> anyhow::Result<()> {
    use switchyard_store::CurrentRepair;
    match layout.ensure_current()? {
        CurrentRepair::Unchanged => {}
        CurrentRepair::CreatedGenesis => tracing::info!(
            "{} was missing: it now points at genesis, as cosmovisor does on its first run",
            layout.current_link().display()
        ),
        CurrentRepair::Rewritten { from, to } => tracing::info!(
            "rewrote {} from {} to {}, the absolute form every cosmovisor version reads",
            layout.current_link().display(),
            from.display(),
            to.display()
        ),
    }
    Ok(())
}
