//! Stall detection (sentry supervision) with the real binary: a fake node whose height stops
//! moving, and one left with zero peers, is reported stalled (log, `/status`, `/readyz`,
//! `/metrics`) and, with `SWITCHYARD_STALL_ACTION=restart`, restarted; a node catching up, and
//! one halted at an upgrade height, are not.

#[path = "common/api.rs"]
mod api;
mod common;

use std::time::Duration;

use api::schema::*;
use api::{free_port, Api};
use common::*;
use serde_json::json;
use switchyard_fakechain::{FakeChain, PlanScript, Scenario};

const T: Duration = Duration::from_secs(40);

/// A home whose fake node serves RPC, with switchyard listening and a short stall threshold.
fn start(extra: &[(&str, &str)]) -> (Home, Running, Api) {
    start_with(extra, |_| {}, StallState::Progressing)
}

/// [`start`], with `prepare` run on the home before switchyard starts, until the stall state is
/// `settled`.
fn start_with(
    extra: &[(&str, &str)],
    prepare: impl FnOnce(&Home),
    settled: StallState,
) -> (Home, Running, Api) {
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.53.4");
    home.setup(&genesis, &[]);
    prepare(&home);
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut env = vec![
        ("SWITCHYARD_LISTEN", listen.as_str()),
        ("SWITCHYARD_STALL_AFTER", "2s"),
    ];
    env.extend_from_slice(extra);
    let sy = home.run(&env);
    let api = Api::new(port);
    api.wait_status(
        "the node making blocks",
        T,
        |s| s.stall.state == settled && s.chain.committed_height.unwrap_or(0) >= 3,
        || sy.log(),
    );
    (home, sy, api)
}

#[test]
fn a_height_that_stops_moving_and_zero_peers_are_stalls_reported_once_and_cleared() {
    let (home, mut sy, api) = start(&[]);
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    assert_eq!(api.get("/readyz").unwrap().0, 200);

    // Blocks stop, the process stays up.
    home.fake("pause", "");
    let s = api.wait_status(
        "the stall to be reported",
        T,
        |s| s.stall.state == StallState::Stalled,
        ctx,
    );
    assert_eq!(s.stall.reason, Some(StallReasonName::NoNewBlocks));
    assert_eq!(s.stall.threshold_seconds, 2.0);
    assert!(s.stall.height_unchanged_seconds.unwrap() >= 2.0);
    assert_eq!(s.stall.action, StallAction::Log);
    let (code, body) = api.get("/readyz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("stalled"), "{body}");
    assert_eq!(api.metric("switchyard_node_stalled", &[]), Some(1.0));
    // Still stalled a threshold later: logged once, nothing restarted (the action is "log").
    api.wait_status(
        "the stall to last two thresholds",
        T,
        |s| s.stall.height_unchanged_seconds.unwrap_or(0.0) >= 4.0,
        ctx,
    );
    assert_eq!(
        sy.log().matches("the node is stalled").count(),
        1,
        "{}",
        sy.log()
    );
    assert!(
        sy.log().contains("its committed height has stayed at"),
        "{}",
        sy.log()
    );
    assert_eq!(home.events().matches("genesis start").count(), 1);

    // Blocks again: cleared.
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    api.wait_status(
        "progress again",
        T,
        |s| s.stall.state == StallState::Progressing,
        ctx,
    );
    assert!(sy.log().contains("no longer stalled"), "{}", sy.log());
    assert_eq!(api.get("/readyz").unwrap().0, 200);
    assert_eq!(api.metric("switchyard_node_stalled", &[]), Some(0.0));

    // Zero peers for the threshold, while blocks still come (a sentry cut off from the network).
    home.fake("peers", "0");
    let s = api.wait_status(
        "the peer stall",
        T,
        |s| s.stall.state == StallState::Stalled,
        ctx,
    );
    assert_eq!(s.stall.reason, Some(StallReasonName::TooFewPeers));
    assert_eq!(s.chain.peers, Some(0));
    assert!(sy.log().contains("it has had 0 peer(s)"), "{}", sy.log());
    home.fake("peers", "4");
    api.wait_status(
        "peers back",
        T,
        |s| s.stall.state == StallState::Progressing,
        ctx,
    );
    assert_eq!(sy.stop().code(), Some(0));
}

#[test]
fn with_the_restart_action_a_stalled_node_is_restarted_gracefully() {
    let (home, mut sy, api) = start(&[("SWITCHYARD_STALL_ACTION", "restart")]);
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    home.fake("pause", "");
    let s = api.wait_status(
        "the stalled node to be restarted",
        T,
        |s| s.restarts.by_reason.get(&RestartReason::Stall) == Some(&1),
        ctx,
    );
    // Let the new run make blocks before it stalls again.
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    assert_eq!(s.crashes.total, 0);
    let before = home.committed();
    wait_for(
        "blocks after the restart",
        T,
        || home.committed() > before + 3,
        ctx,
    );
    let events = home.events();
    // Stopped with SIGTERM (the fake node logs "stopped at"), then started again.
    assert!(events.contains("genesis stopped at"), "{events}");
    assert_eq!(events.matches("genesis start").count(), 2, "{events}");
    assert!(
        sy.log()
            .contains("restarting it (SWITCHYARD_STALL_ACTION=restart)"),
        "{}",
        sy.log()
    );
    assert_eq!(
        api.metric("switchyard_node_restarts_total", &[("reason", "stall")]),
        Some(1.0)
    );
    assert_eq!(sy.stop().code(), Some(0));
    assert_each_height_once(&home.executed(), |_, id| id == "genesis");
}

#[test]
fn block_sync_is_not_a_stall() {
    let (home, mut sy, api) = start(&[("SWITCHYARD_STALL_ACTION", "restart")]);
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    home.fake("catching_up", "");
    api.wait_status(
        "the node to report catching up",
        T,
        |s| s.chain.catching_up,
        ctx,
    );
    home.fake("pause", "");
    let s = api.wait_status(
        "the height unchanged for twice the threshold while catching up",
        T,
        |s| {
            s.stall.excuse == Some(ExcuseName::CatchingUp)
                && s.stall.height_unchanged_seconds.unwrap_or(0.0) >= 4.0
        },
        ctx,
    );
    assert_eq!(s.stall.state, StallState::Excused);
    assert_eq!(s.restarts.total, 0);
    let (code, body) = api.get("/readyz").unwrap();
    assert_eq!(code, 503, "{body}");
    assert!(body.contains("catching up"), "{body}");
    assert!(!sy.log().contains("the node is stalled"), "{}", sy.log());
    assert_eq!(home.events().matches("genesis start").count(), 1);
    assert_eq!(sy.stop().code(), Some(0));
}

#[test]
fn a_node_halted_at_the_upgrade_height_is_not_a_stall() {
    // The chain (the fake chain) has a plan at 60 and has halted there: /status says 60, the
    // app has committed 59. The node (paused at 59) has not written upgrade-info.json yet.
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.53.4");
    let v2 = home.binary("v2", "v2", "v0.53.4");
    home.setup(&genesis, &[("v2", &v2)]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let chain = rt
        .block_on(FakeChain::start(Scenario {
            height: 59,
            plan: Some(PlanScript {
                name: "v2".into(),
                height: 60,
                info: String::new(),
            }),
            ..Default::default()
        }))
        .unwrap();
    chain
        .control_json(json!({"op": "set_height", "height": 60}))
        .unwrap();
    home.rpc_from_fake_chain(&chain.rpc_url());
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "59").unwrap();
    home.fake("pause", "");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut sy = home.run(&[
        ("SWITCHYARD_LISTEN", listen.as_str()),
        ("SWITCHYARD_STALL_AFTER", "1s"),
        ("SWITCHYARD_STALL_ACTION", "restart"),
    ]);
    let api = Api::new(port);
    let s = api.wait_status(
        "the halt to last three thresholds",
        T,
        |s| {
            s.stall.excuse == Some(ExcuseName::AtUpgradeHeight)
                && s.stall.height_unchanged_seconds.unwrap_or(0.0) >= 3.0
        },
        || sy.log(),
    );
    assert_eq!(s.stall.height, Some(59));
    assert_eq!(s.restarts.total, 0);
    assert!(!sy.log().contains("the node is stalled"), "{}", sy.log());
    let u = &s.plan.as_ref().unwrap().upgrades[0];
    assert_eq!((u.name.as_str(), u.source), ("v2", UpgradeSource::Plan));
    assert_eq!(sy.stop().code(), Some(0));
    drop(chain);
    drop(rt);
}

#[test]
fn a_node_that_upgraded_is_still_watched_and_so_after_a_restart_of_switchyard() {
    // The SDK leaves data/upgrade-info.json of the upgrade it applied on disk for good: its
    // height must not excuse the upgraded node when it stops making blocks.
    let home = Home::new();
    home.serve_rpc();
    let genesis = home.binary("genesis", "", "v0.53.4");
    let v2 = home.binary("v2", "v2", "v0.53.4");
    home.setup(&genesis, &[("v2", &v2)]);
    home.fake("plan", "v2 5");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("SWITCHYARD_LISTEN", listen.as_str()),
        ("SWITCHYARD_STALL_AFTER", "2s"),
        ("SWITCHYARD_STALL_MIN_PEERS", "0"),
    ];
    let api = Api::new(port);
    let pause = home.path().join("fake/pause");
    for turn in ["after the upgrade", "after a restart of switchyard"] {
        let mut sy = home.run(&env);
        let ctx = || format!("{turn}\n{}\nevents:\n{}", sy.log(), home.events());
        let past = home.committed().max(7);
        api.wait_status(
            "the upgraded node making blocks",
            T,
            |s| {
                s.stall.state == StallState::Progressing
                    && s.chain.committed_height.unwrap_or(0) > past
            },
            ctx,
        );
        assert_eq!(home.current_target(), "upgrades/v2", "{}", ctx());
        assert!(
            home.path().join("data/upgrade-info.json").is_file(),
            "the applied upgrade's file should stay, as the SDK leaves it: {}",
            ctx()
        );
        home.fake("pause", "");
        let s = api.wait_status(
            "the stall to be reported",
            T,
            |s| s.stall.state == StallState::Stalled,
            ctx,
        );
        assert_eq!(s.stall.reason, Some(StallReasonName::NoNewBlocks), "{turn}");
        assert_eq!(s.stall.excuse, None, "{turn}");
        assert_eq!(
            api.metric("switchyard_node_stalled", &[]),
            Some(1.0),
            "{turn}"
        );
        assert_eq!(api.get("/readyz").unwrap().0, 503, "{turn}");
        let log = ctx();
        assert_eq!(sy.stop().code(), Some(0), "{log}");
        std::fs::remove_file(&pause).unwrap();
    }
}

/// Issue 24 #14: the operator's own halt in the node's app.toml (no flag) is a halt, not a
/// stall: the node stopped at `halt-height` is never restarted for it.
#[test]
fn a_halt_height_in_app_toml_is_a_halt_not_a_stall() {
    let (home, mut sy, api) = start_with(
        &[("SWITCHYARD_STALL_ACTION", "restart")],
        |home| {
            std::fs::write(
                home.path().join("config/app.toml"),
                "minimum-gas-prices = \"\"\nhalt-height = 12\n\n[grpc]\nenable = false\n",
            )
            .unwrap();
        },
        StallState::Progressing,
    );
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    wait_for(
        "the node's own halt",
        T,
        || {
            home.events()
                .contains("halted before committing halt-height 12")
        },
        ctx,
    );
    let s = api.wait_status(
        "the halt excused for two thresholds",
        T,
        |s| {
            s.stall.state == StallState::Excused
                && s.stall.height_unchanged_seconds.unwrap_or(0.0) >= 4.0
        },
        ctx,
    );
    assert_eq!(s.stall.excuse, Some(ExcuseName::AtHaltHeight));
    assert_eq!(s.stall.height, Some(11));
    assert!(
        s.restarts.by_reason.is_empty(),
        "{:?}\n{}",
        s.restarts,
        ctx()
    );
    assert_eq!(home.events().matches("genesis start").count(), 1);
    assert_eq!(sy.stop().code(), Some(0));
}

/// Issue 24 #14: a halt time the node's app.toml has reached excuses a height that stops.
#[test]
fn a_halt_time_in_app_toml_that_has_passed_excuses_a_height_that_stops() {
    let (home, mut sy, api) = start_with(
        &[("SWITCHYARD_STALL_ACTION", "restart")],
        |home| {
            std::fs::write(home.path().join("config/app.toml"), "halt-time = 1000\n").unwrap();
        },
        StallState::Excused,
    );
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    home.fake("pause", "");
    let s = api.wait_status(
        "the paused node excused for two thresholds",
        T,
        |s| {
            s.stall.state == StallState::Excused
                && s.stall.height_unchanged_seconds.unwrap_or(0.0) >= 4.0
        },
        ctx,
    );
    assert_eq!(s.stall.excuse, Some(ExcuseName::AtHaltTime));
    assert!(
        s.restarts.by_reason.is_empty(),
        "{:?}\n{}",
        s.restarts,
        ctx()
    );
    assert_eq!(sy.stop().code(), Some(0));
}

/// Issue 24 #15: answers that come late (each 1 s, served one at a time, so the view moves only
/// every few seconds, longer than the 2 s threshold) are no evidence of a stall: each gives a new
/// height. The gaps are reported as a silent RPC, and nothing is restarted for them.
#[test]
fn late_answers_are_reported_as_such_and_never_restart_a_node_that_moves() {
    let (home, mut sy, api) = start(&[("SWITCHYARD_STALL_ACTION", "restart")]);
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    home.fake("rpc_delay", "1");
    let mut heights = std::collections::BTreeSet::new();
    let mut silent = false;
    api.wait_status(
        "five heights heard through the late answers, and a silence reported",
        Duration::from_secs(120),
        |s| {
            heights.extend(s.chain.committed_height);
            silent |= s.stall.state == StallState::Unanswered;
            assert_ne!(s.stall.state, StallState::Stalled, "{:?}", s.stall);
            heights.len() >= 5 && silent
        },
        ctx,
    );
    let s = api.status().unwrap();
    assert!(
        s.restarts.by_reason.is_empty(),
        "{:?}\n{}",
        s.restarts,
        ctx()
    );
    assert_eq!(home.events().matches("genesis start").count(), 1);
    assert!(!sy.log().contains("the node is stalled"), "{}", sy.log());
    assert!(
        sy.log().contains("has given no fresh answer"),
        "{}",
        sy.log()
    );
    assert_eq!(api.metric("switchyard_node_stalled", &[]), Some(0.0));
    assert_eq!(sy.stop().code(), Some(0));
}

/// Issue 24 #15: an RPC that does not answer at all is not a stall either; restarting for it
/// is its own opt-in (`SWITCHYARD_SILENT_RPC_ACTION=restart`), counted under its own reason.
#[test]
fn a_silent_rpc_restarts_the_node_only_when_asked_to() {
    let (home, mut sy, api) = start(&[
        ("SWITCHYARD_STALL_ACTION", "restart"),
        ("SWITCHYARD_SILENT_RPC_ACTION", "restart"),
    ]);
    let ctx = || format!("{}\nevents:\n{}", sy.log(), home.events());
    home.fake("rpc_down", "");
    let s = api.wait_status(
        "the restart for the silent RPC",
        T,
        |s| s.restarts.by_reason.get(&RestartReason::SilentRpc) == Some(&1),
        ctx,
    );
    assert_eq!(s.restarts.by_reason.get(&RestartReason::Stall), None);
    assert!(
        sy.log().contains("SWITCHYARD_SILENT_RPC_ACTION=restart"),
        "{}",
        sy.log()
    );
    assert_eq!(sy.stop().code(), Some(0));
}
