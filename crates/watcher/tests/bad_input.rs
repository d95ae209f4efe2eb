//! Bad input never panics: unreachable, silent, garbled, oversized and erroring nodes give typed
//! errors naming what went wrong; a broken gRPC port falls back to `abci_query`; a node still
//! catching up is reported as such; junk plan info is "no binaries".
//!
//! Proves invariant 4 of docs/invariants.md.

mod common;

use common::*;
use serde_json::json;
use switchyard_fakechain::Scenario;
use switchyard_watcher::{
    snapshot, ChainClient, Endpoints, PlanBinariesView, SnapshotOptions, Transport, WatchError,
};

async fn rpc_snapshot_error(mode: serde_json::Value) -> WatchError {
    let chain = start(Scenario::default()).await;
    chain.control_json(mode).unwrap();
    let c = client(&rpc_only(&chain)).await;
    snapshot(&c, SnapshotOptions::default()).await.unwrap_err()
}

#[tokio::test]
async fn unreachable_rpc_is_named() {
    let addr = format!("http://127.0.0.1:{}", dead_port());
    let c = ChainClient::connect(
        &Endpoints {
            rpc: Some(addr.clone()),
            grpc: None,
        },
        limits(),
    )
    .await
    .unwrap();
    let e = snapshot(&c, SnapshotOptions::default()).await.unwrap_err();
    assert!(matches!(e, WatchError::Unreachable { .. }), "{e:?}");
    assert!(e.to_string().contains(&addr), "{e}");
    assert!(e.is_transient());
}

#[tokio::test]
async fn silent_rpc_times_out() {
    let started = std::time::Instant::now();
    let e = rpc_snapshot_error(json!({"op":"set_mode","mode":"silent"})).await;
    assert!(matches!(e, WatchError::Timeout { .. }), "{e:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
}

#[tokio::test]
async fn garbage_rpc_is_reported() {
    let e = rpc_snapshot_error(json!({"op":"set_mode","mode":"garbage"})).await;
    assert!(matches!(e, WatchError::Garbage { .. }), "{e:?}");
    assert!(e.to_string().contains("status"), "{e}");
}

#[tokio::test]
async fn oversized_rpc_answer_is_refused() {
    let e =
        rpc_snapshot_error(json!({"op":"set_mode","mode":"oversized","bytes": 3 * 1024 * 1024}))
            .await;
    assert!(
        matches!(e, WatchError::TooLarge { limit: 1048576, .. }),
        "{e:?}"
    );
}

#[tokio::test]
async fn rpc_errors_are_passed_on() {
    let e = rpc_snapshot_error(json!({"op":"set_mode","mode":"error"})).await;
    assert!(
        matches!(e, WatchError::Remote { ref why, .. } if why.contains("scripted failure")),
        "{e:?}"
    );
}

#[tokio::test]
async fn garbage_protobuf_in_abci_query_is_reported() {
    let e = rpc_snapshot_error(json!({"op":"set_mode","mode":"garbage_value"})).await;
    assert!(
        matches!(e, WatchError::Garbage { ref why, .. } if why.contains("protobuf")),
        "{e:?}"
    );
    assert!(e.to_string().contains("CurrentPlan"), "{e}");
}

#[tokio::test]
async fn catching_up_is_visible() {
    let chain = start(Scenario {
        catching_up: true,
        ..Default::default()
    })
    .await;
    let s = snapshot(&client(&rpc_only(&chain)).await, SnapshotOptions::default())
        .await
        .unwrap();
    assert!(s.catching_up);
}

#[tokio::test]
async fn unreachable_grpc_falls_back_to_abci_query() {
    let chain = start(Scenario::default()).await;
    chain
        .control_json(json!({"op":"schedule_plan","plan":{"name":"v2","height":900}}))
        .unwrap();
    let e = Endpoints {
        rpc: Some(chain.rpc_url()),
        grpc: Some(format!("http://127.0.0.1:{}", dead_port())),
    };
    let c = client(&e).await;
    assert_eq!(c.transport(), Transport::AbciQuery);
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(s.plan.unwrap().spec.height, 900);
    assert!(
        s.problems.iter().any(|p| p.contains("gRPC")),
        "{:?}",
        s.problems
    );
    // With gRPC alone and unreachable, connecting fails with a clear error.
    let e = ChainClient::connect(
        &Endpoints {
            rpc: None,
            grpc: e.grpc.clone(),
        },
        limits(),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, WatchError::Unreachable { .. }), "{e:?}");
}

#[tokio::test]
async fn failing_grpc_queries_fall_back_per_call() {
    for mode in ["error", "garbage", "silent", "oversized"] {
        let chain = start(Scenario::default()).await;
        chain
            .control_json(json!({"op":"schedule_plan","plan":{"name":"v2","height":900}}))
            .unwrap();
        let c = client(&both(&chain)).await;
        assert_eq!(c.transport(), Transport::Grpc);
        chain
            .control_json(json!({"op":"set_grpc_mode","mode":mode}))
            .unwrap();
        chain
            .control_json(json!({"op":"set_mode","mode":"normal","bytes": 2 * 1024 * 1024}))
            .unwrap();
        let s = snapshot(&c, SnapshotOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{mode}: {e}"));
        assert_eq!(s.plan.unwrap().spec.height, 900, "{mode}");
        let calls = chain.control_json(json!({"op":"state"})).unwrap()["grpc_calls"]
            .as_u64()
            .unwrap();
        assert!(calls > 0, "{mode}: gRPC was tried first");
    }
}

#[tokio::test]
async fn junk_plan_info_is_no_binaries() {
    let chain = start(Scenario::default()).await;
    for junk in [
        "{\"binaries\": ",
        "v2 upgrade, see discord",
        "",
        "{\"binaries\": 5}",
        "ftp://x/y.json",
    ] {
        chain
            .control_json(
                json!({"op":"schedule_plan","plan":{"name":"v2","height":900,"info":junk}}),
            )
            .unwrap();
        let s = snapshot(&client(&rpc_only(&chain)).await, SnapshotOptions::default())
            .await
            .unwrap();
        assert_eq!(s.plan.unwrap().binaries, PlanBinariesView::None, "{junk:?}");
    }
}
