//! The decision core: given what is known, what should the supervisor do next?
//!
//! The shells gather a [`Known`] snapshot (what `current` points at, what was applied, the
//! node's `upgrade-info.json`, pending manual upgrades, the chain's plan, the last committed
//! height) and ask one of three questions:
//! - [`on_start`]: about to start the node — start it (with which halt height?) or swap first?
//! - [`while_running`]: something changed while the node runs — stop it for a swap now?
//! - [`on_exit`]: the node exited — swap, finish, or treat it as a crash?
//!
//! The two rules everything here serves (DESIGN.md invariant 1):
//! - the new binary never starts before the upgrade height H: a swap is only decided with
//!   evidence that the node reached H (its own upgrade-info.json for a plan, with no committed
//!   height below H-1 observed; a committed height of at least H-1 for a manual upgrade, whose
//!   old binary cannot commit H because of its halt height);
//! - the old binary never runs at or past an upgrade it halted for: when `upgrade-info.json`
//!   names an upgrade that was not applied, starting means swapping first.

use std::collections::BTreeMap;

use crate::halt::{HaltMethod, SdkVersion};
use crate::name::UpgradeName;
use crate::schedule::{armed_manual, Current, ManualUpgrade, ScheduledPlan, UpgradeKind};
use crate::upgrade_info::UpgradeInfo;

/// Everything the core needs to decide; gathered by the shells.
#[derive(Debug, Clone)]
pub struct Known {
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
    /// The last block height the node committed, if observed.
    pub committed: Option<i64>,
    /// The running binary's Cosmos SDK version, if known (for halt-height semantics).
    pub sdk_version: Option<SdkVersion>,
    /// The halt the running node was started with, if any.
    pub armed: Option<ArmedHalt>,
}

/// A swap the core decided on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapTarget {
    pub name: UpgradeName,
    pub height: i64,
    pub source: UpgradeKind,
    /// The plan's info (for `upgrades/<name>/upgrade-info.json`); empty for manual upgrades.
    pub info: String,
}

/// The manual upgrade the node must halt for next, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArmedHalt {
    pub upgrade: ManualUpgrade,
    pub method: HaltMethod,
}

/// Answer to [`on_start`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartDecision {
    /// The node already halted for this upgrade: swap before starting anything.
    SwapFirst(SwapTarget),
    /// Start the node on `current`, armed to halt for the next manual upgrade if there is one.
    Start { halt: Option<ArmedHalt> },
}

/// Answer to [`while_running`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunningDecision {
    /// Nothing to do.
    Continue,
    /// `upgrade-info.json` names an upgrade the node has not reached yet (it was not written by a
    /// halt, or our view of the height is old): keep running and keep watching.
    WaitForHeight {
        name: UpgradeName,
        height: i64,
        committed: i64,
    },
    /// The node reached the upgrade: stop it and swap.
    StopAndSwap(SwapTarget),
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
    /// It halted for an upgrade: swap.
    Swap(SwapTarget),
    /// A clean exit: end supervision with status 0.
    Finish,
    /// A crash: apply the restart policy.
    Crash,
}

/// How far behind the node our last look at its committed height may be when its
/// upgrade-info.json names the chain's own plan (during block sync a node runs through blocks far
/// faster than we poll, and may panic at the plan height before we see the last of them).
pub const MAX_HEIGHT_LAG: i64 = 100;

/// The swap the node's upgrade-info.json calls for, if any, and whether the evidence allows it.
///
/// The file is trusted as "the node reached H" when the committed height we saw is H-1 or more;
/// or when it names the chain's scheduled plan and our last height is at most
/// [`MAX_HEIGHT_LAG`] blocks behind; or when nothing is known about the chain at all (a fresh
/// start with the node down: the node writes this file only at the halt). Anything else — a file
/// naming a height far ahead of the node, not the chain's plan — waits.
fn halt_file_swap(k: &Known) -> Option<Result<SwapTarget, RunningDecision>> {
    let info = k.halt_file.as_ref()?;
    if k.applied.contains_key(&info.name) || k.current.is_upgrade(&info.name) {
        return None; // Old news: the file stays on disk after the upgrade ran.
    }
    let is_chain_plan = k
        .plan
        .as_ref()
        .is_some_and(|p| p.name == info.name && p.height == info.height);
    let trusted = match k.committed {
        Some(c) => c >= info.height - 1 || (is_chain_plan && c >= info.height - 1 - MAX_HEIGHT_LAG),
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
        source: UpgradeKind::Plan,
        info: info.info.clone(),
    }))
}

/// The next armed manual upgrade.
fn next_manual(k: &Known) -> Option<&ManualUpgrade> {
    armed_manual(&k.manual, &k.applied, k.plan.as_ref())
        .into_iter()
        .next()
}

/// The manual upgrade that is due (the node committed exactly H-1), if any. A node already past
/// H (the upgrade was missed, or a plan at the same height ran instead) is never swapped: see
/// [`missed_manual`].
fn manual_swap(k: &Known) -> Option<SwapTarget> {
    let m = next_manual(k)?;
    let c = k.committed?;
    (c == m.height - 1).then(|| SwapTarget {
        name: m.name.clone(),
        height: m.height,
        source: UpgradeKind::Manual,
        info: String::new(),
    })
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

/// Decides what to do before starting the node.
pub fn on_start(k: &Known) -> StartDecision {
    if let Some(Ok(t)) = halt_file_swap(k) {
        return StartDecision::SwapFirst(t);
    }
    if let Some(t) = manual_swap(k) {
        return StartDecision::SwapFirst(t);
    }
    StartDecision::Start {
        halt: next_manual(k)
            .filter(|m| k.committed.is_none_or(|c| c < m.height))
            .map(|m| ArmedHalt {
                upgrade: m.clone(),
                method: HaltMethod::for_target(m.height, k.sdk_version),
            }),
    }
}

/// Decides, while the node runs, whether it must be stopped for a swap.
pub fn while_running(k: &Known) -> RunningDecision {
    match halt_file_swap(k) {
        Some(Ok(t)) => return RunningDecision::StopAndSwap(t),
        Some(Err(wait)) => {
            if let Some(t) = manual_swap(k) {
                return RunningDecision::StopAndSwap(t);
            }
            return wait;
        }
        None => {}
    }
    match manual_swap(k) {
        Some(t) => RunningDecision::StopAndSwap(t),
        None => RunningDecision::Continue,
    }
}

/// A node of an SDK that exits by itself at its halt height (v0.47 and older) exited gracefully
/// (0, or 130/143 from its own halt signal on v0.46 and older) while armed, and we saw it commit
/// at least the block before its halt height: it halted. (The exit can outrun our last look at
/// its height by one block; a panic exits with another code, and an operator's stop signal is
/// handled before we get here.)
fn exited_at_halt(k: &Known, exit: ExitKind) -> Option<SwapTarget> {
    let armed = k.armed.as_ref()?;
    let HaltMethod::HaltHeightFlag { flag } = armed.method else {
        return None;
    };
    let sdk = k.sdk_version?;
    let c = k.committed?;
    // Still armed: not applied, and not displaced by a plan at the same height.
    if next_manual(k).is_none_or(|m| *m != armed.upgrade) {
        return None;
    }
    (exit != ExitKind::Failure
        && sdk.exits_at_halt_height()
        && c >= flag - 1
        && flag == armed.upgrade.height - 1)
        .then(|| SwapTarget {
            name: armed.upgrade.name.clone(),
            height: armed.upgrade.height,
            source: UpgradeKind::Manual,
            info: String::new(),
        })
}

/// Decides what a node exit means.
pub fn on_exit(k: &Known, exit: ExitKind) -> ExitDecision {
    if let Some(Ok(t)) = halt_file_swap(k) {
        return ExitDecision::Swap(t);
    }
    if let Some(t) = manual_swap(k) {
        return ExitDecision::Swap(t);
    }
    if let Some(t) = exited_at_halt(k, exit) {
        return ExitDecision::Swap(t);
    }
    match exit {
        ExitKind::Success => ExitDecision::Finish,
        ExitKind::SignalShutdown | ExitKind::Failure => ExitDecision::Crash,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn n(s: &str) -> UpgradeName {
        UpgradeName::parse(s, false).unwrap()
    }

    fn known() -> Known {
        Known {
            current: Current::Genesis,
            applied: BTreeMap::new(),
            halt_file: None,
            manual: vec![],
            plan: None,
            plan_known: false,
            committed: None,
            sdk_version: None,
            armed: None,
        }
    }

    fn file(name: &str, h: i64) -> Option<UpgradeInfo> {
        Some(UpgradeInfo {
            name: n(name),
            height: h,
            info: String::new(),
        })
    }

    #[test]
    fn start_swaps_first_when_the_node_already_halted() {
        // Fresh start, nothing known about the chain: the node writes this file only at the halt.
        let k = Known {
            halt_file: file("v2", 100),
            ..known()
        };
        assert!(
            matches!(on_start(&k), StartDecision::SwapFirst(t) if t.name == n("v2") && t.height == 100)
        );
        // The chain's plan is v2 at 100 and our last look is a few blocks behind (block sync).
        let k = Known {
            halt_file: file("v2", 100),
            committed: Some(60),
            plan: Some(ScheduledPlan {
                name: n("v2"),
                height: 100,
            }),
            plan_known: true,
            ..known()
        };
        assert!(matches!(on_start(&k), StartDecision::SwapFirst(_)));
    }

    #[test]
    fn a_file_far_ahead_of_the_node_is_not_a_halt() {
        // E.g. written by hand, or by cosmovisor's add-upgrade, for a height still to come.
        let k = Known {
            halt_file: file("v2", 5000),
            committed: Some(100),
            plan_known: true,
            ..known()
        };
        assert_eq!(on_start(&k), StartDecision::Start { halt: None });
        assert!(matches!(
            while_running(&k),
            RunningDecision::WaitForHeight { height: 5000, .. }
        ));
        assert_eq!(on_exit(&k, ExitKind::Failure), ExitDecision::Crash);
    }

    #[test]
    fn a_missed_manual_upgrade_is_never_swapped_to() {
        let m = ManualUpgrade {
            name: n("fix"),
            height: 100,
        };
        let k = Known {
            manual: vec![m.clone()],
            committed: Some(150),
            ..known()
        };
        assert_eq!(while_running(&k), RunningDecision::Continue);
        assert_eq!(on_start(&k), StartDecision::Start { halt: None });
        assert_eq!(missed_manual(&k), vec![&m]);
    }

    #[test]
    fn start_ignores_an_applied_upgrade_file() {
        let k = Known {
            halt_file: file("v2", 100),
            current: Current::Upgrade(n("v2")),
            ..known()
        };
        assert_eq!(on_start(&k), StartDecision::Start { halt: None });
        let k = Known {
            halt_file: file("v2", 100),
            applied: BTreeMap::from([(n("v2"), 100)]),
            current: Current::Upgrade(n("v3")),
            ..known()
        };
        assert_eq!(on_start(&k), StartDecision::Start { halt: None });
    }

    #[test]
    fn start_arms_the_lowest_manual_upgrade_with_the_right_flag() {
        let k = Known {
            manual: vec![
                ManualUpgrade {
                    name: n("b"),
                    height: 300,
                },
                ManualUpgrade {
                    name: n("a"),
                    height: 200,
                },
            ],
            sdk_version: SdkVersion::parse("v0.47.3"),
            ..known()
        };
        let StartDecision::Start { halt: Some(h) } = on_start(&k) else {
            panic!()
        };
        assert_eq!(h.upgrade.name, n("a"));
        assert_eq!(h.method, HaltMethod::HaltHeightFlag { flag: 199 });
    }

    #[test]
    fn running_waits_until_the_node_reaches_the_file_height() {
        let mut k = Known {
            halt_file: file("v2", 100),
            committed: Some(50),
            ..known()
        };
        assert!(matches!(
            while_running(&k),
            RunningDecision::WaitForHeight { .. }
        ));
        k.committed = Some(99);
        assert!(matches!(while_running(&k), RunningDecision::StopAndSwap(_)));
    }

    #[test]
    fn exit_without_upgrade_is_finish_or_crash() {
        assert_eq!(on_exit(&known(), ExitKind::Success), ExitDecision::Finish);
        assert_eq!(on_exit(&known(), ExitKind::Failure), ExitDecision::Crash);
        let k = Known {
            halt_file: file("v2", 10),
            ..known()
        };
        assert!(matches!(
            on_exit(&k, ExitKind::Failure),
            ExitDecision::Swap(_)
        ));
    }

    #[test]
    fn a_v047_node_that_exits_cleanly_at_its_halt_height_is_swapped() {
        let m = ManualUpgrade {
            name: n("fix"),
            height: 100,
        };
        let sdk = SdkVersion::parse("v0.47.17");
        let armed = Some(ArmedHalt {
            upgrade: m.clone(),
            method: HaltMethod::for_target(100, sdk),
        });
        let k = Known {
            manual: vec![m],
            sdk_version: sdk,
            armed,
            committed: Some(98), // our last look lagged one block behind the halt at 99
            ..known()
        };
        assert!(matches!(on_exit(&k, ExitKind::Success), ExitDecision::Swap(t) if t.height == 100));
        // v0.46 and older exit with 128 + the signal they sent themselves.
        assert!(matches!(
            on_exit(&k, ExitKind::from_code(143)),
            ExitDecision::Swap(_)
        ));
        assert!(matches!(
            on_exit(&k, ExitKind::from_code(130)),
            ExitDecision::Swap(_)
        ));
        // A crash is a crash, and an exit far below the halt height is not the halt.
        assert_eq!(on_exit(&k, ExitKind::from_code(2)), ExitDecision::Crash);
        let early = Known {
            committed: Some(50),
            ..k.clone()
        };
        assert_eq!(on_exit(&early, ExitKind::Success), ExitDecision::Finish);
        // v0.50.10+ never exits at its halt height: a clean exit is just a clean exit.
        let newer = Known {
            sdk_version: SdkVersion::parse("v0.50.10"),
            ..k
        };
        assert_eq!(on_exit(&newer, ExitKind::Success), ExitDecision::Finish);
    }

    #[test]
    fn plan_at_a_manual_height_wins() {
        let k = Known {
            manual: vec![ManualUpgrade {
                name: n("fix"),
                height: 100,
            }],
            plan: Some(ScheduledPlan {
                name: n("gov"),
                height: 100,
            }),
            committed: Some(99),
            ..known()
        };
        assert_eq!(while_running(&k), RunningDecision::Continue);
    }

    fn arb_known() -> impl Strategy<Value = Known> {
        (
            proptest::option::of(1i64..500),
            proptest::option::of(1i64..500),
            proptest::collection::vec(1i64..500, 0..4),
            any::<bool>(),
            proptest::option::of(0u64..60),
            (
                any::<bool>(),
                proptest::option::of(1i64..500),
                any::<bool>(),
            ),
        )
            .prop_map(
                |(
                    file_h,
                    committed,
                    manual_hs,
                    applied_v2,
                    minor,
                    (plan_known, plan_h, plan_is_file),
                )| {
                    let mut manual: Vec<ManualUpgrade> = Vec::new();
                    for (i, h) in manual_hs.into_iter().enumerate() {
                        if manual.iter().all(|m| m.height != h) {
                            manual.push(ManualUpgrade {
                                name: n(&format!("m{i}")),
                                height: h,
                            });
                        }
                    }
                    let mut k = Known {
                        current: Current::Genesis,
                        applied: if applied_v2 {
                            BTreeMap::from([(n("v2"), 0)])
                        } else {
                            BTreeMap::new()
                        },
                        halt_file: file_h.and_then(|h| file("v2", h)),
                        manual,
                        plan: match (plan_known, plan_is_file, file_h, plan_h) {
                            (true, true, Some(h), _) => Some(ScheduledPlan {
                                name: n("v2"),
                                height: h,
                            }),
                            (true, false, _, Some(h)) => Some(ScheduledPlan {
                                name: n("other"),
                                height: h,
                            }),
                            _ => None,
                        },
                        plan_known,
                        committed,
                        sdk_version: minor.map(|m| SdkVersion {
                            major: 0,
                            minor: m,
                            patch: 10,
                        }),
                        armed: None,
                    };
                    // The node runs armed the way the supervisor would have started it.
                    if let StartDecision::Start { halt } = on_start(&k) {
                        k.armed = halt;
                    }
                    k
                },
            )
    }

    fn target_height(k: &Known, t: &SwapTarget) -> i64 {
        match t.source {
            UpgradeKind::Plan => k.halt_file.as_ref().unwrap().height,
            UpgradeKind::Manual => k.manual.iter().find(|m| m.name == t.name).unwrap().height,
        }
    }

    proptest! {
        /// Never switch before the node reached the plan height.
        #[test]
        fn never_swaps_while_running_before_height(k in arb_known()) {
            if let RunningDecision::StopAndSwap(t) = while_running(&k) {
                prop_assert_eq!(t.height, target_height(&k, &t));
                match t.source {
                    // The node reached H (observed), or the file names the chain's own plan and
                    // our view lags by at most MAX_HEIGHT_LAG, or nothing is known at all.
                    UpgradeKind::Plan => {
                        let is_plan = k.plan.as_ref().is_some_and(|p| p.name == t.name && p.height == t.height);
                        let evidence = match k.committed {
                            Some(c) => c >= t.height - 1 || (is_plan && c >= t.height - 1 - MAX_HEIGHT_LAG),
                            None => !k.plan_known || is_plan,
                        };
                        prop_assert!(evidence);
                    }
                    // A manual upgrade needs a committed height of exactly H-1.
                    UpgradeKind::Manual => prop_assert_eq!(k.committed.unwrap(), t.height - 1),
                }
            }
        }

        /// A manual swap on exit needs a clean exit of a node that halts by exiting, seen within
        /// one block of its halt height — or the halt height itself committed.
        #[test]
        fn exit_swaps_only_at_the_halt(k in arb_known(), success in any::<bool>()) {
            let exit = if success { ExitKind::Success } else { ExitKind::Failure };
            let success = exit != ExitKind::Failure;
            if let ExitDecision::Swap(t) = on_exit(&k, exit) {
                if t.source == UpgradeKind::Manual {
                    let c = k.committed.unwrap();
                    prop_assert!(c >= t.height - 1 || (success && c >= t.height - 2 && k.sdk_version.unwrap().exits_at_halt_height()));
                }
            }
        }

        /// Never start the old binary for a height at or past an unapplied plan it halted for:
        /// with a halt file for an unapplied upgrade, the old binary is started only when the
        /// evidence says the node has not reached it.
        #[test]
        fn never_restarts_old_binary_into_a_halt(k in arb_known()) {
            if let Some(f) = k.halt_file.as_ref().filter(|f| !k.applied.contains_key(&f.name)) {
                if !matches!(on_start(&k), StartDecision::SwapFirst(_)) {
                    let is_plan = k.plan.as_ref().is_some_and(|p| p.name == f.name && p.height == f.height);
                    let c = k.committed;
                    prop_assert!(c.is_some() || (k.plan_known && !is_plan));
                    prop_assert!(c.is_none_or(|c| c < f.height - 1 && !(is_plan && c >= f.height - 1 - MAX_HEIGHT_LAG)));
                }
            }
        }

        /// A started node is always armed for the lowest pending manual upgrade, and the flag
        /// never lets it commit that height.
        #[test]
        fn armed_halt_never_lets_old_binary_commit_target(k in arb_known()) {
            if let StartDecision::Start { halt: Some(h) } = on_start(&k) {
                let lowest = k.manual.iter().map(|m| m.height).min().unwrap();
                prop_assert_eq!(h.upgrade.height, lowest);
                prop_assert!(k.committed.is_none_or(|c| c < h.upgrade.height));
                match h.method {
                    HaltMethod::HaltHeightFlag { flag } => {
                        let commits_flag = k.sdk_version.unwrap().commits_halt_height();
                        let last_committed = if commits_flag { flag } else { flag - 1 };
                        prop_assert_eq!(last_committed, h.upgrade.height - 1);
                    }
                    HaltMethod::OnNewBlock { stop_after } => {
                        prop_assert!(k.sdk_version.is_none());
                        prop_assert_eq!(stop_after, h.upgrade.height - 1);
                    }
                }
            }
        }
    }
}
