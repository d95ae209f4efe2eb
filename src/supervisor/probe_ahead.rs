//! Before the halt: asks each upcoming upgrade's binary whether it has a `pre-upgrade` command,
//! so the swap does not start a binary that has none just to hear it say so.
//!
//! The supervisor tells this task which upgrades are upcoming (`switchyard_core::binaries_to_probe`:
//! the scheduled plan, manual upgrades, passed proposals and, with `SWITCHYARD_PRESTAGE_VOTING`,
//! proposals in voting) on every turn; the task probes each one whose binary is in place and has
//! no verdict for that very file yet (`switchyard_store::current_preupgrade_probe`), one at a
//! time, and writes the verdict to the store. A pair whose answers may differ only by a clock is
//! asked again (`switchyard_core::ask_again`). It looks again every [`RECHECK`], so a binary placed or replaced later
//! is probed too. A binary that cannot be started is recorded as unknown for that file (logged
//! once); nothing here ever touches the node. Pre-staging calls [`probe_if_needed`] itself right after a
//! binary is staged.

use std::collections::BTreeSet;
use std::time::Duration;

use switchyard_core::{
    ask_again, judge_preupgrade, PreUpgradeCommand, ProbeRun, UpgradeName, PROBE_ATTEMPTS,
};
use switchyard_store::{FileStamp, Layout, PreUpgradeProbeRecord};
use tokio::sync::watch;

use crate::shutdown::Shutdown;

/// How often the upcoming binaries are looked at again without a change in the list.
const RECHECK: Duration = Duration::from_secs(15);
/// How long one `--help` run may take.
const PROBE_LIMIT: Duration = Duration::from_secs(30);

/// The supervisor's end of the task.
pub(super) struct ProbeAhead {
    upcoming: watch::Sender<BTreeSet<UpgradeName>>,
}

impl ProbeAhead {
    /// Starts the task; it ends when `shutdown` is triggered (a probe in progress is dropped,
    /// its process killed with its group; nothing was written for it yet).
    pub(super) fn spawn(layout: Layout, shutdown: &Shutdown) -> ProbeAhead {
        let (tx, rx) = watch::channel(BTreeSet::new());
        let task = shutdown.clone();
        shutdown.spawn(async move {
            let _ = task.unless(probe_loop(layout, rx)).await;
        });
        ProbeAhead { upcoming: tx }
    }

    /// The upgrades that are upcoming now (only a change wakes the task).
    pub(super) fn upcoming(&self, names: BTreeSet<UpgradeName>) {
        self.upcoming.send_if_modified(|old| {
            let changed = *old != names;
            *old = names;
            changed
        });
    }
}

async fn probe_loop(layout: Layout, mut rx: watch::Receiver<BTreeSet<UpgradeName>>) {
    loop {
        let names = rx.borrow_and_update().clone();
        for name in &names {
            probe_if_needed(&layout, name).await;
        }
        if let Ok(Err(_)) = tokio::time::timeout(RECHECK, rx.changed()).await {
            return; // the supervisor is gone
        }
    }
}

/// Probes `name`'s binary unless it is not in place or already has a verdict for this file.
pub(super) async fn probe_if_needed(layout: &Layout, name: &UpgradeName) {
    let bin = layout.upgrade_binary(name);
    if !layout.has_upgrade_binary(name) {
        return; // not placed yet
    }
    // A binary cosmovisor's add-upgrade wrote has no execute bit yet: it gets it now rather than
    // at the switch, so it can be asked.
    if let Err(e) = crate::upgrade_binary::add_execute_bits(layout, name) {
        tracing::warn!(upgrade = %name, "cannot make {} executable to ask it about pre-upgrade: {e}", bin.display());
        return;
    }
    match switchyard_store::current_preupgrade_probe(layout, name) {
        Ok(Some(_)) => return,
        Ok(None) => {}
        Err(e) => tracing::warn!("{e}; probing the binary again"),
    }
    let Ok(stamp) = FileStamp::of(&bin) else {
        return;
    };
    // A binary that cannot be started at all is "unknown" for this file (its pre-upgrade then
    // runs at the halt, as before), so it is not asked again, and warned about, every look.
    let (command, output) = match ask(&bin).await {
        Ok((probe, control)) => (judge_preupgrade(&probe, &control), probe.output),
        Err(e) => {
            tracing::warn!(upgrade = %name, "cannot ask {} whether it has a pre-upgrade command: {e}", bin.display());
            (
                PreUpgradeCommand::Unknown,
                format!("could not start it: {e}"),
            )
        }
    };
    let Some(record) = PreUpgradeProbeRecord::new(&bin, stamp, command, &output) else {
        // Replaced while it was being asked: the next look asks the new file.
        return;
    };
    if let Err(e) = switchyard_store::save_preupgrade_probe(layout, name, &record) {
        tracing::warn!(upgrade = %name, "{e}");
        return;
    }
    match command {
        PreUpgradeCommand::Absent => tracing::info!(
            upgrade = %name,
            "the binary for upgrade {name} has no pre-upgrade command: it will not be run at the halt"
        ),
        PreUpgradeCommand::Present => tracing::info!(
            upgrade = %name,
            "the binary for upgrade {name} has a pre-upgrade command: it runs at the halt"
        ),
        PreUpgradeCommand::Unknown => tracing::info!(
            upgrade = %name,
            "cannot tell whether the binary for upgrade {name} has a pre-upgrade command: it is run at the halt, as cosmovisor does"
        ),
    }
}

/// Runs the probe pair, again while the core says the answers may differ only by a clock
/// (`switchyard_core::ask_again`), at most `PROBE_ATTEMPTS` times; the last pair is judged.
async fn ask(bin: &std::path::Path) -> std::io::Result<(ProbeRun, ProbeRun)> {
    let mut attempt = 1;
    loop {
        let (probe, control) = switchyard_exec::probe_preupgrade(bin, PROBE_LIMIT).await?;
        if attempt >= PROBE_ATTEMPTS || !ask_again(&probe, &control) {
            return Ok((probe, control));
        }
        attempt += 1;
    }
}
