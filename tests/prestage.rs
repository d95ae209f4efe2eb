//! Pre-staging inside `run`: a proposal in its voting period carries the next binary; switchyard
//! stages and preflights it before the proposal passes, and at the halt swaps to it with no
//! download. The chain's side is the fake chain (CometBFT RPC in recorded shapes), the node's
//! side the fake node script.
//!
//! Proves invariant 3 of docs/invariants.md.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_core::this_platform;
use switchyard_fakechain::{FakeChain, Scenario};

const T: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_in_voting_is_staged_and_preflighted_before_it_passes_and_swapped_with_no_download_at_halt(
) {
    staged_then_halted(false).await;
}

/// A staged binary written to after staging is caught at the halt although the check there is
/// only a stat: the write moved its ctime.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_binary_changed_after_staging_is_refused_at_the_halt() {
    staged_then_halted(true).await;
}

async fn staged_then_halted(tamper: bool) {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "v2", "v0.50.10");
    home.setup(&genesis, &[]);

    // A local mirror serving v2, logging every request.
    let access_log = home.path().join("http.log");
    let server = FileServer::start(v2.parent().unwrap(), Some(&access_log));
    let sum = sha256_hex(&v2);
    let info = json!({"binaries": {this_platform(): format!("{}/{DAEMON}?checksum=sha256:{sum}", server.url)}}).to_string();

    // The chain: height 990, a software-upgrade proposal for v2 at 1000, in voting.
    let chain = FakeChain::start(Scenario {
        height: 990,
        ..Default::default()
    })
    .await
    .unwrap();
    let id = chain
        .control_json(json!({"op": "submit_proposal", "proposal": {"kind": "software_upgrade", "plan": {"name": "v2", "height": 1000, "info": info}}}))
        .unwrap();
    home.rpc_from_fake_chain(&chain.rpc_url());

    // The node: at 990 too, holding blocks until the proposal has passed.
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "990").unwrap();
    home.fake("pause", "");
    home.fake("plan_info", &info);

    let mut sy = home.run(&[
        ("DAEMON_ALLOW_DOWNLOAD_BINARIES", "true"),
        ("SWITCHYARD_PRESTAGE_VOTING", "true"),
        ("UNSAFE_SKIP_BACKUP", "true"),
    ]);
    let record = home.path().join("cosmovisor/switchyard/staged/v2.json");
    wait_for(
        "v2 to be staged and preflighted",
        T,
        || std::fs::read_to_string(&record).is_ok_and(|r| r.contains("\"ok\"")),
        || {
            format!(
                "{}\n{}",
                sy.log(),
                std::fs::read_to_string(&record).unwrap_or_default()
            )
        },
    );
    // ... while the proposal is still in its voting period.
    let state = chain.control_json(json!({"op": "state"})).unwrap();
    let status = state["proposals"]
        .as_array()
        .unwrap()
        .first()
        .map(|p| p["status"].clone());
    let _ = id;
    assert_eq!(
        status,
        Some(json!(2)),
        "proposal must still be in voting: {state}"
    );
    let preflight: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&record).unwrap()).unwrap();
    assert_eq!(
        preflight["preflight"]["output"], "v2",
        "the preflight ran the staged binary: {preflight}"
    );
    assert!(
        preflight["binary_stamp"]["ino"].is_u64(),
        "hashed again after the preflight and stamped, so the halt needs only a stat: {preflight}"
    );
    if tamper {
        // Written after it was staged (same size, same mtime put back): the swap must notice and refuse.
        let bin = home
            .path()
            .join(format!("cosmovisor/upgrades/v2/bin/{DAEMON}"));
        let mtime = std::fs::metadata(&bin).unwrap().modified().unwrap();
        // Same size too: only the ctime tells, and it cannot be put back.
        let mut text = std::fs::read(&bin).unwrap();
        let last = text.len() - 1;
        text[last] = if text[last] == b' ' { b'\n' } else { b' ' };
        std::fs::write(&bin, text).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&bin)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
    }
    let downloads_before_halt = std::fs::read_to_string(&access_log)
        .unwrap()
        .matches("GET /")
        .count();
    assert_eq!(downloads_before_halt, 1);

    // The proposal passes, the plan is scheduled, the node runs into it and halts at 1000.
    chain.control_json(json!({"op": "pass", "id": 1})).unwrap();
    chain
        .control_json(json!({"op": "set_height", "height": 1000}))
        .unwrap();
    home.fake("plan", "v2 1000");
    std::fs::remove_file(home.path().join("fake/pause")).unwrap();
    if tamper {
        let status = sy.wait(T);
        let log = sy.log();
        assert_ne!(status.code(), Some(0), "{log}");
        assert!(log.contains("changed after staging"), "{log}");
        assert_eq!(home.current_target(), "genesis", "{log}");
        assert!(!home.events().contains("v2 applying"), "{}", home.events());
        return;
    }
    wait_for(
        "v2 to run past the upgrade",
        T,
        || home.committed() >= 1003,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(sy.stop().code(), Some(0));

    assert_eq!(home.current_target(), "upgrades/v2");
    assert!(
        home.events()
            .contains("genesis halt for upgrade v2 at 1000"),
        "{}",
        home.events()
    );
    assert!(
        home.events().contains("v2 applying upgrade v2 at 1000"),
        "{}",
        home.events()
    );
    // No download at the halt: the mirror saw exactly the one request made during voting.
    assert_eq!(
        std::fs::read_to_string(&access_log)
            .unwrap()
            .matches("GET /")
            .count(),
        1
    );
    assert!(!sy.log().contains("downloading it now"), "{}", sy.log());
}

/// A binary placed by hand for a proposal still in voting (no download: the plan's info lists
/// nothing) is asked whether it has `pre-upgrade` during the vote, as a staged one is, not only
/// once the plan is scheduled a few blocks before its height.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_placed_for_a_proposal_in_voting_is_probed_during_the_vote() {
    let home = Home::new();
    let genesis = home.binary("genesis", "", "v0.50.10");
    let v2 = home.binary("v2", "", "v0.50.10");
    home.setup(&genesis, &[]);
    let out = home.cmd(&["add-upgrade", "v2", v2.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let chain = FakeChain::start(Scenario {
        height: 990,
        ..Default::default()
    })
    .await
    .unwrap();
    chain
        .control_json(json!({"op": "submit_proposal", "proposal": {"kind": "software_upgrade", "plan": {"name": "v2", "height": 1000, "info": ""}}}))
        .unwrap();
    home.rpc_from_fake_chain(&chain.rpc_url());
    std::fs::create_dir_all(home.path().join("data")).unwrap();
    std::fs::write(home.path().join("data/height"), "990").unwrap();
    home.fake("no_preupgrade", "");
    home.fake("pause", "");

    let sy = home.run(&[("SWITCHYARD_PROPOSALS_EVERY", "1s")]);
    let record = home.path().join("cosmovisor/switchyard/preupgrade/v2.json");
    wait_for(
        "the pre-upgrade probe's verdict on v2",
        T,
        || std::fs::read(&record).is_ok_and(|b| !b.is_empty()),
        || sy.log(),
    );
    let rec: serde_json::Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    assert_eq!(rec["command"], "absent", "{rec}");
    let state = chain.control_json(json!({"op": "state"})).unwrap();
    assert_eq!(
        state["proposals"][0]["status"],
        json!(2),
        "the proposal must still be in voting: {state}"
    );
    assert!(state["plan"].is_null(), "no plan is scheduled yet: {state}");
}
