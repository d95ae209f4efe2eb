//! The long-running parts against the fake node: the NewBlock feed (websocket, reconnect with
//! backoff, polling while down) and the ChainWatcher (view updates, plan events, recovery).

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;
use switchyard_fakechain::Scenario;
use switchyard_watcher::RpcClient;
use switchyard_watcher::{
    BlockFeed, BlockFeedOptions, BlockSource, ChainWatcher, NewBlock, WatchEvent, WatcherOptions,
};
use tokio::sync::broadcast;

fn feed_opts() -> BlockFeedOptions {
    BlockFeedOptions {
        poll_interval: Duration::from_millis(100),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(400),
        silence_timeout: Duration::from_secs(3),
        ..Default::default()
    }
}

async fn next_block(rx: &mut broadcast::Receiver<NewBlock>) -> NewBlock {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a block within 5s")
        .unwrap()
}

#[tokio::test]
async fn websocket_feed_reconnects_and_polls_meanwhile() {
    let chain = start(Scenario::default()).await;
    let feed = BlockFeed::spawn(
        RpcClient::new(&chain.rpc_url(), limits()).unwrap(),
        feed_opts(),
    );
    let mut rx = feed.subscribe();
    let mut state = feed.state();
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| s.websocket_connected),
    )
    .await
    .unwrap()
    .unwrap();

    chain
        .control_json(json!({"op":"advance","blocks":1}))
        .unwrap();
    let b = next_block(&mut rx).await;
    assert_eq!((b.height, b.source), (101, BlockSource::Websocket));

    // The socket drops and the next four handshakes are refused: blocks keep coming by polling.
    chain
        .control_json(json!({"op":"refuse_websockets","count":4}))
        .unwrap();
    chain.control_json(json!({"op":"drop_websockets"})).unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        state.wait_for(|s| !s.websocket_connected),
    )
    .await
    .unwrap()
    .unwrap();
    chain
        .control_json(json!({"op":"advance","blocks":3}))
        .unwrap();
    let b = next_block(&mut rx).await;
    assert_eq!(b.height, 104, "a jump is delivered as the new height");
    assert_eq!(b.source, BlockSource::Poll);

    // It reconnects (fifth handshake, after backing off) and events flow again.
    tokio::time::timeout(
        Duration::from_secs(10),
        state.wait_for(|s| s.websocket_connected && s.websocket_sessions >= 2),
    )
    .await
    .expect("reconnected")
    .unwrap();
    assert!(state.borrow().last_websocket_error.is_some());
    chain
        .control_json(json!({"op":"advance","blocks":1}))
        .unwrap();
    let b = next_block(&mut rx).await;
    assert_eq!((b.height, b.source), (105, BlockSource::Websocket));
    // No repeats, ever.
    chain
        .control_json(json!({"op":"advance","blocks":1}))
        .unwrap();
    assert_eq!(next_block(&mut rx).await.height, 106);
}

fn watcher_opts() -> WatcherOptions {
    WatcherOptions {
        limits: limits(),
        feed: feed_opts(),
        plan_every: Duration::from_millis(50),
        proposals_every: Duration::from_millis(300),
        idle_refresh: Duration::from_millis(300),
        backoff_initial: Duration::from_millis(100),
        backoff_max: Duration::from_millis(300),
        ..Default::default()
    }
}

async fn next_event(rx: &mut broadcast::Receiver<WatchEvent>) -> WatchEvent {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("an event within 10s")
        .unwrap()
}

#[tokio::test]
async fn chain_watcher_follows_plans_and_recovers() {
    let chain = start(Scenario {
        height: 1000,
        block_interval_ms: 100,
        ..Default::default()
    })
    .await;
    let w = ChainWatcher::spawn(rpc_only(&chain), watcher_opts());
    let mut view = w.view();
    let mut events = w.events();
    let mut blocks = w.new_blocks();
    tokio::time::timeout(
        Duration::from_secs(5),
        view.wait_for(|v| v.latest_height == Some(1000) && v.plan_known),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(view.borrow().chain_id.as_deref(), Some("fakechain-1"));

    // A proposal enters voting.
    chain
        .control_json(json!({"op":"submit_proposal","proposal":{"plan":{"name":"v2","height":1015,"info":""}}}))
        .unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::ProposalVoting { id: 1, .. }
    ));
    // A block, then the proposal passes: the plan appears.
    chain
        .control_json(json!({"op":"advance","blocks":1}))
        .unwrap();
    assert_eq!(next_block(&mut blocks).await.height, 1001);
    chain.control_json(json!({"op":"pass","id":1})).unwrap();
    match next_event(&mut events).await {
        WatchEvent::PlanScheduled { plan } => {
            assert_eq!((plan.name.as_str(), plan.height), ("v2", 1015))
        }
        other => panic!("{other:?}"),
    }
    // The first look at it is already within 100 blocks.
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::PlanApproaching { blocks: 14, .. }
    ));
    chain
        .control_json(json!({"op":"advance","blocks":5}))
        .unwrap();
    assert!(matches!(
        next_event(&mut events).await,
        WatchEvent::PlanApproaching { blocks: 10, .. }
    ));
    // Once proposals are re-read, the plan is matched to its passed proposal.
    let v = tokio::time::timeout(
        Duration::from_secs(10),
        view.wait_for(|v| v.upcoming.len() == 1 && v.upcoming[0].proposal_id == Some(1)),
    )
    .await
    .expect("the plan is matched to proposal 1")
    .unwrap()
    .clone();
    assert!(v.average_block_time.is_some());

    // The node goes silent: the error is recorded, and cleared when it answers again.
    chain
        .control_json(json!({"op":"set_mode","mode":"silent"}))
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        view.wait_for(|v| v.last_error.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    chain
        .control_json(json!({"op":"set_mode","mode":"normal"}))
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        view.wait_for(|v| v.last_error.is_none()),
    )
    .await
    .unwrap()
    .unwrap();

    // Cancelled before its height.
    chain.control_json(json!({"op":"cancel_plan"})).unwrap();
    match next_event(&mut events).await {
        WatchEvent::PlanCancelled { plan, at_height } => {
            assert_eq!((plan.name.as_str(), at_height), ("v2", 1006))
        }
        other => panic!("{other:?}"),
    }

    // Halt at a plan: latest H, committed H-1.
    chain
        .control_json(json!({"op":"schedule_plan","plan":{"name":"v3","height":1010}}))
        .unwrap();
    chain
        .control_json(json!({"op":"advance","blocks":10}))
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        view.wait_for(|v| v.latest_height == Some(1010) && v.last_committed_height == Some(1009)),
    )
    .await
    .unwrap()
    .unwrap();
}

#[tokio::test]
async fn chain_watcher_waits_for_an_absent_node() {
    let port = dead_port();
    let e = switchyard_watcher::Endpoints {
        rpc: Some(format!("http://127.0.0.1:{port}")),
        grpc: None,
    };
    let w = ChainWatcher::spawn(e, watcher_opts());
    let mut view = w.view();
    tokio::time::timeout(
        Duration::from_secs(5),
        view.wait_for(|v| v.last_error.is_some()),
    )
    .await
    .unwrap()
    .unwrap();
    let err = view.borrow().last_error.clone().unwrap();
    assert!(err.contains("cannot reach"), "{err}");
    // The node comes up on that port: the watcher finds it.
    let chain = switchyard_fakechain::FakeChain::start_on(Scenario::default(), port, 0)
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        view.wait_for(|v| v.latest_height == Some(100) && v.last_error.is_none()),
    )
    .await
    .expect("found the node once it came up")
    .unwrap();
    drop(chain);
}

/// A node that stops answering (a restart for an upgrade, a crash) and comes back has its
/// websocket back too: the feed tries it as soon as `/status` answers again, not after the
/// backoff (two minutes here), so the events only the socket brings (a proposal entering a
/// short vote) are not missed for that long.
#[tokio::test]
async fn the_websocket_is_tried_again_as_soon_as_the_node_answers_again() {
    let chain = start(Scenario::default()).await;
    let feed = BlockFeed::spawn(
        RpcClient::new(&chain.rpc_url(), limits()).unwrap(),
        BlockFeedOptions {
            backoff_initial: Duration::from_secs(120),
            backoff_max: Duration::from_secs(120),
            ..feed_opts()
        },
    );
    let mut state = feed.state();
    let within = |secs| Duration::from_secs(secs);
    tokio::time::timeout(within(5), state.wait_for(|s| s.websocket_connected))
        .await
        .unwrap()
        .unwrap();
    // The node goes away: RPC errors, the socket drops; the feed polls and the polls fail.
    chain
        .control_json(json!({"op":"set_mode","mode":"error"}))
        .unwrap();
    chain.control_json(json!({"op":"drop_websockets"})).unwrap();
    tokio::time::timeout(within(10), state.wait_for(|s| s.polls_failed >= 1))
        .await
        .expect("a failed poll")
        .unwrap();
    // It answers again: the socket is up again long before the two-minute backoff.
    chain
        .control_json(json!({"op":"set_mode","mode":"normal"}))
        .unwrap();
    tokio::time::timeout(
        within(30),
        state.wait_for(|s| s.websocket_connected && s.websocket_sessions >= 2),
    )
    .await
    .expect("the websocket is back once the node answers")
    .unwrap();
}
