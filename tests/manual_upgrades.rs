//! Upgrades with no on-chain plan (`add-upgrade --height`, `add-batch-upgrade`): block H must run
//! on the new binary, every time, for every SDK version's meaning of `--halt-height`.
//!
//! The fake node honours `--halt-height` with its reported SDK version's semantics (v0.47 and
//! v0.50.0-9 commit the halt height, v0.50.10+ stop before it) and serves CometBFT RPC from its
//! own config, so switchyard sees committed heights exactly as on a real node host.
//!
//! Proves invariants 1 and 6 of docs/invariants.md.

mod common;

use std::time::Duration;

use common::*;

const T: Duration = Duration::from_secs(40);

/// A batch of three manual upgrades; every height runs exactly once, on the right binary.
fn batch_of_three(sdk: &str) {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", sdk);
    home.setup(&genesis, &[]);
    let m: Vec<_> = ["fix1", "fix2", "fix3"]
        .iter()
        .map(|n| home.binary(n, "", sdk))
        .collect();
    let list = format!(
        "fix1:{}:8,fix3:{}:16,fix2:{}:12",
        m[0].display(),
        m[2].display(),
        m[1].display()
    );
    let out = home.cmd(&["add-batch-upgrade", "--upgrade-list", &list]);
    assert!(out.status.success(), "{}", text(&out));
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "all three upgrades",
        T,
        || home.committed() >= 19,
        || format!("{sdk}\n{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0));
    let expect = |h: i64| match h {
        ..=7 => "genesis",
        8..=11 => "fix1",
        12..=15 => "fix2",
        _ => "fix3",
    };
    assert_each_height_once(&home.executed(), |h, id| id == expect(h));
    assert_eq!(home.current_target(), "upgrades/fix3");
    let log = sy.log();
    let flag = if sdk.starts_with("v0.47") || sdk.starts_with("v0.46") || sdk == "v0.50.5" {
        7
    } else {
        8
    };
    assert!(
        log.contains(&format!("--halt-height {flag}")),
        "{sdk}: {log}"
    );
    // The last binary runs with no halt flag once nothing is pending.
    let events = home.events();
    let last_start = events
        .lines()
        .rfind(|l| l.starts_with("fix3 start"))
        .unwrap();
    assert!(!last_start.contains("halt-height"), "{last_start}");
    // Nothing was written into the node's own upgrade-info.json.
    assert!(!home.path().join("data/upgrade-info.json").exists());
}

#[test]
fn batch_on_sdk_v0_47_halt_height_is_committed_and_the_node_exits() {
    batch_of_three("v0.47.17");
}

#[test]
fn batch_on_sdk_v0_46_halt_height_is_committed_and_the_node_exits_143() {
    batch_of_three("v0.46.16");
}

#[test]
fn batch_on_sdk_v0_50_early_halt_height_is_committed_and_the_node_hangs() {
    batch_of_three("v0.50.5");
}

#[test]
fn batch_on_sdk_v0_50_10_halt_height_is_not_committed() {
    batch_of_three("v0.50.10");
}

#[test]
fn batch_on_sdk_v0_53() {
    batch_of_three("v0.53.4");
}

#[test]
fn an_upgrade_added_while_running_restarts_the_node_once_with_the_halt_height() {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.53.4");
    let fix = home.binary("fix", "", "v0.53.4");
    home.setup(&genesis, &[]);
    home.fake("block_time", "0.1");
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for("blocks", T, || home.committed() >= 3, || sy.log());
    let target = home.committed() + 15;
    let out = home.cmd(&[
        "add-upgrade",
        "fix",
        fix.to_str().unwrap(),
        "--height",
        &target.to_string(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    wait_for(
        "the fix to run",
        T,
        || home.committed() >= target + 2,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0));
    assert_each_height_once(&home.executed(), |h, id| {
        if h < target {
            id == "genesis"
        } else {
            id == "fix"
        }
    });
    assert!(sy.log().contains("restarting it once"), "{}", sy.log());
    assert_eq!(
        home.events().matches("genesis start").count(),
        2,
        "{}",
        home.events()
    );
}

#[test]
fn pending_manual_upgrades_survive_a_restart_of_switchyard() {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let fix = home.binary("fix", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("block_time", "0.1");
    let out = home.cmd(&[
        "add-upgrade",
        "fix",
        fix.to_str().unwrap(),
        "--upgrade-height",
        "14",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let mut first = home.run(&[]);
    wait_for("blocks", T, || home.committed() >= 4, || first.log());
    assert_eq!(first.stop().code(), Some(0));
    let mut second = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "the fix",
        T,
        || home.committed() >= 16,
        || format!("{}\n{}", second.log(), home.events()),
    );
    assert_eq!(second.stop().code(), Some(0));
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 14 {
            id == "genesis"
        } else {
            id == "fix"
        }
    });
    assert!(
        second.log().contains("--halt-height 14"),
        "{}",
        second.log()
    );
}

/// A binary whose SDK version cannot be told is probed with `--halt-height H-1`: one that stops
/// before its halt height is restarted once with H; one that commits it, or exits at it, is
/// swapped at once. Block H runs on the new binary every time.
#[test]
fn a_binary_of_unknown_version_is_probed_and_block_h_still_runs_on_the_new_binary() {
    for halt in ["stops-before", "commits-wait", "commits-exit"] {
        let home = Home::new();
        home.serve_rpc();
        // "unknown" makes `version --long --output json` report no usable cosmos_sdk_version.
        let genesis = home.binary_with_halt("genesis", "", "unknown", halt);
        let fix = home.binary_with_halt("fix", "", "unknown", halt);
        home.setup(&genesis, &[]);
        home.fake("block_time", "0.2");
        home.add_manual("fix", &fix, 8);
        let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
        wait_for(
            "the fix past its height",
            T,
            || home.committed() >= 10,
            || format!("{halt}\n{}\n{}", sy.log(), home.events()),
        );
        assert_eq!(sy.stop().code(), Some(0));
        let log = sy.log();
        assert_each_height_once(&home.executed(), |h, id| {
            if h < 8 {
                id == "genesis"
            } else {
                id == "fix"
            }
        });
        assert!(log.contains("--halt-height=7"), "{halt}: probe flag\n{log}");
        assert!(
            log.contains("learned what --halt-height does on this binary"),
            "{halt}: {log}"
        );
        let learned = std::fs::read_to_string(
            home.path()
                .join("cosmovisor/switchyard/halt-behaviours.json"),
        )
        .unwrap();
        // A binary that exits at its halt may be caught with H-1 committed before it exits
        // ("commits") or be known by the exit ("commits_then_exits"): both are right.
        let want: &[&str] = match halt {
            "stops-before" => &["stops_before"],
            "commits-exit" => &["commits_then_exits", "\"commits\""],
            _ => &["\"commits\""],
        };
        assert!(
            want.iter().any(|w| learned.contains(w)),
            "{halt}: {learned}"
        );
        assert!(learned.contains(&sha256_hex(&genesis)), "{halt}: {learned}");
        // The evidence names the flag the probe ran with, and what it showed.
        let evidence: &[&str] = match halt {
            "stops-before" => {
                &["started with --halt-height 7, it stopped with block 7 stored and 6 committed"]
            }
            _ => &[
                "it committed block 7 when started with --halt-height 7",
                "while started with --halt-height 7",
            ],
        };
        assert!(
            evidence.iter().any(|w| learned.contains(w)),
            "{halt}: {learned}"
        );
        // Only the binary that stops early needs the second start, with H.
        assert_eq!(
            log.contains("Restarting it once with --halt-height 8"),
            halt == "stops-before",
            "{halt}: {log}"
        );
    }
}

/// What a probe learned is kept by the binary's sha256: when the same bytes must halt again,
/// the exact flag is used at once.
#[test]
fn a_learned_halt_behaviour_is_used_at_once_for_the_same_binary() {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary_with_halt("genesis", "", "unknown", "stops-before");
    let fix_a = home.binary_with_halt("fixa", "", "v0.50.10", "");
    home.setup(&genesis, &[]);
    home.fake("block_time", "0.2");
    // fixb is the genesis binary itself again (same bytes), e.g. a rollback.
    let list = format!(
        "fixa:{}:8,fixb:{}:14,fixc:{}:20",
        fix_a.display(),
        genesis.display(),
        fix_a.display()
    );
    let out = home.cmd(&["add-batch-upgrade", "--upgrade-list", &list]);
    assert!(out.status.success(), "{}", text(&out));
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "all three upgrades",
        Duration::from_secs(60),
        || home.committed() >= 21,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0));
    let log = sy.log();
    assert_each_height_once(&home.executed(), |h, id| match h {
        ..=7 => id == "genesis",
        8..=13 => id == "fixa",
        14..=19 => id == "genesis",
        _ => id == "fixa",
    });
    // First halt: probed (7), then restarted with 8. Second, on the same bytes: 20 at once.
    assert!(log.contains("--halt-height=7"), "{log}");
    assert!(log.contains("--halt-height=20"), "{log}");
    assert!(!log.contains("--halt-height=19"), "probed again: {log}");
    assert_eq!(
        log.matches("Restarting it once with --halt-height").count(),
        1,
        "{log}"
    );
}

/// A node that exits by itself at its halt height (SDK v0.47 and older), with no height ever
/// seen (the chain not watched, or its RPC unreachable): the exit is the halt, so the new
/// binary runs block H; the old one is never started again to run it.
#[test]
fn a_node_that_exits_at_its_halt_height_unseen_is_swapped_not_restarted() {
    for unseen in ["watch-off", "rpc-unreachable"] {
        let home = Home::new();
        let mut env = vec![("UNSAFE_SKIP_BACKUP", "true")];
        if unseen == "watch-off" {
            env.push(("SWITCHYARD_WATCH_CHAIN", "false"));
        } else {
            home.serve_rpc();
            home.fake("no_rpc", "");
        }
        let genesis = home.binary("genesis", "", "v0.47.17");
        let fix = home.binary("fix", "", "v0.47.17");
        home.setup(&genesis, &[]);
        home.add_manual("fix", &fix, 6);
        let mut sy = home.run(&env);
        wait_for(
            "the fix past its height",
            T,
            || home.committed() >= 8,
            || format!("{unseen}\n{}\n{}", sy.log(), home.events()),
        );
        assert_eq!(sy.stop().code(), Some(0));
        assert_each_height_once(&home.executed(), |h, id| {
            if h < 6 {
                id == "genesis"
            } else {
                id == "fix"
            }
        });
        assert_eq!(home.current_target(), "upgrades/fix", "{unseen}");
    }
}

/// The node's RPC goes dark while a manual upgrade is armed: switchyard says at once that the
/// upgrade cannot be timed; once it is overdue it stops the node (which cannot commit H) and
/// ends with an error; started again with the RPC back, it swaps at H as usual.
#[test]
fn a_node_whose_height_cannot_be_seen_is_reported_then_given_up_on_when_overdue() {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let fix = home.binary("fix", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("block_time", "0.1");
    home.add_manual("fix", &fix, 40);
    let env = [
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("SWITCHYARD_HEIGHT_TIMEOUT", "2s"),
    ];
    let mut sy = home.run(&env);
    wait_for("heights seen", T, || home.committed() >= 5, || sy.log());
    wait_for(
        "switchyard to see a height",
        T,
        || sy.log().contains("--halt-height=40"),
        || sy.log(),
    );
    home.fake("rpc_down", "");
    wait_for(
        "the blind error",
        T,
        || {
            sy.log()
                .contains("cannot see this node's height: the manual upgrade at 40 cannot be timed")
        },
        || sy.log(),
    );
    // Overdue comes 4 height timeouts after the due time, which the last block time seen sets:
    // on a loaded machine the fake node's blocks come far slower than its 0.1 s, so the bound is
    // generous (it once did not exit within 90 s under a fresh CI run and a cargo test side by side).
    let status = sy.wait(Duration::from_secs(240));
    let log = sy.log();
    assert_eq!(status.code(), Some(1), "{log}");
    assert!(log.contains("is overdue"), "{log}");
    assert!(
        home.events().contains("genesis stopped at 39"),
        "{}",
        home.events()
    );
    assert_eq!(home.current_target(), "genesis");
    // With the RPC back, the next start swaps at 40.
    std::fs::remove_file(home.path().join("fake/rpc_down")).unwrap();
    let mut again = home.run(&env);
    wait_for(
        "the fix past its height",
        T,
        || home.committed() >= 42,
        || format!("{}\n{}", again.log(), home.events()),
    );
    assert_eq!(again.stop().code(), Some(0));
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 40 {
            id == "genesis"
        } else {
            id == "fix"
        }
    });
}

/// A manual upgrade on a node whose RPC never answers: the log says at once what is relied on
/// instead. A binary that exits at its `--halt-height` (SDK v0.47 and older) swaps on that exit
/// and the new one commits H; one that waits in consensus failure (SDK v0.50.10 and later) is
/// said to wait for a height, and never commits H on the old binary.
#[test]
fn without_rpc_a_manual_upgrade_relies_on_the_nodes_own_halt_and_says_so() {
    for (sdk, exits) in [("v0.47.16", true), ("v0.50.10", false)] {
        let home = Home::new();
        home.serve_rpc();
        home.fake("rpc_down", "");
        let genesis = home.binary("genesis", "", sdk);
        let fix = home.binary("fix", "", sdk);
        home.setup(&genesis, &[]);
        home.fake("block_time", "0.1");
        let out = home.cmd(&[
            "add-upgrade",
            "fix",
            fix.to_str().unwrap(),
            "--height",
            "40",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let env = [
            ("UNSAFE_SKIP_BACKUP", "true"),
            ("SWITCHYARD_HEIGHT_TIMEOUT", "1s"),
        ];
        let mut sy = home.run(&env);
        wait_for(
            "the blind error",
            T,
            || {
                sy.log()
                    .contains("the manual upgrade at 40 cannot be timed")
            },
            || sy.log(),
        );
        if exits {
            assert!(
                sy.log().contains("its binary exits there by itself"),
                "{}",
                sy.log()
            );
            wait_for(
                "the fix past its height",
                T,
                || home.committed() >= 42,
                || format!("{}\n{}", sy.log(), home.events()),
            );
            assert_eq!(home.current_target(), "upgrades/fix");
        } else {
            assert!(
                sy.log()
                    .contains("only a height seen again can time the swap"),
                "{}",
                sy.log()
            );
            wait_for(
                "the old binary at its halt",
                T,
                || home.events().contains("genesis halted"),
                || format!("{}\n{}", sy.log(), home.events()),
            );
            assert_eq!(home.current_target(), "genesis");
        }
        assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
        assert_each_height_once(&home.executed(), |h, id| {
            if h < 40 {
                id == "genesis"
            } else {
                id == "fix"
            }
        });
    }
}

#[test]
fn collisions_are_refused_with_a_reason() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let fix = home.binary("fix", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let bin = fix.to_str().unwrap();
    let ok = home.cmd(&["add-upgrade", "fix1", bin, "--height", "100"]);
    assert!(ok.status.success(), "{}", text(&ok));
    for (args, needle) in [
        (
            vec!["add-upgrade", "fix2", bin, "--height", "100"],
            "two upgrades cannot run at one height",
        ),
        (
            vec!["add-upgrade", "fix1", bin, "--height", "200"],
            "pass --force to replace it",
        ),
        (
            vec!["add-upgrade", "fix3", bin, "--height=-5"],
            "must be a positive block height",
        ),
    ] {
        let out = home.cmd(&args);
        assert!(!out.status.success(), "{args:?} accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    // A refused height places no binary.
    assert!(!home.path().join("cosmovisor/upgrades/fix2").exists());

    // Against a running chain: a height at or below the current one is refused.
    home.serve_rpc();
    let mut sy = home.run(&[]);
    wait_for("blocks", T, || home.committed() >= 5, || sy.log());
    let out = home.cmd(&["add-upgrade", "late", bin, "--height", "3"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("not in the future"), "{}", text(&out));
    // The node's height is named (issue 24 #16), for a 0 too.
    let node_height = |err: &str| -> i64 {
        let at = err
            .find("committed height ")
            .unwrap_or_else(|| panic!("no node height in: {err}"));
        err[at + 17..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert!(node_height(&err) >= 5, "{err}");
    let out = home.cmd(&["add-upgrade", "late", bin, "--height", "0"]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(err.contains("positive block height"), "{err}");
    assert!(node_height(&err) >= 5, "{err}");
    assert!(!home.path().join("cosmovisor/upgrades/late").exists());
    sy.stop();
}

#[test]
fn plan_lists_manual_upgrades_with_their_halt_method() {
    for (sdk, method, flag) in [
        ("v0.50.10", "halt-height", 50),
        ("v0.47.17", "halt-height", 49),
        ("unknown", "probe", 49),
    ] {
        let home = Home::new();
        home.serve_rpc();
        let genesis = home.binary("genesis", "", sdk);
        let fix = home.binary("fix", "", sdk);
        home.setup(&genesis, &[]);
        let out = home.cmd(&[
            "add-upgrade",
            "fix",
            fix.to_str().unwrap(),
            "--height",
            "50",
        ]);
        assert!(out.status.success(), "{}", text(&out));
        let mut sy = home.run(&[]);
        wait_for("blocks", T, || home.committed() >= 3, || sy.log());
        let out = home.cmd(&["plan", "--json"]);
        sy.stop();
        check_plan_document(
            out.status.code().unwrap_or(-1),
            &String::from_utf8_lossy(&out.stdout),
        );
        let v: serde_json::Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
        let row = v["upgrades"]
            .as_array()
            .and_then(|a| a.iter().find(|u| u["name"] == "fix"))
            .unwrap_or_else(|| panic!("{sdk}: no row for fix in {v}\n{}", text(&out)))
            .clone();
        assert_eq!(row["source"], "manual");
        assert_eq!(row["height"], 50);
        assert_eq!(row["halt"]["method"], method, "{sdk}: {row}");
        assert_eq!(row["halt"]["halt_height"], flag, "{sdk}: {row}");
        assert_eq!(
            row["halt"]["note"].is_string(),
            method == "probe",
            "{sdk}: {row}"
        );
        // A probe is exact: it does not make the upgrade "not ready".
        assert_eq!(out.status.code(), Some(0), "{sdk}: {}", text(&out));
    }
}
