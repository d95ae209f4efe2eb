//! The height that times a swap must be the supervised node's own. With
//! `SWITCHYARD_RPC_ADDRESS` pointing at another node that is far ahead (a typo, a sentry's port,
//! a public RPC), a manual upgrade used to start the new binary at once. Now that node's answers
//! are refused (its node id is not the one in `config/node_key.json`): said in the log, `plan`
//! exits 3, the node runs on its `--halt-height` and nothing is swapped early; pointed at its
//! own RPC again, the same home swaps at the height as usual.
//!
//! Proves invariant 7 of docs/invariants.md.

mod common;

use std::time::Duration;

use common::*;
use switchyard_fakechain::{FakeChain, Scenario};

const T: Duration = Duration::from_secs(60);

/// Gives the home a node key (fixed bytes: seed, then public key, as CometBFT stores them) and
/// returns the node id switchyard and the fake node derive from it.
fn node_key(home: &Home) -> String {
    use base64::Engine as _;
    let raw: Vec<u8> = (0u8..64).collect();
    let key = serde_json::json!({"priv_key": {
        "type": "tendermint/PrivKeyEd25519",
        "value": base64::engine::general_purpose::STANDARD.encode(&raw),
    }});
    std::fs::create_dir_all(home.path().join("config")).unwrap();
    std::fs::write(home.path().join("config/node_key.json"), key.to_string()).unwrap();
    switchyard_watcher::NodeIdentity::read(home.path())
        .unwrap()
        .node_id
        .unwrap()
}

#[test]
fn another_nodes_rpc_never_times_a_swap() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let other = rt
        .block_on(FakeChain::start(Scenario {
            height: 1000,
            block_interval_ms: 200,
            ..Default::default()
        }))
        .unwrap();
    let home = Home::new();
    home.serve_rpc();
    let own_id = node_key(&home);
    assert_ne!(own_id, switchyard_fakechain::NODE_ID);
    let genesis = home.binary("genesis", "", "v0.50.10");
    let fix = home.binary("fix", "fix", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("block_time", "0.1");
    home.add_manual("fix", &fix, 40);

    let rpc = other.rpc_url();
    let env = [
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("SWITCHYARD_RPC_ADDRESS", rpc.as_str()),
    ];
    let mut sy = home.run(&env);
    wait_for(
        "the foreign node refused",
        T,
        || sy.log().contains("is not this node"),
        || sy.log(),
    );
    assert!(
        sy.log().contains(switchyard_fakechain::NODE_ID) && sy.log().contains(&own_id),
        "the log names both nodes: {}",
        sy.log()
    );
    // The node runs up to its own halt height (v0.50: it stops before 40) and nothing swaps.
    wait_for(
        "the node at its halt height",
        T,
        || home.committed() >= 39,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(home.current_target(), "genesis", "{}", sy.log());
    assert!(
        home.executed().iter().all(|(_, id)| id == "genesis"),
        "the new binary must not start on another node's height: {:?}",
        home.executed()
    );

    // `plan` says so, by exit code too.
    let out = home
        .switchyard()
        .args(["plan", "--json"])
        .env("SWITCHYARD_RPC_ADDRESS", &rpc)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        doc["error"].as_str().unwrap().contains("is not this node"),
        "{doc}"
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
    assert_eq!(home.current_target(), "genesis");

    // Its own RPC (found in config/config.toml) answers as node `own_id`: the swap happens at 40.
    let first_run = sy.log().len();
    let mut sy = home.run(&[("UNSAFE_SKIP_BACKUP", "true")]);
    wait_for(
        "the new binary past 40",
        T,
        || home.committed() >= 42,
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(home.current_target(), "upgrades/fix");
    assert_each_height_once(&home.executed(), |h, id| {
        if h < 40 {
            id == "genesis"
        } else {
            id == "fix"
        }
    });
    let second_run = sy.log()[first_run..].to_string();
    assert!(!second_run.contains("is not this node"), "{second_run}");
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
}

/// A home without `config/node_key.json` (the node creates it on its first start, as CometBFT
/// does) and an RPC address of another node whose chain passes the upgrade's H-1 before ours
/// does: once the key appears its node id is held against every answer (the identity used to be
/// read once, before the first start, so such a home was never checked), the other node is
/// refused in the log, and its H-1 never times the swap.
#[test]
fn a_node_key_made_on_first_start_is_held_against_answers() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let other = rt
        .block_on(FakeChain::start(Scenario {
            height: 1,
            block_interval_ms: 250,
            ..Default::default()
        }))
        .unwrap();
    let home = Home::new();
    home.serve_rpc();
    assert!(!home.path().join("config/node_key.json").exists());
    let genesis = home.binary("genesis", "", "v0.50.10");
    let fix = home.binary("fix", "fix", "v0.50.10");
    home.setup(&genesis, &[]);
    home.fake("block_time", "0.5");
    home.add_manual("fix", &fix, 40);

    let rpc = other.rpc_url();
    let env = [
        ("UNSAFE_SKIP_BACKUP", "true"),
        ("SWITCHYARD_RPC_ADDRESS", rpc.as_str()),
    ];
    let mut sy = home.run(&env);
    // The other chain passes 39 long before ours; ours runs up to its own halt and nothing swaps
    // (or the new binary starts early, and the check below says so).
    wait_for(
        "the node at its halt height, or the new binary",
        T,
        || home.committed() >= 39 || home.executed().iter().any(|(_, id)| id == "fix"),
        || format!("{}\n{}", sy.log(), home.events()),
    );
    assert_eq!(home.current_target(), "genesis", "{}", sy.log());
    assert!(
        home.executed().iter().all(|(_, id)| id == "genesis"),
        "the new binary must not start on another node's height: {:?}\n{}",
        home.executed(),
        sy.log()
    );
    assert!(
        sy.log().contains("node_key.json appeared") && sy.log().contains("is not this node"),
        "the log says the key was learned and the other node refused: {}",
        sy.log()
    );
    assert_eq!(sy.stop().code(), Some(0), "{}", sy.log());
}
