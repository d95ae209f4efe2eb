//! A node that ignores SIGTERM must not outlive a SIGKILLed switchyard (issue 14.12): the
//! node's guard process SIGKILLs it once the shutdown grace has passed, and touches nothing when
//! switchyard stops the node itself.
//!
//! Proves invariant 4 of docs/invariants.md.

mod common;

use std::time::{Duration, Instant};

use common::*;

const T: Duration = Duration::from_secs(30);

fn node_pid(home: &Home) -> i32 {
    let rec: serde_json::Value = serde_json::from_slice(
        &std::fs::read(home.path().join("cosmovisor/switchyard/node.pid")).unwrap(),
    )
    .unwrap();
    rec["pid"].as_i64().unwrap() as i32
}

/// PIDs of guard processes watching `node`.
fn guards_of(node: i32) -> Vec<i32> {
    procfs::process::all_processes()
        .unwrap()
        .filter_map(|p| p.ok())
        .filter(|p| {
            p.cmdline().is_ok_and(|c| {
                c.get(1).map(String::as_str) == Some(switchyard_exec::GUARD_ARG)
                    && c.get(2) == Some(&node.to_string())
            })
        })
        .map(|p| p.pid)
        .collect()
}

#[test]
fn a_node_ignoring_sigterm_is_killed_a_grace_after_switchyard_is_sigkilled() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("ignore_term", "");
    let mut sy = home.run(&[("DAEMON_SHUTDOWN_GRACE", "1s")]);
    wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    let node = node_pid(&home);
    wait_for("the guard", T, || !guards_of(node).is_empty(), || sy.log());
    sy.signal(9);
    sy.wait(T);
    let killed = Instant::now();
    wait_for(
        "the node to be killed",
        T,
        || !alive(node),
        || format!("{}\n{}", sy.log(), home.events()),
    );
    // It was given the grace first: its parent-death SIGTERM arrived and was ignored.
    assert!(
        killed.elapsed() >= Duration::from_millis(900),
        "{:?}",
        killed.elapsed()
    );
    assert!(
        home.events().contains("genesis ignored TERM"),
        "{}",
        home.events()
    );
    // The guard says so after the kill: the node can be seen gone before its line is written.
    wait_for(
        "the guard's word that it killed the node",
        T,
        || sy.log().contains("killed it with SIGKILL"),
        || sy.log(),
    );
    wait_for(
        "the guard to exit",
        T,
        || guards_of(node).is_empty(),
        String::new,
    );
    // The next start finds nothing to clean up.
    std::fs::remove_file(home.path().join("fake/ignore_term")).unwrap();
    let mut next = home.run(&[]);
    wait_for(
        "a new node",
        T,
        || home.events().matches("genesis start").count() == 2,
        || next.log(),
    );
    assert!(
        !next.log().contains("still running; stopping it first"),
        "no orphan left for the next start: {}",
        next.log()
    );
    // Stop it once it makes blocks (before that its SIGTERM trap may not be set yet).
    let h = home.committed();
    wait_for("blocks", T, || home.committed() > h, || next.log());
    assert_eq!(next.stop().code(), Some(0));
}

#[test]
fn the_guard_leaves_when_switchyard_stops_the_node_itself() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let mut sy = home.run(&[("DAEMON_SHUTDOWN_GRACE", "1s")]);
    wait_for("blocks", T, || home.committed() >= 2, || sy.log());
    let node = node_pid(&home);
    wait_for("the guard", T, || !guards_of(node).is_empty(), || sy.log());
    assert_eq!(sy.stop().code(), Some(0));
    wait_for(
        "the guard to exit",
        T,
        || guards_of(node).is_empty(),
        String::new,
    );
    assert!(!sy.log().contains("SIGKILL"), "{}", sy.log());
}
