//! Answers are held against the supervised node's identity (node id from `node_key.json`,
//! chain id from `genesis.json`): another node's RPC or gRPC is refused on every route, so its
//! heights can never time a swap.
//!
//! Proves invariant 7 of docs/invariants.md.

mod common;

use common::*;
use switchyard_fakechain::{Scenario, NODE_ID};
use switchyard_watcher::{ChainWatcher, Endpoints, NodeIdentity, WatchError, WatcherOptions};

fn ours() -> NodeIdentity {
    NodeIdentity {
        node_id: Some(NODE_ID.to_string()),
        chain_id: Some("fakechain-1".into()),
    }
}

fn another_node() -> NodeIdentity {
    NodeIdentity {
        node_id: Some("0123456789abcdef0123456789abcdef01234567".into()),
        chain_id: Some("fakechain-1".into()),
    }
}

fn another_chain() -> NodeIdentity {
    NodeIdentity {
        node_id: None,
        chain_id: Some("cosmoshub-4".into()),
    }
}

fn is_foreign(e: &WatchError) -> bool {
    matches!(e, WatchError::ForeignNode { .. })
}

fn grpc_only(c: &switchyard_fakechain::FakeChain) -> Endpoints {
    Endpoints {
        rpc: None,
        grpc: Some(c.grpc_url()),
    }
}

#[tokio::test]
async fn another_nodes_answers_are_refused_on_every_route() {
    let chain = start(Scenario {
        height: 1000,
        ..Default::default()
    })
    .await;
    for (route, endpoints) in [
        ("rpc", rpc_only(&chain)),
        ("grpc", grpc_only(&chain)),
        ("both", both(&chain)),
    ] {
        let c = client(&endpoints).await.with_identity(ours());
        c.verify_identity()
            .await
            .unwrap_or_else(|e| panic!("{route}: {e}"));
        assert_eq!(
            c.status().await.unwrap().latest_block_height,
            1000,
            "{route}"
        );
        c.abci_info().await.unwrap();

        for (what, id) in [("node", another_node()), ("chain", another_chain())] {
            let c = client(&endpoints).await.with_identity(id);
            let e = c.verify_identity().await.unwrap_err();
            assert!(is_foreign(&e), "{route}/{what}: {e}");
            let e = c.status().await.unwrap_err();
            assert!(is_foreign(&e), "{route}/{what}: {e}");
            let text = e.to_string();
            assert!(text.contains("is not this node"), "{text}");
            if route == "grpc" {
                // The gRPC route's heights (the block-height header) are refused too.
                let e = c.abci_info().await.unwrap_err();
                assert!(is_foreign(&e), "{route}/{what}: {e}");
            }
        }
    }
    // A home that tells nothing checks nothing.
    let c = client(&rpc_only(&chain))
        .await
        .with_identity(NodeIdentity::default());
    c.verify_identity().await.unwrap();
    c.status().await.unwrap();
}

#[tokio::test]
async fn the_watcher_publishes_no_height_from_another_node() {
    let chain = start(Scenario {
        height: 1000,
        block_interval_ms: 200,
        ..Default::default()
    })
    .await;
    let opts = |identity| WatcherOptions {
        identity,
        backoff_initial: std::time::Duration::from_millis(50),
        ..WatcherOptions::default()
    };
    let foreign = ChainWatcher::spawn(rpc_only(&chain), opts(another_node()));
    let mut view = foreign.view();
    let v = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        view.wait_for(|v| v.last_error.is_some()),
    )
    .await
    .expect("the watcher reports the foreign node")
    .unwrap()
    .clone();
    assert!(
        v.last_error
            .as_deref()
            .unwrap()
            .contains("is not this node"),
        "{v:?}"
    );
    assert_eq!(v.latest_height, None, "{v:?}");
    assert_eq!(v.last_committed_height, None, "{v:?}");
    assert_eq!(v.heights_read, None, "{v:?}");

    // The same chain with the right identity is watched as usual.
    let own = ChainWatcher::spawn(rpc_only(&chain), opts(ours()));
    let mut view = own.view();
    tokio::time::timeout(
        std::time::Duration::from_secs(20),
        view.wait_for(|v| v.heights_read.is_some()),
    )
    .await
    .expect("heights from our own node")
    .unwrap();
    // And the foreign one still has none.
    let v = foreign.view().borrow().clone();
    assert_eq!((v.latest_height, v.heights_read), (None, None), "{v:?}");
}
