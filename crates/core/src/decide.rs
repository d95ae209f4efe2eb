//! The decision core: given what is known, what should the supervisor do next?
//!
//! The shells gather a [`Known`] snapshot (what `current` points at, what was applied, the
//! node's `upgrade-info.json`, pending manual upgrades, the chain's plan, the node's heights and
//! what `--halt-height` does on the running binary) and ask:
//! - [`on_start`]: about to start the node — start it (with which halt height?) or swap first?
//! - [`while_running`]: something changed while the node runs — stop it for a swap now?
//! - [`rearm`]: should the running node be restarted once with another `--halt-height` (the
//!   manual upgrades changed, or a probe showed the binary stops before its halt height)?
//! - [`height_watch`]: can the node's height be seen well enough to time the armed upgrade?
//! - [`on_exit`]: the node exited — swap, finish, or treat it as a crash?
//!
//! The two rules everything here serves (docs/invariants.md, invariant 1):
//! - the new binary never starts before the upgrade height H: a swap is only decided with
//!   evidence that the node reached H (its own upgrade-info.json for a plan, with no committed
//!   height below H-1 observed; for a manual upgrade, H-1 committed, or the exit of a node that
//!   exits by itself at its halt height);
//! - the old binary never commits H: it is only ever started with a `--halt-height` that no
//!   behaviour it may have lets commit H, and never restarted into a halt it already reached.

use std::collections::{BTreeMap, BTreeSet};

use crate::halt::{HaltBehaviour, HaltFlag};
use crate::heights::{stopped_before_window_ms, HeightHistory};
use crate::name::UpgradeName;
use crate::schedule::{armed_manual, Current, ManualUpgrade, ScheduledPlan, UpgradeKind};
use crate::upgrade_info::UpgradeInfo;

/// Everything the core needs to decide; gathered by the shells.
#[derive(Debug, Clone)]
pub struct Known {
    /// Which binary the `current` link on disk points at.
    pub current: Current,
    /// Upgrades already applied, with the height they applied at (0 when unknown).
    pub applied: BTreeMap<UpgradeName, i64>,
    /// The node's `data/upgrade-info.json`, if present and valid.
    pub halt_file: Option<UpgradeInfo>,
    /// Manual upgrades registered by the operator (applied ones may still be listed).
    pub manual: Vec<ManualUpgrade>,
    /// The chain's scheduled plan, if the watcher knows it.
    pub plan: Option<ScheduledPlan>,
    /// Whether `plan` comes from a successful query (false: the chain was not asked yet).
    pub plan_known: bool,
    /// The highest block height this node was seen to commit, if any.
    pub committed: Option<i64>,
    /// When a height of this node was last seen (monotonic ms), if ever.
    pub last_seen_ms: Option<u64>,
    /// Now, on the same monotonic clock.
    pub now_ms: u64,
    /// The chain's average block time in ms, if measured.
    pub average_block_ms: Option<u64>,
    /// What `--halt-height` does on the `current` binary, if known (SDK version or an earlier
    /// run of the same binary); `None` means it must be probed.
    pub halt_behaviour: Option<HaltBehaviour>,
    /// The halt the running node was started with, if any.
    pub armed: Option<ArmedHalt>,
    /// Heights the node's arguments tell it to skip (`--unsafe-skip-upgrades`).
    pub skip_heights: BTreeSet<i64>,
    /// Samples of the running node process's heights (store vs app).
    pub samples: HeightHistory,
    /// When the running node process was started (monotonic ms), if one runs.
    pub node_started_ms: Option<u64>,
    /// The node command is not `start` (e.g. `export`): it is never armed with a halt height.
    pub one_off_command: bool,
    /// How long the node's height may go unseen while an upgrade is armed before it is "blind"
    /// (`SWITCHYARD_HEIGHT_TIMEOUT`); a blind upgrade is given up [`OVERDUE_FACTOR`] times this
    /// long after it was due.
    pub blind_after_ms: u64,
}

impl Default for Known {
    fn default() -> Self {
        Known {
            current: Current::default(),
            applied: BTreeMap::new(),
            halt_file: None,
            manual: Vec::new(),
            plan: None,
            plan_known: false,
            committed: None,
            last_seen_ms: None,
            now_ms: 0,
            average_block_ms: None,
            halt_behaviour: None,
            armed: None,
            skip_heights: BTreeSet::new(),
            samples: HeightHistory::new(),
            node_started_ms: None,
            one_off_command: false,
            blind_after_ms: DEFAULT_BLIND_AFTER_MS,
        }
    }
}

/// A swap the core decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapTarget {
    /// The upgrade to swap to; its binary is in `upgrades/<name>/`.
    pub name: UpgradeName,
    /// The upgrade height: the first block the new binary runs.
    pub height: i64,
    /// Whether it is the chain's plan or a manual upgrade.
    pub kind: UpgradeKind,
    /// The plan's info (for `upgrades/<name>/upgrade-info.json`); empty for manual upgrades.
    pub info: String,
}

/// The manual upgrade the node must halt for next, and the flag that stops it before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmedHalt {
    /// The manual upgrade to halt for.
    pub upgrade: ManualUpgrade,
    /// The `--halt-height` to run the old binary with, and the behaviour it was chosen for.
    pub halt: HaltFlag,
}

/// Answer to [`on_start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    /// The node already halted for this upgrade: swap before starting anything.
    SwapFirst(SwapTarget),
    /// Start the node on `current`, armed to halt for the next manual upgrade if there is one.
    Start {
        /// The halt to start with; `None`: no `--halt-height` (no manual upgrade ahead, or a
        /// one-off command).
        halt: Option<ArmedHalt>,
    },
}

/// Answer to [`while_running`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunningDecision {
    /// Nothing to do.
    Continue,
    /// `upgrade-info.json` names an upgrade the node has not reached yet (it was not written by a
    /// halt, or our view of the height is old): keep running and keep watching.
    WaitForHeight {
        /// The upgrade the file names.
        name: UpgradeName,
        /// The height the file names.
        height: i64,
        /// The highest height seen committed; 0 when none was seen.
        committed: i64,
    },
    /// The node reached the upgrade: stop it and swap. `learned`: what this showed about the
    /// old binary's halt-height behaviour (a probe that ended with H-1 committed).
    StopAndSwap {
        /// The upgrade to swap to.
        target: SwapTarget,
        /// `Some(Commits)` after a probe that committed its flag; else `None`.
        learned: Option<HaltBehaviour>,
    },
}

/// Answer to [`rearm`]: restart the running node once with this halt (or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rearm {
    /// The halt to restart with; `None`: restart without `--halt-height`.
    pub halt: Option<ArmedHalt>,
    /// Why the restart is needed.
    pub why: RearmReason,
    /// What the old binary was shown to do, to remember for it.
    pub learned: Option<HaltBehaviour>,
}

/// Why [`rearm`] restarts the node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RearmReason {
    /// Manual upgrades were added or removed, or a plan displaced one.
    ScheduleChanged,
    /// The probe (`--halt-height H-1`) stopped with H-2 committed: this binary stops before its
    /// halt height, so it is restarted with `--halt-height H`.
    ProbeStoppedBefore,
}

/// How the node process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Exit status 0.
    Success,
    /// Exit status 130 or 143: the node shut itself down gracefully on SIGINT/SIGTERM. SDK
    /// v0.46 and older exit like this at their halt height (the app signals itself and the
    /// server exits with 128 + signal); otherwise it is treated as a crash.
    SignalShutdown,
    /// Any other non-zero exit status, or killed by a signal we did not send.
    Failure,
}

impl ExitKind {
    /// Classifies a shell-style exit code (128 + signal for a signal death).
    pub fn from_code(code: i32) -> ExitKind {
        match code {
            0 => ExitKind::Success,
            130 | 143 => ExitKind::SignalShutdown,
            _ => ExitKind::Failure,
        }
    }
}

/// Answer to [`on_exit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExitDecision {
    /// It halted for an upgrade: swap. `learned`: what the exit showed about the old binary.
    Swap {
        /// The upgrade to swap to.
        target: SwapTarget,
        /// Set only for a probed binary: `Commits` when it committed its flag,
        /// `CommitsThenExits` when it exited by itself at its halt.
        learned: Option<HaltBehaviour>,
    },
    /// A clean exit: end supervision with status 0.
    Finish,
    /// A crash: apply the restart policy.
    Crash,
}

/// Answer to [`height_watch`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeightWatch {
    /// Heights are seen, or nothing depends on them.
    Fine,
    /// An upgrade is armed but this node's height has not been seen for a while: it cannot be
    /// timed until a height is seen again. `exit_is_the_halt`: the armed binary stops itself at
    /// its halt height (or is being probed, and may), so its own graceful exit still swaps; when
    /// false it sits in consensus failure at its halt (SDK v0.50 and later) and only a height
    /// seen again can time the swap (it never commits the upgrade height meanwhile).
    Blind {
        /// The armed manual upgrade's height.
        height: i64,
        /// Whether the node's own graceful exit still counts as its halt (see above).
        exit_is_the_halt: bool,
    },
    /// As `Blind`, and the upgrade height was due long ago by the last height and block time
    /// seen: the node is stopped and supervision ends with an error.
    Overdue {
        /// The armed manual upgrade's height.
        height: i64,
    },
}

/// How far behind the node our last look at its committed height may be when its
/// upgrade-info.json names the chain's own plan (during block sync a node runs through blocks far
/// faster than we poll, and may panic at the plan height before we see the last of them).
pub const MAX_HEIGHT_LAG: i64 = 100;

/// By default, no height seen for this long while an upgrade is armed is "blind".
pub const DEFAULT_BLIND_AFTER_MS: u64 = 30_000;

/// A blind supervisor gives an upgrade up this many [`Known::blind_after_ms`] after it was due.
pub const OVERDUE_FACTOR: u64 = 4;

impl Known {
    /// The upgrade already ran here: `current` runs it, or the journal records it as applied.
    fn has_run(&self, name: &UpgradeName) -> bool {
        self.current.is_upgrade(name) || self.applied.contains_key(name)
    }
}

/// The swap the node's upgrade-info.json calls for, if any, and whether the evidence allows it.
///
/// The file is trusted as "the node reached H" when the committed height we saw is H-1 or more;
/// or when it names the chain's scheduled plan and our last height is at most
/// [`MAX_HEIGHT_LAG`] blocks behind; or when nothing is known about the chain at all (a fresh
/// start with the node down: the node writes this file only at the halt). Anything else — a file
/// naming a height far ahead of the node, not the chain's plan — waits. A height the node's
/// arguments skip (`--unsafe-skip-upgrades`) is never swapped for.
fn halt_file_swap(k: &Known) -> Option<Result<SwapTarget, RunningDecision>> {
    let info = k.halt_file.as_ref()?;
    if k.has_run(&info.name) {
        return None; // Old news: the file stays on disk after the upgrade ran.
    }
    if k.skip_heights.contains(&info.height) {
        return None;
    }
    let h1 = info.height.saturating_sub(1);
    let is_chain_plan = k
        .plan
        .as_ref()
        .is_some_and(|p| p.name == info.name && p.height == info.height);
    let trusted = match k.committed {
        Some(c) => c >= h1 || (is_chain_plan && c >= h1.saturating_sub(MAX_HEIGHT_LAG)),
        None => !k.plan_known || is_chain_plan,
    };
    if !trusted {
        return Some(Err(RunningDecision::WaitForHeight {
            name: info.name.clone(),
            height: info.height,
            committed: k.committed.unwrap_or(0),
        }));
    }
    Some(Ok(SwapTarget {
        name: info.name.clone(),
        height: info.height,
        kind: UpgradeKind::Plan,
        info: info.info.clone(),
    }))
}

/// The height of the upgrade the node halts at next and has not run yet: the node's
/// `upgrade-info.json`, else the chain's scheduled plan. An upgrade that `current` already runs,
/// or that the journal records as applied, is not pending: the SDK leaves the file of the
/// upgrade it applied on disk for good, and its height must not excuse a node that stops
/// making blocks long after (stall detection). Nor is one at a height the node's arguments skip
/// (`--unsafe-skip-upgrades`): the node does not halt there.
pub fn pending_upgrade_height(k: &Known) -> Option<i64> {
    let pending =
        |name: &UpgradeName, height: i64| !k.has_run(name) && !k.skip_heights.contains(&height);
    k.halt_file
        .as_ref()
        .filter(|f| pending(&f.name, f.height))
        .map(|f| f.height)
        .or_else(|| {
            k.plan
                .as_ref()
                .filter(|p| pending(&p.name, p.height))
                .map(|p| p.height)
        })
}

/// The height of the next upgrade this node will halt for, on-chain or manual: where the chain
/// watcher must read the node's heights on every block. Away from it the websocket's blocks are
/// enough and the watcher reads less (an idle node costs the supervisor almost nothing).
pub fn next_halt_height(k: &Known) -> Option<i64> {
    let manual = next_manual(k).map(|m| m.height);
    match (pending_upgrade_height(k), manual) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Within this many blocks of the next halt the shells look every block and every poll interval;
/// farther away, while blocks arrive, less often.
pub const NEAR_HALT_BLOCKS: i64 = 30;

/// Whether the next halt ([`next_halt_height`]) is within [`NEAR_HALT_BLOCKS`] of the committed
/// height (an unknown height counts as near: look closely until it is known).
pub fn halt_is_near(k: &Known) -> bool {
    match (next_halt_height(k), k.committed) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(h), Some(c)) => c >= h - NEAR_HALT_BLOCKS,
    }
}

/// Whether the node may write data/upgrade-info.json soon, so the shells should watch for it
/// closely (filesystem notifications; the poll interval): the chain's plan is not known (no
/// chain watch, or not read yet), or the next halt is near ([`halt_is_near`]). The node writes
/// that file only at a plan's height, so with the plan known and no halt near a slow poll is
/// enough; a plan scheduled meanwhile is seen at the chain watcher's next read, dozens of
/// blocks before its height.
pub fn halt_file_may_come(k: &Known) -> bool {
    !k.plan_known || halt_is_near(k)
}

/// The node's upgrade-info.json names an upgrade at a height its arguments skip: the old binary
/// is started again (with the flag), nothing is swapped.
pub fn skipped_halt(k: &Known) -> Option<&UpgradeInfo> {
    k.halt_file
        .as_ref()
        .filter(|i| k.skip_heights.contains(&i.height) && !k.has_run(&i.name))
}

/// The next armed manual upgrade.
fn next_manual(k: &Known) -> Option<&ManualUpgrade> {
    armed_manual(&k.manual, &k.applied, k.plan.as_ref())
        .into_iter()
        .next()
}

fn manual_target(m: &ManualUpgrade) -> SwapTarget {
    SwapTarget {
        name: m.name.clone(),
        height: m.height,
        kind: UpgradeKind::Manual,
        info: String::new(),
    }
}

/// The manual upgrade that is due (the node committed exactly H-1), if any. A node already past
/// H (the upgrade was missed, or a plan at the same height ran instead) is never swapped: see
/// [`missed_manual`].
fn manual_swap(k: &Known) -> Option<SwapTarget> {
    let m = next_manual(k)?;
    (k.committed? == m.height.saturating_sub(1)).then(|| manual_target(m))
}

/// What a swap on H-1 committed showed: a probe (`--halt-height H-1`) that committed H-1
/// belongs to a binary that commits its halt height.
fn learned_on_commit(k: &Known) -> Option<HaltBehaviour> {
    let a = k.armed.as_ref()?;
    (a.halt.is_probe() && k.committed.is_some_and(|c| c >= a.halt.flag))
        .then_some(HaltBehaviour::Commits)
}

/// Manual upgrades the node has already gone past without them (committed height at or above
/// their height): they can no longer run at their height, so they are never swapped to; the
/// supervisor reports them.
pub fn missed_manual(k: &Known) -> Vec<&ManualUpgrade> {
    match k.committed {
        Some(c) => armed_manual(&k.manual, &k.applied, k.plan.as_ref())
            .into_iter()
            .filter(|m| c >= m.height)
            .collect(),
        None => Vec::new(),
    }
}

/// The halt the node should run with now: the next manual upgrade it has not passed, with the
/// flag its binary's behaviour calls for (or the probe flag).
pub fn desired_halt(k: &Known) -> Option<ArmedHalt> {
    if k.one_off_command {
        return None;
    }
    next_manual(k)
        .filter(|m| k.committed.is_none_or(|c| c < m.height))
        .map(|m| ArmedHalt {
            upgrade: m.clone(),
            halt: HaltFlag::for_target(m.height, k.halt_behaviour),
        })
}

/// Decides what to do before starting the node.
pub fn on_start(k: &Known) -> StartDecision {
    if let Some(Ok(t)) = halt_file_swap(k) {
        return StartDecision::SwapFirst(t);
    }
    if let Some(t) = manual_swap(k) {
        return StartDecision::SwapFirst(t);
    }
    StartDecision::Start {
        halt: desired_halt(k),
    }
}

/// Decides, while the node runs, whether it must be stopped for a swap.
pub fn while_running(k: &Known) -> RunningDecision {
    let manual = || {
        manual_swap(k).map(|target| RunningDecision::StopAndSwap {
            target,
            learned: learned_on_commit(k),
        })
    };
    match halt_file_swap(k) {
        Some(Ok(target)) => RunningDecision::StopAndSwap {
            target,
            learned: None,
        },
        Some(Err(wait)) => manual().unwrap_or(wait),
        None => manual().unwrap_or(RunningDecision::Continue),
    }
}

/// Decides whether the running node must be restarted once with another halt height.
///
/// - A probe (`--halt-height H-1` on a binary of unknown behaviour) that stopped with block H-1
///   in its store and H-2 committed (see `heights`) shows a binary that stops before its halt
///   height: restart it with `--halt-height H`, and remember that for the binary.
/// - Otherwise, when the halt the node should run with differs from the one it was started with
///   (an upgrade added or removed, or a plan displaced one), restart it with the new flag.
pub fn rearm(k: &Known) -> Option<Rearm> {
    if let Some(a) = k.armed.as_ref().filter(|a| a.halt.is_probe()) {
        let window = stopped_before_window_ms(k.average_block_ms);
        if desired_halt(k).is_some_and(|d| d.upgrade == a.upgrade)
            && k.samples.stopped_before(a.halt.flag, window)
        {
            return Some(Rearm {
                halt: Some(ArmedHalt {
                    upgrade: a.upgrade.clone(),
                    halt: HaltFlag::for_target(a.upgrade.height, Some(HaltBehaviour::StopsBefore)),
                }),
                why: RearmReason::ProbeStoppedBefore,
                learned: Some(HaltBehaviour::StopsBefore),
            });
        }
    }
    let desired = desired_halt(k);
    let flag = |h: &Option<ArmedHalt>| h.as_ref().map(|a| a.halt.flag);
    (flag(&desired) != flag(&k.armed)).then_some(Rearm {
        halt: desired,
        why: RearmReason::ScheduleChanged,
        learned: None,
    })
}

/// Whether the armed upgrade can be timed: an armed node whose height has not been seen for
/// [`Known::blind_after_ms`] is blind; once the upgrade was due (by the last height and block
/// time seen; the chain's average, else the rate this supervisor saw heights arrive at) more than
/// [`OVERDUE_FACTOR`] times that ago, it is overdue. Without any height or block time to go by,
/// it is never overdue: the wait is then reported, not cut short.
pub fn height_watch(k: &Known) -> HeightWatch {
    let (Some(a), Some(started)) = (k.armed.as_ref(), k.node_started_ms) else {
        return HeightWatch::Fine;
    };
    let height = a.upgrade.height;
    let since = k.last_seen_ms.unwrap_or(started).max(started);
    if k.now_ms.saturating_sub(since) < k.blind_after_ms {
        return HeightWatch::Fine;
    }
    let block_ms = k.average_block_ms.or_else(|| k.samples.observed_block_ms());
    let due = match (k.last_seen_ms, k.committed, block_ms) {
        (Some(t), Some(c), Some(b)) => {
            let blocks = height.saturating_sub(1).saturating_sub(c).max(0) as u64;
            Some(t.saturating_add(blocks.saturating_mul(b)))
        }
        _ => None,
    };
    match due {
        Some(due)
            if k.now_ms > due.saturating_add(k.blind_after_ms.saturating_mul(OVERDUE_FACTOR)) =>
        {
            HeightWatch::Overdue { height }
        }
        _ => HeightWatch::Blind {
            height,
            exit_is_the_halt: exit_is_the_halt(a),
        },
    }
}

/// Whether the node's own graceful exit is taken as its halt (see [`exited_at_halt`]).
fn exit_is_the_halt(a: &ArmedHalt) -> bool {
    a.halt.is_probe() || a.halt.behaviour.is_some_and(HaltBehaviour::exits_at_halt)
}

/// A node that may exit by itself at its halt height (SDK v0.47 and older, or a binary being
/// probed) exited gracefully (0, or 130/143 from its own halt signal on v0.46 and older) while
/// armed: that exit is the halt, unless the last height seen, and the time since, show it could
/// not have reached its halt height yet. (With no height seen — the RPC unreachable, or the
/// chain not watched — the exit is all the evidence there is, and restarting the old binary
/// would let it run block H.)
fn exited_at_halt(k: &Known, exit: ExitKind) -> Option<(SwapTarget, Option<HaltBehaviour>)> {
    let armed = k.armed.as_ref()?;
    if exit == ExitKind::Failure {
        return None;
    }
    let probing = armed.halt.is_probe();
    if !exit_is_the_halt(armed) {
        return None;
    }
    // Still armed: not applied, and not displaced by a plan at the same height.
    let m = next_manual(k).filter(|m| **m == armed.upgrade)?;
    if !could_have_reached(k, armed.halt.flag) {
        return None;
    }
    Some((
        manual_target(m),
        probing.then_some(HaltBehaviour::CommitsThenExits),
    ))
}

/// Whether the node may have committed `height` by now, judging by the last height seen and the
/// time since then: blocks are taken to come at most twice as fast as the average, plus two
/// blocks of slack. With nothing to go by, it may have.
fn could_have_reached(k: &Known, height: i64) -> bool {
    let (Some(c), Some(seen), Some(avg)) = (k.committed, k.last_seen_ms, k.average_block_ms) else {
        return true;
    };
    let fastest = (avg / 2).max(1);
    let blocks = i64::try_from(k.now_ms.saturating_sub(seen) / fastest).unwrap_or(i64::MAX);
    c.saturating_add(blocks).saturating_add(2) >= height
}

/// Decides what a node exit means.
pub fn on_exit(k: &Known, exit: ExitKind) -> ExitDecision {
    if let Some(Ok(target)) = halt_file_swap(k) {
        return ExitDecision::Swap {
            target,
            learned: None,
        };
    }
    if let Some(target) = manual_swap(k) {
        return ExitDecision::Swap {
            target,
            learned: learned_on_commit(k),
        };
    }
    if let Some((target, learned)) = exited_at_halt(k, exit) {
        return ExitDecision::Swap { target, learned };
    }
    match exit {
        ExitKind::Success => ExitDecision::Finish,
        ExitKind::SignalShutdown | ExitKind::Failure => ExitDecision::Crash,
    }
}

#[cfg(test)]
mod tests;
