//! The watcher's one-shot queries against the fake node, on both transports: height and time,
//! the plan, proposals entering voting, passing, cancelling, gov v1beta1 fallback, pagination,
//! and a plan whose info is a URL.

mod common;

use common::*;
use serde_json::json;
use switchyard_fakechain::{PlanScript, ProposalKind, ProposalScript, Scenario};
use switchyard_watcher::{
    snapshot, GovVersion, PlanBinariesView, ProposalStatus, SeenIn, SnapshotOptions, Transport,
};

const SHA: &str = "673e67d3ac817913a69f2ec28cbe9b121a2afd3fc0641da7101dfe97474824ca";

fn info_inline() -> String {
    format!(
        r#"{{"binaries":{{"linux/amd64":"https://example.invalid/simd?checksum=sha256:{SHA}","docker":"img:2"}}}}"#
    )
}

fn plan(name: &str, h: i64, info: &str) -> PlanScript {
    PlanScript {
        name: name.into(),
        height: h,
        info: info.into(),
    }
}

async fn lifecycle(use_grpc: bool) {
    let chain = start(Scenario {
        height: 1000,
        block_interval_ms: 6000,
        ..Default::default()
    })
    .await;
    let e = if use_grpc {
        both(&chain)
    } else {
        rpc_only(&chain)
    };
    let c = client(&e).await;
    assert_eq!(
        c.transport(),
        if use_grpc {
            Transport::Grpc
        } else {
            Transport::AbciQuery
        }
    );

    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(
        (s.chain_id.as_str(), s.height, s.catching_up),
        ("fakechain-1", 1000, false)
    );
    assert_eq!(s.app.as_ref().unwrap().last_block_height, 1000);
    assert_eq!(
        s.average_block_time,
        Some(std::time::Duration::from_secs(6))
    );
    assert!(s.plan.is_none() && s.upcoming.is_empty());
    assert_eq!(s.gov, Some(GovVersion::V1));

    // A proposal enters voting.
    let id = chain
        .control_json(json!({"op":"submit_proposal","proposal":{"kind":"legacy_content","plan":{"name":"V2","height":1200,"info":info_inline()}}}))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(s.upcoming.len(), 1);
    let u = &s.upcoming[0];
    assert_eq!(
        (u.name.as_str(), u.height, u.source),
        ("V2", 1200, SeenIn::Proposal)
    );
    assert_eq!(
        (u.proposal_id, u.proposal_status),
        (Some(id), Some(ProposalStatus::VotingPeriod))
    );
    assert_eq!(u.eta, Some(std::time::Duration::from_secs(200 * 6)));

    // It passes: the plan is scheduled and the upcoming upgrade now comes from the plan.
    chain.control_json(json!({"op":"pass","id":id})).unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    let p = s.plan.as_ref().unwrap();
    assert_eq!((p.spec.name.as_str(), p.spec.height), ("V2", 1200));
    let bins = p.binaries.binaries().unwrap();
    assert_eq!(
        bins.for_platform("linux/amd64")
            .unwrap()
            .checksum
            .as_ref()
            .unwrap()
            .hex,
        SHA
    );
    assert_eq!(s.upcoming.len(), 1);
    assert_eq!(s.upcoming[0].source, SeenIn::Plan);
    assert_eq!(s.upcoming[0].proposal_id, Some(id));
    assert_eq!(c.applied_plan("V2").await.unwrap(), 0);

    // A cancel proposal passes: the plan is gone.
    let cid = chain
        .control_json(json!({"op":"submit_proposal","proposal":{"kind":"cancel"}}))
        .unwrap()["id"]
        .as_u64()
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert!(s
        .proposals
        .iter()
        .any(|p| p.proposal.id == cid && p.proposal.cancels));
    chain.control_json(json!({"op":"pass","id":cid})).unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert!(
        s.plan.is_none() && s.upcoming.is_empty(),
        "{:?}",
        s.upcoming
    );

    // A plan scheduled directly, reached, applied.
    chain
        .control_json(
            json!({"op":"schedule_plan","plan":{"name":"v3","height":1005,"info":"plain words"}}),
        )
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(s.plan.as_ref().unwrap().binaries, PlanBinariesView::None);
    chain
        .control_json(json!({"op":"advance","blocks":50}))
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(s.height, 1005, "the chain halts at the plan height");
    assert_eq!(s.app.as_ref().unwrap().last_block_height, 1004);
    chain.control_json(json!({"op":"apply_plan"})).unwrap();
    assert_eq!(c.applied_plan("v3").await.unwrap(), 1005);

    // The queries really went over the transport chosen.
    let grpc_calls = chain.control_json(json!({"op":"state"})).unwrap()["grpc_calls"]
        .as_u64()
        .unwrap();
    if use_grpc {
        assert!(grpc_calls >= 10, "{grpc_calls}");
    } else {
        assert_eq!(grpc_calls, 0);
    }
}

#[tokio::test]
async fn lifecycle_over_abci_query() {
    lifecycle(false).await;
}

#[tokio::test]
async fn lifecycle_over_grpc() {
    lifecycle(true).await;
}

async fn many_proposals(use_grpc: bool, gov_v1: bool) {
    let mut proposals = Vec::new();
    for i in 0..7 {
        proposals.push(ProposalScript {
            id: None,
            kind: if i % 2 == 0 {
                ProposalKind::SoftwareUpgrade
            } else {
                ProposalKind::Unrelated
            },
            plan: Some(plan(&format!("v{i}"), 2000 + i, "")),
            status: Some(
                if i < 5 {
                    "PROPOSAL_STATUS_VOTING_PERIOD"
                } else {
                    "PROPOSAL_STATUS_REJECTED"
                }
                .into(),
            ),
        });
    }
    let chain = start(Scenario {
        max_page_size: 2,
        gov_v1,
        proposals,
        ..Default::default()
    })
    .await;
    let e = if use_grpc {
        both(&chain)
    } else {
        rpc_only(&chain)
    };
    let s = snapshot(&client(&e).await, SnapshotOptions::default())
        .await
        .unwrap();
    assert_eq!(
        s.gov,
        Some(if gov_v1 {
            GovVersion::V1
        } else {
            GovVersion::V1beta1
        })
    );
    let names: Vec<_> = s.upcoming.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["v0", "v2", "v4"],
        "all pages read, unrelated and rejected left out"
    );
}

#[tokio::test]
async fn proposals_are_paginated_on_both_transports() {
    many_proposals(false, true).await;
    many_proposals(true, true).await;
}

#[tokio::test]
async fn gov_v1beta1_is_the_fallback() {
    many_proposals(false, false).await;
    many_proposals(true, false).await;
}

#[tokio::test]
async fn info_url_is_fetched_and_junk_is_reported() {
    let chain = start(Scenario::default()).await;
    chain
        .control_json(json!({"op":"set_info_doc","path":"v2.json","body":info_inline()}))
        .unwrap();
    let url = format!("{}/info/v2.json", chain.rpc_url());
    chain
        .control_json(json!({"op":"schedule_plan","plan":{"name":"v2","height":500,"info":url}}))
        .unwrap();
    let c = client(&rpc_only(&chain)).await;
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    match &s.plan.as_ref().unwrap().binaries {
        PlanBinariesView::Listed { binaries, from_url } => {
            assert_eq!(from_url.as_deref(), Some(url.as_str()));
            assert!(binaries.for_platform("linux/amd64").is_some());
        }
        other => panic!("{other:?}"),
    }
    // The URL serves junk, then nothing.
    chain
        .control_json(json!({"op":"set_info_doc","path":"v2.json","body":"<html>"}))
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert!(
        matches!(&s.plan.as_ref().unwrap().binaries, PlanBinariesView::Unavailable { why, .. } if why.contains("not JSON"))
    );
    let missing = format!("{}/info/none.json", chain.rpc_url());
    chain
        .control_json(
            json!({"op":"schedule_plan","plan":{"name":"v2","height":500,"info":missing}}),
        )
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert!(
        matches!(&s.plan.as_ref().unwrap().binaries, PlanBinariesView::Unavailable { why, .. } if why.contains("404"))
    );
    // Oversized document.
    chain
        .control_json(
            json!({"op":"set_info_doc","path":"big.json","body":" ".repeat(3 * 1024 * 1024)}),
        )
        .unwrap();
    let big = format!("{}/info/big.json", chain.rpc_url());
    chain
        .control_json(json!({"op":"schedule_plan","plan":{"name":"v2","height":500,"info":big}}))
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert!(
        matches!(&s.plan.as_ref().unwrap().binaries, PlanBinariesView::Unavailable { why, .. } if why.contains("larger"))
    );
}

/// The real recorded answers, served byte for byte, go through the whole client: cosmoshub-4's
/// `/status`, a CometBFT `/abci_info`, and Nibiru mainnet's `abci_query` CurrentPlan.
#[tokio::test]
async fn recorded_real_answers_replayed_over_http() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/real");
    let read = |f: &str| std::fs::read_to_string(format!("{dir}/{f}")).unwrap();
    let chain = start(Scenario::default()).await;
    for (method, file) in [
        ("status", "cosmos-node-exporter/status.json"),
        (
            "abci_info",
            "tendermint-rs/kvstore_fixtures__v0_38__incoming__abci_info.json",
        ),
        ("abci_query", "cosmos-node-exporter/upgrade-plan.json"),
    ] {
        chain
            .control_json(json!({"op":"replay","method":method,"body":read(file)}))
            .unwrap();
    }
    let c = client(&rpc_only(&chain)).await;
    let s = snapshot(
        &c,
        SnapshotOptions {
            proposals: false,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((s.chain_id.as_str(), s.height), ("cosmoshub-4", 21076916));
    assert_eq!(s.app.unwrap().last_block_height, 198);
    let plan = s.plan.unwrap();
    assert_eq!(
        (plan.spec.name.as_str(), plan.spec.height),
        ("v1.5.0", 8375044)
    );
    let cp = plan.spec.scheduled_plan(false).unwrap();
    assert_eq!(cp.name.as_str(), "v1.5.0");
    let bins = plan.binaries.binaries().unwrap();
    assert!(bins
        .for_platform("linux/arm64")
        .unwrap()
        .url
        .ends_with("nibid_1.5.0_linux_arm64.tar.gz"));
    assert!(bins.for_platform("linux/amd64").unwrap().checksum.is_none());

    // The recorded empty answer (cosmoshub-4, no plan).
    chain
        .control_json(json!({"op":"replay","method":"abci_query","body":read("cosmos-node-exporter/upgrade-plan-empty.json")}))
        .unwrap();
    assert_eq!(c.current_plan().await.unwrap(), None);
}

/// The Nibiru gov v1 proposal recorded from `nibid q gov proposals` (MsgExecLegacyContent with a
/// SoftwareUpgradeProposal), scripted into the fake with its real plan, is read back intact.
#[tokio::test]
async fn recorded_nibiru_proposal_round_trips() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/real/gov-proposals/nibiru_local_gov_v1_proposals_MsgExecLegacyContent.json"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let p = &v["proposals"][0];
    let msg = &p["messages"][0];
    assert_eq!(msg["@type"], "/cosmos.gov.v1.MsgExecLegacyContent");
    let plan = &msg["content"]["plan"];
    let height: i64 = plan["height"].as_str().unwrap().parse().unwrap();
    let chain = start(Scenario {
        height: 48000,
        ..Default::default()
    })
    .await;
    chain
        .control_json(json!({"op":"submit_proposal","proposal":{
            "id": p["id"].as_str().unwrap().parse::<u64>().unwrap(),
            "kind":"legacy_content",
            "status": p["status"],
            "plan":{"name":plan["name"],"height":height,"info":plan["info"]}
        }}))
        .unwrap();
    for e in [rpc_only(&chain), both(&chain)] {
        let (_, props) = client(&e).await.upgrade_proposals().await.unwrap();
        assert_eq!(props.len(), 1);
        let got = &props[0];
        assert_eq!((got.id, got.status), (1, ProposalStatus::Passed));
        let spec = got.plan.as_ref().unwrap();
        assert_eq!((spec.name.as_str(), spec.height), ("v1.1.0", 48579));
        assert_eq!(spec.info, plan["info"].as_str().unwrap());
    }
}

/// With only a gRPC address, height, time and sync state come from the tendermint service.
#[tokio::test]
async fn grpc_only_still_reports_the_chain() {
    let chain = start(Scenario {
        height: 300,
        block_interval_ms: 2000,
        catching_up: true,
        ..Default::default()
    })
    .await;
    chain
        .control_json(
            json!({"op":"schedule_plan","plan":{"name":"v2","height":400,"info":info_inline()}}),
        )
        .unwrap();
    let e = switchyard_watcher::Endpoints {
        rpc: None,
        grpc: Some(chain.grpc_url()),
    };
    let c = client(&e).await;
    assert_eq!(c.transport(), Transport::Grpc);
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(
        (s.chain_id.as_str(), s.height, s.catching_up),
        ("fakechain-1", 300, true)
    );
    assert_eq!(s.app.unwrap().version.as_deref(), Some("0.50.10"));
    assert_eq!(
        s.average_block_time,
        Some(std::time::Duration::from_secs(2))
    );
    assert_eq!(s.upcoming[0].height, 400);
    assert_eq!(s.upcoming[0].eta, Some(std::time::Duration::from_secs(200)));

    // Halted at the plan: latest block H, the app's committed height (from the
    // x-cosmos-block-height header) H-1, as over RPC.
    chain
        .control_json(json!({"op":"advance","blocks":150}))
        .unwrap();
    let s = snapshot(&c, SnapshotOptions::default()).await.unwrap();
    assert_eq!(s.height, 400);
    assert_eq!(s.app.unwrap().last_block_height, 399);
}
