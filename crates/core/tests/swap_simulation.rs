//! The manual-upgrade invariant, stated independently of the decision code: a simulated node
//! (blocks stored, executed, committed; halting per its real `--halt-height` behaviour) is
//! supervised by the core's decisions, sampled the way the supervisor samples it (with RPC
//! outages, and `/abci_info` blocking while a block executes), and the history it leaves must
//! show:
//! - the old binary never commits the upgrade height H;
//! - the new binary starts only on a node whose last committed block is H-1;
//! - with the RPC answering, the swap happens (the supervisor does not wait forever).
//!
//! The node model follows docs/node-facts.md: a block is saved to the store, then executed
//! (the app's lock is held: `/abci_info` does not answer), then committed a moment later; the
//! halt check fails at `flag + 1` for binaries that commit their halt height and at `flag` for
//! those that stop before it; a binary of SDK v0.47 and older exits right after committing the
//! flag; a restarted node replays a stored-but-uncommitted block in its handshake (and exits if
//! that block is past its halt).
//!
//! Proves invariant 1 of docs/invariants.md.

use std::collections::BTreeMap;

use proptest::prelude::*;
use switchyard_core::{
    on_exit, on_start, rearm, while_running, ArmedHalt, Current, ExitDecision, ExitKind,
    HaltBehaviour, HeightHistory, HeightSample, Known, ManualUpgrade, RunningDecision,
    StartDecision, UpgradeName,
};

/// A tiny deterministic generator, seeded by proptest.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Waiting for the next block.
    Idle { next_at: u64 },
    /// Block `app + 1` is stored and executing (the app lock is held) until `until`.
    Executing { until: u64 },
    /// Executed, not yet committed (the lock is free) until `until`.
    Gap { until: u64 },
    /// Halted in consensus failure (block `app + 1` stored, never executed).
    Halted,
    /// Exited by itself at `at`.
    Exiting { at: u64 },
}

struct Node {
    flag: Option<i64>,
    old: bool,
    app: i64,
    store: i64,
    phase: Phase,
}

fn behaviour_from(i: u8) -> HaltBehaviour {
    match i % 4 {
        0 => HaltBehaviour::CommitsThenExits,
        1 => HaltBehaviour::CommitsThenWaits,
        2 => HaltBehaviour::Commits,
        _ => HaltBehaviour::StopsBefore,
    }
}

/// Whether the app refuses to execute block `n` with this flag.
fn halts_at(real: HaltBehaviour, flag: Option<i64>, n: i64) -> bool {
    match flag {
        None => false,
        Some(f) if real.commits_halt_height() => n > f,
        Some(f) => n >= f,
    }
}

#[derive(Debug)]
struct Outcome {
    swapped: bool,
    violation: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn simulate(
    seed: u64,
    real_i: u8,
    known: bool,
    block_ms: u64,
    start: i64,
    distance: i64,
    outage_pct: u64,
) -> Outcome {
    let mut rng = Rng(seed | 1);
    let real = behaviour_from(real_i);
    // A binary whose CommitsThenExits/Commits distinction is a label only behaves as one of
    // the real three.
    let real = if real == HaltBehaviour::Commits {
        HaltBehaviour::CommitsThenWaits
    } else {
        real
    };
    let h = start + distance;
    let fix = ManualUpgrade {
        name: UpgradeName::parse("fix", false).unwrap(),
        height: h,
    };
    let mut learned: Option<HaltBehaviour> = None;
    let mut k = Known {
        current: Current::Genesis,
        applied: BTreeMap::new(),
        manual: vec![fix],
        average_block_ms: Some(block_ms),
        ..Known::default()
    };
    let mut now = 0u64;
    let mut committed_seen: Option<i64> = None;
    let mut last_seen: Option<u64> = None;
    let fail = |s: String| Outcome {
        swapped: false,
        violation: Some(s),
    };

    // Starts the old binary (as on_start decides), with the handshake replay.
    let mut app = start;
    let mut store = start;
    let mut starts = 0;
    'process: loop {
        starts += 1;
        if starts > 20 {
            return Outcome {
                swapped: false,
                violation: None,
            };
        }
        k.halt_behaviour = if known { Some(real) } else { learned };
        k.committed = committed_seen;
        k.last_seen_ms = last_seen;
        k.now_ms = now;
        k.armed = None;
        k.samples = HeightHistory::new();
        let halt: Option<ArmedHalt> = match on_start(&k) {
            StartDecision::SwapFirst(t) => {
                return if app == t.height - 1 {
                    Outcome {
                        swapped: true,
                        violation: None,
                    }
                } else {
                    fail(format!("swap-first with the app at {app}, H={}", t.height))
                };
            }
            StartDecision::Start { halt } => halt,
        };
        let flag = halt.as_ref().map(|a| a.halt.flag);
        let mut node = Node {
            flag,
            old: true,
            app,
            store,
            phase: Phase::Idle {
                next_at: now + block_ms,
            },
        };
        // Handshake: a stored, uncommitted block is replayed, or the start fails.
        if node.store == node.app + 1 {
            if halts_at(real, flag, node.store) {
                now += 50;
                k.armed = halt.clone();
                k.node_started_ms = Some(now);
                match on_exit(&k, ExitKind::Failure) {
                    ExitDecision::Swap { target, .. } if node.app != target.height - 1 => {
                        return fail(format!("swap on a failed start at app {}", node.app));
                    }
                    ExitDecision::Swap { .. } => {
                        return Outcome {
                            swapped: true,
                            violation: None,
                        }
                    }
                    _ => continue 'process,
                }
            }
            node.app = node.store;
        }
        k.armed = halt;
        k.node_started_ms = Some(now);
        loop {
            // The node moves on.
            match node.phase {
                Phase::Idle { next_at } if now >= next_at => {
                    let n = node.app + 1;
                    node.store = n;
                    node.phase = if halts_at(real, node.flag, n) {
                        Phase::Halted
                    } else {
                        Phase::Executing {
                            until: now + rng.range(1, 300),
                        }
                    };
                }
                Phase::Executing { until } if now >= until => {
                    node.phase = Phase::Gap {
                        until: now + rng.range(0, 60),
                    };
                }
                Phase::Gap { until } if now >= until => {
                    node.app = node.store;
                    if node.old && node.app >= h {
                        return fail(format!("the old binary committed H={h}"));
                    }
                    let at_flag = node.flag == Some(node.app);
                    node.phase = if at_flag && real == HaltBehaviour::CommitsThenExits {
                        Phase::Exiting {
                            at: now + rng.range(0, 200),
                        }
                    } else {
                        Phase::Idle {
                            next_at: now + block_ms,
                        }
                    };
                }
                Phase::Exiting { at } if now >= at => {
                    app = node.app;
                    store = node.store;
                    k.committed = committed_seen;
                    k.last_seen_ms = last_seen;
                    k.now_ms = now;
                    match on_exit(&k, ExitKind::Success) {
                        ExitDecision::Swap { target, .. } => {
                            if app != target.height - 1 {
                                return fail(format!(
                                    "swap on exit with the app at {app}, H={}",
                                    target.height
                                ));
                            }
                            return Outcome {
                                swapped: true,
                                violation: None,
                            };
                        }
                        _ => continue 'process,
                    }
                }
                _ => {}
            }
            // The supervisor looks, unless the RPC is out or the app's lock is held.
            now += rng.range(20, 400);
            let rpc_up = rng.range(1, 100) > outage_pct;
            let locked = matches!(node.phase, Phase::Executing { .. });
            if rpc_up && !locked {
                committed_seen = Some(committed_seen.map_or(node.app, |c| c.max(node.app)));
                last_seen = Some(now);
                k.samples.push(HeightSample {
                    at_ms: now,
                    latest: node.store,
                    committed: node.app,
                });
            }
            k.committed = committed_seen;
            k.last_seen_ms = last_seen;
            k.now_ms = now;
            k.halt_behaviour = if known { Some(real) } else { learned };
            match while_running(&k) {
                RunningDecision::StopAndSwap { target, .. } => {
                    // Stopping lets a commit in flight finish.
                    if matches!(node.phase, Phase::Gap { .. }) {
                        node.app = node.store;
                    }
                    if node.app >= h {
                        return fail(format!("the old binary committed H={h}"));
                    }
                    return if node.app == target.height - 1 {
                        Outcome {
                            swapped: true,
                            violation: None,
                        }
                    } else {
                        fail(format!(
                            "the new binary started on app {} for H={}",
                            node.app, target.height
                        ))
                    };
                }
                RunningDecision::Continue | RunningDecision::WaitForHeight { .. } => {}
            }
            if let Some(r) = rearm(&k) {
                if r.learned.is_some() {
                    learned = r.learned;
                }
                if matches!(node.phase, Phase::Gap { .. }) {
                    node.app = node.store;
                    if node.app >= h {
                        return fail(format!("the old binary committed H={h}"));
                    }
                }
                app = node.app;
                store = node.store;
                continue 'process;
            }
            if now > 3_600_000 {
                return Outcome {
                    swapped: false,
                    violation: None,
                };
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Whatever the binary's real behaviour, known or probed, with RPC outages and a lock that
    /// hides executing blocks: the old binary never commits H and the new one starts on H-1.
    #[test]
    fn the_old_binary_never_commits_h_and_the_new_one_starts_on_h_minus_1(
        seed in any::<u64>(),
        real in 0u8..4,
        known in any::<bool>(),
        block_ms in 100u64..6_000,
        start in 1i64..1_000,
        distance in 2i64..30,
        outage_pct in 0u64..60,
    ) {
        let out = simulate(seed, real, known, block_ms, start, distance, outage_pct);
        prop_assert!(out.violation.is_none(), "{:?}", out.violation);
    }

    /// With the RPC always answering, the swap happens.
    #[test]
    fn with_the_rpc_answering_the_swap_happens(
        seed in any::<u64>(),
        real in 0u8..4,
        known in any::<bool>(),
        block_ms in 100u64..6_000,
        start in 1i64..1_000,
        distance in 2i64..30,
    ) {
        let out = simulate(seed, real, known, block_ms, start, distance, 0);
        prop_assert!(out.violation.is_none(), "{:?}", out.violation);
        prop_assert!(out.swapped, "no swap");
    }
}
