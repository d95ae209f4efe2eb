//! Unit and property tests of the decisions. The end-to-end invariant ("the old binary never
//! commits H, the new one never starts before H") is also checked against a simulated node in
//! `crates/core/tests/swap_simulation.rs`.
//!
//! Proves invariant 1 of docs/invariants.md.

use super::*;
use crate::heights::HeightSample;
use proptest::prelude::*;

fn n(s: &str) -> UpgradeName {
    UpgradeName::parse(s, false).unwrap()
}

fn m(name: &str, h: i64) -> ManualUpgrade {
    ManualUpgrade {
        name: n(name),
        height: h,
    }
}

fn file(name: &str, h: i64) -> Option<UpgradeInfo> {
    Some(UpgradeInfo {
        name: n(name),
        height: h,
        info: String::new(),
    })
}

fn plan(name: &str, h: i64) -> Option<ScheduledPlan> {
    Some(ScheduledPlan {
        name: n(name),
        height: h,
    })
}

fn armed(up: &ManualUpgrade, behaviour: Option<HaltBehaviour>) -> Option<ArmedHalt> {
    Some(ArmedHalt {
        upgrade: up.clone(),
        halt: HaltFlag::for_target(up.height, behaviour),
    })
}

fn swap_target(d: StartDecision) -> Option<SwapTarget> {
    match d {
        StartDecision::SwapFirst(t) => Some(t),
        StartDecision::Start { .. } => None,
    }
}

#[test]
fn start_swaps_first_when_the_node_already_halted() {
    // Fresh start, nothing known about the chain: the node writes this file only at the halt.
    let k = Known {
        halt_file: file("v2", 100),
        ..Known::default()
    };
    let t = swap_target(on_start(&k)).unwrap();
    assert_eq!(
        (t.name, t.height, t.kind),
        (n("v2"), 100, UpgradeKind::Plan)
    );
    // The chain's plan is v2 at 100 and our last look is a few blocks behind (block sync).
    let k = Known {
        halt_file: file("v2", 100),
        committed: Some(60),
        plan: plan("v2", 100),
        plan_known: true,
        ..Known::default()
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
        ..Known::default()
    };
    assert_eq!(on_start(&k), StartDecision::Start { halt: None });
    assert!(matches!(
        while_running(&k),
        RunningDecision::WaitForHeight { height: 5000, .. }
    ));
    assert_eq!(on_exit(&k, ExitKind::Failure), ExitDecision::Crash);
}

#[test]
fn a_skipped_plan_height_starts_the_old_binary_and_never_swaps() {
    let k = Known {
        halt_file: file("v2", 100),
        committed: Some(99),
        plan: plan("v2", 100),
        plan_known: true,
        skip_heights: BTreeSet::from([100]),
        ..Known::default()
    };
    assert_eq!(on_start(&k), StartDecision::Start { halt: None });
    assert_eq!(while_running(&k), RunningDecision::Continue);
    assert_eq!(on_exit(&k, ExitKind::Failure), ExitDecision::Crash);
    assert_eq!(skipped_halt(&k).map(|i| i.height), Some(100));
    // Another height in the list does not skip this one.
    let other = Known {
        skip_heights: BTreeSet::from([99, 101]),
        ..k
    };
    assert!(matches!(on_start(&other), StartDecision::SwapFirst(_)));
    assert_eq!(skipped_halt(&other), None);
}

#[test]
fn a_missed_manual_upgrade_is_never_swapped_to() {
    let fix = m("fix", 100);
    let k = Known {
        manual: vec![fix.clone()],
        committed: Some(150),
        ..Known::default()
    };
    assert_eq!(while_running(&k), RunningDecision::Continue);
    assert_eq!(on_start(&k), StartDecision::Start { halt: None });
    assert_eq!(missed_manual(&k), vec![&fix]);
}

#[test]
fn start_ignores_an_applied_upgrade_file() {
    let k = Known {
        halt_file: file("v2", 100),
        current: Current::Upgrade(n("v2")),
        ..Known::default()
    };
    assert_eq!(on_start(&k), StartDecision::Start { halt: None });
    let k = Known {
        halt_file: file("v2", 100),
        applied: BTreeMap::from([(n("v2"), 100)]),
        current: Current::Upgrade(n("v3")),
        ..Known::default()
    };
    assert_eq!(on_start(&k), StartDecision::Start { halt: None });
}

#[test]
fn start_arms_the_lowest_manual_upgrade_with_the_flag_its_behaviour_calls_for() {
    let k = Known {
        manual: vec![m("b", 300), m("a", 200)],
        halt_behaviour: Some(HaltBehaviour::CommitsThenExits),
        ..Known::default()
    };
    let StartDecision::Start { halt: Some(h) } = on_start(&k) else {
        panic!("expected an armed start")
    };
    assert_eq!(h.upgrade.name, n("a"));
    assert_eq!(h.halt.flag, 199);
    let newer = Known {
        halt_behaviour: Some(HaltBehaviour::StopsBefore),
        ..k.clone()
    };
    assert_eq!(desired_halt(&newer).unwrap().halt.flag, 200);
    // Unknown behaviour: the probe, H-1.
    let unknown = Known {
        halt_behaviour: None,
        ..k
    };
    let h = desired_halt(&unknown).unwrap();
    assert!(h.halt.is_probe());
    assert_eq!(h.halt.flag, 199);
}

#[test]
fn running_waits_until_the_node_reaches_the_file_height() {
    let mut k = Known {
        halt_file: file("v2", 100),
        committed: Some(50),
        ..Known::default()
    };
    assert!(matches!(
        while_running(&k),
        RunningDecision::WaitForHeight { .. }
    ));
    k.committed = Some(99);
    assert!(matches!(
        while_running(&k),
        RunningDecision::StopAndSwap { .. }
    ));
}

#[test]
fn exit_without_upgrade_is_finish_or_crash() {
    let k = Known::default();
    assert_eq!(on_exit(&k, ExitKind::Success), ExitDecision::Finish);
    assert_eq!(on_exit(&k, ExitKind::Failure), ExitDecision::Crash);
    assert_eq!(on_exit(&k, ExitKind::SignalShutdown), ExitDecision::Crash);
    let k = Known {
        halt_file: file("v2", 10),
        ..Known::default()
    };
    assert!(matches!(
        on_exit(&k, ExitKind::Failure),
        ExitDecision::Swap { .. }
    ));
}

#[test]
fn a_node_that_exits_at_its_halt_height_is_swapped() {
    let fix = m("fix", 100);
    let b = Some(HaltBehaviour::CommitsThenExits);
    let k = Known {
        manual: vec![fix.clone()],
        halt_behaviour: b,
        armed: armed(&fix, b),
        committed: Some(98), // our last look lagged one block behind the halt at 99
        last_seen_ms: Some(1_000),
        now_ms: 1_500,
        average_block_ms: Some(1_000),
        ..Known::default()
    };
    let swap = |k: &Known, e| matches!(on_exit(k, e), ExitDecision::Swap { target, .. } if target.height == 100);
    assert!(swap(&k, ExitKind::Success));
    // v0.46 and older exit with 128 + the signal they sent themselves.
    assert!(swap(&k, ExitKind::from_code(143)));
    assert!(swap(&k, ExitKind::from_code(130)));
    // A crash is a crash.
    assert_eq!(on_exit(&k, ExitKind::from_code(2)), ExitDecision::Crash);
    // A recent look far below the halt height shows the exit was not the halt.
    let early = Known {
        committed: Some(50),
        ..k.clone()
    };
    assert_eq!(on_exit(&early, ExitKind::Success), ExitDecision::Finish);
    // Fast blocks: a look 5 blocks behind, 2 s ago with 1 s blocks, may well have been the halt.
    let lagging = Known {
        committed: Some(94),
        last_seen_ms: Some(1_000),
        now_ms: 3_000,
        ..k.clone()
    };
    assert!(swap(&lagging, ExitKind::Success));
    // No height ever seen (RPC unreachable, or the chain not watched): the exit is the halt;
    // starting the old binary again would let it run block 100.
    let blind = Known {
        committed: None,
        last_seen_ms: None,
        ..k.clone()
    };
    assert!(swap(&blind, ExitKind::Success));
    // An old look far below: stale, so the exit still counts.
    let stale = Known {
        committed: Some(50),
        last_seen_ms: Some(1_000),
        now_ms: 600_000,
        ..k.clone()
    };
    assert!(swap(&stale, ExitKind::Success));
    // A binary that never exits at its halt: a clean exit is just a clean exit.
    let waits = Some(HaltBehaviour::StopsBefore);
    let newer = Known {
        halt_behaviour: waits,
        armed: armed(&fix, waits),
        committed: None,
        ..k
    };
    assert_eq!(on_exit(&newer, ExitKind::Success), ExitDecision::Finish);
}

fn probing(committed: Option<i64>) -> Known {
    let fix = m("fix", 100);
    Known {
        manual: vec![fix.clone()],
        halt_behaviour: None,
        armed: armed(&fix, None),
        committed,
        last_seen_ms: committed.map(|_| 10_000),
        now_ms: 10_000,
        node_started_ms: Some(0),
        ..Known::default()
    }
}

#[test]
fn a_probe_that_commits_h_minus_1_swaps_and_learns_the_binary_commits_its_halt_height() {
    let k = probing(Some(99));
    assert_eq!(
        while_running(&k),
        RunningDecision::StopAndSwap {
            target: manual_target(&m("fix", 100)),
            learned: Some(HaltBehaviour::Commits),
        }
    );
    assert_eq!(rearm(&k), None);
}

#[test]
fn a_probe_that_exits_cleanly_at_its_halt_swaps_and_learns_the_binary_exits() {
    let k = probing(Some(98));
    assert_eq!(
        on_exit(&k, ExitKind::Success),
        ExitDecision::Swap {
            target: manual_target(&m("fix", 100)),
            learned: Some(HaltBehaviour::CommitsThenExits),
        }
    );
    assert_eq!(on_exit(&k, ExitKind::Failure), ExitDecision::Crash);
}

#[test]
fn a_probe_that_stops_before_its_halt_height_is_rearmed_with_h() {
    let mut k = probing(Some(98));
    // One early look at (store 99, app 98) is not yet evidence.
    k.samples.push(HeightSample {
        at_ms: 1_000,
        latest: 99,
        committed: 98,
    });
    assert_eq!(rearm(&k), None);
    assert_eq!(while_running(&k), RunningDecision::Continue);
    for at_ms in [3_000, 6_500] {
        k.samples.push(HeightSample {
            at_ms,
            latest: 99,
            committed: 98,
        });
    }
    let r = rearm(&k).expect("stopped before 99: rearm with 100");
    assert_eq!(r.why, RearmReason::ProbeStoppedBefore);
    assert_eq!(r.learned, Some(HaltBehaviour::StopsBefore));
    let h = r.halt.unwrap();
    assert_eq!((h.upgrade.height, h.halt.flag), (100, 100));
    assert!(!h.halt.is_probe());
    // Once restarted with 100 and that learned, the flag matches: no further rearm; H-1
    // committed then swaps.
    let k = Known {
        halt_behaviour: Some(HaltBehaviour::StopsBefore),
        armed: Some(h),
        samples: HeightHistory::new(),
        committed: Some(99),
        ..k
    };
    assert_eq!(rearm(&k), None);
    assert!(matches!(
        while_running(&k),
        RunningDecision::StopAndSwap { learned: None, .. }
    ));
}

#[test]
fn the_schedule_changing_rearms_the_node_once() {
    let fix = m("fix", 100);
    let b = Some(HaltBehaviour::StopsBefore);
    let k = Known {
        manual: vec![fix.clone()],
        halt_behaviour: b,
        committed: Some(40),
        ..Known::default()
    };
    // Added while the node runs unarmed.
    let r = rearm(&k).unwrap();
    assert_eq!(r.why, RearmReason::ScheduleChanged);
    assert_eq!(r.halt.as_ref().map(|h| h.halt.flag), Some(100));
    // Armed as desired: nothing.
    let k = Known {
        armed: armed(&fix, b),
        ..k
    };
    assert_eq!(rearm(&k), None);
    // A plan appears at the same height: the manual upgrade is displaced, the flag removed.
    let k = Known {
        plan: plan("gov", 100),
        plan_known: true,
        ..k
    };
    assert_eq!(
        rearm(&k),
        Some(Rearm {
            halt: None,
            why: RearmReason::ScheduleChanged,
            learned: None
        })
    );
}

#[test]
fn plan_at_a_manual_height_wins() {
    let k = Known {
        manual: vec![m("fix", 100)],
        plan: plan("gov", 100),
        committed: Some(99),
        ..Known::default()
    };
    assert_eq!(while_running(&k), RunningDecision::Continue);
}

#[test]
fn a_node_whose_height_cannot_be_seen_is_reported_then_given_up_on_once_overdue() {
    let fix = m("fix", 100);
    let b = Some(HaltBehaviour::StopsBefore);
    let base = Known {
        manual: vec![fix.clone()],
        halt_behaviour: b,
        armed: armed(&fix, b),
        node_started_ms: Some(0),
        ..Known::default()
    };
    // Just started: fine.
    assert_eq!(
        height_watch(&Known {
            now_ms: 10_000,
            ..base.clone()
        }),
        HeightWatch::Fine
    );
    // Never seen for longer than BLIND_AFTER_MS: blind, and never overdue (nothing to go by).
    let never = Known {
        now_ms: DEFAULT_BLIND_AFTER_MS + 1,
        ..base.clone()
    };
    assert_eq!(
        height_watch(&never),
        HeightWatch::Blind {
            height: 100,
            exit_is_the_halt: false,
        }
    );
    let much_later = Known {
        now_ms: 100 * 3_600_000,
        ..base.clone()
    };
    assert_eq!(
        height_watch(&much_later),
        HeightWatch::Blind {
            height: 100,
            exit_is_the_halt: false,
        }
    );
    // Seen at 90 (1 s blocks) at t=1 s, then dark: due at ~10 s; overdue after the grace.
    let seen = Known {
        committed: Some(90),
        last_seen_ms: Some(1_000),
        average_block_ms: Some(1_000),
        ..base.clone()
    };
    let at = |now_ms| {
        height_watch(&Known {
            now_ms,
            ..seen.clone()
        })
    };
    assert_eq!(at(20_000), HeightWatch::Fine);
    assert_eq!(
        at(40_000),
        HeightWatch::Blind {
            height: 100,
            exit_is_the_halt: false,
        }
    );
    assert_eq!(
        at(10_000 + OVERDUE_FACTOR * DEFAULT_BLIND_AFTER_MS + 1),
        HeightWatch::Overdue { height: 100 }
    );
    // The chain's block time not known yet: the rate the heights were seen arriving at serves.
    let mut samples = HeightHistory::new();
    for (at_ms, h) in [(0, 80), (5_000, 85), (10_000, 90)] {
        samples.push(HeightSample {
            at_ms,
            latest: h + 1,
            committed: h,
        });
    }
    let seen_only = Known {
        average_block_ms: None,
        last_seen_ms: Some(10_000),
        samples,
        ..seen.clone()
    };
    assert_eq!(
        height_watch(&Known {
            now_ms: 20_000 + OVERDUE_FACTOR * DEFAULT_BLIND_AFTER_MS + 1,
            ..seen_only.clone()
        }),
        HeightWatch::Overdue { height: 100 }
    );
    assert_eq!(
        height_watch(&Known {
            now_ms: 19_000 + OVERDUE_FACTOR * DEFAULT_BLIND_AFTER_MS,
            ..seen_only
        }),
        HeightWatch::Blind {
            height: 100,
            exit_is_the_halt: false,
        }
    );
    // Nothing armed: nothing to time.
    assert_eq!(
        height_watch(&Known {
            armed: None,
            now_ms: u64::MAX,
            ..seen
        }),
        HeightWatch::Fine
    );
}

fn arb_behaviour() -> impl Strategy<Value = Option<HaltBehaviour>> {
    proptest::option::of(prop_oneof![
        Just(HaltBehaviour::CommitsThenExits),
        Just(HaltBehaviour::CommitsThenWaits),
        Just(HaltBehaviour::Commits),
        Just(HaltBehaviour::StopsBefore),
    ])
}

fn arb_exit() -> impl Strategy<Value = ExitKind> {
    prop_oneof![
        Just(ExitKind::Success),
        Just(ExitKind::SignalShutdown),
        Just(ExitKind::Failure)
    ]
}

fn arb_current() -> impl Strategy<Value = Current> {
    prop_oneof![
        Just(Current::Genesis),
        Just(Current::Upgrade(n("v2"))),
        Just(Current::Upgrade(n("m0"))),
        Just(Current::Upgrade(n("other"))),
    ]
}

prop_compose! {
    fn arb_known()(
        current in arb_current(),
        file_h in proptest::option::of(1i64..500),
        committed in proptest::option::of(0i64..500),
        manual_hs in proptest::collection::vec(1i64..500, 0..4),
        applied_v2 in any::<bool>(),
        behaviour in arb_behaviour(),
        plan_known in any::<bool>(),
        plan_h in proptest::option::of(1i64..500),
        plan_is_file in any::<bool>(),
        skip in proptest::collection::btree_set(1i64..500, 0..3),
        seen in proptest::option::of(0u64..100_000),
        now in 0u64..200_000,
    ) -> Known {
        let mut manual: Vec<ManualUpgrade> = Vec::new();
        for (i, h) in manual_hs.into_iter().enumerate() {
            if manual.iter().all(|x| x.height != h) {
                manual.push(m(&format!("m{i}"), h));
            }
        }
        let mut k = Known {
            current,
            applied: if applied_v2 { BTreeMap::from([(n("v2"), 0)]) } else { BTreeMap::new() },
            halt_file: file_h.and_then(|h| file("v2", h)),
            manual,
            plan: match (plan_known, plan_is_file, file_h, plan_h) {
                (true, true, Some(h), _) => plan("v2", h),
                (true, false, _, Some(h)) => plan("other", h),
                _ => None,
            },
            plan_known,
            committed,
            last_seen_ms: seen,
            now_ms: now.max(seen.unwrap_or(0)),
            average_block_ms: Some(1_000),
            halt_behaviour: behaviour,
            skip_heights: skip,
            node_started_ms: Some(0),
            ..Known::default()
        };
        // The node runs armed the way the supervisor would have started it.
        if let StartDecision::Start { halt } = on_start(&k) {
            k.armed = halt;
        }
        k
    }
}

proptest! {
    /// A plan swap needs the evidence rule (the node reached H, or the file names the chain's
    /// own plan within the lag, or nothing is known at all), never at a skipped height; a manual
    /// swap needs exactly H-1 committed.
    #[test]
    fn never_swaps_while_running_before_the_evidence(k in arb_known()) {
        if let RunningDecision::StopAndSwap { target: t, .. } = while_running(&k) {
            match t.kind {
                UpgradeKind::Plan => {
                    let f = k.halt_file.as_ref().unwrap();
                    prop_assert_eq!((&t.name, t.height), (&f.name, f.height));
                    prop_assert!(!k.skip_heights.contains(&t.height));
                    let is_plan = k.plan.as_ref().is_some_and(|p| p.name == t.name && p.height == t.height);
                    let evidence = match k.committed {
                        Some(c) => c >= t.height - 1 || (is_plan && c >= t.height - 1 - MAX_HEIGHT_LAG),
                        None => !k.plan_known || is_plan,
                    };
                    prop_assert!(evidence);
                }
                UpgradeKind::Manual => {
                    prop_assert!(k.manual.iter().any(|x| x.name == t.name && x.height == t.height));
                    prop_assert_eq!(k.committed, Some(t.height - 1));
                }
            }
        }
    }

    /// A manual swap on exit needs H-1 committed, or a graceful exit of a node that may exit at
    /// its halt (known to, or being probed) with no recent height showing it was below.
    #[test]
    fn exit_swaps_only_at_the_halt(k in arb_known(), exit in arb_exit()) {
        if let ExitDecision::Swap { target: t, learned } = on_exit(&k, exit) {
            if t.kind == UpgradeKind::Manual {
                let at_h1 = k.committed == Some(t.height - 1);
                let a = k.armed.as_ref();
                let may_exit = a.is_some_and(|a| a.halt.is_probe()
                    || a.halt.behaviour == Some(HaltBehaviour::CommitsThenExits));
                // Stated from the definition: the last look, plus the most blocks that could
                // have come since (at twice the average rate) and two of slack, is below the flag.
                let contradicted = match (k.committed, k.last_seen_ms, k.average_block_ms, a) {
                    (Some(c), Some(t), Some(avg), Some(a)) => {
                        let since = (k.now_ms - t) as i64;
                        c + since / (avg as i64 / 2).max(1) + 2 < a.halt.flag
                    }
                    _ => false,
                };
                prop_assert!(at_h1 || (exit != ExitKind::Failure && may_exit && !contradicted));
                if learned.is_some() {
                    prop_assert!(a.is_some_and(|a| a.halt.is_probe()));
                }
            }
        }
    }

    /// Never start the old binary for a height at or past an unapplied plan it halted for:
    /// with a halt file for an unapplied, unskipped upgrade, the old binary is started only when
    /// the evidence says the node has not reached it.
    #[test]
    fn never_restarts_old_binary_into_a_halt(k in arb_known()) {
        if let Some(f) = k.halt_file.as_ref().filter(|f| {
            !k.applied.contains_key(&f.name) && !k.current.is_upgrade(&f.name) && !k.skip_heights.contains(&f.height)
        }) {
            if !matches!(on_start(&k), StartDecision::SwapFirst(_)) {
                let is_plan = k.plan.as_ref().is_some_and(|p| p.name == f.name && p.height == f.height);
                prop_assert!(k.committed.is_some() || (k.plan_known && !is_plan));
                prop_assert!(k.committed.is_none_or(|c| c < f.height - 1 && !(is_plan && c >= f.height - 1 - MAX_HEIGHT_LAG)));
            }
        }
    }

    /// A started node is armed for the lowest pending manual upgrade it has not passed, and
    /// whatever the binary's real behaviour (known or not), the flag never lets it commit that
    /// height.
    #[test]
    fn armed_halt_never_lets_old_binary_commit_target(k in arb_known(), real in arb_behaviour()) {
        if let StartDecision::Start { halt: Some(h) } = on_start(&k) {
            let lowest = armed_manual(&k.manual, &k.applied, k.plan.as_ref())[0].height;
            prop_assert_eq!(h.upgrade.height, lowest);
            prop_assert!(k.committed.is_none_or(|c| c < h.upgrade.height));
            // The binary behaves as known, or (when not known) as anything at all.
            let real = k.halt_behaviour.or(real).unwrap_or(HaltBehaviour::Commits);
            let last = if real.commits_halt_height() { h.halt.flag } else { h.halt.flag - 1 };
            prop_assert!(last < h.upgrade.height);
            if k.halt_behaviour.is_some() {
                prop_assert_eq!(last, h.upgrade.height - 1);
            }
        }
    }

    /// A rearm never moves the flag to H unless the binary is known (or was just shown) to stop
    /// before its halt height.
    #[test]
    fn rearm_never_lets_a_committing_binary_reach_h(k in arb_known()) {
        if let Some(Rearm { halt: Some(h), learned, .. }) = rearm(&k) {
            let b = learned.or(k.halt_behaviour);
            if h.halt.flag >= h.upgrade.height {
                prop_assert_eq!(b, Some(HaltBehaviour::StopsBefore));
            }
        }
    }
}

#[test]
fn an_upgrade_the_node_already_runs_is_not_pending() {
    // The halt of v2 at 12, before the swap: pending.
    let at_halt = Known {
        halt_file: file("v2", 12),
        plan: plan("v2", 12),
        committed: Some(11),
        ..Known::default()
    };
    assert_eq!(pending_upgrade_height(&at_halt), Some(12));
    // After the swap `current` runs v2 and the SDK left its file on disk: not pending.
    let upgraded = Known {
        current: Current::Upgrade(n("v2")),
        committed: Some(30),
        ..at_halt.clone()
    };
    assert_eq!(pending_upgrade_height(&upgraded), None);
    // After a restart of switchyard on a node that upgraded long ago (the journal knows, and
    // `current` may since have moved on by a manual upgrade).
    let long_ago = Known {
        current: Current::Upgrade(n("m3")),
        applied: [(n("v2"), 12), (n("m3"), 20)].into_iter().collect(),
        halt_file: file("v2", 12),
        plan: None,
        committed: Some(500),
        ..Known::default()
    };
    assert_eq!(pending_upgrade_height(&long_ago), None);
    // The old file is passed over for the chain's next plan.
    let next = Known {
        plan: plan("v4", 900),
        ..long_ago.clone()
    };
    assert_eq!(pending_upgrade_height(&next), Some(900));
    // A height the node skips (`--unsafe-skip-upgrades`) is not a halt.
    let skipped = Known {
        skip_heights: [900].into_iter().collect(),
        ..next
    };
    assert_eq!(pending_upgrade_height(&skipped), None);
}

#[test]
fn the_next_halt_is_the_nearer_of_the_pending_plan_and_the_next_manual_upgrade() {
    let none = Known {
        committed: Some(10),
        ..Known::default()
    };
    assert_eq!(next_halt_height(&none), None);
    let with_plan = Known {
        plan: plan("v2", 100),
        ..none.clone()
    };
    assert_eq!(next_halt_height(&with_plan), Some(100));
    let with_manual = Known {
        manual: vec![m("fix", 40)],
        ..with_plan.clone()
    };
    assert_eq!(next_halt_height(&with_manual), Some(40));
    // applied already: only the plan is left
    let applied = Known {
        applied: [(n("fix"), 40)].into_iter().collect(),
        committed: Some(50),
        ..with_manual
    };
    assert_eq!(next_halt_height(&applied), Some(100));
    // an upgrade `current` runs is no halt to come
    let ran = Known {
        current: Current::Upgrade(n("v2")),
        committed: Some(120),
        ..with_plan
    };
    assert_eq!(next_halt_height(&ran), None);
}

#[test]
fn a_halt_is_near_within_thirty_blocks() {
    let k = |committed| Known {
        plan: plan("v2", 100),
        committed,
        ..Known::default()
    };
    assert!(!halt_is_near(&k(Some(69))));
    assert!(halt_is_near(&k(Some(70))));
    assert!(halt_is_near(&k(None)));
    assert!(!halt_is_near(&Known::default()));
}

#[test]
fn the_halt_file_is_watched_closely_unless_the_plan_is_known_and_no_halt_is_near() {
    let known = |plan_known, plan, committed, manual| Known {
        plan_known,
        plan,
        committed,
        manual,
        ..Known::default()
    };
    // The plan not read yet (or no chain watch): a halt may come at any block.
    assert!(halt_file_may_come(&known(false, None, Some(10), vec![])));
    // Read, and none: the node writes the file only at a plan's height.
    assert!(!halt_file_may_come(&known(true, None, Some(10), vec![])));
    // A plan far away, then near.
    assert!(!halt_file_may_come(&known(
        true,
        plan("v2", 100),
        Some(69),
        vec![]
    )));
    assert!(halt_file_may_come(&known(
        true,
        plan("v2", 100),
        Some(70),
        vec![]
    )));
    // A manual upgrade near counts too.
    assert!(halt_file_may_come(&known(
        true,
        None,
        Some(95),
        vec![m("fix", 100)]
    )));
}

#[test]
fn a_blind_node_that_stops_itself_at_its_halt_is_said_to_swap_on_its_exit() {
    let fix = m("fix", 100);
    let blind = |b: Option<HaltBehaviour>| {
        height_watch(&Known {
            manual: vec![fix.clone()],
            halt_behaviour: b,
            armed: armed(&fix, b),
            node_started_ms: Some(0),
            now_ms: DEFAULT_BLIND_AFTER_MS + 1,
            ..Known::default()
        })
    };
    let says = |exit_is_the_halt| HeightWatch::Blind {
        height: 100,
        exit_is_the_halt,
    };
    assert_eq!(blind(Some(HaltBehaviour::CommitsThenExits)), says(true));
    // unknown behaviour: armed with the probe flag, whose exit is taken as the halt
    assert_eq!(blind(None), says(true));
    // SDK v0.50 and later sit in consensus failure at the halt: no exit to go by
    assert_eq!(blind(Some(HaltBehaviour::StopsBefore)), says(false));
    assert_eq!(blind(Some(HaltBehaviour::CommitsThenWaits)), says(false));
}
