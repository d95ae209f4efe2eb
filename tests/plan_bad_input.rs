//! `switchyard plan` with bad input: unreachable, silent and garbled nodes exit 1 with a clear
//! error; a node catching up, a plan height already reached, a hostile plan name and junk plan
//! info become problems (exit 2), never a panic.
//!
//! Proves invariant 4 of docs/invariants.md.

mod common;

use common::run_plan;
use serde_json::{json, Value};
use switchyard_fakechain::{FakeChain, PlanScript, Scenario};

async fn plan_json(args: &[&str], env: &[(&str, &str)]) -> (i32, Value, String) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let (code, stdout, stderr) = run_plan(&a, env).await;
    assert!(!stderr.contains("panicked"), "{stderr}");
    let v: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout:?} {stderr:?}"));
    (code, v, stderr)
}

fn dead_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_node_exits_1_naming_the_address() {
    let addr = format!("http://127.0.0.1:{}", dead_port());
    let (code, v, _) = plan_json(&["--rpc", &addr], &[]).await;
    assert_eq!(code, 1);
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("cannot reach") && err.contains(&addr), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_address_at_all_exits_1_saying_what_to_give() {
    let (code, v, _) = plan_json(&[], &[]).await;
    assert_eq!(code, 1);
    assert!(v["error"].as_str().unwrap().contains("--rpc"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbled_and_silent_nodes_exit_1() {
    let chain = FakeChain::start(Scenario::default()).await.unwrap();
    let rpc = chain.rpc_url();
    chain
        .control_json(json!({"op":"set_mode","mode":"garbage"}))
        .unwrap();
    let (code, v, _) = plan_json(&["--rpc", &rpc], &[]).await;
    assert_eq!(code, 1);
    assert!(
        v["error"].as_str().unwrap().contains("cannot be read"),
        "{v}"
    );

    chain
        .control_json(json!({"op":"set_mode","mode":"silent"}))
        .unwrap();
    let started = std::time::Instant::now();
    let (code, v, _) = plan_json(&["--rpc", &rpc], &[]).await;
    assert_eq!(code, 1);
    assert!(
        v["error"].as_str().unwrap().contains("did not answer"),
        "{v}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_side_trouble_becomes_problems() {
    let chain = FakeChain::start(Scenario {
        height: 500,
        catching_up: true,
        plan: Some(PlanScript {
            name: "v2".into(),
            height: 500,
            info: "{\"binaries\": {\"linux/amd64\": \"https://x/y?checksum=sha256:zz\"}}".into(),
        }),
        ..Default::default()
    })
    .await
    .unwrap();
    let rpc = chain.rpc_url();
    let (code, v, _) = plan_json(&["--rpc", &rpc], &[]).await;
    assert_eq!(code, 2, "{v:#}");
    assert!(v["problems"].to_string().contains("catching up"), "{v:#}");
    let problems = v["upgrades"][0]["problems"].to_string();
    assert!(problems.contains("already reached"), "{problems}");
    assert!(
        problems.contains("cannot be used") || problems.contains("no binary"),
        "{problems}"
    );
    assert_eq!(v["upgrades"][0]["eta_seconds"], 0);

    // A hostile name from governance.
    chain
        .control_json(
            json!({"op":"schedule_plan","plan":{"name":"../../etc","height":900,"info":""}}),
        )
        .unwrap();
    let (code, v, _) = plan_json(&["--rpc", &rpc], &[]).await;
    assert_eq!(code, 2);
    assert!(
        v["upgrades"][0]["problems"]
            .to_string()
            .contains("name cannot be used"),
        "{v:#}"
    );
}

/// A node whose latest block time is nonsense (year 1, far future, or not a time at all) tells
/// nothing about when an upgrade comes: `plan` used to call that "not ready" (exit 2) without
/// naming the node; now it is "cannot tell" (exit 1), naming the RPC address and the time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nonsense_block_time_exits_1_naming_the_node() {
    for when in ["0001-01-01T00:00:00Z", "9999-01-01T00:00:00Z"] {
        let chain = FakeChain::start(Scenario {
            genesis_time: when.parse().unwrap(),
            block_interval_ms: 1,
            plan: Some(PlanScript {
                name: "v2".into(),
                height: 900,
                info: String::new(),
            }),
            ..Default::default()
        })
        .await
        .unwrap();
        let rpc = chain.rpc_url();
        let (code, v, _) = plan_json(&["--rpc", &rpc], &[]).await;
        assert_eq!(code, 1, "{when}: {v:#}");
        let err = v["error"].as_str().unwrap_or_default();
        assert!(
            err.contains(&rpc) && err.contains("block time") && err.contains(&when[..4]),
            "{when}: {v:#}"
        );
    }

    let chain = FakeChain::start(Scenario::default()).await.unwrap();
    let rpc = chain.rpc_url();
    let body = r#"{"jsonrpc":"2.0","id":-1,"result":{"node_info":{"network":"fakechain-1","id":"00"},"sync_info":{"latest_block_height":"100","latest_block_time":"yesterday","catching_up":false}}}"#;
    chain
        .control_json(json!({"op":"replay","method":"status","body":body}))
        .unwrap();
    let (code, v, _) = plan_json(&["--rpc", &rpc], &[]).await;
    assert_eq!(code, 1, "{v:#}");
    let err = v["error"].as_str().unwrap_or_default();
    assert!(
        err.contains(&rpc) && err.contains("latest_block_time"),
        "{v:#}"
    );
}
